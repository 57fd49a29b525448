"""A composition report read from ``score.mid`` alone: does the melody have a theme, phrases and cadences?

It shares no code with the composer: everything is read back from the MIDI file in beats (ticks over
ticks-per-beat, so the tempo map does not matter), bars from its time signatures, scenes from its
markers, the melody from the track named ``melody``, the lowest voice from ``bass``, and the harmony
from every pitched track. Measures (docs/evaluation.md):

- ``theme_recurrence``: the share of melody bars that state the main theme (the interval pattern
  that states it in the most bars), transposed (each interval within 2 semitones and in the same
  direction: a diatonic or chordal transposition) or inverted, in one bar, augmented over two
  consecutive bars (their notes joined), or diminished (both halves of a bar state it);
- ``min_rhythms_per_8_bars``: the fewest distinct bar rhythms (onsets to a sixteenth) in any 8
  consecutive melody bars;
- ``cadence_share``: at phrase ends (every 4th bar from a scene's start, and the bar before each
  scene cut), the share whose last melody note is held a beat or more on a tone of the sounding harmony;
- ``outer_parallels``: consecutive fifths or octaves between the melody and the lowest sounding bass
  note (both voices move the same way, into the same perfect interval);
- ``velocity_range``: per track, the spread of note velocities.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MediaError

GRID = 4  # rhythms to a sixteenth note


@dataclass(frozen=True)
class CompositionReport:
    melody_bars: int
    theme_recurrence: float
    min_rhythms_per_8_bars: int
    cadence_share: float
    phrase_ends: int
    outer_parallels: int
    velocity_range: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Midi:
    notes: dict[str, list[tuple[float, float, int, int]]]  # track -> (onset beat, end beat, pitch, velocity)
    bar_starts: list[float]
    cuts: list[float]


def analyse_midi(path: str | Path) -> CompositionReport:
    """The composition report of ``path`` (a type-1 MIDI file with a track named ``melody``)."""
    midi = _read(Path(path))
    melody = sorted(midi.notes.get("melody", []))
    by_bar = _bars_of(melody, midi.bar_starts)
    played = [(start, bar) for start, bar in zip(midi.bar_starts, by_bar) if bar]
    rhythms = [tuple(round(GRID * (on - start)) for on, _, _, _ in bar) for start, bar in played]
    cadence_share, phrase_ends = _cadences(midi, melody)
    return CompositionReport(
        melody_bars=len(played),
        theme_recurrence=_recurrence([[p for _, _, p, _ in bar] for bar in by_bar]),
        min_rhythms_per_8_bars=min((len(set(rhythms[i:i + 8])) for i in range(max(1, len(rhythms) - 7))), default=0),
        cadence_share=cadence_share,
        phrase_ends=phrase_ends,
        outer_parallels=_parallels(melody, sorted(midi.notes.get("bass", []))),
        velocity_range={name: int(max(v for *_, v in ns) - min(v for *_, v in ns)) for name, ns in midi.notes.items() if ns},
    )


def _read(path: Path) -> _Midi:
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError) as exc:
        raise MediaError(f"{path}: not a readable MIDI file ({exc})") from None
    tpb = midi.ticks_per_beat
    notes: dict[str, list[tuple[float, float, int, int]]] = {}
    meters: list[tuple[float, int]] = []
    cuts: list[float] = []
    end = 0.0
    for track in midi.tracks:
        tick, sounding, out = 0, {}, []
        for msg in track:
            tick += msg.time
            beat = tick / tpb
            end = max(end, beat)
            if msg.type == "time_signature":
                meters.append((beat, msg.numerator * 4 / msg.denominator))
            elif msg.type == "marker":
                cuts.append(beat)
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)] = (beat, msg.velocity)
            elif msg.type in ("note_off", "note_on") and (msg.channel, msg.note) in sounding:
                on, velocity = sounding.pop((msg.channel, msg.note))
                out.append((on, beat, msg.note, velocity))
        if out:
            notes[track.name] = out
    if "melody" not in notes:
        raise MediaError(f"{path}: no notes in a track named 'melody'")
    meters = sorted(meters) or [(0.0, 4.0)]
    bar_starts, beat, k = [], 0.0, 0
    while beat < end:
        while k + 1 < len(meters) and meters[k + 1][0] <= beat + 1e-6:
            k += 1
        bar_starts.append(beat)
        beat += meters[k][1]
    return _Midi(notes, bar_starts, sorted(c for c in cuts if c > 0))


def _bars_of(melody, starts: list[float]) -> list[list]:
    """Melody notes per bar (an onset up to a 32nd early counts in the bar it anticipates)."""
    bars: list[list] = [[] for _ in starts]
    for note in melody:
        bars[max(0, int(np.searchsorted(starts, note[0] + 0.125, side="right")) - 1)].append(note)
    return bars


def _matches(a: tuple, b: tuple) -> bool:
    if len(a) != len(b) or not a:
        return False
    x, y = np.array(a), np.array(b)
    same = np.all(np.sign(x) == np.sign(y)) and np.all(np.abs(x - y) <= 2)
    inverted = np.all(np.sign(x) == -np.sign(y)) and np.all(np.abs(x + y) <= 2)
    return bool(same or inverted)


def _pattern(pitches: list[int]) -> tuple:
    return tuple(np.diff(pitches).tolist())


def _statements(bars: list[list[int]]) -> list[tuple[tuple[int, ...], tuple[tuple, ...]]]:
    """Every place the theme could be stated: (the bars it covers, the patterns that must all match).
    A bar on its own; two consecutive bars joined (augmentation); a bar's two halves (diminution)."""
    units = []
    for i, pitches in enumerate(bars):
        if not pitches:
            continue
        units.append(((i,), (_pattern(pitches),)))
        half = len(pitches) // 2
        if len(pitches) % 2 == 0 and half >= 3:
            units.append(((i,), (_pattern(pitches[:half]), _pattern(pitches[half:]))))
        if i + 1 < len(bars) and bars[i + 1]:
            units.append(((i, i + 1), (_pattern(pitches + bars[i + 1]),)))
    return units


def _recurrence(bars: list[list[int]]) -> float:
    """Share of melody bars stating the main theme: the candidate (among the 30 most common patterns)
    stated in the most bars."""
    played = sum(1 for pitches in bars if pitches)
    units = _statements(bars)
    candidates = [p for p, _ in Counter(u[0] for _, u in units if len(u[0]) >= 2).most_common(30)]
    if not played or not candidates:
        return 0.0
    best = max(len({i for covered, patterns in units if all(_matches(c, p) for p in patterns) for i in covered})
               for c in candidates)
    return best / played


def _sounding_pitch_classes(midi: _Midi, beat: float) -> set[int]:
    return {p % 12 for name, ns in midi.notes.items() if name not in ("melody", "percussion")
            for on, off, p, _ in ns if on <= beat + 0.125 and off > beat + 0.125}


def _cadences(midi: _Midi, melody) -> tuple[float, int]:
    starts = midi.bar_starts
    scene_starts = [0.0] + midi.cuts
    ends: set[int] = set()
    for i, s in enumerate(scene_starts):
        first = int(np.searchsorted(starts, s - 1e-6))
        last = int(np.searchsorted(starts, scene_starts[i + 1] - 1e-6)) - 1 if i + 1 < len(scene_starts) else len(starts) - 1
        ends.update(range(first + 3, last + 1, 4))
        ends.add(last)
    bars = _bars_of(melody, starts)
    judged = [bars[i] for i in sorted(ends) if 0 <= i < len(bars) and bars[i]]
    cadential = 0
    for bar in judged:
        on, off, pitch, _ = bar[-1]
        if off - on >= 0.9 and pitch % 12 in _sounding_pitch_classes(midi, on):
            cadential += 1
    return (cadential / len(judged) if judged else 0.0), len(judged)


def _parallels(melody, bass) -> int:
    """Consecutive perfect fifths or octaves between the melody and the lowest bass note sounding under it."""
    if not bass:
        return 0
    ons = np.array([b[0] for b in bass])
    offs = np.array([b[1] for b in bass])
    pitches = np.array([b[2] for b in bass])

    def bass_at(beat: float):
        sounding = (ons <= beat + 0.125) & (offs > beat + 0.125)
        return int(pitches[sounding].min()) if sounding.any() else None

    count, previous = 0, None
    for on, _, pitch, _ in melody:
        low = bass_at(on)
        if low is None:
            previous = None
            continue
        if previous is not None:
            m0, b0 = previous
            perfect = (m0 - b0) % 12 in (0, 7) and (pitch - low) % 12 == (m0 - b0) % 12
            if perfect and pitch != m0 and low != b0 and np.sign(pitch - m0) == np.sign(low - b0):
                count += 1
        previous = (pitch, low)
    return count
