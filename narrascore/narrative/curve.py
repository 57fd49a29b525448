"""The narrative valence/arousal curve that drives the music, derived from the scenes.

Per scene ``k`` with E_local ``(v_k, a_k)`` on ``[start_k, end_k)``::

    x_k(t) = clip(level_k + shape_k(t), -1, 1)

``shape_k`` is the scene's own shape in the sensed affect (when given; ``shape``): pieces between
change points, a line in each, joined by a ``crossfade`` (0.25 s) at a change point, with its mean
over the scene removed, so the level stays the E_local, which a user may edit (an edit moves the
whole scene's curve and keeps its shape), and bounded by ``max_trend``. The arousal shape is
scaled by ``arousal_gain`` (0.6): the scene's level carries the story, the shape moves within it
(on the arc story at 320x180, 0.6 against 1.0 raised the music's measured arousal r from 0.946 to 0.965 and
its valence r from -0.16 to +0.11; the events carry the sudden moments). Hysteresis in the change
points and the lines keeps noise out: a steady, noisy scene stays flat.

Nothing is smoothed across a scene boundary. At a boundary on a shot cut, or inside a shot where
the sensed affect changes there, the two scene curves cross-fade linearly over ``crossfade``
seconds (at most 0.25 s) centred on the boundary, so a change is reached within one hop; at any
other boundary inside a shot (a split of a long take) they cross-fade over ``split_crossfade`` seconds.

Anticipation: arousal starts building ``anticipation`` seconds (clipped to 2..6 s and to the
previous scene's length) before the climax scene: over that window it rises by up to
``anticipation_gain`` of the gap to the climax's opening level along a smoothstep; it never falls.
A climax that opens with a sudden step of the sensed arousal (``SUDDEN`` or more) is not
anticipated: it is a surprise, and the music answers it on the step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..artifacts import AffectCurve, Event, Scene
from ..errors import ArtifactError
from ..sense import grid
from .shape import MIN_SEGMENT, MIN_STEP, Piece, scene_pieces, sharp_affect

MAX_CROSSFADE = 0.25
AROUSAL_GAIN = 0.6  # share of the in-scene arousal shape that reaches the curve (valence: all of it)
SUDDEN = 0.5  # a sensed arousal step this large into the climax is a surprise: nothing anticipates it


def affect_pieces(scenes: Sequence[Scene], affect: AffectCurve | None) -> list[list[Piece]]:
    """Each scene's pieces (``shape.scene_pieces``) from the sharp copy of ``affect`` (empty lists without it)."""
    if affect is None:
        return [[] for _ in scenes]
    v, a, c = sharp_affect(affect)
    fused = tuple(np.asarray(x, dtype=float) for x in (affect.valence, affect.arousal, affect.confidence))
    times = np.asarray(affect.times)
    # a scene too short for change points keeps the damped line of the fused curve it always had
    return [scene_pieces(times, *(fused if s.end - s.start < 2 * MIN_SEGMENT else (v, a, c)), s.start, s.end, affect.hop)
            for s in scenes]


class _SceneCurves:
    def __init__(self, scenes: Sequence[Scene], pieces: list[list[Piece]], crossfade: float, max_trend: float,
                 arousal_gain: float) -> None:
        self.scenes, self.pieces = scenes, pieces
        self.crossfade, self.max_trend, self.arousal_gain = crossfade, max_trend, arousal_gain
        self.means = [self._mean(k) for k in range(len(scenes))]

    def _raw(self, k: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pieces of scene ``k`` at ``t``, cross-faded at their change points (flat beyond the scene)."""
        s, pieces = self.scenes[k], self.pieces[k]
        t = np.clip(np.asarray(t, dtype=float), s.start, s.end)
        if not pieces:
            return np.zeros(t.shape), np.zeros(t.shape)
        index = np.clip(np.searchsorted([p.start for p in pieces], t, side="right") - 1, 0, len(pieces) - 1)
        v, a = np.zeros(t.shape), np.zeros(t.shape)
        for j, p in enumerate(pieces):
            here = index == j
            v[here], a[here] = p.at(t[here])
        for j in range(1, len(pieces)):
            b = pieces[j].start
            near = np.abs(t - b) < self.crossfade / 2.0
            if near.any():
                w = (t[near] - (b - self.crossfade / 2.0)) / self.crossfade
                v0, a0 = pieces[j - 1].at(t[near])
                v1, a1 = pieces[j].at(t[near])
                v[near], a[near] = (1 - w) * v0 + w * v1, (1 - w) * a0 + w * a1
        return v, a

    def _mean(self, k: int) -> tuple[float, float]:
        s = self.scenes[k]
        fine = np.linspace(s.start, s.end, 257)[:-1] + (s.end - s.start) / 512.0  # midpoints
        v, a = self._raw(k, fine)
        return float(v.mean()), float(a.mean())

    def __call__(self, k: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Valence and arousal of scene ``k``'s own curve at times ``t`` (extrapolated flat outside it)."""
        s = self.scenes[k]
        v, a = self._raw(k, t)
        mv, ma = self.means[k]
        dv = np.clip(v - mv, -self.max_trend, self.max_trend)
        gain = self.arousal_gain if s.end - s.start >= 2 * MIN_SEGMENT else 1.0  # short scenes: already damped
        da = np.clip(gain * (a - ma), -self.max_trend, self.max_trend)
        return np.clip(s.valence + dv, -1, 1), np.clip(s.arousal + da, -1, 1)

    def step_at(self, k: int, b: float) -> tuple[float, float]:
        """The step of the sensed (valence, arousal) at boundary ``b`` between scenes ``k - 1`` and ``k`` (0 without pieces)."""
        before, after = self.pieces[k - 1], self.pieces[k]
        if not before or not after:
            return 0.0, 0.0
        v0, a0 = before[-1].at(np.array([b]))
        v1, a1 = after[0].at(np.array([b]))
        return float(v1[0] - v0[0]), float(a1[0] - a0[0])

    def changes_at(self, k: int, b: float) -> bool:
        """Whether the sensed affect steps at boundary ``b`` between scenes ``k - 1`` and ``k``."""
        return max(abs(x) for x in self.step_at(k, b)) >= MIN_STEP


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
    max_trend: float = 1.0,
    arousal_gain: float = AROUSAL_GAIN,
    pieces: list[list[Piece]] | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """The narrative curve on ``grid(duration, hop)``: ``(times, valence, arousal)``, values in [-1, 1].

    ``scenes`` must cover ``[0, duration]`` in order; ``cuts`` are the shot cut times (s), telling
    which scene boundaries are hard cuts; ``affect`` supplies the in-scene shape (optional: without
    it each scene is flat at its E_local); ``pieces`` (from ``affect_pieces``) saves reading it again.
    Pure: hand-edited scenes re-derive the same way.
    """
    if not scenes:
        raise ArtifactError("cannot derive a narrative curve without scenes")
    times = np.asarray(grid(duration, hop))
    starts = np.array([s.start for s in scenes])
    fade = min(crossfade, MAX_CROSSFADE)
    curves = _SceneCurves(scenes, pieces if pieces is not None else affect_pieces(scenes, affect), fade, max_trend, arousal_gain)
    index = np.clip(np.searchsorted(starts, times + 1e-9, side="right") - 1, 0, len(scenes) - 1)
    valence, arousal = np.zeros(len(times)), np.zeros(len(times))
    for k in range(len(scenes)):
        here = index == k
        valence[here], arousal[here] = curves(k, times[here])
    cut_array = np.asarray(sorted(cuts), dtype=float)
    for k in range(1, len(scenes)):
        b = scenes[k].start
        on_cut = cut_array.size > 0 and float(np.min(np.abs(cut_array - b))) <= 0.05
        width = fade if on_cut or curves.changes_at(k, b) else split_crossfade
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
    if climax and curves.step_at(climax, scenes[climax].start)[1] < SUDDEN:  # not the first scene, not a surprise
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


def event_arousal(times: Sequence[float], arousal: Sequence[float], events: Sequence[Event], *,
                  build: float = 2.0, lift: float = 0.35, decay: float = 1.0) -> tuple[float, ...]:
    """The arousal curve with the events in it, for synthesizers that read only the curve (MusicGen).

    Each event of strength ``s`` adds ``lift * s`` at its time, reached along a smoothstep over the
    ``build`` seconds before it and released exponentially (``decay`` s) after it; the largest
    lift of overlapping events counts. Values stay in [-1, 1].
    """
    t = np.asarray(times, dtype=float)
    bump = np.zeros(len(t))
    for e in events:
        u = np.clip((t - (e.time - build)) / build, 0.0, 1.0)
        rise = u * u * (3.0 - 2.0 * u)
        shape = np.where(t <= e.time, rise, np.exp(-(t - e.time) / decay))
        bump = np.maximum(bump, lift * e.strength * shape)
    return tuple(float(a) for a in np.clip(np.asarray(arousal, dtype=float) + bump, -1.0, 1.0))
