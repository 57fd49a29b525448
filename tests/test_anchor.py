"""The Global Semantic Anchor written by a model (--anchor vlm|llm): reading the answer, the per-field
fallback, the mapping onto the procedural concept, the keyframe request, and the pipeline around it."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from scripted_server import ScriptedServer, chat

from narrascore.artifacts import ANCHOR_FIELDS, MusicConcept, load_artifact, read_artifact, save_artifact
from narrascore.concept import STYLE_SPECS, anchor_prompt, conceive
from narrascore.concept.anchor import instruments_from_text, mode_from_text, read_anchor, style_from_fields, tempo_bounds
from narrascore.concept.ask import AnchorWriter, keyframe_times
from narrascore.errors import OptionError
from narrascore.options import ScoreOptions

sys.path.insert(0, str(Path(__file__).parent))
from test_concept import ARC, make_plan  # noqa: E402

SNAPSHOTS = Path(__file__).parent / "snapshots"
NOIR = {"genre": "dark jazz noir", "instrumentation": "muted trumpet, upright double bass, brushed drums, piano",
        "atmosphere": "ominous, smoky and melancholic", "pacing": "slow, 70-90 BPM"}


# --------------------------------------------------------------------------- answers and mapping
def test_read_anchor_keeps_good_fields_and_notes_the_rest():
    fields, notes = read_anchor("Here: ```json\n" + json.dumps(NOIR) + "\n```")
    assert fields == NOIR and notes == []
    fields, notes = read_anchor('{"genre": "synthwave", "mood": "tense", "pacing": "unknown", "colour": "red", "instrumentation": 7}')
    assert fields == {"genre": "synthwave", "atmosphere": "tense"}  # "mood" is a spelling of atmosphere
    assert "ignored unknown field 'colour'" in notes
    assert [n.split(":")[0] for n in notes if "rules wrote" in n] == ["instrumentation", "pacing"]
    assert read_anchor("I would use strings.") is None and read_anchor("") is None


def test_fields_map_onto_style_instruments_tempo_and_mode():
    assert style_from_fields({"genre": "pulsing synthwave", "instrumentation": "analog synths"}) == "electronic"
    assert style_from_fields({"genre": "post-rock", "instrumentation": "strings, choir and horns"}) == "orchestral"
    assert style_from_fields({"genre": "polka"}) is None
    base = STYLE_SPECS["orchestral"].instruments
    got = dict(instruments_from_text("solo cello over harp, then drums", base))
    assert got["bass"] == "Cello" and got["harmony"] == "Orchestral Harp" and got["melody"] == "French Horn"
    assert tempo_bounds("slow, 70-90 BPM", 60, 140) == (70, 90)
    assert tempo_bounds("around 100 bpm", 60, 140) == (90, 110)
    assert tempo_bounds("slow and languid", 60, 140) == (60, 100)
    assert tempo_bounds("fast and driving", 60, 140) == (100, 140)
    assert tempo_bounds("", 60, 140) == (60, 140)
    assert mode_from_text("dark, ominous") == "minor" and mode_from_text("warm and hopeful") == "major"
    assert mode_from_text("dark but hopeful") is None


def test_rules_anchor_is_recorded_and_old_concepts_still_load(tmp_path):
    plan = make_plan(ARC)
    concept = conceive(plan)
    assert set(concept.anchor.written_by.values()) == {"rules"} and concept.anchor.model == ""
    assert concept.anchor_prompt.startswith(f"{concept.anchor.genre} in {concept.key} {concept.mode}, {concept.anchor.instrumentation}")
    assert f"{concept.tempo_min:.0f}-{concept.tempo_max:.0f} BPM" in concept.anchor.pacing
    path = save_artifact(concept, tmp_path)
    envelope = json.loads(path.read_text())
    del envelope["data"]["anchor"]  # a concept.json from before the anchor fields
    path.write_text(json.dumps(envelope))
    old = load_artifact(MusicConcept, path)
    assert old.anchor.written_by == {} and anchor_prompt(old, plan) == concept.anchor_prompt


def test_model_fields_steer_the_concept_and_the_prompt_and_a_user_style_wins():
    plan = make_plan(ARC)  # mean valence >= 0: the rules would pick a major key
    concept = conceive(plan, fields=NOIR, model="m")
    assert concept.style == "piano"  # "piano" is the only style keyword named
    assert concept.mode == "minor" and 70 <= concept.tempo_min < concept.tempo_max <= 90  # arousal -1..1 -> 70..90 BPM
    assert all(70 <= c.tempo <= 90 for c in concept.cues)
    assert "melody:Trumpet" in concept.instruments and "bass:Contrabass" in concept.instruments
    assert concept.anchor.written_by == dict.fromkeys(ANCHOR_FIELDS, "model") and concept.anchor.model == "m"
    assert concept.anchor_prompt == f"dark jazz noir in {concept.key} minor, {NOIR['instrumentation']}, slow, 70-90 BPM, {NOIR['atmosphere']}"
    partial = conceive(plan, fields={"atmosphere": "bright and joyful"})
    assert partial.anchor.written_by == {"genre": "rules", "instrumentation": "rules", "atmosphere": "model", "pacing": "rules"}
    assert partial.anchor.genre == STYLE_SPECS[partial.style].description
    user = conceive(plan, style="rock", fields=NOIR)
    assert user.style == "rock" and user.anchor.genre == STYLE_SPECS["rock"].description
    assert user.anchor.written_by["genre"] == user.anchor.written_by["instrumentation"] == "user"
    assert user.anchor.atmosphere == NOIR["atmosphere"] and 70 <= user.tempo_min < user.tempo_max <= 90


def test_anchor_options_are_checked():
    with pytest.raises(OptionError, match="available: vlm, llm, rules"):
        ScoreOptions(anchor="gpt")
    with pytest.raises(OptionError, match="anchor 'vlm' needs"):
        ScoreOptions(anchor="vlm")
    assert ScoreOptions().anchor_source() == "rules"
    assert ScoreOptions(vlm="debug").anchor_source() == "vlm"
    assert ScoreOptions(llm="debug").anchor_source() == "llm"
    assert ScoreOptions(vlm="debug", anchor="rules").anchor_source() == "rules"


def test_anchor_prompt_templates_match_their_snapshots():
    from narrascore.prompts import load_prompt

    for name, values in (("anchor_vlm", {"duration": "60.0", "count": 3}),
                         ("anchor_llm", {"duration": "60.0", "s_global": "A story.", "count": 1, "scenes": "1. 0.0-60.0 s: x"})):
        prompt = load_prompt(name)
        expected = (SNAPSHOTS / f"{name}.txt").read_text(encoding="utf-8")
        assert f"{prompt.tag}\n{prompt.render(**values)}\n" == expected, f"{name} changed: raise its version and update the snapshot"


# --------------------------------------------------------------------------- the request
def test_keyframes_are_one_per_scene_and_spread_when_capped():
    plan = make_plan([(10, 0, 0, "setup")] * 12)
    assert keyframe_times(plan, 20) == [5.0 + 10 * i for i in range(12)]
    capped = keyframe_times(plan, 4)
    assert capped == [5.0, 45.0, 75.0, 115.0]  # first and last scenes, the others evenly between


def test_vlm_anchor_over_an_endpoint_retries_then_falls_back(short_video, tmp_path):
    from narrascore import analyze

    media = analyze(short_video.path, tmp_path / "a").media
    plan = make_plan([(1.0, 0.0, 0.0, "setup")] * 4)  # four 1-s scenes over the 4-s video
    texts = lambda body: [c.get("text") for c in body["messages"][0]["content"]]  # noqa: E731
    with ScriptedServer([chat("no json, sorry"), chat(json.dumps({**NOIR, "pacing": ""}))]) as server:
        writer = AnchorWriter("vlm", source={"endpoint": server.url, "model": "tiny"}, max_frames=3, prompt_dir=tmp_path / "p")
        answer = writer.ask(plan, media)
        body = server.requests[0]
    kinds = [c["type"] for c in body["messages"][0]["content"]]
    assert kinds.count("image_url") == 3  # capped at 3 of the scenes
    markers = [t for t in texts(body) if t and t.startswith("Time: ")]
    assert markers == ["Time: 0.5 s", "Time: 2.5 s", "Time: 3.5 s"]
    assert all(kinds[i + 1] == "image_url" for i, t in enumerate(texts(body)) if t and t.startswith("Time: "))
    assert answer.fields == {k: v for k, v in NOIR.items() if k != "pacing"}
    assert answer.notes == ("pacing: missing or unusable in the answer, the rules wrote it",)
    assert answer.model.startswith("endpoint:") and answer.model.endswith("#anchor_vlm@1")
    log = (tmp_path / "p" / "anchor.txt").read_text()
    assert "=== retry ===" in log and "pacing: missing" in log
    with ScriptedServer(default=chat("still no json")) as server:
        writer = AnchorWriter("vlm", source={"endpoint": server.url, "model": "tiny"})
        answer = writer.ask(plan, media)
        assert len(server.requests) == 2  # one retry
    assert answer.fields == {} and "rules wrote all four" in answer.notes[0]


def test_llm_anchor_reads_the_story(short_video, tmp_path):
    from narrascore import analyze

    plan = analyze(short_video.path, tmp_path / "a").plan
    with ScriptedServer([chat(json.dumps(NOIR))]) as server:
        answer = AnchorWriter("llm", source={"endpoint": server.url, "model": "tiny"}).ask(plan)
        (text,) = server.prompt_texts()
    assert plan.s_global in text and f"{len(plan.scenes)} scenes" in text and answer.fields == NOIR


# --------------------------------------------------------------------------- the pipeline
def _by_request(body: dict):
    content = body["messages"][0]["content"]
    text = content if isinstance(content, str) else "\n".join(c["text"] for c in content if c["type"] == "text")
    if "composer of a film score" in text:
        return chat(json.dumps(NOIR))
    return chat("{}")


def test_score_with_an_endpoint_lets_the_model_write_the_anchor_and_a_hand_edit_wins(short_video, tmp_path):
    import narrascore

    out = tmp_path / "out"
    with ScriptedServer(default=_by_request) as server:
        options = dict(endpoint=server.url, vlm_model="tiny")
        result = narrascore.score(short_video.path, out, **options)
        sent = len(server.requests)
        again = narrascore.score(short_video.path, out, **options)
        assert len(server.requests) == sent == 1  # one anchor request; the re-run reuses concept.json
    concept = result.concept
    assert concept.anchor.written_by == dict.fromkeys(ANCHOR_FIELDS, "model") and again.concept == concept
    assert concept.anchor_prompt.startswith("dark jazz noir in ") and concept.mode == "minor"
    assert "=== answer ===" in (out / "prompts" / "anchor.txt").read_text()

    path = out / MusicConcept.FILENAME
    envelope = json.loads(path.read_text())
    envelope["data"]["anchor"]["atmosphere"] = "wistful and tender"  # a user edits one field by hand
    path.write_text(json.dumps(envelope))
    rendered = narrascore.render(out)
    assert rendered.concept.anchor.written_by["atmosphere"] == "user"
    assert rendered.concept.anchor_prompt.endswith("wistful and tender")
    assert read_artifact(MusicConcept, path).hand_edited  # the file itself is left as the user wrote it


def test_debug_vlm_anchor_falls_back_to_the_rules(short_video, tmp_path, model_cache, torch_one_thread):
    from narrascore import analyze
    from narrascore.sense.local import LocalModel

    result = analyze(short_video.path, tmp_path / "a")
    writer = AnchorWriter("vlm", client=LocalModel.load("debug", kind="vlm"), max_frames=2)
    answer = writer.ask(result.plan, result.media)
    assert answer.fields == {} or set(answer.fields) <= set(ANCHOR_FIELDS)
    concept = conceive(result.plan, fields=answer.fields)
    assert all(concept.anchor.written_by[n] == ("model" if n in answer.fields else "rules") for n in ANCHOR_FIELDS)


def test_cli_anchor_without_a_model_is_one_line(short_video, tmp_path):
    from typer.testing import CliRunner

    from narrascore.cli import app

    got = CliRunner().invoke(app, ["score", str(short_video.path), "-o", str(tmp_path / "o"), "--anchor", "vlm", "--quiet"])
    assert got.exit_code == OptionError.exit_code
    assert "anchor 'vlm' needs a vision-language model" in got.output and not (tmp_path / "o").exists()
