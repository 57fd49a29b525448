"""The narrative valence/arousal curve that drives the music, derived from the scenes.

Per scene ``k`` with E_local ``(v_k, a_k)`` on ``[start_k, end_k)``::

    x_k(t) = clip(level_k + trend_k(t), -1, 1)

``trend_k`` is the within-scene shape of the sensed affect curve (when given): a least-squares
polynomial in time (degree 0 under 3 s, 1 under 15 s, 2 beyond) fitted to the samples inside the
scene only, confidence-weighted, with its scene mean removed (so the level stays the E_local, which
a user may edit), damped by ``trend_damping`` and bounded by ``max_trend``. A polynomial cannot
jitter: noise inside a scene never reaches the music.

Nothing is smoothed across a scene boundary. At a boundary on a shot cut the two scene curves
cross-fade linearly over ``crossfade`` seconds (at most 0.25 s) centred on the cut, so a change at
a cut is reached within one hop; at a boundary inside a shot (a split of a long take) they
cross-fade over ``split_crossfade`` seconds, there being no cut to justify a jump.

Anticipation: arousal starts building ``anticipation`` seconds (clipped to 2..6 s and to the
previous scene's length) before the climax scene: over that window it rises by up to
``anticipation_gain`` of the gap to the climax's opening level along a smoothstep; it never falls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..artifacts import AffectCurve, Scene
from ..errors import ArtifactError
from ..sense import grid

MAX_CROSSFADE = 0.25


def _trend(affect: AffectCurve | None, start: float, end: float, values: str) -> np.ndarray:
    """Coefficients (for ``np.polyval`` in x = (t - mid) / half) of the undamped, zero-mean trend of one scene."""
    if affect is None or end - start < 3.0:
        return np.zeros(1)
    t = np.asarray(affect.times, dtype=float)
    inside = (t >= start - 1e-9) & (t < end - 1e-9)
    if inside.sum() < 4:
        return np.zeros(1)
    half, mid = (end - start) / 2.0, (start + end) / 2.0
    x = (t[inside] - mid) / half
    y = np.asarray(getattr(affect, values), dtype=float)[inside]
    w = np.asarray(affect.confidence, dtype=float)[inside] + 1e-3
    degree = 1 if end - start < 15.0 else 2
    coeffs = np.polyfit(x, y, degree, w=np.sqrt(w))
    coeffs[-1] -= float(np.average(np.polyval(coeffs, x), weights=w))  # zero mean over the scene
    return coeffs


class _SceneCurves:
    def __init__(self, scenes: Sequence[Scene], affect: AffectCurve | None, damping: float, max_trend: float) -> None:
        self.scenes = scenes
        self.damping, self.max_trend = damping, max_trend
        self.trends = [(_trend(affect, s.start, s.end, "valence"), _trend(affect, s.start, s.end, "arousal")) for s in scenes]

    def __call__(self, k: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Valence and arousal of scene ``k``'s own curve at times ``t`` (extrapolated flat outside it)."""
        s = self.scenes[k]
        half, mid = (s.end - s.start) / 2.0, (s.start + s.end) / 2.0
        x = np.clip((t - mid) / half, -1.0, 1.0)
        pv, pa = self.trends[k]
        dv = np.clip(self.damping * np.polyval(pv, x), -self.max_trend, self.max_trend)
        da = np.clip(self.damping * np.polyval(pa, x), -self.max_trend, self.max_trend)
        return np.clip(s.valence + dv, -1, 1), np.clip(s.arousal + da, -1, 1)


def derive_curve(
    scenes: Sequence[Scene],
    duration: float,
    hop: float,
    cuts: Sequence[float] = (),
    *,
    affect: AffectCurve | None = None,
    crossfade: float = MAX_CROSSFADE,
    split_crossfade: float = 2.0,
    anticipation: float = 4.0,
    anticipation_gain: float = 0.6,
    trend_damping: float = 0.6,
    max_trend: float = 0.4,
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """The narrative curve on ``grid(duration, hop)``: ``(times, valence, arousal)``, values in [-1, 1].

    ``scenes`` must cover ``[0, duration]`` in order; ``cuts`` are the shot cut times (s), telling
    which scene boundaries are hard cuts; ``affect`` supplies the within-scene trend (optional: without
    it each scene is flat at its E_local). Pure: hand-edited scenes re-derive the same way.
    """
    if not scenes:
        raise ArtifactError("cannot derive a narrative curve without scenes")
    times = np.asarray(grid(duration, hop))
    starts = np.array([s.start for s in scenes])
    curves = _SceneCurves(scenes, affect, trend_damping, max_trend)
    index = np.clip(np.searchsorted(starts, times + 1e-9, side="right") - 1, 0, len(scenes) - 1)
    valence, arousal = np.zeros(len(times)), np.zeros(len(times))
    for k in range(len(scenes)):
        here = index == k
        valence[here], arousal[here] = curves(k, times[here])
    cut_array = np.asarray(sorted(cuts), dtype=float)
    for k in range(1, len(scenes)):
        b = scenes[k].start
        on_cut = cut_array.size > 0 and float(np.min(np.abs(cut_array - b))) <= 0.05
        width = min(crossfade, MAX_CROSSFADE) if on_cut else split_crossfade
        width = min(width, scenes[k - 1].end - scenes[k - 1].start, scenes[k].end - scenes[k].start)
        near = np.abs(times - b) < width / 2.0
        if width <= 0 or not near.any():
            continue
        w = (times[near] - (b - width / 2.0)) / width  # 0 -> previous scene, 1 -> next
        v0, a0 = curves(k - 1, times[near])
        v1, a1 = curves(k, times[near])
        valence[near] = (1 - w) * v0 + w * v1
        arousal[near] = (1 - w) * a0 + w * a1
    climax = next((k for k, s in enumerate(scenes) if s.arc_role == "climax"), None)
    if climax:  # not None and not the first scene
        b = scenes[climax].start
        span = min(max(anticipation, 2.0), 6.0, b - scenes[climax - 1].start)
        window = (times >= b - span) & (times < b - min(crossfade, MAX_CROSSFADE) / 2.0)
        if span > 0 and window.any():
            _, target = curves(climax, np.array([b]))
            u = (times[window] - (b - span)) / span
            ramp = u * u * (3.0 - 2.0 * u)  # smoothstep
            arousal[window] += anticipation_gain * ramp * np.maximum(0.0, target[0] - arousal[window])
    return (
        tuple(float(t) for t in times),
        tuple(float(v) for v in np.clip(valence, -1.0, 1.0)),
        tuple(float(a) for a in np.clip(arousal, -1.0, 1.0)),
    )
