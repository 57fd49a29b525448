"""Affective sensing: per-sensor valence/arousal curves on a common grid, fused into ``AffectCurve``.

Each sensor implements ``AffectSensor`` and registers under a name (``heuristic`` is the default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..artifacts import AffectCurve, MediaInfo, SensorCurve, Shots, validate
from ..errors import NarrascoreError, OptionError
from ..media.features import AudioStats, SubtitleLine, VideoStats
from ..registry import Registry


@dataclass(frozen=True)
class SensingInput:
    """Everything measured from the media that a sensor may read. ``times`` is the output grid (s)."""

    media: MediaInfo
    shots: Shots
    video: VideoStats
    audio: AudioStats | None
    subtitles: tuple[SubtitleLine, ...]
    times: tuple[float, ...]
    hop: float


class AffectSensor(Protocol):
    name: str

    def sense(self, inputs: SensingInput) -> tuple[SensorCurve, dict[str, tuple[float, ...]]]:
        """Return this sensor's curve on ``inputs.times`` and the raw features behind it (same grid)."""
        ...


SENSORS: Registry[AffectSensor] = Registry("sensor")


def grid(duration: float, hop: float) -> tuple[float, ...]:
    """The absolute time grid of a video ``duration`` seconds long: ``i * hop`` for every sample before the end."""
    if not hop > 0:
        raise OptionError(f"hop must be positive, got {hop} s")
    if not duration > 0:
        raise OptionError(f"duration must be positive, got {duration} s")
    n = int(math.floor(duration / hop - 1e-9)) + 1
    return tuple(round(i * hop, 9) for i in range(n))


def sense(
    inputs: SensingInput,
    sensors: Sequence[str] = ("heuristic",),
    *,
    weights: Mapping[str, float] | None = None,
    options: Mapping[str, Mapping[str, object]] | None = None,
) -> AffectCurve:
    """Run the named sensors on ``inputs`` and fuse them by confidence into an ``AffectCurve``.

    ``weights`` optionally scales each sensor's confidence in the fusion (default 1 each);
    ``options`` maps a sensor's name to its constructor's keyword arguments.
    The curve keeps every sensor's own reading in ``sensors`` and their raw features in ``features``.
    """
    from .fusion import fuse

    names = list(dict.fromkeys(sensors))
    if not names:
        raise OptionError(f"no sensor named; available: {', '.join(SENSORS.names())}")
    curves: dict[str, SensorCurve] = {}
    features: dict[str, tuple[float, ...]] = {}
    n = len(inputs.times)
    for name in names:
        curve, feats = SENSORS.create(name, **dict((options or {}).get(name, {}))).sense(inputs)
        if not len(curve.valence) == len(curve.arousal) == len(curve.confidence) == n:
            raise NarrascoreError(f"sensor {name!r} returned {len(curve.valence)} samples for a grid of {n}")
        curves[name] = curve
        features.update(feats)
    fused = fuse(curves, weights)
    curve = AffectCurve(
        hop=inputs.hop,
        times=tuple(inputs.times),
        valence=fused.valence,
        arousal=fused.arousal,
        confidence=fused.confidence,
        sensors=curves,
        features=features,
    )
    validate(curve)
    return curve


from . import heuristic as _heuristic  # noqa: E402,F401  (registers "heuristic")
from . import text as _text  # noqa: E402,F401  (registers "text")
from . import vlm as _vlm  # noqa: E402,F401  (registers "vlm"; torch/transformers load only when it runs)
