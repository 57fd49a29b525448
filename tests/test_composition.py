"""The composition report (read back from score.mid) and the composer's theme held to its bounds."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from narrascore.artifacts import Cut, Shots
from narrascore.concept import conceive
from narrascore.errors import MediaError
from narrascore.evaluate.composition import analyse_midi
from narrascore.synth.procedural import compose, write_midi

from test_concept import make_plan  # noqa: E402

# (duration s, valence, arousal, arc role): an arc with calm, negative and energetic scenes
STORY = [(22.0, 0.3, -0.6, "setup"), (26.0, -0.6, 0.2, "rising"), (18.0, -0.7, 0.8, "climax"),
         (24.0, 0.5, 0.1, "falling"), (20.0, 0.6, -0.5, "resolution")]


def midi_file(path, melody, bass=(), harmony=(), beats_per_bar=4, markers=()):
    """A type-1 MIDI file from (onset beat, length beats, pitch) lists, 480 ticks a beat."""
    tpb = 480
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    conductor = [(0, mido.MetaMessage("time_signature", numerator=beats_per_bar, denominator=4))]
    conductor += [(int(b * tpb), mido.MetaMessage("marker", text="cut")) for b in markers]
    tracks = {"conductor": conductor}
    for name, notes in (("melody", melody), ("bass", bass), ("harmony", harmony)):
        events = []
        for on, length, pitch in notes:
            events += [(int(on * tpb), mido.Message("note_on", note=pitch, velocity=80)),
                       (int((on + length) * tpb) - 1, mido.Message("note_off", note=pitch, velocity=0))]
        tracks[name] = events
    for name, events in tracks.items():
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        now = 0
        for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
            track.append(msg.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def test_the_report_hears_a_theme_its_inversion_and_a_random_walk(tmp_path):
    theme = [(0, 1, 60), (1, 1, 64), (2, 1, 62), (3, 1, 67)]  # +4 -2 +5
    bars = []
    for b in range(8):
        if b % 4 == 3:
            notes = [(0, 4, 60)]  # a held cadence
        elif b % 4 == 1:
            notes = [(0, 1, 67), (1, 1, 64), (2, 1, 66), (3, 1, 61)]  # the inversion: -3 +2 -5, within 1 semitone
        else:
            notes = [(o, l, p + 2 * b) for o, l, p in theme]  # transposed
        bars += [(4 * b + o, l, p) for o, l, p in notes]
    harmony = [(4 * b, 4, 48) for b in range(8)] + [(4 * b, 4, 52) for b in range(8)] + [(4 * b, 4, 55) for b in range(8)]
    report = analyse_midi(midi_file(tmp_path / "theme.mid", bars, harmony=harmony))
    assert report.melody_bars == 8
    assert report.theme_recurrence == pytest.approx(6 / 8)
    assert report.cadence_share == 1.0 and report.phrase_ends == 2  # bars 4 and 8, both held on C of C-E-G
    rng = np.random.default_rng(0)
    walk = [(k, 1, int(60 + rng.integers(-7, 8))) for k in range(32)]
    assert analyse_midi(midi_file(tmp_path / "walk.mid", walk)).theme_recurrence < 0.3
    assert analyse_midi(midi_file(tmp_path / "walk.mid", walk)).min_rhythms_per_8_bars == 1


def test_the_report_hears_the_theme_augmented_over_two_bars_and_diminished_twice_in_one(tmp_path):
    theme = [(0, 60), (1, 64), (2, 62), (3, 67)]  # +4 -2 +5, one bar
    bars = [[(o, 1, p) for o, p in theme]]
    bars.append([(0, 2, 62), (2, 2, 66)])  # augmented from D: its first two notes in this bar...
    bars.append([(0, 2, 64), (2, 2, 69)])  # ...its last two in the next (+4 -2 +5 across the join)
    bars.append([(o / 2, 0.5, p + 5) for o, p in theme] + [(2 + o / 2, 0.5, p + 7) for o, p in theme])  # diminished, sequenced
    bars.append([(0, 4, 60)])  # a held note: no statement
    melody = [(4 * b + o, length, p) for b, notes in enumerate(bars) for o, length, p in notes]
    report = analyse_midi(midi_file(tmp_path / "forms.mid", melody))
    assert report.melody_bars == 5
    assert report.theme_recurrence == pytest.approx(4 / 5)


def test_a_random_line_at_two_notes_a_bar_is_not_heard_as_a_theme(tmp_path):
    """Joining consecutive bars (to hear augmentation) must not turn chance into recurrence."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        melody = [(2 * k, 2, int(60 + rng.integers(-7, 8))) for k in range(64)]
        assert analyse_midi(midi_file(tmp_path / f"walk{seed}.mid", melody)).theme_recurrence < 0.3


def test_the_report_counts_parallel_fifths_and_octaves_between_the_outer_voices(tmp_path):
    melody = [(0, 2, 67), (2, 2, 69), (4, 2, 74), (6, 2, 71)]
    bass = [(0, 2, 48), (2, 2, 50), (4, 2, 53), (6, 2, 55)]  # G/C, A/D (fifths: parallel), D/F, B/G
    assert analyse_midi(midi_file(tmp_path / "p.mid", melody, bass)).outer_parallels == 1
    contrary = [(0, 2, 67), (2, 2, 65), (4, 2, 72), (6, 2, 71)]  # G/C then F/D: no perfect interval repeated
    assert analyse_midi(midi_file(tmp_path / "c.mid", contrary, bass)).outer_parallels == 0
    # the lowest sounding bass note is the outer voice: an upper bass note in fifths with the melody is not
    doubled = bass + [(0, 8, 36)]  # a held low C under the whole line
    assert analyse_midi(midi_file(tmp_path / "d.mid", melody, doubled)).outer_parallels == 0


def test_the_report_names_a_file_it_cannot_read(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(MediaError, match="bad.mid"):
        analyse_midi(bad)
    no_melody = tmp_path / "no_melody.mid"
    mido.MidiFile(type=1).save(str(no_melody))
    with pytest.raises(MediaError, match="melody"):
        analyse_midi(no_melody)


# --------------------------------------------------------------------------- the composer, held to the bounds
BOUNDS = "theme recurrence 30-70 %, >= 3 bar rhythms in every 8 bars, >= 80 % cadences, no outer parallels"


def assert_within_bounds(report, label):
    assert 0.3 <= report.theme_recurrence <= 0.7, (label, BOUNDS, report)
    assert report.min_rhythms_per_8_bars >= 3, (label, BOUNDS, report)
    assert report.cadence_share >= 0.8 and report.phrase_ends >= 4, (label, BOUNDS, report)
    assert report.outer_parallels == 0, (label, BOUNDS, report)
    assert report.velocity_range["melody"] >= 30, (label, report)


@pytest.mark.parametrize("style", ["orchestral", "piano", "ambient", "electronic", "rock"])
def test_the_composer_states_and_develops_one_theme_in_every_style(style, tmp_path):
    plan = make_plan(STORY)
    cuts = sorted([s.start for s in plan.scenes[1:]] + [s.start + 7.3 for s in plan.scenes])  # and a shot cut in each
    shots = Shots(cuts=tuple(Cut(t, 1.0) for t in cuts), detector="test", duration=plan.duration)
    for seed in range(3):
        path = tmp_path / f"{seed}.mid"
        write_midi(compose(plan, conceive(plan, style=style, seed=seed), shots), path)
        assert_within_bounds(analyse_midi(path), (style, seed))


@pytest.mark.slow
def test_the_demo_soundtrack_has_a_theme_phrases_and_cadences(scored_demo):
    assert_within_bounds(analyse_midi(scored_demo / "score.mid"), "demo")


def test_parallels_are_judged_against_the_bass_as_it_sounds_after_a_repeated_note_cuts_a_long_one():
    from narrascore.synth.procedural.harmony import chord
    from narrascore.synth.procedural.theme import avoid_parallels

    c_major = lambda t: chord("I", 0, "major")  # noqa: E731
    # a long low C under repeated Cs: the repeat ends it (as the MIDI writer does), so at 2 s the bass
    # sounding is the G alone, and C/C -> G/G (octaves, both rising) must be moved
    bass = [(0.0, 4.0, 36, 80, 1), (0.0, 1.0, 36, 80, 1), (1.0, 2.0, 36, 80, 1), (2.0, 3.0, 43, 80, 1)]
    melody = [(0.0, 1.0, 72, 80, 0), (2.0, 3.0, 79, 80, 0)]
    out = avoid_parallels(melody, bass, c_major)
    first, second = out[0][2], out[1][2]
    assert {first % 12, second % 12} <= {0, 4, 7}  # still chord tones
    assert not ((first - 36) % 12 in (0, 7) and (second - 43) % 12 == (first - 36) % 12), out


def test_every_drawn_theme_is_singable():
    from narrascore.synth.procedural.theme import draw_theme

    for seed in range(200):
        theme = draw_theme(np.random.default_rng(seed))
        degrees = np.array(theme.degrees)
        assert len(degrees) == 4 and 0 not in theme.steps  # four notes, no repeated note
        assert len(set(np.sign(theme.steps))) == 2  # the contour turns
        assert degrees.max() - degrees.min() <= 5  # within a sixth
        assert theme.rhythm[0] == 0.0 and {0.0, 2.0} <= set(theme.rhythm)  # the strong beats carry theme notes
        assert theme.inverted().degrees == tuple(-d for d in theme.degrees)


@pytest.mark.parametrize("style", ["orchestral", "piano", "ambient", "electronic", "rock"])
def test_the_pad_plays_a_counter_line_against_the_melody_where_the_texture_has_room(style, monkeypatch):
    from narrascore.synth.procedural import counterline

    lines: list[list] = []
    solve = counterline._solve
    monkeypatch.setattr(counterline, "_solve", lambda run: lines.append((list(run), solve(list(run)))) or lines[-1][1])
    plan = make_plan(STORY)
    score = compose(plan, conceive(plan, style=style))
    slots = {r[0]: r for run, _ in lines for r in run}
    notes = [n for _, line in lines for n in line]
    assert len(notes) >= 8, len(notes)
    contrary = similar = 0
    for _, line in lines:
        for a, b in zip(line, line[1:]):
            if abs(a[1] - b[0]) > 1e-6:
                continue  # (a rest between them)
            m0, m1 = slots[a[0]][2], slots[b[0]][2]
            dc, dm = b[2] - a[2], m1 - m0
            contrary += dc * dm < 0
            similar += dc * dm > 0
            assert not (dc * dm > 0 and (m1 - b[2]) % 12 in (0, 7)), (a, b)  # no hidden fifths or octaves
    assert contrary > similar, (contrary, similar)
    for n in notes:
        assert 3 <= slots[n[0]][2] - n[2] <= counterline.LOWEST  # under the melody, above the bass's reach
    pad = next(t for t in score.tracks if t.name == "pad")
    by_pitch: dict[int, list] = {}
    for n in sorted(pad.notes):
        assert all(n[0] >= e - 1e-6 for e in by_pitch.get(n[2], [])[-1:]), n
        by_pitch.setdefault(n[2], []).append(n[1])  # every pad note, the line's included, sounds alone on its key


def test_the_counter_line_breathes_before_a_big_hit_in_every_style(monkeypatch):
    """Even ambient, which keeps its pad through a hit, stops the line: a line ringing into a hit blunts it."""
    import dataclasses

    from narrascore.artifacts import Event
    from narrascore.synth.procedural import composer
    from narrascore.synth.procedural.answers import DROP

    made = []
    real = composer.counter_line
    monkeypatch.setattr(composer, "counter_line", lambda *a: made.append(real(*a)) or made[-1])
    plan = make_plan(STORY)
    sounding = lambda line, t: [n for n in line if n[0] < t and n[1] > t - DROP]  # noqa: E731
    for style in ("ambient", "orchestral"):
        made.clear()
        compose(plan, conceive(plan, style=style))
        t = next(n[0] + 0.5 * (n[1] - n[0]) for n in made[-1] if n[0] > 24.0)  # inside a line note
        compose(dataclasses.replace(plan, events=(Event(t, "impact", 0.9),)), conceive(plan, style=style))
        assert sounding(made[0], t) and not sounding(made[-1], t), style


def test_the_chord_table_is_music21s_spelling_and_covers_every_progression():
    """data/harmony.json is what scripts/spell_harmony.py writes from music21 (the composer reads it,
    so scoring never imports music21), and it spells every numeral the progressions use."""
    import sys
    from pathlib import Path

    from narrascore.synth.procedural.harmony import NUMERALS, PROGRESSIONS, SPELLED, TONIC, chord

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import spell_harmony

    assert SPELLED.read_text() == spell_harmony.dumps(spell_harmony.spell())
    for (mode, _), phrases in PROGRESSIONS.items():
        assert {n for phrase in phrases for n in phrase} | {TONIC[mode], "V"} <= set(NUMERALS[mode]), mode
    assert chord("V", 2, "minor").pitch_classes == (9, 1, 4)  # A major, the dominant of D minor
    assert chord("bII", 0, "major").pitch_classes == (1, 5, 8)  # the Neapolitan of C: D flat major
