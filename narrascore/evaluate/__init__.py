"""Evaluation: does the music follow the emotion curve it was given? For our soundtracks and anyone's.

* :func:`estimate_emotion` - valence/arousal over time from audio alone (no model weights).
* ``LISTENERS`` / :func:`get_listener` - who hears the emotion: ``vibenet`` (pretrained, the listen
  extra) or ``descriptors`` (:func:`estimate_emotion`); :func:`best_listener` names the best installed.
* :func:`evaluate` - one report: alignment with a narrative curve, cut sync, coherence, loudness.
* :func:`compare` - ours against baselines; :func:`shuffled_plan`, :func:`fixed_mood_plan` build them.
"""

from .baselines import fixed_mood_plan, shuffled_plan
from .descriptors import DESCRIPTOR_NAMES, Analysis, analyze, decode_mono
from .emotion import EmotionCurve, estimate_emotion
from .listeners import LISTENERS, Listener, best_listener, get_listener, installed_listeners
from .metrics import Coherence, CutSync, DimensionAlignment, align_dimension, coherence, cut_sync, silent_runs
from .report import EvaluationReport, compare, evaluate, measure_loudness, write_emotion_json

__all__ = [
    "DESCRIPTOR_NAMES", "LISTENERS", "Analysis", "Listener", "best_listener", "get_listener", "installed_listeners", "Coherence", "CutSync", "DimensionAlignment", "EmotionCurve", "EvaluationReport",
    "align_dimension", "analyze", "coherence", "compare", "cut_sync", "decode_mono", "estimate_emotion", "evaluate",
    "fixed_mood_plan", "measure_loudness", "shuffled_plan", "silent_runs", "write_emotion_json",
]
