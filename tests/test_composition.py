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


def test_the_report_counts_parallel_fifths_and_octaves_between_the_outer_voices(tmp_path):
    melody = [(0, 2, 67), (2, 2, 69), (4, 2, 74), (6, 2, 71)]
    bass = [(0, 2, 48), (2, 2, 50), (4, 2, 53), (6, 2, 55)]  # G/C, A/D (fifths: parallel), D/F, B/G
    assert analyse_midi(midi_file(tmp_path / "p.mid", melody, bass)).outer_parallels == 1
    contrary = [(0, 2, 67), (2, 2, 65), (4, 2, 72), (6, 2, 71)]  # G/C then F/D: no perfect interval repeated
    assert analyse_midi(midi_file(tmp_path / "c.mid", contrary, bass)).outer_parallels == 0


def test_the_report_names_a_file_it_cannot_read(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(MediaError, match="bad.mid"):
        analyse_midi(bad)
    no_melody = tmp_path / "no_melody.mid"
    mido.MidiFile(type=1).save(str(no_melody))
    with pytest.raises(MediaError, match="melody"):
        analyse_midi(no_melody)
