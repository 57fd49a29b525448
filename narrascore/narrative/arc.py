"""The global arc: climax, arc roles and the one-paragraph S_global.

Climax: the scene with the highest arousal after smoothing across neighbours
(``0.6 a_i + 0.2 a_{i-1} + 0.2 a_{i+1}``, renormalised at the ends), plus ``LATE_BONUS`` times the
scene's relative position, so of two equal peaks the later one wins (stories peak late).
Roles: the climax scene is ``climax``; the first scene, and any before the climax that end within
the first ``SETUP_SHARE`` of the video, are ``setup``; the last scene, and any after the climax that
start in the last ``RESOLUTION_SHARE``, are ``resolution``; the rest are ``rising`` before the
climax and ``falling`` after it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..artifacts import Scene
from .scenes import clock

LATE_BONUS = 0.08
SETUP_SHARE = 0.15
RESOLUTION_SHARE = 0.10


def locate_climax(starts: Sequence[float], ends: Sequence[float], arousal: Sequence[float]) -> int:
    """Index of the climax scene (see module docstring)."""
    a = np.asarray(arousal, dtype=float)
    n = len(a)
    if n == 0:
        raise ValueError("no scenes")
    # each scene's arousal smoothed over its neighbours (0.2, 0.6, 0.2), renormalised at the ends
    padded = np.pad(a, 1)
    present = np.pad(np.ones(n), 1)
    num = 0.2 * padded[:-2] + 0.6 * padded[1:-1] + 0.2 * padded[2:]
    den = 0.2 * present[:-2] + 0.6 * present[1:-1] + 0.2 * present[2:]
    duration = float(ends[-1]) - float(starts[0])
    mid = (np.asarray(starts, dtype=float) + np.asarray(ends, dtype=float)) / 2.0
    score = num / den + LATE_BONUS * (mid - float(starts[0])) / max(duration, 1e-9)
    return int(np.argmax(score))


def arc_roles(starts: Sequence[float], ends: Sequence[float], arousal: Sequence[float]) -> tuple[list[str], int]:
    """Arc role of every scene and the climax index."""
    n = len(arousal)
    climax = locate_climax(starts, ends, arousal)
    t0, t1 = float(starts[0]), float(ends[-1])
    duration = t1 - t0
    roles = []
    for i in range(n):
        if i == climax:
            roles.append("climax")
        elif i < climax:
            setup = i == 0 or float(ends[i]) - t0 <= SETUP_SHARE * duration
            roles.append("setup" if setup else "rising")
        else:
            resolution = i == n - 1 or t1 - float(starts[i]) <= RESOLUTION_SHARE * duration
            roles.append("resolution" if resolution else "falling")
    return roles, climax


def describe_arc(scenes: Sequence[Scene], climax_time: float) -> str:
    """S_global: a short text of the arc, e.g. "A calm opening gives way to mounting tension; ..."."""
    climax = next((s for s in scenes if s.arc_role == "climax"), max(scenes, key=lambda s: s.arousal))
    before = [s for s in scenes if s.end <= climax.start + 1e-9]
    after = [s for s in scenes if s.start >= climax.end - 1e-9]
    parts = []
    if before:
        opening = before[0]
        rising = before[1:]
        text = f"A {opening.label} opening"
        if rising and max(s.arousal for s in rising) > opening.arousal + 0.15:
            text += " gives way to mounting tension" if min(s.valence for s in rising) < 0 else " builds steadily"
        elif rising:
            text += " holds its mood"
        parts.append(text)
        parts.append(f"the climax comes at {clock(climax_time)} ({climax.label})")
    else:
        parts.append(f"It opens at its peak ({climax.label}, {clock(climax_time)})")
    if after:
        last = after[-1]
        if last.arousal < climax.arousal - 0.3:
            parts.append("it resolves quietly" if last.valence >= 0 else "it fades out in a sombre hush")
        elif last.arousal > 0.3:
            parts.append("it ends at full intensity")
        else:
            parts.append(f"it settles into a {last.label} close")
    else:
        parts.append("it ends on that peak")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]
