"""Music emotion from audio alone: descriptors combined with weights from the literature.

No model weights. Each descriptor is mapped to a score ``z`` on a fixed absolute scale (so a
file's mean is comparable with another file's), weighted, summed and squashed into [-1, 1]:

    arousal = tanh(sum_k w_k z_k),   valence = tanh(sum_k v_k z_k)

The signs and the rough ordering of the weights follow the music-emotion literature:

* Gabrielsson & Lindstroem (2010, "The role of structure in the musical expression of emotions",
  Handbook of Music and Emotion) and Juslin & Laukka (2003): arousal rises with loudness, tempo,
  note density and bright timbre; valence rises with major mode, consonance, and somewhat with
  tempo and brightness.
* Eerola, Lartillot & Toiviainen (2009, ISMIR) and Eerola & Vuoskoski (2011): in regressions of
  rated emotion on audio features, arousal is carried by RMS/loudness, spectral centroid and
  flux and event density; valence by mode (key clarity, major vs minor) and by roughness
  (negative), with much lower explained variance than arousal.
* Aljanaki, Yang & Soleymani (2017, PLOS ONE, DEAM) and Zhang et al. (2018, PMEmo): loudness,
  spectral flux, centroid and rolloff are the strongest arousal features; valence features are
  weaker and more mixed; published regressors reach about r = 0.6 for arousal over time and
  much less for valence.

The weights below were then set by hand on synthetic signals of known intent and checked on
real recordings whose intended mood is documented (see docs/evaluation.md). They are a
transparent baseline, not a trained model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .descriptors import AudioSource, Analysis, analyze

# Fixed scales: z = (descriptor - centre) / scale, on a log axis where marked.
#   name: (centre, scale, log2?)
SCALES: dict[str, tuple[float, float, bool]] = {
    "loudness_lufs": (-22.0, 8.0, False),  # -30 LUFS -> -1, -14 LUFS -> +1 (short-term, mono)
    "onset_rate": (2.0, 1.5, True),  # onsets per second: 2/s neutral, 5.7/s -> +1
    "tempo_bpm": (100.0, 0.6, True),  # weighted by pulse clarity: 152 BPM -> +1
    "centroid_hz": (1500.0, 1.0, True),  # one octave brighter -> +1
    "rolloff_hz": (3000.0, 1.0, True),
    "flux": (1.0, 0.8, False),  # mean positive log-mel difference, dB per frame
    "roughness": (0.08, 0.06, False),  # normalised Sethares dissonance
    "mode": (0.0, 0.15, False),  # best major r minus best minor r
    "harmonic_change": (0.15, 0.15, False),
}

AROUSAL_WEIGHTS: dict[str, float] = {
    "loudness_lufs": 0.35,
    "onset_rate": 0.25,
    "tempo_bpm": 0.10,
    "centroid_hz": 0.15,
    "rolloff_hz": 0.05,
    "flux": 0.15,
    "roughness": 0.05,
}

VALENCE_WEIGHTS: dict[str, float] = {
    "mode": 0.45,
    "roughness": -0.30,
    "centroid_hz": 0.10,
    "tempo_bpm": 0.10,
    "loudness_lufs": 0.05,
    "harmonic_change": -0.05,
}


@dataclass(frozen=True)
class EmotionCurve:
    """Estimated emotion of a piece of audio over time.

    times: bin centres in seconds, shape (n,); valence, arousal: in [-1, 1], shape (n,);
    descriptors: name -> shape (n,) raw descriptor values (units in ``descriptors.DESCRIPTOR_NAMES``).
    """

    times: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    descriptors: dict[str, np.ndarray]

    @property
    def hop(self) -> float:
        return float(self.times[1] - self.times[0]) if self.times.size > 1 else 0.0

    @property
    def mean_valence(self) -> float:
        return _audible_mean(self.valence, self.descriptors)

    @property
    def mean_arousal(self) -> float:
        return _audible_mean(self.arousal, self.descriptors)


def _audible_mean(values: np.ndarray, descriptors: dict[str, np.ndarray]) -> float:
    loud = descriptors.get("loudness_lufs")
    mask = loud > -60.0 if loud is not None else np.ones(values.shape, dtype=bool)
    if not mask.any():
        mask = np.ones(values.shape, dtype=bool)
    return float(np.mean(values[mask])) if values.size else 0.0


def descriptor_scores(descriptors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each descriptor on its fixed scale (dimensionless, about -2..2); tempo weighted by pulse clarity."""
    z: dict[str, np.ndarray] = {}
    for name, (centre, scale, log) in SCALES.items():
        x = np.asarray(descriptors[name], dtype=np.float64)
        if log:
            v = np.log2(np.maximum(x, 1e-3) / centre) / scale
        else:
            v = (x - centre) / scale
        z[name] = np.clip(v, -3.0, 3.0)
    clarity = np.clip(np.asarray(descriptors["pulse_clarity"], dtype=np.float64) / 0.5, 0.0, 1.0)
    z["tempo_bpm"] = np.where(descriptors["tempo_bpm"] > 0, z["tempo_bpm"] * clarity, 0.0)
    # silence: no timbre, no harmony
    silent = np.asarray(descriptors["loudness_lufs"]) <= -60.0
    for name in ("centroid_hz", "rolloff_hz", "roughness", "mode", "harmonic_change", "flux"):
        z[name] = np.where(silent, 0.0 if name not in ("flux",) else -1.0, z[name])
    return z


def emotion_from_descriptors(descriptors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(valence, arousal), each in [-1, 1], from the descriptors of :func:`descriptors.analyze`."""
    z = descriptor_scores(descriptors)
    arousal = np.tanh(sum(w * z[k] for k, w in AROUSAL_WEIGHTS.items()))
    valence = np.tanh(sum(w * z[k] for k, w in VALENCE_WEIGHTS.items()))
    return np.asarray(valence, dtype=np.float64), np.asarray(arousal, dtype=np.float64)


def curve_from_analysis(analysis: Analysis) -> EmotionCurve:
    valence, arousal = emotion_from_descriptors(analysis.descriptors)
    return EmotionCurve(times=analysis.times, valence=valence, arousal=arousal, descriptors=dict(analysis.descriptors))


def estimate_emotion(path_or_chunks: AudioSource, *, rate_hz: float = 2.0, sample_rate: int = 22050) -> EmotionCurve:
    """Estimate valence and arousal of music over time, from audio alone.

    ``path_or_chunks``: any audio or video file FFmpeg reads (decoded streaming to mono), or an
    iterable of 1-D float arrays at ``sample_rate`` Hz. ``rate_hz``: output rate (bins of
    ``1 / rate_hz`` seconds). Returns valence/arousal in [-1, 1] per bin and the descriptors.
    """
    return curve_from_analysis(analyze(path_or_chunks, rate_hz=rate_hz, sample_rate=sample_rate))
