"""The default affect sensor: cheap picture, cutting and sound features mapped to valence and arousal.

Two pure steps, so a film can be sensed in time ranges (in parallel) and merged exactly:

1. ``raw_features(inputs, start, end)``: per grid sample ``t``, features from a bounded window
   around ``t`` on the absolute time grid (nothing depends on where the range starts):

   ============== ============================================= ==================================
   name           what                                          window
   ============== ============================================= ==================================
   motion         median frame-difference motion (luma/s)        t ± VIDEO_WINDOW
   cut_rate       cuts per minute (hard 1, fade 0.5)             t ± CUT_WINDOW, clipped to video
   brightness     mean luma in [0, 1]                            t ± VIDEO_WINDOW
   saturation     mean chroma magnitude in [0, 1]                t ± VIDEO_WINDOW
   warmth         mean (Cr - Cb) in [-1, 1], warm > 0            t ± VIDEO_WINDOW
   contrast       mean luma standard deviation                   t ± VIDEO_WINDOW
   loudness_db    energy-mean RMS level (dBFS)                   t ± AUDIO_WINDOW (audio only)
   onset_rate     spectral-flux onsets per second                t ± AUDIO_WINDOW (audio only)
   subtitle_*     lexicon sentiment of the dialogue (text.py)    [t - 3 s, t + hop) (subtitles only)
   ============== ============================================= ==================================

2. ``features_to_curve(features, hop)``: normalisation over the whole curve, then the mapping.
   Each feature ``x`` becomes a score in [-1, 1] that blends an absolute and a relative reading::

       u     = (f(x) - f(low)) / (f(high) - f(low))          # f = identity or log1p, ANCHORS below
       abs   = clip(2 u - 1, -1, 1)                           # where x sits on an absolute scale
       rel   = tanh((u - median(u)) / max(1.4826 MAD(u), 0.15) / 2)
       score = 0.6 abs + 0.4 rel

   The relative part brings out the contrasts inside a film (the z-score of Hanjalic & Xu), the
   absolute part keeps a uniformly calm video calm: its MAD is floored, so noise is not stretched
   into fake drama.

   Arousal follows Hanjalic & Xu (IEEE TMM 2005), motion activity + shot-cut rate (shorter shots,
   higher arousal) + sound energy, plus onset density and the colour terms of Valdez & Mehrabian
   (1994) (arousal = -0.31 B + 0.60 S; warm hues more arousing)::

       colour_a = 0.7 (-0.31 B + 0.60 S) / 0.91 + 0.2 W + 0.1 C
       arousal  = (0.30 motion + 0.25 cut_rate + 0.20 loudness + 0.10 onsets + 0.15 colour_a) / sum of weights present

   Valence follows Valdez & Mehrabian's pleasure = 0.69 B + 0.22 S, with warm hues more pleasant,
   and leans on the dialogue where subtitles carry affect words (``k = 0.6 subtitle confidence``)::

       visual_v = 0.7 (0.69 B + 0.22 S) / 0.91 + 0.3 W
       valence  = (1 - k) visual_v + k subtitle_valence

   Both are then smoothed over the whole curve with a symmetric Kaiser window (``SMOOTH_SECONDS``
   long, beta 5, renormalised at the ends), as Hanjalic & Xu do, so the curve follows the story
   rather than each frame. Confidence: ``0.45 + 0.15 [audio] + 0.25 subtitle_confidence``, lowered
   by up to 0.25 in near-black pictures where colour says little, clipped to [0.05, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..artifacts import SensorCurve
from ..errors import MediaError
from . import SENSORS, SensingInput
from .text import subtitle_curve

VIDEO_WINDOW = 1.0  # s, half-width of the picture-feature window
CUT_WINDOW = 5.0  # s, half-width of the cut-rate window (10 s: a shot-length reading, bounded)
AUDIO_WINDOW = 1.0  # s, half-width of the sound-feature window
SMOOTH_SECONDS = 6.0  # s, length of the Kaiser smoothing window
KAISER_BETA = 5.0
ABS_WEIGHT, REL_WEIGHT, REL_FLOOR = 0.6, 0.4, 0.15
AROUSAL_WEIGHTS = {"motion": 0.30, "cut_rate": 0.25, "loudness_db": 0.20, "onset_rate": 0.10, "colour": 0.15}
SUBTITLE_WEIGHT = 0.6


@dataclass(frozen=True)
class Anchor:
    """Absolute scale of a feature: ``low`` reads as calm/dark/dull (score -1), ``high`` as the opposite (+1)."""

    low: float
    high: float
    log: bool = False

    def unit(self, x: np.ndarray) -> np.ndarray:
        """Map ``x`` onto the anchor scale: 0 at ``low``, 1 at ``high`` (not clipped)."""
        f = np.log1p if self.log else (lambda v: v)
        return (f(x) - f(self.low)) / (f(self.high) - f(self.low))


ANCHORS: dict[str, Anchor] = {
    "motion": Anchor(0.01, 0.5, log=False),  # luma units per second: still .. fast pan/action
    "cut_rate": Anchor(2.0, 40.0, log=True),  # cuts per minute: 30 s shots .. 1.5 s shots
    "brightness": Anchor(0.15, 0.75),  # mean luma: night .. daylight
    "saturation": Anchor(0.03, 0.35),  # chroma magnitude: grey .. vivid
    "warmth": Anchor(-0.25, 0.25),  # Cr - Cb: blue .. orange (0 = neutral)
    "contrast": Anchor(0.04, 0.25),  # luma std: flat .. high contrast
    "loudness_db": Anchor(-55.0, -12.0),  # dBFS: near silence .. loud
    "onset_rate": Anchor(0.3, 6.0, log=True),  # onsets per second: sparse .. driving rhythm
}


# --------------------------------------------------------------------------- step 1: local features
def _window(times: np.ndarray, t: float, half: float) -> slice:
    """Indices of ``times`` within ``[t - half, t + half)``, or the nearest one if none lies there."""
    lo = int(np.searchsorted(times, t - half, side="left"))
    hi = int(np.searchsorted(times, t + half, side="left"))
    if hi > lo:
        return slice(lo, hi)
    i = min(max(lo, 0), len(times) - 1)
    if i > 0 and abs(times[i - 1] - t) <= abs(times[i] - t):
        i -= 1
    return slice(i, i + 1)


def _grid_slice(inputs: SensingInput, start: float | None, end: float | None) -> np.ndarray:
    times = np.asarray(inputs.times, dtype=float)
    keep = np.ones(len(times), dtype=bool)
    if start is not None:
        keep &= times >= start
    if end is not None:
        keep &= times < end
    return times[keep]


def raw_features(inputs: SensingInput, start: float | None = None, end: float | None = None) -> dict[str, np.ndarray]:
    """Heuristic features on the grid samples of ``inputs.times`` within ``[start, end)`` seconds.

    Every value depends only on the media within a bounded window around its sample time, so the
    features of consecutive ranges, concatenated (``merge_features``), equal those of the whole grid.
    Returns name -> array of shape ``(n_samples,)``; audio features only when there is audio,
    subtitle features only when there are subtitles.
    """
    video = inputs.video
    if len(video) == 0:
        raise MediaError(f"{inputs.media.path}: no decoded video frames to sense")
    times = _grid_slice(inputs, start, end)
    n = len(times)
    out = {name: np.zeros(n) for name in ("motion", "cut_rate", "brightness", "saturation", "warmth", "contrast")}
    vt = np.asarray(video.times, dtype=float)
    cuts = np.array(sorted(c.time for c in inputs.shots.cuts if c.time > 0), dtype=float)
    cut_weight = np.array([1.0 if c.kind == "hard" else 0.5 for c in sorted(inputs.shots.cuts, key=lambda c: c.time) if c.time > 0])
    duration = float(inputs.media.duration)
    for i, t in enumerate(times):
        w = _window(vt, t, VIDEO_WINDOW)
        out["motion"][i] = np.median(video.motion[w])  # median: a cut's one-frame spike is not motion
        out["brightness"][i] = np.mean(video.luma_mean[w])
        out["saturation"][i] = np.mean(video.saturation[w])
        out["warmth"][i] = np.mean(video.warmth[w])
        out["contrast"][i] = np.mean(video.luma_std[w])
        lo, hi = max(0.0, t - CUT_WINDOW), min(max(duration, t + 1e-6), t + CUT_WINDOW)
        inside = (cuts >= lo) & (cuts < hi)
        span = max(hi - lo, 1.0)
        out["cut_rate"][i] = float(cut_weight[inside].sum()) * 60.0 / span
    audio = inputs.audio
    if audio is not None and len(audio) > 0:
        at = np.asarray(audio.times, dtype=float)
        power = 10.0 ** (np.asarray(audio.loudness_db, dtype=float) / 10.0)
        out["loudness_db"] = np.zeros(n)
        out["onset_rate"] = np.zeros(n)
        for i, t in enumerate(times):
            w = _window(at, t, AUDIO_WINDOW)
            out["loudness_db"][i] = max(-90.0, 10.0 * math.log10(max(float(np.mean(power[w])), 1e-9)))
            out["onset_rate"][i] = np.mean(audio.onset_rate[w])
    if inputs.subtitles:
        words = subtitle_curve(inputs.subtitles, tuple(times), inputs.hop)
        out["subtitle_valence"] = np.asarray(words.valence)
        out["subtitle_confidence"] = np.asarray(words.confidence)
    return out


def merge_features(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate the features of consecutive time ranges (in time order) into one set."""
    if not parts:
        return {}
    names = list(parts[0])
    for part in parts[1:]:
        if list(part) != names:
            raise ValueError(f"feature sets differ: {sorted(names)} vs {sorted(part)}")
    return {name: np.concatenate([np.asarray(p[name], dtype=float) for p in parts]) for name in names}


# --------------------------------------------------------------------------- step 2: whole-curve mapping
def feature_score(name: str, values: np.ndarray) -> np.ndarray:
    """Score in [-1, 1] of one feature over the whole curve: 0.6 absolute + 0.4 robust relative."""
    u = ANCHORS[name].unit(np.asarray(values, dtype=float))
    absolute = np.clip(2.0 * u - 1.0, -1.0, 1.0)
    median = float(np.median(u))
    spread = max(1.4826 * float(np.median(np.abs(u - median))), REL_FLOOR)
    relative = np.tanh((u - median) / spread / 2.0)
    return ABS_WEIGHT * absolute + REL_WEIGHT * relative


def kaiser_smooth(x: np.ndarray, hop: float, seconds: float = SMOOTH_SECONDS, beta: float = KAISER_BETA) -> np.ndarray:
    """Zero-phase smoothing with a Kaiser window ``seconds`` long, renormalised where it hangs over the ends."""
    length = 2 * int(round(seconds / (2.0 * hop))) + 1
    if length <= 1 or len(x) < 2:
        return np.asarray(x, dtype=float).copy()
    window = np.kaiser(length, beta)
    from scipy.ndimage import correlate1d

    num = correlate1d(np.asarray(x, dtype=float), window, mode="constant", cval=0.0)
    den = correlate1d(np.ones(len(x)), window, mode="constant", cval=0.0)
    return num / den


def features_to_curve(features: Mapping[str, Sequence[float]], hop: float, *, smooth_seconds: float = SMOOTH_SECONDS) -> SensorCurve:
    """Map the whole curve's raw features (``raw_features``) to valence, arousal and confidence.

    Pure: the same features give the same curve, however they were sensed.
    """
    f = {name: np.asarray(v, dtype=float) for name, v in features.items()}
    n = len(f["brightness"])
    s = {name: feature_score(name, f[name]) for name in ANCHORS if name in f}
    b, sat, warm, con = s["brightness"], s["saturation"], s["warmth"], s["contrast"]
    components = {
        "motion": s["motion"],
        "cut_rate": s["cut_rate"],
        "colour": 0.7 * (-0.31 * b + 0.60 * sat) / 0.91 + 0.2 * warm + 0.1 * con,
    }
    has_audio = "loudness_db" in s
    if has_audio:
        components["loudness_db"] = s["loudness_db"]
        components["onset_rate"] = s["onset_rate"]
    total = sum(AROUSAL_WEIGHTS[k] for k in components)
    arousal = sum(AROUSAL_WEIGHTS[k] * v for k, v in components.items()) / total
    valence = 0.7 * (0.69 * b + 0.22 * sat) / 0.91 + 0.3 * warm
    words = f.get("subtitle_confidence", np.zeros(n))
    if "subtitle_valence" in f:
        k = SUBTITLE_WEIGHT * words
        valence = (1.0 - k) * valence + k * f["subtitle_valence"]
    valence = np.clip(kaiser_smooth(valence, hop, smooth_seconds), -1.0, 1.0)
    arousal = np.clip(kaiser_smooth(arousal, hop, smooth_seconds), -1.0, 1.0)
    darkness = np.clip((0.08 - f["brightness"]) / 0.08, 0.0, 1.0)
    confidence = np.clip(0.45 + 0.15 * has_audio + 0.25 * words - 0.25 * darkness, 0.05, 1.0)
    return SensorCurve(valence=_floats(valence), arousal=_floats(arousal), confidence=_floats(confidence))


def _floats(x: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in x)


@SENSORS.register("heuristic")
class HeuristicSensor:
    """Hanjalic & Xu arousal + Valdez & Mehrabian colour affect + subtitle sentiment (see module docstring)."""

    name = "heuristic"

    def __init__(self, *, smooth_seconds: float = SMOOTH_SECONDS) -> None:
        self.smooth_seconds = smooth_seconds

    def sense(self, inputs: SensingInput) -> tuple[SensorCurve, dict[str, tuple[float, ...]]]:
        features = raw_features(inputs)
        curve = features_to_curve(features, inputs.hop, smooth_seconds=self.smooth_seconds)
        return curve, {name: _floats(v) for name, v in features.items()}
