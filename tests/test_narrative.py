"""Narrative reasoning: scenes, arc, the music-driving curve, hand edits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from narrascore.artifacts import AffectCurve, Cut, MediaInfo, NarrativePlan, Scene, Shots, load_artifact, save_artifact, to_data, validate
from narrascore.errors import ArtifactError, OptionError
from narrascore.fileio import canonical_hash
from narrascore.narrative import REASONERS, derive_curve, reason, refresh
from narrascore.narrative.arc import arc_roles, locate_climax
from narrascore.narrative.scenes import caption, label_for, segment_scenes
from narrascore.sense import grid

HOP = 0.5
# (start, end, valence, arousal): a planted five-act arc
ARC = [(0, 20, 0.4, -0.5), (20, 40, -0.2, 0.1), (40, 55, -0.4, 0.8), (55, 70, -0.1, 0.0), (70, 85, 0.4, -0.6)]


def affect_curve(pieces, *, noise: float = 0.0, seed: int = 0, hop: float = HOP) -> AffectCurve:
    duration = pieces[-1][1]
    times = np.asarray(grid(duration, hop))
    v, a = np.zeros(len(times)), np.zeros(len(times))
    for start, end, pv, pa in pieces:
        inside = (times >= start) & (times < end)
        v[inside], a[inside] = pv, pa
    rng = np.random.default_rng(seed)
    v = np.clip(v + noise * rng.standard_normal(len(v)), -1, 1)
    a = np.clip(a + noise * rng.standard_normal(len(a)), -1, 1)
    return AffectCurve(hop=hop, times=tuple(times), valence=tuple(v), arousal=tuple(a), confidence=tuple(np.full(len(v), 0.6)))


def media(duration: float) -> MediaInfo:
    return MediaInfo(path="arc.mp4", size_bytes=1, content_hash="x", duration=duration, fps=25.0, frame_count=int(duration * 25),
                     width=320, height=180, video_codec="h264")


def shots(cut_times, duration) -> Shots:
    return Shots(cuts=tuple(Cut(time=float(t), confidence=1.0) for t in cut_times), detector="test", duration=duration)


def arc_shots():
    cuts = [20, 40, 55, 70]
    cuts += [5, 10, 15, 30, 47, 62, 78]  # shots inside the acts, same affect
    cuts += [24, 25, 26, 26.5]  # a burst of very short shots
    return shots(sorted(cuts), 85.0)


def flat_scene(start, end, v, a, role="rising") -> Scene:
    return Scene(start=start, end=end, caption="", valence=v, arousal=a, label=label_for(v, a), arc_role=role)


def values_at(times, values, start, end):
    t = np.asarray(times)
    return np.asarray(values)[(t >= start) & (t < end)]


# --------------------------------------------------------------------------- the planted arc
def test_rules_reasoner_finds_the_planted_arc():
    plan = reason(media(85.0), arc_shots(), affect_curve(ARC, noise=0.05))
    validate(plan)
    assert [(s.start, s.end) for s in plan.scenes] == [(0, 20), (20, 40), (40, 55), (55, 70), (70, 85)]
    assert [s.arc_role for s in plan.scenes] == ["setup", "rising", "climax", "falling", "resolution"]
    assert 40 <= plan.climax_time < 55
    for scene, (_, _, v, a) in zip(plan.scenes, ARC):
        assert scene.valence == pytest.approx(v, abs=0.05) and scene.arousal == pytest.approx(a, abs=0.05)
    assert plan.scenes[0].label == "calm" and plan.scenes[2].label in ("tense", "frantic")
    assert plan.scenes[2].caption.startswith("Scene 3 (0:40\u20130:55): ")
    assert "climax comes at 0:40" in plan.s_global and plan.s_global.startswith("A calm opening")
    assert plan.scenes_fingerprint == canonical_hash(to_data(plan.scenes))
    assert plan.reasoner == "rules" and plan.hop == HOP and len(plan.times) == len(grid(85.0, HOP))


def test_plan_round_trips_through_its_file(tmp_path):
    plan = reason(media(85.0), arc_shots(), affect_curve(ARC))
    save_artifact(plan, tmp_path)
    assert load_artifact(NarrativePlan, tmp_path / "narrative.json").scenes == plan.scenes


def test_unknown_reasoner_lists_the_available_ones():
    with pytest.raises(OptionError, match="rules"):
        reason(media(85.0), arc_shots(), affect_curve(ARC), reasoner="oracle")
    assert "rules" in REASONERS.names()


def test_climax_prefers_the_highest_and_a_little_the_later():
    starts, ends = [0, 10, 20, 30, 40], [10, 20, 30, 40, 50]
    assert locate_climax(starts, ends, [0.0, 0.9, 0.0, 0.0, 0.0]) == 1
    assert locate_climax(starts, ends, [0.0, 0.7, 0.0, 0.7, 0.0]) == 3
    roles, climax = arc_roles(starts, ends, [-0.5, 0.0, 0.3, 0.9, -0.4])
    assert climax == 3 and roles == ["setup", "rising", "rising", "climax", "resolution"]
    assert arc_roles([0], [10], [0.1]) == (["climax"], 0)


# --------------------------------------------------------------------------- scenes
def test_short_shots_merge_and_long_takes_split_on_affect_change():
    duration = 150.0
    affect = affect_curve([(0, 100, 0.3, -0.5), (100, 150, -0.6, 0.7)])
    bounds = segment_scenes([1, 2, 3], affect, duration)  # tiny shots, then one 147 s take
    lengths = [e - s for s, e in bounds]
    assert bounds[0][0] == 0 and bounds[-1][1] == duration
    assert min(lengths) >= 4.0 and max(lengths) <= 60.0
    assert any(abs(s - 100.0) <= 1.0 for s, _ in bounds)  # split at the change
    montage = segment_scenes(np.arange(1.0, 30.0, 1.0), affect_curve([(0, 30, 0.0, 0.6)]), 30.0)
    assert montage == [(0.0, 30.0)]  # a montage of similar 1 s shots is one story unit


def test_labels_and_captions():
    assert label_for(0.6, 0.85) == "triumphant"
    assert label_for(0.65, 0.45) == "joyful"
    assert label_for(-0.5, -0.5) == "melancholy"
    assert label_for(-0.3, 0.6) == "tense"
    assert label_for(0.25, -0.6) == "calm"
    assert caption(3, 42, 65, "tense", ["dark", "fast cutting"]) == "Scene 3 (0:42\u20131:05): dark, fast cutting \u2014 tense"
    assert caption(1, 3600, 3725, "calm", []).startswith("Scene 1 (1:00:00\u20131:02:05): steady")


# --------------------------------------------------------------------------- the curve
@pytest.mark.parametrize("cut", [10.0, 10.2])
def test_a_step_at_a_cut_is_reached_within_one_hop(cut):
    scenes = [flat_scene(0, cut, 0.5, -0.5), flat_scene(cut, 20, -0.5, 0.7)]
    times, valence, arousal = derive_curve(scenes, 20.0, HOP, [cut])
    t = np.asarray(times)
    assert np.allclose(np.asarray(arousal)[t >= cut + HOP], 0.7) and np.allclose(np.asarray(valence)[t >= cut + HOP], -0.5)
    assert np.allclose(np.asarray(arousal)[t <= cut - HOP], -0.5)


def test_a_split_without_a_cut_crossfades_gently():
    scenes = [flat_scene(0, 10, 0.0, -0.5), flat_scene(10, 20, 0.0, 0.5)]
    times, _, arousal = derive_curve(scenes, 20.0, HOP, cuts=[])
    between = values_at(times, arousal, 9.4, 10.6)
    assert np.all((between > -0.5) & (between < 0.5)) and np.all(np.diff(between) > 0)


def test_no_jitter_inside_a_scene_from_noisy_input():
    affect = affect_curve([(0, 40, 0.0, 0.0)], noise=0.3, seed=1)
    scene = [flat_scene(0, 40, 0.0, 0.0)]
    times, valence, arousal = derive_curve(scene, 40.0, HOP, affect=affect)
    assert np.sum(np.abs(np.diff(affect.arousal))) > 10
    assert np.sum(np.abs(np.diff(arousal))) < 0.3 and np.sum(np.abs(np.diff(valence))) < 0.3


def test_a_steady_build_inside_a_long_take_stays_one_ramp():
    times = grid(30.0, HOP)
    rng = np.random.default_rng(3)
    ramp = np.linspace(-0.6, 0.6, len(times)) + 0.05 * rng.standard_normal(len(times))
    affect = AffectCurve(hop=HOP, times=times, valence=tuple(np.zeros(len(times))), arousal=tuple(ramp), confidence=tuple(np.ones(len(times))))
    _, valence, arousal = derive_curve([flat_scene(0, 30, 0.0, 0.0)], 30.0, HOP, affect=affect)
    steps = np.diff(arousal)
    assert np.all(steps >= -1e-12) and 0.6 < arousal[-1] - arousal[0] < 0.85  # 0.6 of the sensed 1.2 (AROUSAL_GAIN)
    assert np.ptp(steps) < 1e-6  # one line, not steps
    assert np.ptp(valence) == 0.0


def test_a_step_inside_a_scene_reaches_the_curve_within_a_second_and_keeps_the_level():
    times = np.asarray(grid(20.0, HOP))
    rng = np.random.default_rng(4)
    a = np.where(times < 8.0, -0.6, 0.4) + 0.04 * rng.standard_normal(len(times))
    affect = AffectCurve(hop=HOP, times=tuple(times), valence=tuple(np.zeros(len(times))), arousal=tuple(a), confidence=tuple(np.full(len(times), 0.6)))
    scene = flat_scene(0, 20, 0.0, -0.1)
    t, _, arousal = derive_curve([scene], 20.0, HOP, affect=affect)
    at = lambda x: float(np.interp(x, t, arousal))  # noqa: E731
    assert at(9.0) - at(7.0) >= 0.55  # 0.6 (AROUSAL_GAIN) of the sensed step of 1.0
    assert np.ptp(values_at(t, arousal, 0, 7.0)) < 0.05 and np.ptp(values_at(t, arousal, 9.0, 20)) < 0.05
    assert abs(float(np.mean(arousal)) - scene.arousal) < 0.03  # the level is still the E_local
    edited = derive_curve([dataclasses.replace(scene, arousal=0.2)], 20.0, HOP, affect=affect)[2]
    assert np.allclose(np.asarray(edited) - arousal, 0.3)  # an edit moves the whole scene, shape kept


@pytest.mark.parametrize("seed", range(5))
def test_noise_in_a_steady_scene_never_moves_the_curve(seed):
    affect = affect_curve([(0, 30, 0.1, -0.2)], noise=0.1, seed=seed)
    _, valence, arousal = derive_curve([flat_scene(0, 30, 0.1, -0.2)], 30.0, HOP, affect=affect)
    assert np.ptp(arousal) <= 0.1 and np.ptp(valence) <= 0.1


def test_event_arousal_lifts_the_curve_into_each_event():
    from narrascore.artifacts import Event
    from narrascore.narrative.curve import event_arousal

    times = grid(10.0, HOP)
    flat = tuple(np.full(len(times), -0.2))
    lifted = np.asarray(event_arousal(times, flat, (Event(5.0, "impact", 1.0),)))
    t = np.asarray(times)
    assert event_arousal(times, flat, ()) == flat
    assert lifted[t == 5.0][0] == pytest.approx(0.15) and np.all(np.diff(lifted[(t >= 3.0) & (t <= 5.0)]) > 0)
    assert np.allclose(lifted[t <= 3.0], -0.2) and np.all(np.diff(lifted[t >= 5.0]) < 0)


def test_old_narrative_files_without_events_still_load(tmp_path):
    import json

    affect = affect_curve(ARC)
    plan = reason(media(85.0), arc_shots(), affect)
    path = save_artifact(plan, tmp_path)
    envelope = json.loads(path.read_text())
    assert envelope["schema_version"] == 2 and envelope["data"]["events"] == []
    del envelope["data"]["events"]
    envelope["schema_version"] = 1
    path.write_text(json.dumps(envelope))
    assert load_artifact(NarrativePlan, path).events == ()
    envelope["schema_version"] = 3
    path.write_text(json.dumps(envelope))
    with pytest.raises(ArtifactError, match="schema_version 3"):
        load_artifact(NarrativePlan, path)


def test_anticipation_builds_before_the_climax_only():
    scenes = [flat_scene(0, 20, 0.2, -0.4, "setup"), flat_scene(20, 30, -0.5, 0.8, "climax"), flat_scene(30, 40, 0.2, -0.5, "resolution")]
    times, _, arousal = derive_curve(scenes, 40.0, HOP, [20, 30], anticipation=4.0)
    before = values_at(times, arousal, 16.0, 20.0)
    assert np.allclose(values_at(times, arousal, 0, 16.0), -0.4)
    assert np.all(np.diff(before) > 0) and before[-1] > 0.0 and before.max() < 0.8
    assert np.allclose(values_at(times, arousal, 30.5, 40), -0.5)  # no anticipation of the ending


def test_editing_a_scene_rederives_only_that_scene():
    affect = affect_curve(ARC, noise=0.1, seed=2)
    cuts = arc_shots().cut_times()
    plan = reason(media(85.0), arc_shots(), affect)
    for k in (1, 3):
        edited_scenes = list(plan.scenes)
        edited_scenes[k] = dataclasses.replace(edited_scenes[k], valence=0.9, arousal=-0.9)
        edited = refresh(dataclasses.replace(plan, scenes=tuple(edited_scenes)), cuts, affect=affect)
        assert edited.scenes_fingerprint != plan.scenes_fingerprint
        t = np.asarray(plan.times)
        changed = (np.abs(np.asarray(edited.arousal) - plan.arousal) > 1e-9) | (np.abs(np.asarray(edited.valence) - plan.valence) > 1e-9)
        scene = edited_scenes[k]
        allowed = (t >= scene.start - 0.125) & (t < scene.end + 0.125)
        assert changed.any() and not (changed & ~allowed).any(), k
        assert np.allclose(values_at(t, edited.arousal, scene.start + 0.5, scene.end - 6.5), -0.9, atol=0.45)  # then anticipation
    unchanged = refresh(plan, cuts, affect=affect)
    assert unchanged.arousal == plan.arousal and unchanged.scenes_fingerprint == plan.scenes_fingerprint


def test_editing_the_climax_moves_the_anticipation_too():
    affect = affect_curve([(0, 20, 0.4, -0.5), (20, 40, -0.2, 0.4), *ARC[2:]])  # rising, then a climax that is no surprise
    cuts = arc_shots().cut_times()
    plan = reason(media(85.0), arc_shots(), affect)
    scenes = list(plan.scenes)
    scenes[2] = dataclasses.replace(scenes[2], arousal=1.0)
    edited = refresh(dataclasses.replace(plan, scenes=tuple(scenes)), cuts, affect=affect)
    t = np.asarray(plan.times)
    changed = np.abs(np.asarray(edited.arousal) - plan.arousal) > 1e-9
    assert changed[(t >= 36) & (t < 40)].any()
    assert not changed[(t < 34) | (t >= 55.5)].any()


def test_a_sudden_climax_is_not_anticipated():
    affect = affect_curve(ARC)  # arousal steps from 0.1 to 0.8 into the climax at 40 s
    plan = reason(media(85.0), arc_shots(), affect)
    assert np.ptp(values_at(plan.times, plan.arousal, 30.0, 39.5)) < 0.05


@pytest.mark.parametrize("arousal, expected", [([0.5], 0), ([0.9, 0.1], 0), ([0.1, 0.9], 1), ([0.1, 0.9, 0.2], 1)])
def test_climax_with_one_two_or_three_scenes(arousal, expected):
    from narrascore.narrative.arc import locate_climax

    n = len(arousal)
    starts = [10.0 * i for i in range(n)]
    ends = [10.0 * (i + 1) for i in range(n)]
    assert locate_climax(starts, ends, arousal) == expected
