"""Performance: what a player adds to the written notes (timing, dynamics, expression, pedal).

Applied after composition and after the events' answers, the same way to every part:

* **timing**: every onset moves by a seeded Gaussian offset, tighter on the beat than between
  beats (standard deviation 3 ms on downbeats, 5 ms on other beats, 8 ms off the beat, half that
  for the drum kit; at most 20 ms), the duration kept. Notes struck together in one part move
  together (a chord is one gesture). Notes on an *anchor* (a scene cut, a shot cut, an event's hit)
  stay exactly on time, and no note is moved across one: those accents are what the picture is
  synchronised to.
* **velocity by phrase and metre**: a four-bar phrase arch (0, +3, +6, -3 per bar of a scene's
  phrase) and the metre (downbeat +4, mid-bar beat +2, off the beat -4); anchored notes keep theirs.
* **expression** (CC11, per channel): the arousal of each beat (76..127), reached in steps of at
  most 2, times a swell inside every long note of a sustaining part (a *messa di voce*: down by
  ``SWELL_DEPTH`` at the note's ends, full at its middle, deeper when calm). CC7 and CC10 set the
  style's mix once per channel.
* **pedal** (piano style): CC64 down just after each chord change and up on the next, on the piano
  channels of the harmony and the bass, where arousal is below ``PEDAL_MAX_AROUSAL``; ``pedalled`` gives the notes as the pedal makes them sound,
  which is what the renderer plays (the MIDI file keeps the written notes and the pedal).

Deterministic: every offset is a hash of the seed, the channel and the written onset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # composer imports this module
    from .composer import Track
    from .theme import Bar

TIMING_SD = (0.003, 0.005, 0.008)  # s: downbeat, other beat, off the beat
DRUM_TIMING = 0.5  # drummers sit tighter
MAX_SHIFT = 0.020  # s
ON_GRID = 0.002  # s: an onset this close to a beat is on it
PHRASE_ARCH = (0, 3, 6, -3)  # velocity per bar of a four-bar phrase
METRE = (4, 2, -4)  # velocity: downbeat, mid-bar beat, off the beat
SWELL_MIN = 1.5  # s: notes at least this long swell
SWELL_DEPTH = (0.25, 0.12)  # expression dip at a long note's ends, at arousal -1 and +1
CONTROL_RATE = 50.0  # Hz: expression points where it moves
SUSTAINING = ("melody", "pad")
PEDAL_DELAY = 0.06  # s after the chord change (legato pedalling: up on the change, down just after)
PEDAL = 64
PEDAL_MAX_AROUSAL = 0.3  # above this the piano plays without pedal (clarity at speed)


def perform(groups: dict[str, Track], bars: Sequence[Bar], anchors: Iterable[float], *, seed: int, duration: float) -> None:
    """Humanise timing and shape velocity of every track in ``groups`` in place (see module docstring)."""
    anchor_times = np.unique(np.asarray(list(anchors), dtype=float))
    beats, role, arch = _metre(bars)
    for track in groups.values():
        drum = {p.channel for p in track.parts if p.is_drum}
        track.notes = _humanised(track.notes, beats, role, arch, anchor_times, drum, seed, duration)


def _metre(bars: Sequence[Bar]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every beat's time, its metric role (0 downbeat, 1 other beat) and its bar's phrase arch."""
    times, role, arch = [], [], []
    k = -1
    for bar in bars:
        k = 0 if bar.first_in_segment else k + 1
        for i, t in enumerate(bar.beats.tolist()):
            times.append(t)
            role.append(0 if i == 0 else 1)
            arch.append(PHRASE_ARCH[k % len(PHRASE_ARCH)])
    return np.asarray(times), np.asarray(role, dtype=int), np.asarray(arch, dtype=int)


def _humanised(notes, beats, role, arch, anchors, drum: set[int], seed: int, duration: float) -> list:
    if not notes:
        return []
    starts = np.array([n[0] for n in notes])
    k = np.clip(np.searchsorted(beats, starts + ON_GRID, side="right") - 1, 0, len(beats) - 1)
    on_beat = np.abs(starts - beats[k]) <= ON_GRID
    metric = np.where(on_beat, role[k], 2)  # 0 downbeat, 1 beat, 2 off the beat
    anchored = _near(starts, anchors)
    # no note crosses an anchor: what follows a cut starts after it, what precedes it ends before it
    bounds = np.concatenate([[0.0], anchors, [np.inf]])
    j = np.searchsorted(bounds, starts, side="right")
    floor, ceiling = bounds[j - 1], bounds[j] - 1e-3
    # one gesture per (channel, onset): the chord's notes share their offset, drawn from the gesture
    # itself, so adding or removing other notes (an edited event) leaves every other offset as it was
    channels = np.array([n[4] for n in notes], dtype=np.int64)
    sd = np.asarray(TIMING_SD)[metric] * np.where(np.isin(channels, list(drum)), DRUM_TIMING, 1.0)
    offsets = np.clip(sd * _gaussian(seed, channels, np.round(starts * 1e5).astype(np.int64)), -MAX_SHIFT, MAX_SHIFT)
    out = []
    for i, (s, e, p, v, c) in enumerate(notes):
        if anchored[i]:
            out.append((s, e, p, v, c))
            continue
        shift = min(max(float(offsets[i]), floor[i] - s), ceiling[i] - s, duration - e)
        velocity = v + (0 if c in drum else METRE[metric[i]]) + int(arch[k[i]])
        out.append((s + shift, e + shift, p, int(min(127, max(1, velocity))), c))
    return out


def _gaussian(seed: int, *keys: np.ndarray) -> np.ndarray:
    """A standard normal number per element, a pure function of ``seed`` and the integer ``keys``
    (splitmix64 hashing, then Box-Muller)."""
    def mix(x: np.ndarray) -> np.ndarray:
        x = (x + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

    with np.errstate(over="ignore"):
        h = mix(np.full(keys[0].shape, np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) ^ np.uint64(0x9E7F))
        for key in keys:
            h = mix(h ^ key.astype(np.uint64))
        g = mix(h)
    u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = (g >> np.uint64(11)).astype(np.float64) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _near(times: np.ndarray, anchors: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """Which ``times`` lie within ``tolerance`` s of one of the sorted ``anchors``."""
    if anchors.size == 0:
        return np.zeros(times.shape, dtype=bool)
    k = np.searchsorted(anchors, times)
    lower, upper = anchors[np.clip(k - 1, 0, anchors.size - 1)], anchors[np.clip(k, 0, anchors.size - 1)]
    return np.minimum(np.abs(times - lower), np.abs(times - upper)) <= tolerance


# --------------------------------------------------------------------------- expression
def expression(track: Track, grid: np.ndarray, beat_arousal: np.ndarray, *, volume: int, pan: int, duration: float) -> None:
    """CC7/CC10 once per channel, CC11 from the beats' arousal with swells in long notes (in place)."""
    target = 127 * (0.6 + 0.4 * (np.asarray(beat_arousal) + 1) / 2)
    t = np.arange(0.0, duration, 1.0 / CONTROL_RATE)
    base = np.interp(t, grid[:-1], target)
    for part in track.parts:
        c = part.channel
        level = base.copy()
        if track.name in SUSTAINING and not part.is_drum:
            level *= _swell(t, [(s, e) for s, e, _, _, ch in track.notes if ch == c and e - s >= SWELL_MIN], grid, beat_arousal)
        values = _slew(np.round(level).astype(int), 2)
        track.controls += [(0.0, c, 7, volume), (0.0, c, 10, pan), (0.0, c, 11, int(values[0]))]
        changes = np.flatnonzero(np.diff(values)) + 1
        track.controls += [(float(t[i]), c, 11, int(values[i])) for i in changes]
    track.controls.sort()


def _swell(t: np.ndarray, spans: list[tuple[float, float]], grid: np.ndarray, beat_arousal: np.ndarray) -> np.ndarray:
    """Gain in (0, 1]: a sine arch inside each long note, dipping deeper when calm."""
    gain = np.ones_like(t)
    for s, e in spans:
        inside = (t >= s) & (t < e)
        if not inside.any():
            continue
        a = float(np.interp(s, grid[:-1], beat_arousal))
        depth = SWELL_DEPTH[0] + (SWELL_DEPTH[1] - SWELL_DEPTH[0]) * (a + 1) / 2
        u = (t[inside] - s) / (e - s)
        gain[inside] = np.minimum(gain[inside], 1.0 - depth * (1.0 - np.sin(np.pi * u)))
    return gain


def _slew(values: np.ndarray, step: int) -> np.ndarray:
    """``values`` followed with changes of at most ``step`` per point (so expression never jumps)."""
    out = values.copy()
    for i in range(1, len(out)):
        out[i] = out[i - 1] + max(-step, min(step, int(values[i]) - int(out[i - 1])))
    return out


# --------------------------------------------------------------------------- pedal
def pedal(track: Track, chord_changes: Sequence[tuple[float, float]], duration: float) -> None:
    """Legato pedalling on the track's piano channels: up on every chord change, down just after,
    where the music is calm enough (``chord_changes``: (time s, arousal)); energetic passages play dry."""
    channels = [p.channel for p in track.parts if not p.is_drum and 0 <= p.program <= 7]
    for c in channels:
        down = False
        for t, a in chord_changes:
            if down:
                track.controls.append((float(t), c, PEDAL, 0))
                down = False
            if a < PEDAL_MAX_AROUSAL and t + PEDAL_DELAY < duration:
                track.controls.append((float(t + PEDAL_DELAY), c, PEDAL, 127))
                down = True
        if down:
            track.controls.append((float(duration), c, PEDAL, 0))
    track.controls.sort()


def pedalled(track: Track) -> list[tuple[float, float, int, int, int]]:
    """The track's notes as they sound: a note released while the pedal is down rings on until the
    pedal comes up, or until the same key is struck again (its damper falls for the new note)."""
    downs: dict[int, list[tuple[float, float]]] = {}
    pressed: dict[int, float] = {}
    for t, c, cc, value in sorted(track.controls):
        if cc != PEDAL:
            continue
        if value >= 64 and c not in pressed:
            pressed[c] = t
        elif value < 64 and c in pressed:
            downs.setdefault(c, []).append((pressed.pop(c), t))
    if not downs:
        return list(track.notes)
    notes = sorted(track.notes, key=lambda n: (n[4], n[2], n[0]))
    out = []
    for i, (s, e, p, v, c) in enumerate(notes):
        for d, u in downs.get(c, ()):
            if d <= e < u:
                e = u
                break
        if i + 1 < len(notes) and notes[i + 1][4] == c and notes[i + 1][2] == p:
            e = min(e, notes[i + 1][0])
        out.append((s, max(e, s + 1e-3), p, v, c))
    return sorted(out)
