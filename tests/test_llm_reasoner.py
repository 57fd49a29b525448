"""The two-pass LLM reasoner: S_global then E_local per scene, against a scripted OpenAI-compatible
server and the tiny random LM; per-scene fallback to the rules reasoner; prompt snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted_server import Reply, ScriptedServer, chat

from narrascore.artifacts import ARC_ROLES, validate
from narrascore.media.features import SubtitleLine
from narrascore.narrative import REASONERS, reason
from narrascore.narrative.llm import LLMReasoner
from narrascore.prompts import load_prompt
from narrascore.sense.answers import read_scene, read_story
from narrascore.sense.client import EndpointClient

SNAPSHOTS = Path(__file__).parent / "snapshots"
STORY = json.dumps({"plot": "A red room gives way to a bright finale.", "turning_points": ["1.2 s: green"], "climax": "2.2 s: the blue storm"})
FAST = dict(timeout=2.0, retries=1, backoff=0.01, concurrency=1)
RULES = dict(min_scene=0.5, merge_distance=0.0)  # the 4 s test video: one scene per shot


@pytest.fixture(scope="module")
def analysed(short_video, tmp_path_factory):
    from narrascore import analyze

    return analyze(short_video.path, tmp_path_factory.mktemp("llm") / "out")


def test_llm_prompt_templates_match_their_snapshots():
    values = {
        "llm_global": dict(duration="4.0", count=2, scenes='1. 0.0-1.2 s: a red room Dialogue: "hello"\n2. 1.2-4.0 s: a green field'),
        "llm_scene": dict(s_global="A story.", index=2, count=3, start="1.2", end="2.2", scene="a green field",
                          previous="0.0-1.2 s: a red room", next="2.2-4.0 s: a storm", valence="+0.10", arousal="-0.20"),
    }
    for name, fields in values.items():
        prompt = load_prompt(name)
        expected = (SNAPSHOTS / f"{name}.txt").read_text(encoding="utf-8")
        assert f"{prompt.tag}\n{prompt.render(**fields)}\n" == expected, f"{name} changed: raise its version and update the snapshot"


def test_read_scene_and_story():
    got = read_scene('{"valence": 1.5, "arousal": "-0.2", "label": "Tense", "arc_role": "CLIMAX"}', ARC_ROLES)
    assert (got.valence, got.arousal, got.label, got.arc_role) == (1.0, -0.2, "tense", "climax")
    odd = read_scene("{'valence': 0.1, 'arousal': 0.1, 'label': '<<!!>>', 'arc_role': 'finale',}", ARC_ROLES)
    assert odd.label is None and odd.arc_role is None  # unusable label/role fall back on their own
    assert read_scene('{"label": "calm"}', ARC_ROLES) is None
    assert read_story(STORY) == "A red room gives way to a bright finale. Turning points: 1.2 s: green. Climax: 2.2 s: the blue storm."
    assert read_story('{"plot": ""}') is None and read_story("sad sad") is None


def _scene_answers(body: dict) -> Reply:
    """Pass 1: the story. Pass 2: scene 2 answers garbage (twice), the others valid JSON."""
    text = body["messages"][0]["content"]
    if "Describe the whole story" in text:
        return chat("Here you go: " + STORY)
    if "Scene 2 of" in text:
        return chat("the scene is tense {")
    return chat("{'valence': -0.7, 'arousal': 0.9, 'label': 'frantic', 'arc_role': 'climax',}")


def test_llm_reasoner_against_a_scripted_server(analysed, tmp_path):
    rules = reason(analysed.media, analysed.shots, analysed.affect, **RULES)
    assert len(rules.scenes) >= 3
    subs = (SubtitleLine(0.2, 1.0, "Where are you?"),)
    captions = [(0.0, "a red room"), (1.0, "a red room"), (1.4, "a green field")]
    with ScriptedServer(default=_scene_answers) as server:
        client = EndpointClient(server.url, "tiny", **FAST)
        plan = reason(analysed.media, analysed.shots, analysed.affect, reasoner="llm", client=client, frame_captions=captions,
                      subtitles=subs, prompt_dir=tmp_path / "prompts", **RULES)
        prompts = server.prompt_texts()
    validate(plan)
    assert plan.reasoner == "llm" and plan.s_global.startswith("A red room gives way")
    n = len(plan.scenes)
    assert len(prompts) == 1 + n + 1  # the story, every scene, one retry for scene 2
    first, second = plan.scenes[0], plan.scenes[1]
    assert (first.valence, first.arousal, first.label, first.arc_role) == (-0.7, 0.9, "frantic", "climax")
    fallback = rules.scenes[1]
    assert (second.valence, second.arousal, second.label, second.arc_role) == (fallback.valence, fallback.arousal, fallback.label, fallback.arc_role)
    assert first.caption == "a red room" and 'Dialogue: "Where are you?"' in prompts[0]
    assert "The story: A red room gives way" in prompts[1] and "Previous scene: (none)" in prompts[1]
    assert plan.times == rules.times and len(plan.valence) == len(rules.valence)
    assert plan.valence != rules.valence  # the curve follows the model's E_local
    rows = [json.loads(line) for line in (tmp_path / "prompts" / "llm_scenes.jsonl").read_text().splitlines()]
    assert [r["fallback"] for r in rows] == [False, True] + [False] * (n - 2)
    assert "--- retry ---" in rows[1]["answer"] and "Reply with the JSON object only" in rows[1]["prompt"]
    assert (tmp_path / "prompts" / "llm_global.txt").read_text().startswith("You are a film editor")


def test_llm_reasoner_falls_back_everywhere_when_the_server_says_nothing(analysed):
    rules = reason(analysed.media, analysed.shots, analysed.affect, **RULES)
    with ScriptedServer(default=Reply(status=500, body=b"")) as server:
        client = EndpointClient(server.url, "tiny", timeout=1.0, retries=1, backoff=0.01)
        plan = reason(analysed.media, analysed.shots, analysed.affect, reasoner="llm", client=client, **RULES)
    assert plan.s_global == rules.s_global
    assert [(s.valence, s.arousal, s.arc_role) for s in plan.scenes] == [(s.valence, s.arousal, s.arc_role) for s in rules.scenes]
    assert plan.valence == rules.valence and plan.climax_time == rules.climax_time


def test_debug_llm_end_to_end(short_video, analysed, tmp_path, monkeypatch):
    from narrascore import analyze

    monkeypatch.setenv("NARRASCORE_CACHE", str(tmp_path / "models"))
    out = tmp_path / "out"
    result = analyze(short_video.path, out, reasoner="llm", llm="debug")
    plan, rules = result.plan, analysed.plan
    assert plan.reasoner == "llm" and plan.s_global == rules.s_global  # garbage story: the rules' S_global
    assert [s.valence for s in plan.scenes] == [s.valence for s in rules.scenes]  # garbage scenes: the rules' E_local
    assert (out / "prompts" / "llm_global.txt").exists() and (out / "prompts" / "llm_scenes.jsonl").exists()
    again = analyze(short_video.path, out, reasoner="llm", llm="debug")
    assert "narrative.json" in again.reused


def test_llm_reasoner_needs_a_model():
    assert "llm" in REASONERS.names()
    with pytest.raises(Exception, match="needs a model"):
        LLMReasoner()
