"""Signal measures of a produced mix that share no rule with the mix bus: reverberation time, stereo
image, and how the stems share the spectrum.

``decay_rt60`` follows ISO 3382-1: Schroeder's backward integration of the energy after a sound stops,
a straight line fitted between -5 and -25 dB (T20), extrapolated to 60 dB. ``stereo_correlation``
is the zero-lag correlation of left and right (1: mono, 0: unrelated sides, below 0: phasey).
``band_energy`` is a stem's energy between two frequencies (Welch's average of power spectra), from
which ``low_end_ownership`` (the share of the mix's lowest band that the bass and the percussion
play, not a pad or a guitar) and ``melody_presence`` (the melody's level over the accompaniment's in
the band that carries a melody's intelligibility) are read.
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


LOW_END_HZ = (20.0, 120.0)  # the bass's and the kick's band
PRESENCE_HZ = (2000.0, 4000.0)  # where a melody reads through a texture (the ear's most sensitive octave)


def band_energy(audio: np.ndarray, sample_rate: int, band: tuple[float, float]) -> float:
    """Mean power of ``audio`` (n,) or (n, c) between ``band`` Hz (Welch, 8192-sample Hann segments)."""
    from scipy.signal import welch

    x = np.asarray(audio, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    if len(x) == 0:
        raise NarrascoreError("band_energy: no audio")
    f, p = welch(x, fs=sample_rate, nperseg=min(8192, len(x)))
    inside = (f >= band[0]) & (f < band[1])
    return float(p[inside].sum() * (f[1] - f[0]))


def low_end_ownership(stems: dict[str, np.ndarray], sample_rate: int) -> float:
    """Share (0..1) of the stems' energy under 120 Hz that the ``bass`` and ``percussion`` stems hold."""
    energy = {name: band_energy(x, sample_rate, LOW_END_HZ) for name, x in stems.items() if name != "reverb"}
    total = sum(energy.values())
    if total <= 0:
        raise NarrascoreError("low_end_ownership: the stems have no low end")
    return (energy.get("bass", 0.0) + energy.get("percussion", 0.0)) / total


def melody_presence(stems: dict[str, np.ndarray], sample_rate: int) -> float:
    """The ``melody`` stem's level over ``harmony`` + ``pad`` together between 2 and 4 kHz, in dB."""
    melody = band_energy(stems["melody"], sample_rate, PRESENCE_HZ)
    accompaniment = sum(band_energy(stems[name], sample_rate, PRESENCE_HZ) for name in ("harmony", "pad") if name in stems)
    if melody <= 0 or accompaniment <= 0:
        raise NarrascoreError("melody_presence: the melody or its accompaniment is silent in the presence band")
    return float(10.0 * np.log10(melody / accompaniment))
