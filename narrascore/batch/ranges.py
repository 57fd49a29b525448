"""Heuristic sensing of a long video in time ranges, processed in parallel and merged exactly.

The video is scanned once, sequentially (frame statistics and cuts, as in a single-process run);
only the per-range sensing runs in parallel. Scanning ranges separately would not be exact: the
cut detector's adaptive threshold and the motion statistic carry state from the frames before a
range, and a decoder started at a keyframe before the range would need a warm-up whose length
the detector does not bound. Per-range sensing is exact by construction: ``raw_features`` reads
a bounded window around each sample on the absolute grid, ``merge_features`` concatenates the
ranges in time order, and ``features_to_curve`` normalises over the whole curve afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..artifacts import AffectCurve, validate
from ..sense import SensingInput, sense

Range = tuple[float | None, float | None]
RangeMap = Callable[[SensingInput, Sequence[Range]], list[dict[str, np.ndarray]]]
"""Computes ``raw_features(inputs, start, end)`` for every range, in order (in parallel or not)."""


def split_ranges(duration: float, range_seconds: float) -> list[Range]:
    """``[0, r), [r, 2r), ..., [k r, end)``: the last range is open so no grid sample is lost."""
    if not range_seconds > 0:
        raise ValueError(f"range_seconds must be positive, got {range_seconds}")
    n = max(1, math.ceil(duration / range_seconds))
    return [(None if i == 0 else i * range_seconds, None if i == n - 1 else (i + 1) * range_seconds) for i in range(n)]


def serial_map(inputs: SensingInput, ranges: Sequence[Range]) -> list[dict[str, np.ndarray]]:
    """The ranges one after another in this process (the reference the parallel maps must equal)."""
    from ..sense.heuristic import raw_features

    return [raw_features(inputs, start, end) for start, end in ranges]


def sense_in_ranges(inputs: SensingInput, ranges: Sequence[Range], map_ranges: RangeMap = serial_map) -> AffectCurve:
    """The heuristic sensor's ``AffectCurve`` from range-wise features; equal to ``sense(inputs)``."""
    from ..sense.fusion import fuse
    from ..sense.heuristic import HeuristicSensor, features_to_curve, merge_features

    features = merge_features(map_ranges(inputs, ranges))
    curve = features_to_curve(features, inputs.hop, smooth_seconds=HeuristicSensor().smooth_seconds)
    fused = fuse({"heuristic": curve})  # as sense() builds it for the one sensor "heuristic"
    affect = AffectCurve(hop=inputs.hop, times=tuple(inputs.times), valence=fused.valence, arousal=fused.arousal,
                         confidence=fused.confidence, sensors={"heuristic": curve},
                         features={k: tuple(float(x) for x in v) for k, v in features.items()})
    validate(affect)
    return affect


def range_hook(range_seconds: float, map_ranges: RangeMap = serial_map) -> Callable[..., AffectCurve]:
    """A ``pipeline.SenseHook``: videos longer than ``range_seconds`` with the heuristic sensor alone
    are sensed in ranges through ``map_ranges``; anything else goes to ``sense`` unchanged."""

    def hook(inputs: SensingInput, *, sensors: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None) -> AffectCurve:
        if tuple(sensors) != ("heuristic",) or inputs.media.duration <= range_seconds:
            return sense(inputs, sensors=sensors, options=options)
        return sense_in_ranges(inputs, split_ranges(inputs.media.duration, range_seconds), map_ranges)

    return hook
