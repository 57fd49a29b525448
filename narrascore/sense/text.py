"""Subtitle sentiment: a small valence/arousal word lexicon, negation, and a mapping onto the grid.

The lexicon (``narrascore/data/affect_lexicon.tsv``, a few hundred common English affect words,
valence and arousal in [-1, 1]) is hand-assigned on the ANEW / Warriner et al. (2013) scales.
A line's reading is the mean over its affect words, with three adjustments:

- negation: a negator ("not", "no", "never", "n't", "without", ...) flips and damps the valence of
  the affect words in the next three tokens of the same clause (``"not happy"`` reads as mildly
  negative, ``v -> -0.6 v``; arousal is damped ``a -> 0.8 a``);
- intensifiers ("very", "so", "really", ...) scale the next affect word by 1.3 (clipped to [-1, 1]);
- exclamation marks raise arousal a little (+0.1 each, at most +0.2).

On the grid, sample ``t`` reads the lines shown within ``[t - LOOK_BACK, t + hop)`` (a line's mood
outlasts its display a little; the look-back is bounded so time ranges sense independently),
weighted by their number of affect words. Its confidence grows with that count:
``1 - exp(-n / 3)``, scaled by ``MAX_CONFIDENCE``; with no affect word it is 0.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from importlib import resources

import numpy as np

from ..artifacts import SensorCurve
from ..errors import ArtifactError
from ..media.features import SubtitleLine
from . import SENSORS, SensingInput

LOOK_BACK = 3.0  # seconds a subtitle line keeps colouring the grid after it ends
MAX_CONFIDENCE = 0.8  # words alone never fully decide a scene's mood
NEGATORS = frozenset(
    "not no never nor neither nobody nothing nowhere without hardly barely cannot cant dont doesnt didnt "
    "isnt wasnt arent werent wont wouldnt shouldnt couldnt aint".split()
)
INTENSIFIERS = frozenset("very so really extremely too totally absolutely incredibly truly such".split())
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")
_CLAUSE_END = frozenset(".,;:!?")


@functools.lru_cache(maxsize=1)
def load_lexicon() -> dict[str, tuple[float, float]]:
    """Word -> (valence, arousal) from the packaged lexicon, both in [-1, 1]."""
    text = resources.files("narrascore").joinpath("data", "affect_lexicon.tsv").read_text(encoding="utf-8")
    lexicon: dict[str, tuple[float, float]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#") or line.startswith("word\t"):
            continue
        parts = line.split("\t")
        try:
            word, valence, arousal = parts[0], float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise ArtifactError(f"affect_lexicon.tsv line {number}: expected 'word<TAB>valence<TAB>arousal', got {line!r}") from None
        lexicon[word] = (valence, arousal)
    return lexicon


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"<[^>]+>|\{[^}]*\}", " ", text)  # SRT/ASS styling tags
    return _TOKEN.findall(text)


def line_affect(text: str) -> tuple[float, float, int]:
    """Valence and arousal of one subtitle line (both in [-1, 1]) and its number of affect words.

    A line without affect words reads ``(0.0, 0.0, 0)``.
    """
    lexicon = load_lexicon()
    values: list[tuple[float, float]] = []
    negate_left = 0  # tokens still inside a negation's scope
    boost = 1.0
    exclamations = 0
    for token in _tokens(text):
        if token in _CLAUSE_END:
            negate_left, boost = 0, 1.0
            exclamations += token == "!"
            continue
        if token in NEGATORS or token.endswith("n't"):
            negate_left = 3
            continue
        if token in INTENSIFIERS:
            boost = 1.3
            continue
        entry = lexicon.get(token) or lexicon.get(token.split("'")[0])
        if entry is not None:
            valence, arousal = entry[0] * boost, entry[1] * boost
            if negate_left > 0:
                valence, arousal = -0.6 * valence, 0.8 * arousal
            values.append((max(-1.0, min(1.0, valence)), max(-1.0, min(1.0, arousal))))
            boost = 1.0
        negate_left = max(0, negate_left - 1)
    if not values:
        return 0.0, 0.0, 0
    valence = sum(v for v, _ in values) / len(values)
    arousal = sum(a for _, a in values) / len(values) + min(0.2, 0.1 * exclamations)
    return valence, max(-1.0, min(1.0, arousal)), len(values)


def subtitle_curve(lines: Sequence[SubtitleLine], times: Sequence[float], hop: float) -> SensorCurve:
    """Subtitle sentiment on the grid ``times`` (s): valence, arousal in [-1, 1], confidence in [0, 1].

    Each sample depends only on the lines shown within ``[t - LOOK_BACK, t + hop)``.
    """
    read = [(line.start, line.end, *line_affect(line.text)) for line in lines]
    read = [r for r in read if r[4] > 0]
    n = len(times)
    valence, arousal, confidence = np.zeros(n), np.zeros(n), np.zeros(n)
    if read:
        starts = np.array([r[0] for r in read])
        ends = np.array([r[1] for r in read])
        v = np.array([r[2] for r in read])
        a = np.array([r[3] for r in read])
        words = np.array([r[4] for r in read], dtype=float)
        for i, t in enumerate(times):
            shown = (starts < t + hop) & (ends > t - LOOK_BACK)
            if not shown.any():
                continue
            w = words[shown]
            valence[i] = float(np.dot(w, v[shown]) / w.sum())
            arousal[i] = float(np.dot(w, a[shown]) / w.sum())
            confidence[i] = MAX_CONFIDENCE * (1.0 - math.exp(-w.sum() / 3.0))
    return SensorCurve(valence=tuple(map(float, valence)), arousal=tuple(map(float, arousal)), confidence=tuple(map(float, confidence)))


@SENSORS.register("text")
class TextSensor:
    """Subtitle-only sensor: reads nothing but the dialogue; confidence 0 where nobody speaks affect words."""

    name = "text"

    def sense(self, inputs: SensingInput) -> tuple[SensorCurve, dict[str, tuple[float, ...]]]:
        curve = subtitle_curve(inputs.subtitles, inputs.times, inputs.hop)
        return curve, {"subtitle_valence": curve.valence, "subtitle_confidence": curve.confidence}
