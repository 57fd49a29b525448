"""Affective sensing: per-sensor valence/arousal curves on a common grid, fused into ``AffectCurve``.

Each sensor implements ``AffectSensor`` and registers under a name (``heuristic`` is the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..artifacts import MediaInfo, SensorCurve, Shots
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
