"""Evaluation metrics, all pure functions on arrays: alignment, cut sync, coherence, silence.

Conventions: times in seconds; emotion curves in [-1, 1]; ``None`` where a number is undefined
(a correlation with a flat curve), never NaN, so reports serialise to plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError

FLAT_STD = 1e-3  # a curve whose standard deviation is below this is "flat" (on the [-1, 1] scale)


# --------------------------------------------------------------------------- alignment
@dataclass(frozen=True)
class DimensionAlignment:
    """How well a measured curve follows a target curve on one dimension (valence or arousal).

    pearson_r: correlation at zero lag, None when either curve is flat.
    best_lag: lag in seconds within +-max_lag that maximises the correlation (or, when a curve is
        flat, minimises ``mae_centered``); positive means the music follows the target late,
        ``measured(t) ~ target(t - best_lag)``.
    r_at_best_lag: correlation at that lag (None when flat).
    mae: mean absolute error on the native [-1, 1] scale.
    mae_centered: MAE after removing each curve's own mean (per-video normalisation: the estimator's
        offset is unreliable, its movement is what counts); defined for flat curves too.
    target_std, measured_std: how much each curve moves; n: samples compared on the common grid.
    """

    pearson_r: float | None
    best_lag: float
    r_at_best_lag: float | None
    mae: float
    mae_centered: float
    target_std: float
    measured_std: float
    n: int


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson r of two equal-length arrays, None when either is flat or shorter than 3."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size != b.size:
        raise OptionError(f"pearson needs equal lengths, got {a.size} and {b.size}")
    if a.size < 3 or a.std() < FLAT_STD or b.std() < FLAT_STD:
        return None
    r = float(np.corrcoef(a, b)[0, 1])
    return r if np.isfinite(r) else None


def resample_curve(times: Sequence[float], values: Sequence[float], grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of a curve onto ``grid`` (held constant beyond its ends)."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.size != v.size or t.size == 0:
        raise OptionError(f"a curve needs as many times as values (got {t.size} and {v.size})")
    return np.interp(grid, t, v)


def align_dimension(
    target_times: Sequence[float], target: Sequence[float], measured_times: Sequence[float], measured: Sequence[float],
    *, max_lag: float = 2.0, hop: float = 0.5,
) -> DimensionAlignment:
    """Compare a measured emotion curve with its target over the span both cover.

    Both are resampled to a common grid of ``hop`` seconds; the lag search shifts the measured
    curve by whole hops within ``+-max_lag`` seconds.
    """
    if hop <= 0 or max_lag < 0:
        raise OptionError(f"hop must be positive and max_lag non-negative, got hop={hop}, max_lag={max_lag}")
    tt, mt = np.asarray(target_times, dtype=np.float64), np.asarray(measured_times, dtype=np.float64)
    lo, hi = max(tt.min(), mt.min()), min(tt.max(), mt.max())
    if hi <= lo:
        raise OptionError(f"the curves do not overlap in time (target {tt.min():.2f}..{tt.max():.2f} s, measured {mt.min():.2f}..{mt.max():.2f} s)")
    grid = np.arange(lo, hi + 1e-9, hop)
    x = resample_curve(tt, target, grid)
    y = resample_curve(mt, measured, grid)
    k_max = int(round(max_lag / hop))
    best = (0, pearson(x, y), _mae_centered(x, y))
    for k in range(-k_max, k_max + 1):
        if k == 0:
            continue
        xs, ys = (x[:-k], y[k:]) if k > 0 else (x[-k:], y[:k])
        if xs.size < max(3, x.size // 2):
            continue
        r, m = pearson(xs, ys), _mae_centered(xs, ys)
        if best[1] is not None and r is not None:
            if r > best[1] + 1e-9:
                best = (k, r, m)
        elif best[1] is None and r is None and m < best[2] - 1e-9:
            best = (k, r, m)
    return DimensionAlignment(
        pearson_r=pearson(x, y), best_lag=best[0] * hop, r_at_best_lag=best[1],
        mae=float(np.mean(np.abs(x - y))), mae_centered=_mae_centered(x, y),
        target_std=float(x.std()), measured_std=float(y.std()), n=int(grid.size),
    )


def _mae_centered(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs((x - x.mean()) - (y - y.mean()))))


# --------------------------------------------------------------------------- cut sync
@dataclass(frozen=True)
class CutSync:
    """Share of cuts that land on a musical event, against randomly placed cuts.

    hit_rate: share of cuts with an event within +-tolerance seconds; random_mean/random_std: the
    same share for ``n_random`` draws of as many uniformly placed cuts; margin = hit_rate -
    random_mean; p_value: share of random draws that did at least as well (one-sided).
    """

    n_cuts: int
    n_events: int
    tolerance: float
    hit_rate: float
    random_mean: float
    random_std: float
    margin: float
    p_value: float


def hit_rate(cuts: np.ndarray, events: np.ndarray, tolerance: float) -> float:
    """Share of ``cuts`` with an event within ``+-tolerance`` s (``events`` sorted)."""
    cuts = np.asarray(cuts, dtype=np.float64)
    if cuts.size == 0:
        return 0.0
    ev = np.asarray(events, dtype=np.float64)
    if ev.size == 0:
        return 0.0
    i = np.clip(np.searchsorted(ev, cuts), 1, ev.size - 1) if ev.size > 1 else np.zeros(cuts.size, dtype=int)
    near = np.minimum(np.abs(ev[i] - cuts), np.abs(ev[np.maximum(i - 1, 0)] - cuts))
    return float(np.mean(near <= tolerance + 1e-9))


def cut_sync(
    cuts: Sequence[float], events: Sequence[float], *, duration: float, tolerance: float = 0.1,
    n_random: int = 1000, seed: int = 0,
) -> CutSync:
    """Cut-to-music synchronisation: do the cuts fall on onsets or chord changes more often than chance?"""
    if duration <= 0 or tolerance < 0 or n_random < 1:
        raise OptionError(f"cut_sync needs duration > 0, tolerance >= 0, n_random >= 1 (got {duration}, {tolerance}, {n_random})")
    c = np.asarray([t for t in cuts if 0.0 <= t <= duration], dtype=np.float64)
    ev = np.sort(np.asarray(events, dtype=np.float64))
    rate = hit_rate(c, ev, tolerance)
    rng = np.random.default_rng(seed)
    draws = rng.uniform(0.0, duration, size=(n_random, max(c.size, 1)))
    rand = np.array([hit_rate(d, ev, tolerance) for d in draws]) if c.size else np.zeros(n_random)
    return CutSync(
        n_cuts=int(c.size), n_events=int(ev.size), tolerance=tolerance, hit_rate=rate,
        random_mean=float(rand.mean()), random_std=float(rand.std()), margin=float(rate - rand.mean()),
        p_value=float(np.mean(rand >= rate - 1e-12)) if c.size else 1.0,
    )


# --------------------------------------------------------------------------- coherence
@dataclass(frozen=True)
class CueStability:
    start: float
    end: float
    tempo_bpm: float  # median of the local tempo estimates (0 when no pulse)
    tempo_cv: float  # their coefficient of variation (std / mean); 0 = steady
    key_index: int  # most frequent key estimate 0..23 (-1 when atonal)
    key_stability: float  # share of bins agreeing with it, 0..1


@dataclass(frozen=True)
class Coherence:
    """Is the soundtrack one piece of music, and are its joins smooth?

    join_jump_ratio: median spectral+loudness jump at cue joins over the median jump inside cues
        (about 1 = joins are as smooth as the music itself; 3+ = audible seams); None without joins.
    worst_join: time (s) of the largest join jump, and worst_join_ratio its ratio.
    cues: tempo and key stability within each cue.
    timbre_drift: distance between the mean MFCC vectors (1..12) of the first and last thirds,
        in units of the soundtrack's own within-third spread; centroid_drift: log2 ratio of the
        thirds' median spectral centroids (octaves).
    """

    join_jump_ratio: float | None
    worst_join: float | None
    worst_join_ratio: float | None
    join_ratios: tuple[float, ...]
    cues: tuple[CueStability, ...]
    timbre_drift: float
    centroid_drift: float


def frame_jumps(mfcc: np.ndarray, loudness: np.ndarray) -> np.ndarray:
    """Jump between consecutive bins, shape (n,) (0 for the first): Euclidean distance of MFCC 1..12
    (dB-like units) plus the absolute loudness change (LU)."""
    m = np.asarray(mfcc, dtype=np.float64)
    lo = np.asarray(loudness, dtype=np.float64)
    j = np.zeros(m.shape[0])
    if m.shape[0] > 1:
        j[1:] = np.linalg.norm(np.diff(m[:, 1:], axis=0), axis=1) + np.abs(np.diff(lo))
    return j


def coherence(
    times: np.ndarray, mfcc: np.ndarray, loudness: np.ndarray, tempo: np.ndarray, key_index: np.ndarray,
    centroid: np.ndarray, cue_bounds: Sequence[float], *, guard: float = 1.0,
) -> Coherence:
    """Coherence metrics from the coarse descriptor grid (``times`` are bin centres, ``1/rate`` apart).

    ``cue_bounds`` are the times (s) where one cue ends and the next begins (the start and end of
    the soundtrack may be included; they are ignored). Bins within ``guard`` s of a join are left
    out of the within-cue statistics.
    """
    t = np.asarray(times, dtype=np.float64)
    n = t.size
    hop = float(t[1] - t[0]) if n > 1 else 1.0
    jumps = frame_jumps(mfcc, loudness)
    end = t[-1] + hop / 2 if n else 0.0
    joins = sorted(b for b in cue_bounds if hop < b < end - hop)
    near_join = np.zeros(n, dtype=bool)
    ratios: list[float] = []
    within = jumps[1:][~_near(t[1:] - hop / 2, joins, guard)] if n > 1 else np.zeros(0)
    base = float(np.median(within)) if within.size else 0.0
    base = max(base, 1e-6)
    for b in joins:
        # jump i lies between bin i-1 and bin i, i.e. at time t[i] - hop/2; the join falls in one
        # of the two jumps nearest to it
        idx = np.argsort(np.abs(t[1:] - hop / 2 - b))[:2] + 1
        ratios.append(float(jumps[idx].max() / base))
        near_join |= np.abs(t - b) <= guard
    ratio = float(np.median(ratios)) if ratios else None
    worst = int(np.argmax(ratios)) if ratios else None

    bounds = [0.0] + joins + [end]
    cues = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        sel = (t >= a) & (t < b) & ~near_join
        if not sel.any():
            sel = (t >= a) & (t < b)
        tp = np.asarray(tempo, dtype=np.float64)[sel]
        tp = tp[tp > 0]
        keys = np.asarray(key_index, dtype=np.float64)[sel].astype(int)
        keys = keys[keys >= 0]
        if keys.size:
            counts = np.bincount(keys, minlength=24)
            k, ks = int(counts.argmax()), float(counts.max() / keys.size)
        else:
            k, ks = -1, 0.0
        cues.append(CueStability(
            start=float(a), end=float(b), tempo_bpm=float(np.median(tp)) if tp.size else 0.0,
            tempo_cv=float(tp.std() / tp.mean()) if tp.size else 0.0, key_index=k, key_stability=ks,
        ))

    third = max(1, n // 3)
    first, last = np.asarray(mfcc)[:third, 1:], np.asarray(mfcc)[-third:, 1:]
    spread = float(np.sqrt(0.5 * (first.var(axis=0).sum() + last.var(axis=0).sum()))) + 1e-6
    drift = float(np.linalg.norm(first.mean(axis=0) - last.mean(axis=0)) / spread)
    c = np.asarray(centroid, dtype=np.float64)
    c1, c3 = c[:third][c[:third] > 0], c[-third:][c[-third:] > 0]
    cdrift = float(np.log2(np.median(c3) / np.median(c1))) if c1.size and c3.size else 0.0
    return Coherence(
        join_jump_ratio=ratio, worst_join=joins[worst] if worst is not None else None,
        worst_join_ratio=ratios[worst] if worst is not None else None, join_ratios=tuple(ratios),
        cues=tuple(cues), timbre_drift=drift, centroid_drift=cdrift,
    )


def _near(times: np.ndarray, points: Sequence[float], radius: float) -> np.ndarray:
    out = np.zeros(times.shape, dtype=bool)
    for p in points:
        out |= np.abs(times - p) <= radius
    return out


# --------------------------------------------------------------------------- silence and clipping
@dataclass(frozen=True)
class Span:
    start: float
    end: float


def silent_runs(levels_db: np.ndarray, hop: float, *, threshold_db: float = -60.0, min_seconds: float = 1.0) -> tuple[Span, ...]:
    """Runs of consecutive hops whose level (dBFS, e.g. peak per hop) stays below ``threshold_db``
    for at least ``min_seconds``."""
    below = np.asarray(levels_db) < threshold_db
    return tuple(Span(a * hop, b * hop) for a, b in _runs(below) if (b - a) * hop >= min_seconds - 1e-9)


def clipped_runs(samples: np.ndarray, sample_rate: int, *, level: float = 0.999, min_samples: int = 3) -> tuple[Span, ...]:
    """Runs of at least ``min_samples`` consecutive samples at or above ``level`` (full scale 1.0)."""
    hot = np.abs(np.asarray(samples)) >= level
    return tuple(Span(a / sample_rate, b / sample_rate) for a, b in _runs(hot) if b - a >= min_samples)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))
