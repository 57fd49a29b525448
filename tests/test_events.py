"""In-scene control on generated videos whose truth is known: steps, ramps, flashes and bangs, and the music's answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import narrascore
from narrascore.artifacts import Event, NarrativePlan, load_artifact
from narrascore.media.synthetic import Segment

FPS = 25.0
# (a) a static, quiet, dark shot that turns loud, bright and fast at 6 s
STEP = (Segment(6.0, (45, 45, 55), motion=0.0, texture=0.25, audio_db=-42),
        Segment(6.0, (150, 130, 110), motion=0.35, texture=0.45, audio_db=-12, audio_pulse_hz=6, transition="none"))
# (b) one 30 s shot whose motion and loudness ramp up steadily
RAMP = (Segment(30.0, (90, 90, 100), motion=0.02, motion_end=0.5, texture=0.4, audio_db=-40, audio_db_end=-12, audio_pulse_hz=4),)
# (c) a flash (three white frames) with a bang at 4.0 s inside a calm shot
FLASH = (Segment(4.0, (110, 120, 100), motion=0.02, texture=0.3, audio_db=-36),
         Segment(0.12, (250, 250, 250), motion=0.02, texture=0.05, audio_db=-4, audio_pulse_hz=1 / 0.12, transition="none"),
         Segment(5.88, (110, 120, 100), motion=0.02, texture=0.3, audio_db=-36, transition="none"))
# (d) a 10 s clip with one cut
ONE_CUT = (Segment(5.0, (200, 170, 120), motion=0.02, texture=0.2, audio_db=-34),
           Segment(5.0, (60, 50, 110), motion=0.3, texture=0.5, audio_db=-16, audio_pulse_hz=4))
# a noisy but steady shot: texture, motion and pulsing sound that never change
STEADY = (Segment(20.0, (120, 100, 90), motion=0.2, texture=0.6, audio_db=-20, audio_pulse_hz=5),)


def level_db(path, start: float, end: float) -> float:
    x, rate = sf.read(str(path), dtype="float32")
    seg = x[int(start * rate):int(end * rate)].mean(axis=1)
    return float(10 * np.log10(np.mean(seg**2) + 1e-12))


def sharpest_rise(path, t: float, window: float = 0.1) -> tuple[float, float]:
    """(time s, dB) of the largest rise of the 5 ms level over its previous 100 ms, within ``t`` +- ``window``."""
    x, rate = sf.read(str(path), dtype="float32")
    mono = x.mean(axis=1)
    frame = int(rate * 0.005)
    n = mono.size // frame
    level = 10 * np.log10((mono[: n * frame].reshape(n, frame) ** 2).mean(axis=1) + 1e-12)
    lo, hi = int((t - window) / 0.005), int((t + window) / 0.005)
    rises = [level[k] - np.median(level[k - 20:k]) for k in range(lo, hi)]
    k = int(np.argmax(rises))
    return (lo + k) * 0.005, float(rises[k])


@pytest.fixture(scope="module")
def scored(video_factory, tmp_path_factory):
    made = {}

    def score(name, segments, *, analyze_only=False):
        if name not in made:
            video = video_factory(f"events-{name}.mp4", segments)
            out = tmp_path_factory.mktemp(f"events-{name}")
            (narrascore.analyze if analyze_only else narrascore.score)(video.path, out)
            made[name] = out
        return made[name]

    return score


def plan_of(out) -> NarrativePlan:
    return load_artifact(NarrativePlan, out / "narrative.json")


def test_a_step_inside_a_shot_reaches_the_curve_and_the_music(scored):
    out = scored("step", STEP)
    plan = plan_of(out)
    at = lambda x: float(np.interp(x, plan.times, plan.arousal))  # noqa: E731
    assert at(7.0) - at(5.0) >= 0.4
    assert 6.0 <= plan.climax_time <= 9.0
    assert level_db(out / "soundtrack.wav", 6.5, 7.5) - level_db(out / "soundtrack.wav", 4.5, 5.5) >= 6.0



def test_the_pretrained_listener_hears_the_step(scored):
    """VibeNet (where the listen extra is installed) hears more energy in the last 4 s than in the first 4 s.

    The 2 s before the step (4 to 6 s) hold the build that announces it, part of the music's answer to
    the step: the calm is the 4 s before the build.
    """
    from narrascore.evaluate import listeners

    if not listeners.vibenet_installed():
        pytest.skip("the listen extra (VibeNet) is not installed")
    heard = listeners.VibeNetListener(window_s=4.0, hop_s=1.0).hear(scored("step", STEP) / "soundtrack.wav")
    energy = heard.descriptors["energy"]
    assert heard.times[0] == 2.0 and heard.times[-1] == 10.0
    assert energy[-1] - energy[0] >= 0.3, energy


def test_a_steady_build_rises_monotonically_and_is_told(scored):
    plan = plan_of(scored("ramp", RAMP, analyze_only=True))
    a = np.asarray(plan.arousal)
    assert len(plan.scenes) == 1 and a[-1] - a[0] >= 0.3
    assert np.all(np.diff(a) >= -0.01)
    assert plan.climax_time >= 20.0
    assert "builds" in plan.s_global and "opens at its peak" not in plan.s_global


def test_a_flash_with_a_bang_is_one_event_on_its_frame_and_the_music_hits_it(scored):
    out = scored("flash", FLASH)
    plan = plan_of(out)
    assert len(plan.events) == 1
    event = plan.events[0]
    assert abs(event.time - 4.0) <= 1 / FPS + 1e-6 and event.kind in ("impact", "flash") and event.strength >= 0.8
    when, rise = sharpest_rise(out / "soundtrack.wav", event.time)
    assert abs(when - event.time) <= 0.05 and rise >= 10.0


def test_one_cut_is_a_scene_change_not_an_event(scored):
    plan = plan_of(scored("one-cut", ONE_CUT, analyze_only=True))
    assert [s.start for s in plan.scenes] == [0.0, 5.0]
    assert not [e for e in plan.events if e.kind == "cut"]
    at = lambda x: float(np.interp(x, plan.times, plan.arousal))  # noqa: E731
    assert at(5.5) - at(4.5) >= 0.15 and plan.climax_time >= 5.0  # reached on the cut (after an anticipation)


def test_a_noisy_but_steady_shot_gives_no_events_and_no_curve_changes(scored):
    plan = plan_of(scored("steady", STEADY, analyze_only=True))
    assert plan.events == ()
    assert np.ptp(plan.arousal) <= 0.1 and np.ptp(plan.valence) <= 0.1


def test_hand_edited_events_are_honoured_by_render(scored, tmp_path):
    out = scored("flash", FLASH)
    path = out / "narrative.json"
    original = path.read_text()
    try:
        envelope = json.loads(original)
        envelope["data"]["events"] = [{"time": 7.0, "kind": "impact", "strength": 1.0}]
        path.write_text(json.dumps(envelope))
        narrascore.render(out)
        assert load_artifact(NarrativePlan, path).events == (Event(7.0, "impact", 1.0),)
        when, rise = sharpest_rise(out / "soundtrack.wav", 7.0)
        assert abs(when - 7.0) <= 0.05 and rise >= 10.0
    finally:
        path.write_text(original)


@pytest.mark.parametrize("event, field", [({"time": 99.0, "kind": "impact", "strength": 0.5}, "events[0].time"),
                                          ({"time": 2.0, "kind": "impact", "strength": -0.5}, "events[0].strength"),
                                          ({"time": 2.0, "kind": "explosion", "strength": 0.5}, "events[0].kind")])
def test_a_bad_hand_edited_event_is_one_line_and_nothing_is_overwritten(scored, event, field):
    out = scored("flash", FLASH)
    path = out / "narrative.json"
    original = path.read_text()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    try:
        envelope = json.loads(original)
        envelope["data"]["events"] = [event]
        path.write_text(json.dumps(envelope))
        before["narrative.json"] = path.stat().st_mtime_ns
        env = dict(os.environ)
        env.pop("NARRASCORE_DEBUG", None)
        proc = subprocess.run([sys.executable, "-m", "narrascore.cli", "render", str(out)], capture_output=True, text=True, env=env, timeout=300)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert len(lines) == 1 and field in lines[0] and "narrative.json" in lines[0], proc.stderr
        assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()} == before
    finally:
        path.write_text(original)
