"""Performance: humanised timing off the anchors, velocity by phrase and metre, expression swells, piano pedal.

Timing is measured on the written MIDI file against its own tempo map (the nearest twelfth of a
beat), not on the composer's internal grid.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

from narrascore.artifacts import Cut, Event, Shots
from narrascore.concept import conceive
from narrascore.synth.procedural import compose
from narrascore.synth.procedural.composer import Track, write_midi
from narrascore.synth.procedural.orchestration import Part
from narrascore.synth.procedural.performance import PEDAL, expression, pedalled

sys.path.insert(0, str(Path(__file__).parent))
from test_concept import make_plan  # noqa: E402

SPEC = [(8.0, 0.4, -0.5, "setup"), (8.0, -0.6, 0.7, "climax"), (8.0, 0.3, -0.1, "resolution")]


@pytest.fixture(scope="module")
def plan():
    return dataclasses.replace(make_plan(SPEC), events=(Event(12.37, "impact", 0.9),))


@pytest.fixture(scope="module")
def shots(plan):
    return Shots((Cut(4.1, 1.0), Cut(8.0, 1.0), Cut(16.0, 1.0), Cut(19.3, 1.0)), "test", plan.duration)


def midi_onsets(path: Path):
    """Per instrument: onsets (s), their deviation from the nearest 1/12 beat (s), velocities; and the markers (s)."""
    midi = pretty_midi.PrettyMIDI(str(path))
    beats = midi.get_beats()
    beats = np.append(beats, 2 * beats[-1] - beats[-2])  # the last beat's end
    grid = np.concatenate([np.linspace(b0, b1, 13)[:-1] for b0, b1 in zip(beats[:-1], beats[1:])] + [beats[-1:]])
    ticks, markers = 0, []
    for message in mido.MidiFile(str(path)).tracks[0]:
        ticks += message.time
        if message.type == "marker":
            markers.append(midi.tick_to_time(ticks))
    parts = {}
    for inst in midi.instruments:
        on = np.array([n.start for n in inst.notes])
        k = np.clip(np.searchsorted(grid, on), 1, len(grid) - 1)
        parts[(inst.name, inst.is_drum)] = (on, np.minimum(np.abs(on - grid[k]), np.abs(on - grid[k - 1])),
                                            np.array([n.velocity for n in inst.notes]))
    return parts, np.array(markers)


@pytest.mark.parametrize("style", ["orchestral", "piano"])
def test_timing_is_humanised_but_the_cut_and_event_accents_are_exact(plan, shots, style, tmp_path):
    score = compose(plan, conceive(plan, style=style), shots)
    write_midi(score, tmp_path / "score.mid")
    parts, markers = midi_onsets(tmp_path / "score.mid")
    anchors = np.concatenate([markers, [12.37], [c.time for c in shots.cuts]])
    deviations = []
    for (name, _), (on, dev, velocity) in parts.items():
        to_scene_cut = np.min(np.abs(on[:, None] - markers[None, :]), axis=1)
        near = to_scene_cut < 0.02  # a humanised note this close to a cut would be one moved off it
        assert np.all(to_scene_cut[near] < 1.5e-3), name  # exact, to the MIDI tick
        if not (style == "piano" and name == "percussion"):  # (piano's drums join mid-scene, at the climax)
            assert near.any(), name
        at_anchor = np.min(np.abs(on[:, None] - anchors[None, :]), axis=1) < 1.5e-3
        deviations.append(dev[~at_anchor])
        assert np.ptp(velocity) >= 30, name  # velocity range per part (phrase, metre, arousal)
    rms = 1000 * np.sqrt(np.mean(np.concatenate(deviations) ** 2))
    assert 3.0 <= rms <= 15.0, rms
    notes = {t.name: t.notes for t in score.tracks}
    assert [n for n in notes["harmony"] if abs(n[0] - 12.37) < 1e-9]  # the event's hit is on its time


def test_performance_is_deterministic_local_and_seeded(plan, shots):
    concept = conceive(plan, style="orchestral")
    first = compose(plan, concept, shots)
    assert [t.notes for t in compose(plan, concept, shots).tracks] == [t.notes for t in first.tracks]
    reseeded = compose(plan, dataclasses.replace(concept, seed=concept.seed + 1), shots)
    assert [t.notes for t in reseeded.tracks] != [t.notes for t in first.tracks]
    # removing the event changes only the notes around it: every offset is a function of its own note
    without = compose(dataclasses.replace(plan, events=()), concept, shots)
    far = lambda notes: {n for n in notes if n[1] < 9.5 or n[0] > 14.5}  # noqa: E731
    for a, b in zip(first.tracks, without.tracks):
        assert far(a.notes) == far(b.notes), a.name


def test_long_notes_swell_and_expression_never_jumps():
    part = Part("pad", "String Ensemble 1", 48, 3, False)
    track = Track("pad", [part], notes=[(1.0, 5.0, 60, 70, 3), (1.0, 5.0, 64, 70, 3)])
    grid = np.arange(0.0, 8.5, 0.5)
    expression(track, grid, np.zeros(len(grid) - 1), volume=90, pan=50, duration=8.0)
    cc = {cc: [(t, v) for t, c, n, v in track.controls if n == cc] for cc in (7, 10, 11)}
    assert cc[7] == [(0.0, 90)] and cc[10] == [(0.0, 50)]
    times, values = np.array(cc[11]).T
    level = lambda t: values[np.searchsorted(times, t, side="right") - 1]  # noqa: E731
    assert level(3.0) - level(1.1) >= 12 and level(3.0) - level(4.9) >= 12  # a messa di voce inside the note
    assert level(6.0) == level(3.0)  # back to the arousal level after it
    assert np.all(np.abs(np.diff(values)) <= 2)


def test_piano_is_pedalled_when_calm_and_the_renderer_plays_the_pedal(plan, shots, tmp_path):
    score = compose(plan, conceive(plan, style="piano"), shots)
    harmony = next(t for t in score.tracks if t.name == "harmony")
    pedal = [(t, v) for t, c, cc, v in harmony.controls if cc == PEDAL]
    assert pedal and pedal[0][1] == 127
    # calm setup pedalled; the climax (arousal 0.7) dry
    downs = [t for t, v in pedal if v == 127]
    assert any(t < 8.0 for t in downs) and not any(9.0 < t < 15.5 for t in downs)
    write_midi(score, tmp_path / "score.mid")
    assert any(m.type == "control_change" and m.control == PEDAL for tr in mido.MidiFile(str(tmp_path / "score.mid")).tracks for m in tr)

    part = Part("harmony", "Acoustic Grand Piano", 0, 1, False)
    track = Track("harmony", [part], notes=[(0.0, 0.3, 60, 80, 1), (0.5, 0.7, 64, 80, 1), (1.2, 1.4, 60, 80, 1)],
                  controls=[(0.05, 1, PEDAL, 127), (2.0, 1, PEDAL, 0)])
    sounding = pedalled(track)
    assert (0.0, 1.2, 60, 80, 1) in sounding  # held by the pedal until the same key is struck again
    assert (0.5, 2.0, 64, 80, 1) in sounding  # held until the pedal comes up
    assert (1.2, 2.0, 60, 80, 1) in sounding
