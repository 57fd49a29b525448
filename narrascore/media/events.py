"""Sudden moments inside shots (narrative.json ``events``): bangs, bursts of motion, flashes, blackouts, hard cuts in fast action.

Two steps, so the added cost stays small:

1. ``event_candidates``: jumps in the statistics the scan already keeps (``VideoStats`` at 4 Hz,
   ``AudioStats`` every hop), each against the median of the ``BASELINE`` seconds before it (for
   the picture, only within the same shot, and never within ``CUT_GUARD`` of a cut or
   ``FADE_GUARD`` of a fade's middle: a change at a cut is the cut's):

   ========= ======================================================== ===========================
   kind      candidate                                                strength (0, 1]
   ========= ======================================================== ===========================
   impact    loudness up >= IMPACT_DB dB, to at least -45 dBFS         (jump - 6 dB) / 18 dB
   flash     mean luma up >= FLASH_STEP                                step / 0.5
   blackout  mean luma down to <= 0.08 from >= 0.2                     drop / 0.4
   motion    motion >= MOTION_RATIO x its baseline and >= MOTION_MIN   (motion - baseline) / 0.5
   cut       a hard cut with motion >= FAST_MOTION on both sides       0.6 motion / FAST_MOTION / 2
   ========= ======================================================== ===========================

   Candidates closer than ``MERGE`` seconds become one event (the strongest kind; each extra kind
   adds 0.2 strength: a flash with a bang is a bigger hit than either).
2. ``refine_events``: each picture candidate decodes every frame within +-``REFINE`` s (as cuts
   are refined: reference frames only up to the window) and moves to the frame of the largest
   change; a sound candidate decodes the audio around it and moves to its attack (2.5 ms steps),
   then to the frame on screen at that time. Events end at least ``MIN_GAP`` seconds apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..artifacts import Event, MediaInfo, Shots
from .features import AudioStats, VideoStats

EVENTS_VERSION = 1  # in the narrative stage's cache key: a new detector re-derives the events
BASELINE = 2.0  # s of history a jump is measured against
IMPACT_DB = 9.0
FLASH_STEP = 0.15
MOTION_RATIO, MOTION_MIN = 3.0, 0.15
FAST_MOTION = 0.25
MERGE = 0.5  # s: candidates this close are one event
REFINE = 0.5  # s either side decoded in full
MIN_GAP = 1.0  # s between events
CUT_GUARD = 0.3  # s around a hard cut where picture jumps belong to the cut
FADE_GUARD = 1.0  # s around the middle of a fade (a dissolve is no flash)
PICTURE_KINDS = ("flash", "blackout", "motion")


@dataclass(frozen=True)
class Candidate:
    time: float  # s, centre of the statistics row
    kind: str
    strength: float
    kinds: tuple[str, ...] = ()


def _baseline(times: np.ndarray, values: np.ndarray, i: int, since: float = -np.inf) -> float | None:
    """Median of ``values`` over the ``BASELINE`` s before sample ``i`` and after ``since`` (s); None if under 2 samples."""
    before = (times < times[i] - 1e-9) & (times >= max(times[i] - BASELINE, since) - 1e-9)
    return float(np.median(values[before])) if before.sum() >= 2 else None


def _shot_start(cuts: np.ndarray, guards: np.ndarray, t: float) -> float:
    """End of the guard after the last cut before ``t``: picture baselines never reach into the previous shot."""
    before = cuts <= t
    return float(np.max(cuts[before] + guards[before])) if before.any() else -np.inf


def event_candidates(video: VideoStats, audio: AudioStats | None, shots: Shots) -> list[Candidate]:
    """Candidates from the scanned statistics (see module docstring), merged, in time order."""
    found: list[Candidate] = []
    hard = np.array([c.time for c in shots.cuts if c.kind == "hard"])
    cuts = np.array([c.time for c in shots.cuts])
    guards = np.array([CUT_GUARD if c.kind == "hard" else FADE_GUARD for c in shots.cuts])
    vt = np.asarray(video.times, dtype=float)
    luma, motion = np.asarray(video.luma_mean, dtype=float), np.asarray(video.motion, dtype=float)
    for i in range(len(vt)):
        if cuts.size and np.any(np.abs(cuts - vt[i]) <= guards):
            continue
        since = _shot_start(cuts, guards, vt[i])
        base = _baseline(vt, luma, i, since)
        if base is not None:
            if luma[i] - base >= FLASH_STEP:
                found.append(Candidate(vt[i], "flash", _unit((luma[i] - base) / 0.5)))
            elif base >= 0.2 and luma[i] <= 0.08:
                found.append(Candidate(vt[i], "blackout", _unit((base - luma[i]) / 0.4)))
        base = _baseline(vt, motion, i, since)
        if base is not None and motion[i] >= max(MOTION_MIN, MOTION_RATIO * base):
            found.append(Candidate(vt[i], "motion", _unit((motion[i] - base) / 0.5)))
    if audio is not None and len(audio):
        at, level = np.asarray(audio.times, dtype=float), np.asarray(audio.loudness_db, dtype=float)
        for i in range(len(at)):
            base = _baseline(at, level, i)
            if base is not None and level[i] - base >= IMPACT_DB and level[i] >= -45.0:
                found.append(Candidate(at[i], "impact", _unit((level[i] - base - 6.0) / 18.0)))
    for t in hard:
        before = motion[(vt >= t - 1.0) & (vt < t - CUT_GUARD)]
        after = motion[(vt > t + CUT_GUARD) & (vt <= t + 1.0)]
        if before.size and after.size and min(np.median(before), np.median(after)) >= FAST_MOTION:
            found.append(Candidate(float(t), "cut", _unit(0.3 * min(np.median(before), np.median(after)) / FAST_MOTION)))
    return _merge(found)


def _unit(x: float) -> float:
    return float(np.clip(x, 0.1, 1.0))


def _merge(found: list[Candidate]) -> list[Candidate]:
    groups: list[list[Candidate]] = []
    for c in sorted(found, key=lambda c: (c.time, c.kind)):
        if groups and c.time - groups[-1][0].time <= MERGE:
            groups[-1].append(c)
        else:
            groups.append([c])
    merged = []
    for group in groups:
        best = max(group, key=lambda c: (c.strength, c.kind))
        kinds = tuple(sorted({c.kind for c in group}))
        strength = min(1.0, best.strength + 0.2 * (len(kinds) - 1))
        merged.append(Candidate(best.time, best.kind, strength, kinds))
    return merged


# --------------------------------------------------------------------------- refinement
def refine_events(path: str | os.PathLike[str], info: MediaInfo, candidates: list[Candidate]) -> tuple[Event, ...]:
    """Events at their exact frame (see module docstring), at least ``MIN_GAP`` s apart (the stronger kept)."""
    events = []
    for c in candidates:
        if c.kind == "cut":  # already exact to the frame
            t = c.time
        else:
            t_pic = _picture_change(path, info, c.time, next(k for k in PICTURE_KINDS if k in c.kinds)) \
                if any(k in PICTURE_KINDS for k in c.kinds) else None
            t_aud = _attack(path, info, c.time) if "impact" in c.kinds else None
            if t_pic is not None and (t_aud is None or c.kind != "impact" or abs(t_pic - t_aud) <= 0.1):
                t = t_pic
            elif t_aud is not None:
                t = _frame_at(info, t_aud)
            else:
                t = c.time
        events.append(Event(time=round(float(min(max(t, 0.0), info.duration)), 6), kind=c.kind, strength=round(c.strength, 3)))
    kept: list[Event] = []
    for e in sorted(events, key=lambda e: (-e.strength, e.time)):
        if all(abs(e.time - k.time) >= MIN_GAP for k in kept):
            kept.append(e)
    return tuple(sorted(kept, key=lambda e: e.time))


def _frame_at(info: MediaInfo, t: float) -> float:
    """The start of the frame on screen at ``t`` (constant frame rate assumed), rounded to the nearest frame edge."""
    fps = info.fps if info.fps > 0 else 25.0
    return round(t * fps) / fps


def _picture_change(path: str | os.PathLike[str], info: MediaInfo, t: float, kind: str) -> float | None:
    """Time of the decoded frame with the largest change of ``kind`` within ``t`` +- REFINE s."""
    from .scan import FrameReducer, decode_window

    reduce = FrameReducer(info.width, info.height)
    frames = []
    for ft, frame in decode_window(path, t - REFINE, t + REFINE):
        y, _, _ = reduce.float_planes(reduce(frame))
        frames.append((ft, float(y.mean()), y))
    if len(frames) < 2:
        return None
    times = np.array([f[0] for f in frames])
    luma = np.array([f[1] for f in frames])
    if kind == "motion":
        change = np.array([0.0] + [float(np.abs(frames[k][2] - frames[k - 1][2] - (luma[k] - luma[k - 1])).mean())
                                    for k in range(1, len(frames))])
        peak = float(change.max())
        if peak <= 0:
            return None
        return float(times[int(np.argmax(change >= 0.5 * peak))])
    step = np.diff(luma) if kind == "flash" else -np.diff(luma)
    return float(times[int(np.argmax(step)) + 1])


def _attack(path: str | os.PathLike[str], info: MediaInfo, t: float) -> float | None:
    """Seconds of the sharpest rise of the sound level within ``t`` +- REFINE s (2.5 ms steps)."""
    from .audio import decode_audio_window

    rate, start, samples = decode_audio_window(path, t - REFINE - 0.25, t + REFINE)
    step = max(1, int(rate * 0.0025))
    n = samples.size // step
    if n < 60:
        return None
    energy = (samples[: n * step].reshape(n, step) ** 2).mean(axis=1)
    level = 10 * np.log10(energy + 1e-10)
    history = 40  # 100 ms
    rise = np.full(n, -np.inf)
    for k in range(history, n):
        rise[k] = level[k] - np.median(level[k - history:k])
    k = int(np.argmax(rise))
    if not np.isfinite(rise[k]) or rise[k] < 6.0:
        return None
    base = float(np.median(level[k - history:k]))
    first = k
    while first > k - 8 and level[first - 1] > base + 6.0:  # back to the first step above the floor
        first -= 1
    return start + first * step / rate


def detect_events(path: str | os.PathLike[str], info: MediaInfo, video: VideoStats, audio: AudioStats | None, shots: Shots,
                  *, scene_starts: tuple[float, ...] = ()) -> tuple[Event, ...]:
    """Events of the video: candidates from the scanned statistics, refined to the frame.

    A hard cut on a scene boundary is the scene's own change (the music answers it as a cut), never a ``cut`` event.
    """
    candidates = [c for c in event_candidates(video, audio, shots)
                  if not (c.kind == "cut" and any(abs(c.time - s) <= 0.05 for s in scene_starts))]
    return refine_events(path, info, candidates)
