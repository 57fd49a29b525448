"""Signals measured from the media in one streaming pass, handed from ``media`` to the sensors.

These are in-memory intermediates (numpy arrays, a few floats per decoded frame or audio hop),
not artifacts: the sensors reduce them onto the affect curve's grid, and ``affect.json`` keeps
the reduced features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoStats:
    """Cheap frame statistics sampled at the scan's ``sample_hz``, shape ``(n,)`` each, from low-resolution copies.

    Each row averages the decoded frames of one sampling interval. times: their mean presentation time (s), increasing.
    luma_mean: mean luma in [0, 1]; luma_std: its standard deviation (contrast) in [0, 0.5].
    saturation: mean chroma magnitude in [0, 1]; warmth: mean (Cr - Cb) in [-1, 1] (warm > 0, cool < 0).
    motion: mean absolute luma difference to the previous decoded frame per second of gap,
        with global brightness change removed, in luma units per second (0 for the first frame),
        averaged over the interval.
    """

    times: np.ndarray
    luma_mean: np.ndarray
    luma_std: np.ndarray
    saturation: np.ndarray
    warmth: np.ndarray
    motion: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])


@dataclass(frozen=True)
class AudioStats:
    """Audio descriptors on a regular grid: ``times[i] = (i + 0.5) * hop`` seconds.

    loudness_db: RMS level in dBFS (floored at -90); onset_rate: spectral-flux onsets per second
    around each hop; speech: a [0, 1] likelihood that the hop carries speech (energy in 300-3400 Hz,
    syllabic 2-8 Hz modulation), used to duck music under dialogue.
    """

    hop: float
    times: np.ndarray
    loudness_db: np.ndarray
    onset_rate: np.ndarray
    speech: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])


@dataclass(frozen=True)
class SubtitleLine:
    start: float
    end: float
    text: str
