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
from .scenes import clock, label_for
from .shape import MIN_STEP, Piece

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


def describe_arc(scenes: Sequence[Scene], climax_time: float, *, curve: tuple[Sequence[float], Sequence[float], Sequence[float]] | None = None,
                 pieces: Sequence[Sequence[Piece]] | None = None) -> str:
    """S_global: a short text of the arc, e.g. "A calm opening gives way to mounting tension; ...".

    A one-scene video is described from inside its scene (``describe_shot``) when its narrative
    ``curve`` (times, valence, arousal) and the scene's ``pieces`` are given.
    """
    if len(scenes) == 1 and curve is not None and pieces:
        return describe_shot(scenes[0], climax_time, curve, pieces[0])
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


def describe_shot(scene: Scene, climax_time: float, curve: tuple[Sequence[float], Sequence[float], Sequence[float]],
                  pieces: Sequence[Piece]) -> str:
    """S_global of a one-scene video: how it opens, where it changes or builds, its peak and its close.

    E.g. "A melancholy shot turns hopeful at 0:06; the peak comes at 0:08; it ends at full intensity."
    """
    t, v, a = (np.asarray(x, dtype=float) for x in curve)
    at = (lambda x, when: float(np.interp(when, t, x)))  # noqa: E731
    first = label_for(at(v, scene.start), at(a, scene.start))
    parts = [f"A {first} shot"]
    turns = []
    for before, after in zip(pieces[:-1], pieces[1:]):
        b = after.start
        step = max(abs(after.a0 - before.a1), abs(after.v0 - before.v1))
        if step >= MIN_STEP:
            label = label_for(at(v, min(b + 1.0, scene.end)), at(a, min(b + 1.0, scene.end)))
            verb = "erupts" if after.a0 - before.a1 >= 0.3 else "turns" if after.a0 >= before.a1 else "drops"
            turns.append(f"{verb} {'into ' if verb == 'erupts' else ''}{label} at {clock(b)}")
    ramps = [p for p in pieces if p.end - p.start >= 3.0 and abs(p.a1 - p.a0) >= 0.2]
    if turns:
        parts[0] += " " + ", then ".join(turns)
    elif ramps:
        rise = ramps[0].a1 > ramps[0].a0
        parts[0] += " builds steadily" if rise else " winds down"
    else:
        return f"One {first} shot that holds its mood from start to end."
    a_end, a_peak = at(a, t[-1]), float(a.max())
    near_end = climax_time >= scene.end - 1.5
    parts.append(f"it peaks at {clock(climax_time)} ({label_for(at(v, climax_time), at(a, climax_time))})" if not near_end
                 else f"it peaks at the very end ({clock(climax_time)})")
    if not near_end:
        if a_end < a_peak - 0.3:
            parts.append("it settles after that" if at(v, t[-1]) >= 0 else "it fades out in a sombre hush")
        elif a_end > 0.3:
            parts.append("it ends at full intensity")
        else:
            parts.append(f"it ends {label_for(at(v, t[-1]), a_end)}")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]
