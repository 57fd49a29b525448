"""The shape of the sensed affect inside one scene: change points, then a line per segment.

The sensor smooths its curve over about 6 s so that it follows the story; inside a scene that would
smear a sudden change (lights up, an engine starting) over 3 s. The shape is therefore read from a
sharper copy: the heuristic features mapped again with ``SHARP_SMOOTH`` seconds of smoothing (or
the fused curve itself when a sensor left no features).

Per scene, ``ruptures``' KernelCPD (linear kernel: changes of the mean in valence and arousal
together; exact dynamic programming, fast) proposes change points at least ``MIN_SEGMENT`` seconds
apart. Each segment gets a confidence-weighted least-squares line (samples within ``GUARD`` seconds
of a change point are left out: they hold the transition). Hysteresis keeps noise out of the music:

* a change point stays only where two lines fit the segments either side clearly better than one
  line across both (``_prune``: by the height of a step, at least ``MIN_STEP`` and three standard
  errors, four); otherwise the segments merge and are fitted again, so a steady build stays one ramp;
* a scene shorter than two segments keeps the damped line of the fused curve such scenes had
  before (×0.6, at most ±0.4 around its middle, flat under 3 s);
* a segment's line stays sloped only where its change over the segment exceeds ``MIN_RAMP`` and
  three standard errors; otherwise it is flat at the segment's mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..artifacts import AffectCurve

SHARP_SMOOTH = 1.0  # s, smoothing of the copy the shape is read from
MIN_SEGMENT = 3.0  # s, shortest segment between change points (a blip is an event, not a change)
GUARD = 1.0  # s either side of a change point left out of the line fits
MIN_STEP = 0.15  # smallest jump (valence or arousal) that counts as a change
MIN_RAMP = 0.1  # smallest change over a segment that counts as a ramp
SIGNIFICANCE = 4.0  # standard errors a step or a ramp must exceed (the search picks the best places, so more than 2)
NOISE_FLOOR = 0.02  # lowest noise level assumed when setting the change-point penalty
SHORT_MIN, SHORT_DAMPING, SHORT_MAX = 3.0, 0.6, 0.4  # scenes too short for change points: a damped line


@dataclass(frozen=True)
class Piece:
    """One segment of a scene's shape: a line from (start, v0/a0) to (end, v1/a1); times in seconds."""

    start: float
    end: float
    v0: float
    v1: float
    a0: float
    a1: float

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Valence and arousal of the line at ``t`` (extrapolated beyond the piece)."""
        u = (np.asarray(t, dtype=float) - self.start) / max(self.end - self.start, 1e-9)
        return self.v0 + u * (self.v1 - self.v0), self.a0 + u * (self.a1 - self.a0)


def sharp_affect(affect: AffectCurve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(valence, arousal, confidence)`` on ``affect.times``, smoothed over ``SHARP_SMOOTH`` s only."""
    from ..sense.heuristic import features_to_curve

    if {"brightness", "saturation", "warmth", "contrast", "motion", "cut_rate"} <= set(affect.features):
        curve = features_to_curve(affect.features, affect.hop, smooth_seconds=SHARP_SMOOTH)
        return np.asarray(curve.valence), np.asarray(curve.arousal), np.asarray(affect.confidence)
    return np.asarray(affect.valence, dtype=float), np.asarray(affect.arousal, dtype=float), np.asarray(affect.confidence, dtype=float)


def scene_pieces(times: np.ndarray, valence: np.ndarray, arousal: np.ndarray, confidence: np.ndarray,
                 start: float, end: float, hop: float) -> list[Piece]:
    """The pieces of one scene ``[start, end)`` from the sharp affect on ``times`` (see module docstring).

    A scene shorter than two segments gets one piece, its line damped (``_short_scene``); an empty
    list when it holds no sample.
    """
    t = np.asarray(times, dtype=float)
    inside = np.flatnonzero((t >= start - 1e-9) & (t < end - 1e-9))
    if inside.size == 0:
        return []
    ts = t[inside]
    y = np.stack([np.asarray(valence, dtype=float)[inside], np.asarray(arousal, dtype=float)[inside]], axis=1)  # (n, 2)
    w = np.asarray(confidence, dtype=float)[inside] + 1e-3
    min_size = max(2, int(np.ceil(MIN_SEGMENT / hop - 1e-9)))
    if len(ts) < 2 * min_size or end - start < 2 * MIN_SEGMENT:
        return [_short_scene(ts, y, w, start, end)]
    bounds = [0, *_change_points(y, min_size)]
    sigma = _noise(y)
    bounds = _prune(ts, y, w, bounds, sigma)
    pieces = []
    for k in range(len(bounds) - 1):
        p0 = start if k == 0 else _boundary_time(ts, bounds[k])
        p1 = end if k == len(bounds) - 2 else _boundary_time(ts, bounds[k + 1])
        line = _fit(ts, y, w, bounds, k)
        v0, a0 = line(p0)
        v1, a1 = line(p1)
        pieces.append(Piece(start=float(p0), end=float(p1), v0=v0, v1=v1, a0=a0, a1=a1))
    return pieces


def _short_scene(ts: np.ndarray, y: np.ndarray, w: np.ndarray, start: float, end: float) -> Piece:
    """A scene too short for two segments: its weighted line, damped by ``SHORT_DAMPING`` and kept within
    +-``SHORT_MAX`` of its middle (flat under ``SHORT_MIN`` seconds or 4 samples): the shape such scenes always had."""
    mid = (start + end) / 2.0
    if end - start < SHORT_MIN or len(ts) < 4:
        m = (w @ y) / w.sum()
        return Piece(start=start, end=end, v0=float(m[0]), v1=float(m[0]), a0=float(m[1]), a1=float(m[1]))
    slope, ym, xm, _ = _line(ts, y, w, np.arange(len(ts)))
    half = SHORT_DAMPING * slope * (end - start) / 2.0
    half = np.clip(half, -SHORT_MAX, SHORT_MAX)
    centre = ym + slope * (mid - xm)
    (v0, a0), (v1, a1) = centre - half, centre + half
    return Piece(start=start, end=end, v0=float(v0), v1=float(v1), a0=float(a0), a1=float(a1))


def _change_points(y: np.ndarray, min_size: int) -> list[int]:
    """Candidate segment ends (sample indices, the last = len(y)) from KernelCPD with a BIC-like penalty."""
    import ruptures

    n, d = y.shape
    sigma2 = max(float(np.mean(_noise(y))) ** 2, NOISE_FLOOR**2)
    penalty = 2.0 * d * sigma2 * np.log(n)
    algo = ruptures.KernelCPD(kernel="linear", min_size=min_size, jump=1).fit(y)
    return [int(b) for b in algo.predict(pen=penalty)]


def _noise(y: np.ndarray) -> np.ndarray:
    """Robust noise level per column from first differences (MAD), floored at ``NOISE_FLOOR``."""
    if len(y) < 3:
        return np.full(y.shape[1], NOISE_FLOOR)
    d = np.diff(y, axis=0)
    mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)
    return np.maximum(1.4826 * mad / np.sqrt(2.0), NOISE_FLOOR)


def _boundary_time(ts: np.ndarray, b: int) -> float:
    return float((ts[b - 1] + ts[b]) / 2.0)


def _fit_rows(ts: np.ndarray, bounds: list[int], k: int) -> np.ndarray:
    """Sample indices of segment ``k`` used for its line: the segment less ``GUARD`` s at inner change points."""
    lo, hi = bounds[k], bounds[k + 1]
    rows = np.arange(lo, hi)
    keep = np.ones(rows.size, dtype=bool)
    if k > 0:
        keep &= ts[rows] >= _boundary_time(ts, lo) + GUARD
    if k < len(bounds) - 2:
        keep &= ts[rows] <= _boundary_time(ts, hi) - GUARD
    return rows[keep] if keep.sum() >= 2 else rows


def _line(ts: np.ndarray, y: np.ndarray, w: np.ndarray, rows: np.ndarray):
    """Weighted least-squares line per column over ``rows``: (slope, value at the rows' mean time, that time, se of slope)."""
    x, yy, ww = ts[rows], y[rows], w[rows]
    ww = ww / ww.sum()
    xm = float(np.dot(ww, x))
    sxx = float(np.dot(ww, (x - xm) ** 2))
    ym = ww @ yy  # (2,)
    if sxx < 1e-12 or len(rows) < 3:
        slope = np.zeros(y.shape[1])
        se = np.full(y.shape[1], np.inf)
    else:
        slope = (ww * (x - xm)) @ (yy - ym) / sxx
        resid = yy - ym - np.outer(x - xm, slope)
        dof = max(len(rows) - 2, 1)
        s2 = (ww @ resid**2) * len(rows) / dof
        se = np.sqrt(s2 / (sxx * len(rows)))
    return slope, ym, xm, se


def _rss(ts: np.ndarray, y: np.ndarray, w: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Weighted residual sum of squares per column of the best line through samples ``lo:hi`` (weights of mean 1)."""
    rows = np.arange(lo, hi)
    slope, ym, xm, _ = _line(ts, y, w, rows)
    resid = y[rows] - ym - np.outer(ts[rows] - xm, slope)
    ww = w[rows] / w.mean()
    return ww @ resid**2


def _prune(ts: np.ndarray, y: np.ndarray, w: np.ndarray, bounds: list[int], sigma: np.ndarray) -> list[int]:
    """Drop the weakest change point until every one passes the hysteresis test.

    A change point's effect is the size of the step that would explain what two lines fit better than
    one across it: ``2 sqrt((RSS_one - RSS_two) (n1 + n2) / (n1 n2))`` (a step between flat segments
    of equal length gives its own height). It stays where that reaches ``MIN_STEP`` and
    ``SIGNIFICANCE`` standard errors of a step, so a ramp (which two lines fit no better) merges.
    """
    bounds = list(bounds)
    while len(bounds) > 2:
        weakest, weakest_margin = None, np.inf
        for j in range(1, len(bounds) - 1):
            lo, mid, hi = bounds[j - 1], bounds[j], bounds[j + 1]
            n1, n2 = mid - lo, hi - mid
            gain = np.maximum(_rss(ts, y, w, lo, hi) - _rss(ts, y, w, lo, mid) - _rss(ts, y, w, mid, hi), 0.0)
            effect = 2.0 * np.sqrt(gain * (n1 + n2) / (n1 * n2))
            needed = np.maximum(MIN_STEP, SIGNIFICANCE * sigma * np.sqrt(2.0 * (1.0 / n1 + 1.0 / n2)))
            margin = float(np.max(effect - needed))
            if margin < weakest_margin:
                weakest, weakest_margin = j, margin
        if weakest is None or weakest_margin >= 0:
            break
        del bounds[weakest]
    return bounds


def _fit(ts: np.ndarray, y: np.ndarray, w: np.ndarray, bounds: list[int], k: int):
    """The line of segment ``k`` as a function of time, flat where its ramp is not significant."""
    rows = _fit_rows(ts, bounds, k)
    slope, ym, xm, se = _line(ts, y, w, rows)
    span = float(ts[bounds[k + 1] - 1] - ts[bounds[k]]) + (ts[1] - ts[0] if len(ts) > 1 else 0.0)
    change = np.abs(slope) * span
    slope = np.where((change >= MIN_RAMP) & (change >= SIGNIFICANCE * se * span), slope, 0.0)
    if not np.any(slope):
        ym = (w[bounds[k]:bounds[k + 1]] @ y[bounds[k]:bounds[k + 1]]) / w[bounds[k]:bounds[k + 1]].sum()

    def line(t: float) -> tuple[float, float]:
        value = ym + slope * (t - xm)
        return float(value[0]), float(value[1])

    return line
