"""A counter-line: a second melodic voice against the theme, played by the pad where the texture has room.

Film scores thicken a calm-to-moving passage by giving the sustained strings (or the pad) a line of
their own under the tune: slower than the melody, mostly in contrary or oblique motion, in thirds and
sixths with it. Here it moves twice a bar (on the first beat and the bar's middle), in bars whose
arousal is between ``COUNTER_MIN`` and ``COUNTER_MAX`` (below, the texture is bare; above, the
melody's diminution and the ostinati fill it) and where the melody and the pad both play. In those
bars the pad's chord drops its top voice (``in_counter_bar``): the line takes its place, so the
texture keeps its number of voices.

Each run of such slots is solved at once (a shortest path over the candidate notes of every slot),
not note by note, so the line can prepare a contrary step. A candidate lies 3 to ``LOWEST`` semitones
under the melody's note there; on the first beat it is a chord tone, on the bar's middle a chord tone
or a passing tone of the key, approached and left by step. Costs:

* motion against the melody: contrary rewarded (``CONTRARY``), oblique free, similar ``SIMILAR``, and a
  perfect fifth or octave reached in similar motion forbidden (the outer-voice rule, between the tunes);
* the size of its step: a step cheapest, a held note or a third a little more, larger leaps dear;
* a third or sixth with the melody preferred; staying near a fifth under it.

It never strikes a pitch the pad is holding (one channel cannot strike a key it holds). Deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .harmony import scale_classes
from .theme import Bar

COUNTER_MIN, COUNTER_MAX = -0.5, 0.5  # arousal of the bars that get a counter-line
LOWEST = 21  # semitones: the line stays within an octave and a major sixth under the melody (a tenor line)
SIMILAR = 2.0  # cost of moving the same way as the melody
CONTRARY = 0.75  # reward for moving against it
PASSING = 0.6  # cost of a passing tone (not in the chord) on the bar's middle
IMPERFECT = (3, 4, 8, 9)  # thirds and sixths (semitones, modulo the octave)
PERFECT = (0, 7)
FORBIDDEN = 100.0  # the cost of a move the line may not make: chosen only where nothing else is left, then silenced
LOUDER = 8  # velocity above the pad's chord: a line is heard over the chord it belongs to
Note = tuple[float, float, int, int]


def in_counter_bar(bar: Bar) -> bool:
    """Does ``bar`` get a counter-line (and a pad of two voices)?"""
    return COUNTER_MIN <= float(bar.arousal[0]) < COUNTER_MAX


def counter_line(bars: Sequence[Bar], melody: Sequence[tuple], pad: Sequence[tuple],
                 rests: Sequence[tuple[float, float]] = ()) -> list[Note]:
    """The counter-line's notes (start s, end s, pitch, velocity) over ``bars``; ``melody`` and ``pad``: their
    tracks' notes so far (start, end, pitch, velocity[, channel]). ``rests``: spans [t0, t1) where the line
    is silent (the breath before a big hit, in every style: a line that rings into a hit blunts it)."""
    return [cut for n in _line(bars, melody, pad) if (cut := _rested(n, rests)) is not None]


def _rested(note: Note, rests: Sequence[tuple[float, float]]) -> Note | None:
    start, end, pitch, velocity = note
    for t0, t1 in rests:
        if t0 - 1e-9 <= start < t1:
            return None
        if start < t0 < end:
            end = t0
    return start, end, pitch, velocity


def _line(bars: Sequence[Bar], melody: Sequence[tuple], pad: Sequence[tuple]) -> list[Note]:
    mel_on = np.array([n[0] for n in melody]) if melody else np.zeros(0)
    mel_off = np.array([n[1] for n in melody]) if melody else np.zeros(0)
    notes: list[Note] = []
    run: list[tuple[float, float, int, list[tuple[int, bool]], int]] = []  # (t, end, melody, candidates, velocity)
    for bar in bars:
        if not in_counter_bar(bar):
            notes += _solve(run)
            run = []
            continue
        slots = [bar.start] + ([float(bar.beats[len(bar.beats) // 2])] if len(bar.beats) >= 4 else [])
        for k, (t, end) in enumerate(zip(slots, slots[1:] + [bar.end])):
            m = _melody_at(melody, mel_on, mel_off, t, end)
            chord_pad = [n for n in pad if n[0] <= t + 1e-6 < n[1]]
            held = {n[2] for n in pad if n[0] < end - 1e-6 and n[1] > t + 1e-6}
            candidates = [] if m is None or not chord_pad else _candidates(bar, t, m, held, weak=k > 0)
            if not candidates:
                notes += _solve(run)
                run = []
                continue
            run.append((t, end, m, candidates, min(127, max(n[3] for n in chord_pad) + LOUDER)))
    return notes + _solve(run)


def _candidates(bar: Bar, t: float, m: int, held: set[int], *, weak: bool) -> list[tuple[int, bool]]:
    """(pitch, is a chord tone) under the melody's ``m``: chord tones, and on a ``weak`` slot the key's other tones."""
    ch = bar.chord_at(t)
    scale = scale_classes(ch.tonic, ch.mode)
    out = []
    for p in range(m - LOWEST, m - 2):
        if p in held:
            continue
        if p % 12 in ch.pitch_classes:
            out.append((p, True))
        elif weak and p % 12 in scale:
            out.append((p, False))
    return out


def _solve(run) -> list[Note]:
    """The cheapest line through the run's slots (Viterbi over their candidates)."""
    if not run:
        return []
    for edge in {0, len(run) - 1}:  # a run starts and ends on chord tones, where it can
        t, end, m, cands, velocity = run[edge]
        run[edge] = (t, end, m, [c for c in cands if c[1]] or cands, velocity)
    cost = [np.array([_node(p, chordal, run[0][2]) for p, chordal in run[0][3]])]
    back: list[np.ndarray] = []
    for (_, _, m0, cands0, _), (_, _, m1, cands1, _) in zip(run, run[1:]):
        step = np.array([[_move(p0, c0, m0, p1, c1, m1) for (p0, c0) in cands0] for (p1, c1) in cands1])
        total = step + cost[-1][None, :]
        back.append(np.argmin(total, axis=1))  # (ties: the first candidate, the lower note)
        cost.append(total[np.arange(len(cands1)), back[-1]] + np.array([_node(p, c, m1) for p, c in cands1]))
    path = [int(np.argmin(cost[-1]))]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    path.reverse()
    chosen = [slot[3][j] for j, slot in zip(path, run)]
    keep = [True] + [_move(*a, run[i][2], *b, run[i + 1][2]) < FORBIDDEN for i, (a, b) in enumerate(zip(chosen, chosen[1:]))]
    return [(t, end, c[0], velocity) for c, ok, (t, end, _, _, velocity) in zip(chosen, keep, run) if ok]


def _node(p: int, chordal: bool, m: int) -> float:
    return 0.1 * abs(p - (m - 7)) - (0.5 if (m - p) % 12 in IMPERFECT else 0.0) + (0.0 if chordal else PASSING)


def _move(p0: int, c0: bool, m0: int, p1: int, c1: bool, m1: int) -> float:
    dc, dm = p1 - p0, m1 - m0
    if (not c0 or not c1) and not 1 <= abs(dc) <= 2:
        return FORBIDDEN  # a passing tone is approached and left by step
    cost = 0.0
    if dc * dm > 0:
        if (m1 - p1) % 12 in PERFECT:
            return FORBIDDEN  # a hidden or parallel fifth or octave
        cost += SIMILAR
    elif dc * dm < 0:
        cost -= CONTRARY
    size = abs(dc)
    return cost + (0.0 if 1 <= size <= 2 else 0.4 if size == 0 else 0.6 if size <= 4 else 2.0 + 0.3 * size)


def _melody_at(melody, on: np.ndarray, off: np.ndarray, t: float, end: float) -> int | None:
    """The melody's pitch at ``t``: the note sounding there, else the first one struck before ``end``."""
    sounding = np.flatnonzero((on <= t + 1e-6) & (off > t + 1e-6))
    if sounding.size:
        return int(melody[int(sounding[-1])][2])
    later = np.flatnonzero((on > t) & (on < end - 1e-6))
    return int(melody[int(later[0])][2]) if later.size else None
