"""Signal measures of a produced mix that share no rule with the mix bus: reverberation time and stereo image.

``decay_rt60`` follows ISO 3382-1: Schroeder's backward integration of the energy after a sound stops,
a straight line fitted between -5 and -25 dB (T20), extrapolated to 60 dB. ``stereo_correlation``
is the zero-lag correlation of left and right (1: mono, 0: unrelated sides, below 0: phasey).
"""

from __future__ import annotations

import numpy as np

from ..errors import NarrascoreError


def decay_rt60(audio: np.ndarray, sample_rate: int, *, start: float, band: tuple[float, float] | None = (250.0, 4000.0)) -> float:
    """RT60 (s) of the decay in ``audio`` (n,) or (n, c) from ``start`` (s, where the sound stops) to the end.

    ``band``: the signal is band-passed first (Hz), as a room's T20 is read per octave band; the
    default spans the mid bands. Raises ``NarrascoreError`` when the sound does not decay by 25 dB
    within the first 80 % of what follows ``start`` (a steady sound, or a recording cut too soon).
    """
    from scipy.signal import butter, sosfiltfilt

    x = np.asarray(audio, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    if band is not None:
        x = sosfiltfilt(butter(4, band, "bandpass", fs=sample_rate, output="sos"), x)
    tail = x[int(round(start * sample_rate)):]
    energy = np.cumsum((tail ** 2)[::-1])[::-1]  # Schroeder integral
    if len(energy) == 0 or energy[0] <= 0:
        raise NarrascoreError("decay_rt60: no sound after the start")
    curve = 10.0 * np.log10(np.maximum(energy / energy[0], 1e-30))
    i5, i25 = int(np.argmax(curve <= -5.0)), int(np.argmax(curve <= -25.0))
    if curve[-1] > -25.0 or i25 <= i5 or i25 > 0.8 * len(curve):  # the integral of a steady sound falls only at its end
        raise NarrascoreError("decay_rt60: the sound does not decay 25 dB well before the end of the audio")
    t = np.arange(i5, i25) / sample_rate
    slope = np.polyfit(t, curve[i5:i25], 1)[0]  # dB per second
    return float(-60.0 / slope)


def stereo_correlation(audio: np.ndarray) -> float:
    """Zero-lag correlation of the two channels of ``audio`` (n, 2), in [-1, 1]."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise NarrascoreError(f"stereo_correlation: expected (n, 2) audio, got shape {x.shape}")
    left, right = x[:, 0] - x[:, 0].mean(), x[:, 1] - x[:, 1].mean()
    denominator = np.sqrt((left ** 2).sum() * (right ** 2).sum())
    return float((left * right).sum() / denominator) if denominator > 0 else 1.0
