"""End to end: the narrative arousal curve reaches the music (measured from the soundtrack alone)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from narrascore.artifacts import NarrativePlan, read_artifact
from narrascore.evaluate import align_dimension, analyze
from narrascore.evaluate.emotion import descriptor_scores


def energy_curve(soundtrack: Path) -> tuple[np.ndarray, np.ndarray]:
    """(times s, loudness/onset-density score): short-term loudness and onset rate on the estimator's fixed scales, averaged."""
    analysis = analyze(soundtrack)
    z = descriptor_scores(analysis.descriptors)
    return analysis.times, (z["loudness_lufs"] + z["onset_rate"]) / 2.0


@pytest.mark.slow
def test_demo_soundtrack_energy_follows_the_narrative_arousal(scored_demo):
    out = scored_demo
    plan = read_artifact(NarrativePlan, out / "narrative.json").artifact
    times, energy = energy_curve(out / "soundtrack.wav")
    alignment = align_dimension(plan.times, plan.arousal, times, energy)
    assert alignment.n > 200
    assert alignment.pearson_r is not None and alignment.pearson_r >= 0.7, alignment
