"""The main theme: exact transformations, determinism, and the composition report's bounds on composed scores."""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import pytest

from narrascore.concept import conceive
from narrascore.errors import ArtifactError
from narrascore.evaluate.composition import analyse
from narrascore.synth.procedural import compose
from narrascore.synth.procedural.composer import write_midi
from narrascore.synth.procedural.theme import augment, fragment, invert, make_theme, phrase_cell, transpose

sys.path.insert(0, str(Path(__file__).parent))
from test_concept import ARC, make_plan  # noqa: E402

DEMO_LIKE = [(20, 0.5, -0.6, "setup"), (25, 0.0, 0.2, "rising"), (20, -0.7, 0.9, "climax"), (25, 0.3, -0.2, "falling"),
             (30, 0.6, -0.5, "resolution")]


def test_transformations_are_exact():
    cell = ((0.0, 0), (1.0, 2), (1.5, 1), (2.0, -1), (3.0, 3))
    assert transpose(cell, 2) == ((0.0, 2), (1.0, 4), (1.5, 3), (2.0, 1), (3.0, 5))
    assert invert(cell) == ((0.0, 0), (1.0, -2), (1.5, -1), (2.0, 1), (3.0, -3))
    assert invert(invert(transpose(cell, 3))) == transpose(cell, 3)
    assert augment(cell) == ((0.0, 0), (2.0, 2), (3.0, 1), (4.0, -1), (6.0, 3))
    assert fragment(cell) == ((0.0, 0), (1.0, 2), (1.5, 1), (2.0, 0), (3.0, 2), (3.5, 1))


def test_theme_is_seeded_and_phrases_develop_it():
    theme = make_theme(7)
    assert theme == make_theme(7) and theme != make_theme(8)
    assert theme.contour[0] == 0 and max(abs(d) for d in theme.contour) <= 5
    for level in range(4):
        a, b = theme.rhythms[level]
        assert a != b and theme.cadence_rhythm(level) not in (a, b)
        statement = theme.statement(level)
        assert [o for o, _ in statement] == list(a) + [4 + o for o in b]
        seq = phrase_cell(theme, level, "sequence")
        assert seq[:len(statement)] == transpose(statement, 2)
        inv = phrase_cell(theme, level, "inversion")
        assert inv[:len(statement)] == invert(statement)
        assert all(o < 12 for o, _ in seq)


def _report(plan, style, tmp_path, seed=0):
    concept = conceive(plan, style=style, seed=seed)
    path = tmp_path / f"{style}-{seed}.mid"
    write_midi(compose(plan, concept), path)
    return analyse(path), path


@pytest.mark.parametrize("spec", [DEMO_LIKE, ARC], ids=["demo-like", "story"])
@pytest.mark.parametrize("style", ["orchestral", "electronic"])
def test_composition_report_bounds(spec, style, tmp_path):
    report, _ = _report(make_plan(spec), style, tmp_path)
    assert report.melody_bars >= 16
    assert 0.3 <= report.theme_recurrence <= 0.7
    assert report.min_distinct_bar_rhythms >= 3
    assert report.cadence_share >= 0.8
    assert report.parallel_perfects == 0
    assert report.velocity_range["melody"] >= 30


def test_composition_is_deterministic(tmp_path):
    plan = make_plan(ARC)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, a = _report(plan, "orchestral", tmp_path / "a")
    _, b = _report(plan, "orchestral", tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()


def test_analyser_hears_a_repeated_loop_as_no_rhythmic_variety(tmp_path):
    """A hand-made file: one bar repeated 16 times is 100 % recurrence with one bar rhythm."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack([mido.MetaMessage("track_name", name="conductor"),
                                mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name="melody")])
    for _ in range(16):
        for pitch in (60, 62, 64, 67):
            melody += [mido.Message("note_on", note=pitch, velocity=80, time=0),
                       mido.Message("note_off", note=pitch, velocity=0, time=480)]
    midi.tracks += [conductor, melody]
    path = tmp_path / "loop.mid"
    midi.save(path)
    report = analyse(path)
    assert report.melody_bars == 16 and report.theme_recurrence == 1.0 and report.min_distinct_bar_rhythms == 1


def test_unreadable_midi_names_the_file(tmp_path):
    bad = tmp_path / "score.mid"
    bad.write_bytes(b"not midi")
    with pytest.raises(ArtifactError, match="score.mid"):
        analyse(bad)


def test_harmony_numerals_are_spelled_by_music21():
    from narrascore.synth.procedural.harmony import chord

    assert chord("V7", 2, "minor").pitch_classes == (9, 1, 4, 7)  # A C# E G: raised leading tone
    assert chord("bII", 4, "minor").pitch_classes == (5, 9, 0)  # the Neapolitan of E minor: F major
    assert chord("viio7", 0, "major").pitch_classes == (11, 2, 5, 8)
    with pytest.raises(ValueError, match="VII"):
        chord("VII", 0, "major")
