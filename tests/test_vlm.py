"""The VLM sensor: answer parsing, the endpoint client against a scripted server, frame sampling and
the per-shot curve, the per-frame cache, the trained head, and the tiny random VLM end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scripted_server import Reply, ScriptedServer, chat

from narrascore.errors import DependencyError, OptionError
from narrascore.options import ScoreOptions
from narrascore.prompts import load_prompt, parse_prompt, split_image
from narrascore.sense.answers import parse_json_object, read_affect
from narrascore.sense.chat import ChatRequest
from narrascore.sense.client import EndpointClient, chat_url
from narrascore.sense.vlm import FrameCache, FrameReading, readings_curve, sample_times

SNAPSHOTS = Path(__file__).parent / "snapshots"
GOOD = '{"valence": 0.5, "arousal": -0.25, "confidence": 0.9, "caption": "a red room"}'
FAST = dict(timeout=0.5, retries=2, backoff=0.01, concurrency=1)


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("text, expected", [
    (GOOD, (0.5, -0.25, 0.9, "a red room")),
    ("Sure! ```json\n" + GOOD + "\n``` Hope that helps.", (0.5, -0.25, 0.9, "a red room")),
    ("{'valence': 0.2, 'arousal': 0.1, 'confidence': 0.5, 'caption': 'x',}", (0.2, 0.1, 0.5, "x")),
    ('{valence: "0.3", arousal: 2.5, confidence: -1}', (0.3, 1.0, 0.0, "")),
    ('{"valence": -0.4, "arousal": 0.6, "caption": "cut off', (-0.4, 0.6, 0.5, "cut off")),
])
def test_read_affect_repairs_and_clamps(text, expected):
    got = read_affect(text)
    assert got is not None
    assert (got.valence, got.arousal, got.confidence) == pytest.approx(expected[:3])
    assert got.caption == expected[3]


@pytest.mark.parametrize("text", ["", None, "no json here", "{}", '{"valence": "high", "arousal": 0.1}',
                                  '{"valence": NaN, "arousal": 0}', "sad sad sad { : , ] 7"])
def test_read_affect_gives_none_for_garbage(text):
    assert read_affect(text) is None


def test_parse_json_object_takes_the_first_object():
    assert parse_json_object('x {"a": {"b": "}"}} {"c": 1}') == {"a": {"b": "}"}}
    assert parse_json_object('{"a": True, "b": None}') == {"a": True, "b": None}


# --------------------------------------------------------------------------- prompts
def test_prompt_templates_match_their_snapshots():
    for name, values in (("vlm_frame", {"time": "12.0"}), ("json_retry", {})):
        prompt = load_prompt(name)
        expected = (SNAPSHOTS / f"{name}.txt").read_text(encoding="utf-8")
        assert f"{prompt.tag}\n{prompt.render(**values)}\n" == expected, f"{name} changed: raise its version and update the snapshot"


def test_prompt_loader_errors_name_the_problem():
    with pytest.raises(OptionError, match="available: .*vlm_frame"):
        load_prompt("nope")
    with pytest.raises(OptionError, match=r"\$time"):
        load_prompt("vlm_frame").render()
    with pytest.raises(Exception, match="version"):
        parse_prompt("x", "no header\n---\nbody")
    assert split_image("a\n<image>\nb") == ("a", "b")


# --------------------------------------------------------------------------- endpoint client
def test_endpoint_client_valid_malformed_empty_and_headers(monkeypatch):
    monkeypatch.setenv("NARRASCORE_API_KEY", "sk-test")
    script = [chat(GOOD), chat("{'valence': 0.1, 'arousal': 0.2,}"), chat("")]
    with ScriptedServer(script) as server:
        client = EndpointClient(server.url, "tiny", **FAST)
        frame = np.zeros((4, 6, 3), np.uint8)
        answers = client.complete([ChatRequest(parts=("Time: 1.0 s", frame, "rate it"))] * 3)
    assert read_affect(answers[0]).valence == 0.5
    assert read_affect(answers[1]).arousal == pytest.approx(0.2)  # repaired
    assert answers[2] == "" and read_affect(answers[2]) is None  # empty: a failed frame, no exception
    body = server.requests[0]
    assert body["model"] == "tiny" and body["temperature"] == 0
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_endpoint_client_retries_timeouts_and_server_errors():
    script = [Reply(content=GOOD, delay=1.5), Reply(status=500, body=b"oops"), chat(GOOD),
              Reply(status=503, body=b""), Reply(status=500, body=b""), Reply(status=429, body=b"")]
    with ScriptedServer(script) as server:
        client = EndpointClient(server.url + "/chat/completions", "tiny", **FAST)
        first = client.complete([ChatRequest(parts=("a",))])  # timeout, then 500, then the answer
        assert len(server.requests) == 3 and read_affect(first[0]).valence == 0.5
        second = client.complete([ChatRequest(parts=("b",))])  # 503, 500, 429: retries exhausted
    assert second == [""] and len(server.requests) == 6


def test_endpoint_client_fails_loudly_on_errors_no_retry_fixes():
    with ScriptedServer(default=Reply(status=404, body=b"no such model")) as server:
        with pytest.raises(OptionError, match="HTTP 404.*tiny"):
            EndpointClient(server.url, "tiny", **FAST).complete([ChatRequest(parts=("a",))])
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    with pytest.raises(OptionError, match="http"):
        EndpointClient("localhost:8000", "m")


def test_endpoint_client_runs_requests_concurrently():
    with ScriptedServer(default=Reply(content=GOOD, delay=0.3)) as server:
        client = EndpointClient(server.url, "tiny", timeout=5, concurrency=4)
        import time

        start = time.perf_counter()
        answers = client.complete([ChatRequest(parts=(str(i),)) for i in range(4)])
        elapsed = time.perf_counter() - start
    assert all(read_affect(a) for a in answers) and elapsed < 1.0  # 4 x 0.3 s in parallel


# --------------------------------------------------------------------------- sampling and the curve
def test_sample_times_add_a_keyframe_after_each_cut():
    assert sample_times(4.0, [1.2, 2.2, 3.0], 1.0) == [0.0, 1.0, 1.4, 2.0, 2.4, 3.0, 3.2]
    assert sample_times(2.0, [], 2.0) == [0.0, 0.5, 1.0, 1.5]


def test_readings_curve_interpolates_within_shots_never_across_cuts():
    r = lambda t, shot, v, ok=True, c=0.8: FrameReading(t, shot, v, -v, c if ok else 0.0, "", ok)  # noqa: E731
    readings = [r(0.0, 0, 0.0), r(1.0, 0, 0.4), r(2.2, 1, -0.5), r(3.0, 1, 0.0, ok=False), r(4.2, 2, 0.0, ok=False)]
    times = [i * 0.5 for i in range(10)]
    curve = readings_curve(readings, times, [2.0, 4.0])
    assert curve.valence[:4] == pytest.approx([0.0, 0.2, 0.4, 0.4])  # held flat up to the cut at 2.0
    assert curve.valence[4:8] == pytest.approx([-0.5] * 4)  # the failed frame's neighbour, not the other shot
    assert curve.confidence[4:7] == pytest.approx([0.8, 0.5, 0.0])  # missing frames count 0
    assert curve.confidence[8:] == (0.0, 0.0)  # a shot with only failed frames says nothing


# --------------------------------------------------------------------------- the sensor against a server
def _answer_by_time(body: dict) -> Reply:
    """Valid answers for the first two shots (before 2.2 s), garbage after: failed frames."""
    text = "\n".join(c["text"] for c in body["messages"][0]["content"] if c["type"] == "text")
    t = float(re.search(r"Time: ([\d.]+) s", text).group(1))
    if t < 2.2:
        return chat(json.dumps({"valence": 0.6, "arousal": 0.4, "confidence": 0.8, "caption": f"frame at {t}"}))
    return chat("I think it is nice {")


def test_vlm_sensor_over_an_endpoint_degrades_and_caches(short_video, tmp_path):
    from narrascore import analyze

    out = tmp_path / "out"
    options = dict(sensor="heuristic+vlm", endpoint=None, vlm_model="tiny")
    with ScriptedServer(default=_answer_by_time) as server:
        options["endpoint"] = server.url
        result = analyze(short_video.path, out, **options)
        sent = len(server.requests)
        again = analyze(short_video.path, out, force=True, **options)  # every frame comes from the cache
        assert len(server.requests) == sent
    frames = [f for f in json.loads((out / "vlm_frames.json").read_text())["frames"]]
    assert [f["time"] for f in frames] == pytest.approx([0.0, 1.0, 1.4, 2.0, 2.4, 3.0, 3.2], abs=0.05)
    assert sent == 4 + 2 * 3  # 4 good frames once, 3 garbage frames twice (one retry)
    assert [f["ok"] for f in frames] == [True] * 4 + [False] * 3
    vlm = result.affect.sensors["vlm"]
    heuristic = result.affect.sensors["heuristic"]
    t = np.asarray(result.affect.times)
    late = t >= 2.2
    assert np.allclose(np.asarray(vlm.confidence)[late], 0.0)
    assert np.allclose(np.asarray(result.affect.valence)[late], np.asarray(heuristic.valence)[late])  # failed: heuristic rules
    assert np.allclose(np.asarray(vlm.valence)[~late], 0.6)
    assert again.affect == result.affect
    log = [json.loads(line) for line in (out / "prompts" / "vlm_frames.jsonl").read_text().splitlines()]
    assert len(log) == 7 and log[0]["prompt"].startswith("Time: 0.0 s\n<image>") and all(e["cached"] for e in log)


def test_frame_cache_ignores_a_torn_line(tmp_path):
    path = tmp_path / "c.jsonl"
    FrameCache(path).put([{"key": "a", "reading": {}}])
    with open(path, "a") as handle:
        handle.write('{"key": "b", "rea')
    assert set(FrameCache(path).entries) == {"a"}


# --------------------------------------------------------------------------- options and imports
@pytest.mark.parametrize("fields, message", [
    (dict(sensor="heuristic+vlm"), "sensor 'vlm' needs a model"),
    (dict(endpoint="http://x/v1"), "needs vlm_model"),
    (dict(endpoint="ftp://x", vlm_model="m"), "http"),
    (dict(vlm="debug", endpoint="http://x/v1", vlm_model="m"), "not both"),
    (dict(vlm_hz=10), "vlm_hz"),
    (dict(vlm_head="h"), "needs vlm"),
    (dict(reasoner="llm"), "reasoner 'llm' needs a model"),
])
def test_neural_options_are_validated(fields, message):
    with pytest.raises(OptionError, match=message):
        ScoreOptions(**fields)


def test_registration_imports_no_torch():
    code = "import sys, narrascore.pipeline, narrascore.sense, narrascore.narrative, narrascore.cli; print('torch' in sys.modules or 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_torch_raises_dependency_error(monkeypatch):
    from narrascore.sense.local import LocalModel

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DependencyError, match=r"narrascore\[neural\]"):
        LocalModel.load("debug")


# --------------------------------------------------------------------------- the trained head
def test_head_training_recovers_a_linear_relation_and_round_trips(tmp_path):
    from narrascore.sense.head import AffectHead, fit_head

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16)).astype(np.float32) * rng.uniform(0.5, 3, size=16) + rng.normal(size=16)
    w = rng.normal(size=(16, 2)) * 0.08
    y = np.clip(x @ w - (x.mean(0) @ w), -1, 1)
    head, report = fit_head(x, y, hidden=0, epochs=400, lr=0.03, l1_weight=0.5, weight_decay=0.0)
    assert min(report.r2) > 0.98 and max(report.mae) < 0.05
    x_test = rng.normal(size=(50, 16)).astype(np.float32) * 0.5 + x.mean(0)
    assert np.abs(head.predict(x_test) - np.clip(x_test @ w - x.mean(0) @ w, -1, 1)).max() < 0.08
    loaded = AffectHead.load(head.save(tmp_path / "head"))
    assert np.array_equal(loaded.predict(x_test), head.predict(x_test)) and loaded.identity == head.identity
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == ["head.json", "head.safetensors"]
    with pytest.raises(OptionError, match="width 16"):
        loaded.predict(np.zeros((1, 3)))


# --------------------------------------------------------------------------- the tiny random VLM
def test_debug_vlm_garbage_is_failed_frames_and_the_score_finishes(short_video, tmp_path, model_cache):
    import narrascore

    result = narrascore.score(short_video.path, tmp_path / "out", sensor="heuristic+vlm", vlm="debug")
    assert result.soundtrack.exists() and result.video.exists()
    vlm = result.affect.sensors["vlm"]
    assert max(vlm.confidence) == 0.0  # random weights answer garbage: every frame missing, never a crash
    assert result.affect.valence == pytest.approx(result.affect.sensors["heuristic"].valence, abs=1e-9)
    assert (tmp_path / "out" / "prompts" / "vlm_frames.jsonl").exists()
    assert any(p.name.startswith("debug-vlm") for p in model_cache.iterdir())


def test_train_sensor_cli_then_score_with_the_head(short_video, tmp_path, model_cache):
    from typer.testing import CliRunner

    from narrascore import analyze
    from narrascore.cli import app

    manifest = tmp_path / "labels.jsonl"
    csv = tmp_path / "short.csv"
    csv.write_text("time,valence,arousal\n0,0.5,-0.5\n2,0.0,0.0\n4,-0.5,0.5\n")
    manifest.write_text(
        json.dumps({"video": os.path.relpath(short_video.path, tmp_path), "hop": 1.0, "valence": [0.1, 0.2, 0.3, 0.4], "arousal": [0, 0, 0, 0]})
        + "\n" + json.dumps({"video": os.path.relpath(short_video.path, tmp_path), "curve": "short.csv"}) + "\n"
    )
    head = tmp_path / "head"
    run = CliRunner().invoke(app, ["train-sensor", "--vlm", "debug", "--data", str(manifest), "-o", str(head), "--epochs", "50",
                                   "--hidden", "8", "--vlm-hz", "2"])
    assert run.exit_code == 0, run.output
    assert "trained on 16 frames" in run.output and (head / "head.safetensors").exists()
    result = analyze(short_video.path, tmp_path / "out", sensor="heuristic+vlm", vlm="debug", vlm_head=str(head))
    vlm = result.affect.sensors["vlm"]
    assert min(vlm.confidence) == pytest.approx(0.7) and max(np.abs(vlm.valence)) <= 1.0
    bad = CliRunner().invoke(app, ["train-sensor", "--vlm", "debug", "--data", str(tmp_path / "none.jsonl"), "-o", str(head)])
    assert bad.exit_code == 4 and "cannot read the manifest" in bad.output
