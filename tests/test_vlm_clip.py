"""Multi-frame VLM requests (--vlm-context K): windows, reading answers that are malformed, partial or out of
order, the deterministic merge, the scripted endpoint end to end, the context check and the local chat template."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scripted_server import ScriptedServer, chat

from narrascore.errors import OptionError
from narrascore.options import ScoreOptions
from narrascore.sense.answers import AffectAnswer
from narrascore.sense.clip import merge, read_clip, stream_windows, windows

TIMES = [0.0, 1.0, 2.0, 3.0]


def reading(v: float, a: float = 0.0, c: float = 0.5) -> dict:
    return {"valence": v, "arousal": a, "confidence": c}


def test_windows_overlap_by_one_frame_and_cover_everything():
    assert windows(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert windows(6, 3) == [(0, 3), (2, 5), (4, 6)]
    assert windows(5, 3) == [(0, 3), (2, 5)]
    assert windows(2, 8) == [(0, 2)] and windows(1, 4) == [(0, 1)] and windows(0, 4) == []
    assert windows(3, 1) == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(OptionError):
        windows(3, 0)


def test_stream_windows_hold_one_window_at_a_time():
    frames = ((float(i), np.full((1, 1, 3), i, np.uint8)) for i in range(7))
    got = [[t for t, _ in w] for w in stream_windows(frames, windows(7, 3))]
    assert got == [[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [4.0, 5.0, 6.0]]


def test_read_clip_lands_readings_on_the_right_frames():
    in_order = json.dumps({"frames": [{"time": t, **reading(t / 10)} for t in TIMES]})
    assert {i: r.valence for i, r in read_clip(in_order, TIMES).items()} == {0: 0.0, 1: 0.1, 2: 0.2, 3: 0.3}
    shuffled = json.dumps({"frames": [{"time": t, **reading(t / 10)} for t in (3.0, 0.0, 2.0, 1.0)]})
    assert {i: r.valence for i, r in read_clip(shuffled, TIMES).items()} == {0: 0.0, 1: 0.1, 2: 0.2, 3: 0.3}
    partial = json.dumps({"frames": [{"time": 2.0, **reading(0.5)}, {"time": 0.0, **reading(-0.5)}]})
    assert {i: r.valence for i, r in read_clip(partial, TIMES).items()} == {0: -0.5, 2: 0.5}
    # a bare list without times takes list positions; a garbage item is skipped, its position kept
    bare = '[{"valence": 0.1, "arousal": 0}, {"valence": "high"}, {"valence": 0.3, "arousal": 0.2}]'
    assert {i: r.valence for i, r in read_clip(bare, TIMES).items()} == {0: 0.1, 2: 0.3}
    # prose around objects one after another, the last one cut off; times as strings; a frame claimed twice
    messy = ('Frame 1: {"time": "1.0", "valence": 0.4, "arousal": 0.1} then {time: 1.1, valence: -0.9, arousal: 0} '
             'and {"time": 3.0, "valence": 0.7, "arousal": 0.2, "caption": "cut')
    got = read_clip(messy, TIMES)
    assert {i: r.valence for i, r in got.items()} == {1: 0.4, 3: 0.7} and got[3].caption == "cut"
    off_grid = json.dumps({"frames": [{"time": 9.0, **reading(0.5)}, {"time": 1.6, **reading(0.2)}]})
    assert {i: r.valence for i, r in read_clip(off_grid, TIMES).items()} == {2: 0.2}  # 9.0 s is no frame here
    assert read_clip("no idea", TIMES) == {} and read_clip("", TIMES) == {} and read_clip('{"frames": 3}', TIMES) == {}


def test_merge_takes_the_mean_where_windows_overlap():
    a = {0: AffectAnswer(0.0, 0.0, 0.5, "a0"), 2: AffectAnswer(0.4, 0.2, 1.0, "a2")}
    b = {0: AffectAnswer(0.8, 0.0, 0.5, "b0"), 1: AffectAnswer(-0.2, 0.1, 0.5, "")}
    out = merge([a, b], [(0, 3), (2, 5)], 5)
    assert out[1] is None and out[4] is None  # nobody read them: missing
    assert (out[2].valence, out[2].arousal, out[2].confidence, out[2].caption) == pytest.approx((0.6, 0.1, 0.75, "a2"))
    assert out[3].valence == -0.2 and out[0].caption == "a0" and out[0].valence == 0.0


# --------------------------------------------------------------------------- against the scripted endpoint
def _times_of(body: dict) -> list[float]:
    texts = [c["text"] for c in body["messages"][0]["content"] if c["type"] == "text"]
    return [float(m.group(1)) for t in texts for m in [re.fullmatch(r"Time: ([\d.]+) s", t)] if m]


def _answer(calls: dict):
    """Valence = time / 10, answered in reverse order. The window from 1.4 s first answers garbage, then leaves
    out its first frame; the window from 2.4 s never answers for its last frame (3.2 s)."""
    def reply(body: dict):
        times = _times_of(body)
        first = round(times[0], 1)
        calls[first] = calls.get(first, 0) + 1
        if first == 1.4:
            if calls[first] == 1:
                return chat("I cannot rate these {")
            times = times[1:]
        if first == 2.4:
            times = times[:-1]
        rows = [{"time": t, "valence": round(t / 10, 3), "arousal": 0.5, "confidence": 0.9, "caption": f"at {t}"} for t in times]
        return chat("Sure:\n" + json.dumps({"frames": rows[::-1]}))
    return reply


def test_clip_requests_over_an_endpoint_land_on_the_right_times(short_video, tmp_path):
    from narrascore import analyze

    out = tmp_path / "out"
    calls: dict = {}
    options = dict(sensor="heuristic+vlm", vlm_model="tiny", vlm_context=3, anchor="rules")
    with ScriptedServer(default=_answer(calls)) as server:
        result = analyze(short_video.path, out, endpoint=server.url, **options)
        bodies = list(server.requests)
        again = analyze(short_video.path, out, endpoint=server.url, force=True, **options)
        assert len(server.requests) == len(bodies)  # every window from the cache
    frames = json.loads((out / "vlm_frames.json").read_text())["frames"]
    assert [f["time"] for f in frames] == pytest.approx([0.0, 1.0, 1.4, 2.0, 2.4, 3.0, 3.2], abs=0.05)
    sent = [[round(t, 1) for t in _times_of(b)] for b in bodies]
    assert sorted(sent[:3]) == [[0.0, 1.0, 1.4], [1.4, 2.0, 2.4], [2.4, 3.0, 3.2]]  # windows overlap by one frame
    assert sent[3] == [1.4, 2.0, 2.4]  # the one retry, after the batch (requests run concurrently)
    for body in bodies:  # each picture right after its time marker
        content = body["messages"][0]["content"]
        assert [c["type"] for c in content].count("image_url") == 3
        for i, c in enumerate(content):
            if c["type"] == "image_url":
                assert re.fullmatch(r"Time: [\d.]+ s", content[i - 1]["text"])
    ok = {round(f["time"], 1): f for f in frames if f["ok"]}
    assert sorted(ok) == [0.0, 1.0, 1.4, 2.0, 2.4, 3.0]  # 3.2 s: answered by no window, missing
    for t, f in ok.items():
        assert f["valence"] == pytest.approx(t / 10, abs=2e-3) and f["caption"].startswith("at ")
    assert [f for f in frames if not f["ok"]][0]["confidence"] == 0.0
    assert again.affect == result.affect
    log = [json.loads(line) for line in (out / "prompts" / "vlm_frames.jsonl").read_text().splitlines()]
    assert len(log) == 3 and [e["retried"] for e in log] == [False, True, False] and all(e["cached"] for e in log)


def test_a_context_too_small_is_one_line_before_any_request(short_video, tmp_path):
    from narrascore import analyze

    with ScriptedServer(default=chat("{}")) as server:
        with pytest.raises(OptionError, match=r"vlm_context 12 needs about \d+ tokens .* more than the 1000-token context"):
            analyze(short_video.path, tmp_path / "o", sensor="vlm", endpoint=server.url, vlm_model="tiny",
                    vlm_context=12, vlm_max_len=1000, anchor="rules")
        assert server.requests == []
    with pytest.raises(OptionError, match="vlm_context"):
        ScoreOptions(sensor="vlm", vlm="debug", vlm_context=0)


def test_local_model_reads_clips_with_its_chat_template(short_video, tmp_path, model_cache, torch_one_thread, monkeypatch):
    from narrascore import analyze
    from narrascore.sense.local import LocalModel
    from narrascore.sense.vlm import VLMSensor

    model = LocalModel.load("debug", kind="vlm")
    sensor = VLMSensor(client=model, vlm_context=3)
    frame = np.zeros((8, 8, 3), np.uint8)
    prompt = model._prompt(sensor.clip_request([(0.0, frame), (1.0, frame), (2.0, frame)]))
    assert prompt.count("<image>") == 3
    assert prompt.index("Time: 0.0 s") < prompt.index("<image>") < prompt.index("Time: 1.0 s") < prompt.index("Time: 2.0 s")
    result = analyze(short_video.path, tmp_path / "a", sensor="heuristic+vlm", vlm="debug", vlm_context=3, anchor="rules")
    assert max(result.affect.sensors["vlm"].confidence) == 0.0  # garbage answers: failed frames, the run finishes
    text = model.model.config.get_text_config()
    monkeypatch.setattr(text, "max_position_embeddings", 64)
    with pytest.raises(OptionError, match=r"more than the 64-token context .*use --vlm-context 1 or less"):
        analyze(short_video.path, tmp_path / "b", sensor="vlm", vlm="debug", vlm_context=3, anchor="rules")


def test_clip_prompt_matches_its_snapshot():
    from pathlib import Path

    from narrascore.prompts import load_prompt

    prompt = load_prompt("vlm_clip")
    expected = (Path(__file__).parent / "snapshots" / "vlm_clip.txt").read_text(encoding="utf-8")
    assert f"{prompt.tag}\n{prompt.render(count=3, first='1.0', last='3.0')}\n" == expected, "raise its version and update the snapshot"
