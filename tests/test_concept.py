"""The music concept: style choice, key/mode from valence, tempo from arousal, cues on scene cuts."""

from __future__ import annotations

import numpy as np
import pytest

from narrascore.artifacts import MusicConcept, NarrativePlan, Scene, load_artifact, save_artifact, validate
from narrascore.concept import STYLE_SPECS, choose_style, conceive, transpose_key
from narrascore.errors import OptionError
from narrascore.options import STYLES


def make_plan(spec: list[tuple[float, float, float, str]], hop: float = 0.5) -> NarrativePlan:
    """Scenes from (duration s, valence, arousal, arc role); the curve interpolates scene centres."""
    scenes, t = [], 0.0
    for i, (duration, v, a, role) in enumerate(spec):
        scenes.append(Scene(t, t + duration, f"scene {i}", v, a, "label", role))
        t += duration
    times = np.arange(0.0, t + 1e-9, hop)
    centres = [(s.start + s.end) / 2 for s in scenes]
    val = np.interp(times, centres, [s.valence for s in scenes])
    aro = np.interp(times, centres, [s.arousal for s in scenes])
    climax = centres[int(np.argmax([s.arousal for s in scenes]))]
    return NarrativePlan("test", tuple(scenes), hop, tuple(times.tolist()), tuple(val.tolist()), tuple(aro.tolist()), climax, t)


ARC = [(20, 0.4, -0.6, "setup"), (15, 0.1, 0.1, "rising"), (10, -0.7, 0.9, "climax"), (12, -0.2, 0.0, "falling"), (15, 0.5, -0.5, "resolution")]


def test_cue_boundaries_lie_on_scene_cuts():
    plan = make_plan(ARC)
    concept = conceive(plan)
    cuts = {round(s.start, 6) for s in plan.scenes}
    assert concept.cues[0].start == 0.0 and concept.cues[-1].end == pytest.approx(plan.duration)
    for a, b in zip(concept.cues[:-1], concept.cues[1:]):
        assert a.end == b.start
        assert round(b.start, 6) in cuts
    assert [c.scene_index for c in concept.cues] == sorted(c.scene_index for c in concept.cues)


def test_similar_and_short_scenes_merge():
    plan = make_plan([(10, 0.3, -0.2, "setup"), (10, 0.35, -0.15, "rising"), (1.0, -0.8, 0.9, "rising"), (10, -0.6, 0.8, "climax")])
    concept = conceive(plan)
    assert len(concept.cues) == 2
    assert concept.cues[1].start == 21.0  # the 1-s scene joined the cue before it


def test_mode_follows_valence():
    concept = conceive(make_plan(ARC), style="orchestral")
    assert concept.mode == "major"  # mean valence >= 0
    by_scene = {c.scene_index: c for c in concept.cues}
    assert by_scene[2].mode == "minor" and by_scene[2].key == concept.key  # parallel minor: same tonic
    assert by_scene[0].mode == "major" and by_scene[0].key == concept.key
    dark = conceive(make_plan([(30, -0.6, -0.3, "setup"), (20, 0.4, 0.2, "resolution")]))
    assert dark.mode == "minor"
    assert dark.cues[1].mode == "major" and dark.cues[1].key == dark.key  # parallel major


def test_modulations_stay_related():
    concept = conceive(make_plan(ARC), seed=3)
    home = concept.key
    related = {home, transpose_key(home, -3), transpose_key(home, 3), transpose_key(home, 7), transpose_key(home, 5)}
    assert {c.key for c in concept.cues} <= related


def test_tempo_and_intensity_follow_arousal():
    concept = conceive(make_plan(ARC), style="orchestral")
    cues = sorted(concept.cues, key=lambda c: c.arousal)
    assert [c.tempo for c in cues] == sorted(c.tempo for c in cues)
    assert cues[-1].tempo > cues[0].tempo + 20
    assert [c.intensity for c in cues] == sorted(c.intensity for c in cues)
    for cue in concept.cues:
        assert concept.tempo_min <= cue.tempo <= concept.tempo_max
        assert 0 <= cue.intensity <= 1


@pytest.mark.parametrize("style", [s for s in STYLES if s != "auto"])
def test_every_style_gives_a_valid_concept(style, tmp_path):
    concept = conceive(make_plan(ARC), style=style, seed=1)
    validate(concept)
    assert concept.style == style
    assert concept.key in concept.anchor_prompt and f"{concept.tempo_min:.0f}-{concept.tempo_max:.0f} BPM" in concept.anchor_prompt
    assert load_artifact(MusicConcept, save_artifact(concept, tmp_path)) == concept


def test_styles_have_different_instruments():
    plan = make_plan(ARC)
    sets = {style: frozenset(conceive(plan, style=style).instruments) for style in STYLE_SPECS}
    assert len(set(sets.values())) == len(sets)


def test_auto_style_follows_affect():
    assert choose_style(mean_valence=0.0, mean_arousal=0.5, arousal_range=0.9) == "orchestral"
    assert choose_style(mean_valence=-0.5, mean_arousal=0.5, arousal_range=0.3) == "rock"
    assert choose_style(mean_valence=0.5, mean_arousal=0.5, arousal_range=0.3) == "electronic"
    assert choose_style(mean_valence=0.4, mean_arousal=-0.6, arousal_range=0.2) == "piano"
    assert choose_style(mean_valence=-0.4, mean_arousal=-0.6, arousal_range=0.2) == "ambient"
    calm = conceive(make_plan([(30, 0.5, -0.7, "setup"), (30, 0.4, -0.5, "resolution")]))
    assert calm.style == "piano" and calm.mode == "major"


def test_deterministic_and_seeded():
    plan = make_plan(ARC)
    assert conceive(plan, seed=5) == conceive(plan, seed=5)
    assert len({conceive(plan, seed=s).key for s in range(12)}) > 1


def test_unknown_style_is_rejected():
    with pytest.raises(OptionError, match="baroque"):
        conceive(make_plan(ARC), style="baroque")
