"""Scenes from shots: story units with a local emotion E_local, a label and a caption.

``segment_scenes`` turns the shot cuts into scene boundaries in three passes:

1. short shots are absorbed: while a segment is shorter than ``min_scene`` (4 s), it merges into
   the neighbour whose mean affect is closer (a montage of 1 s shots becomes one unit);
2. similar neighbours merge: the adjacent pair with the smallest valence/arousal distance merges,
   while that distance is below ``merge_distance`` and the result stays within ``max_scene``;
3. long segments split: a segment longer than ``max_scene`` (60 s, one long take) is cut at the
   grid time where the mean affect of the 5 s before and after differs most, until all fit.

Boundaries therefore lie on cuts, except the splits of pass 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..artifacts import AffectCurve
from ..sense.heuristic import ANCHORS

# (label, valence, arousal): the nearest prototype names a scene's E_local.
LABELS: tuple[tuple[str, float, float], ...] = (
    ("neutral", 0.0, 0.0),
    ("calm", 0.25, -0.6),
    ("tender", 0.55, -0.3),
    ("hopeful", 0.45, 0.1),
    ("joyful", 0.65, 0.45),
    ("triumphant", 0.55, 0.85),
    ("tense", -0.25, 0.6),
    ("anxious", -0.5, 0.3),
    ("frantic", -0.6, 0.85),
    ("ominous", -0.45, -0.1),
    ("melancholy", -0.45, -0.55),
    ("bleak", -0.8, -0.5),
)
# feature -> (word when low, word when high) on the heuristic sensor's absolute anchors
DESCRIPTORS: tuple[tuple[str, str | None, str | None], ...] = (
    ("brightness", "dark", "bright"),
    ("warmth", "cool", "warm"),
    ("saturation", "muted", "vivid"),
    ("cut_rate", "long takes", "fast cutting"),
    ("motion", "still", "high motion"),
    ("loudness_db", "quiet", "loud"),
    ("onset_rate", None, "pulsing"),
)
CHANGE_WINDOW = 5.0  # s each side when looking for where to split a long segment


class _Means:
    """O(1) mean valence/arousal of the affect curve over any time range (prefix sums)."""

    def __init__(self, affect: AffectCurve) -> None:
        self.times = np.asarray(affect.times, dtype=float)
        self.cv = np.concatenate([[0.0], np.cumsum(affect.valence)])
        self.ca = np.concatenate([[0.0], np.cumsum(affect.arousal)])

    def indices(self, start: float, end: float) -> tuple[int, int]:
        lo = int(np.searchsorted(self.times, start - 1e-9, side="left"))
        hi = int(np.searchsorted(self.times, end - 1e-9, side="left"))
        if hi <= lo:  # shorter than a hop: the nearest sample
            lo = min(max(lo, 0), len(self.times) - 1)
            hi = lo + 1
        return lo, hi

    def __call__(self, start: float, end: float) -> np.ndarray:
        lo, hi = self.indices(start, end)
        return np.array([self.cv[hi] - self.cv[lo], self.ca[hi] - self.ca[lo]]) / (hi - lo)


def segment_scenes(
    cuts: Sequence[float],
    affect: AffectCurve,
    duration: float,
    *,
    min_scene: float = 4.0,
    max_scene: float = 60.0,
    merge_distance: float = 0.25,
) -> list[tuple[float, float]]:
    """Scene ``(start, end)`` pairs in seconds covering ``[0, duration]``, from shot ``cuts`` and the affect curve."""
    means = _Means(affect)
    inner = sorted({float(c) for c in cuts if 0.0 < c < duration})
    bounds = [0.0, *inner, float(duration)]
    bounds = _absorb_short(bounds, means, min_scene)
    bounds = _merge_similar(bounds, means, max_scene, merge_distance)
    bounds = _split_long(bounds, means, affect.hop, min_scene, max_scene)
    return list(zip(bounds[:-1], bounds[1:]))


def _absorb_short(bounds: list[float], means: _Means, min_scene: float) -> list[float]:
    while len(bounds) > 2:
        lengths = np.diff(bounds)
        i = int(np.argmin(lengths))
        if lengths[i] >= min_scene:
            break
        if i == 0:
            drop = 1  # merge with the next: drop the boundary after it
        elif i == len(lengths) - 1:
            drop = i
        else:
            here = means(bounds[i], bounds[i + 1])
            d_left = float(np.linalg.norm(here - means(bounds[i - 1], bounds[i])))
            d_right = float(np.linalg.norm(here - means(bounds[i + 1], bounds[i + 2])))
            if abs(d_left - d_right) > 1e-9:
                drop = i if d_left < d_right else i + 1
            else:
                drop = i if lengths[i - 1] <= lengths[i + 1] else i + 1
        del bounds[drop]
    return bounds


def _merge_similar(bounds: list[float], means: _Means, max_scene: float, merge_distance: float) -> list[float]:
    while len(bounds) > 2:
        va = np.array([means(a, b) for a, b in zip(bounds[:-1], bounds[1:])])  # (n, 2)
        distance = np.linalg.norm(np.diff(va, axis=0), axis=1)  # (n - 1,)
        span = np.array(bounds[2:]) - np.array(bounds[:-2])
        distance[span > max_scene] = np.inf
        j = int(np.argmin(distance))
        if not distance[j] < merge_distance:
            break
        del bounds[j + 1]
    return bounds


def _split_long(bounds: list[float], means: _Means, hop: float, min_scene: float, max_scene: float) -> list[float]:
    out = [bounds[0]]
    for start, end in zip(bounds[:-1], bounds[1:]):
        out.extend(_split(start, end, means, hop, min_scene, max_scene))
    return out


def _split(start: float, end: float, means: _Means, hop: float, min_scene: float, max_scene: float) -> list[float]:
    """Interior split points (and ``end``) of one segment, recursively at its largest affect change."""
    if end - start <= max_scene:
        return [end]
    candidates = np.arange(np.ceil((start + min_scene) / hop), np.floor((end - min_scene) / hop) + 1) * hop
    if len(candidates) == 0:
        return [end]
    change = [float(np.linalg.norm(means(max(start, t - CHANGE_WINDOW), t) - means(t, min(end, t + CHANGE_WINDOW)))) for t in candidates]
    # prefer the middle on ties, so a flat long take splits evenly
    order = np.lexsort((np.abs(candidates - (start + end) / 2), -np.round(change, 9)))
    t = float(round(candidates[order[0]], 9))
    return _split(start, t, means, hop, min_scene, max_scene)[:-1] + [t] + _split(t, end, means, hop, min_scene, max_scene)


# --------------------------------------------------------------------------- E_local, label, caption
def scene_affect(affect: AffectCurve, start: float, end: float) -> tuple[float, float]:
    """E_local: robust (10 % trimmed) mean valence and arousal of the affect curve in ``[start, end)``."""
    lo, hi = _Means(affect).indices(start, end)
    return _trimmed(np.asarray(affect.valence[lo:hi])), _trimmed(np.asarray(affect.arousal[lo:hi]))


def _trimmed(x: np.ndarray, cut: float = 0.1) -> float:
    x = np.sort(x)
    k = int(len(x) * cut)
    core = x[k : len(x) - k] if len(x) > 2 * k else x
    return float(np.clip(core.mean(), -1.0, 1.0))


def label_for(valence: float, arousal: float) -> str:
    """The name of the nearest emotion prototype in the valence/arousal plane (``LABELS``)."""
    return min(LABELS, key=lambda p: (p[1] - valence) ** 2 + (p[2] - arousal) ** 2)[0]


def descriptors(features: Mapping[str, Sequence[float]], times: Sequence[float], start: float, end: float) -> list[str]:
    """Words for what stands out in a scene's raw features (``AffectCurve.features``) on absolute anchors."""
    times = np.asarray(times, dtype=float)
    lo = int(np.searchsorted(times, start - 1e-9))
    hi = max(int(np.searchsorted(times, end - 1e-9)), lo + 1)
    words = []
    for name, low, high in DESCRIPTORS:
        if name not in features or not len(features[name]):
            continue
        u = float(ANCHORS[name].unit(np.mean(np.asarray(features[name][lo:hi], dtype=float))))
        if u < 0.2 and low:
            words.append(low)
        elif u > 0.8 and high:
            words.append(high)
    return words[:4]


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour on)."""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def caption(index: int, start: float, end: float, label: str, words: Sequence[str]) -> str:
    """E.g. ``"Scene 3 (0:42–1:05): dark, fast cutting, high motion — tense"`` (``index`` counts from 1)."""
    what = ", ".join(words) if words else "steady"
    return f"Scene {index} ({clock(start)}\u2013{clock(end)}): {what} \u2014 {label}"
