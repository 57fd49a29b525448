"""Two-pass narrative reasoning with a language model (``--reasoner llm``).

The rules reasoner first finds the scenes (boundaries on cuts), their sensed E_local and arc roles:
those are both the model's evidence and the fallback. Then:

1. S_global: from every scene's description (the VLM's frame captions inside it, else the rules
   caption) and its dialogue, the model writes the plot, turning points and climax
   (``prompts/llm_global.txt``, JSON). Unreadable twice: the rules' S_global.
2. E_local: for each scene, with S_global, its neighbours and the sensed reading, the model gives
   valence, arousal, a label and an arc role (``prompts/llm_scene.txt``, JSON, read by
   ``sense.answers.read_scene``). An unreadable answer gets one retry; after that the scene keeps
   the rules reasoner's values (an unusable label or role alone falls back on its own).

The narrative curve then comes from ``derive_curve``, exactly as on the default path. The exact
prompts and answers go to ``prompt_dir`` (``llm_global.txt``, ``llm_scenes.jsonl``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..artifacts import ARC_ROLES, AffectCurve, MediaInfo, NarrativePlan, Scene, Shots
from ..errors import OptionError
from ..fileio import write_text_atomic
from ..media.features import SubtitleLine
from ..prompts import load_prompt
from ..sense.answers import read_scene, read_story
from ..sense.chat import ChatRequest, ModelClient
from ..sense.models import open_client
from . import REASONERS, climax_time, scenes_fingerprint
from .curve import derive_curve
from .rules import RulesReasoner
from .scenes import label_for

_log = logging.getLogger(__name__)
STORY_TOKENS, SCENE_TOKENS = 384, 96
CAPTIONS_PER_SCENE = 3
DIALOGUE_CHARS = 300


@REASONERS.register("llm")
class LLMReasoner:
    """S_global, then each scene's E_local, from a language model (see module docstring).

    llm: local folder, hub id or ``"debug"``; or llm_endpoint + llm_model. frame_captions: (time s,
    caption) pairs from the VLM sensor. subtitles: the dialogue. prompt_dir: where prompts are saved.
    Other keywords go to the rules reasoner that finds the scenes.
    """

    name = "llm"

    def __init__(
        self,
        *,
        llm: str | None = None,
        llm_endpoint: str | None = None,
        llm_model: str | None = None,
        frame_captions: Sequence[tuple[float, str]] = (),
        subtitles: Sequence[SubtitleLine] = (),
        prompt_dir: str | os.PathLike[str] | None = None,
        client: ModelClient | None = None,
        endpoint_options: dict[str, Any] | None = None,
        **rules_options: Any,
    ) -> None:
        if client is None and llm is None and llm_endpoint is None:
            raise OptionError("reasoner 'llm' needs a model: --llm PATH_OR_ID (or 'debug'), or --llm-endpoint URL --llm-model NAME")
        self.source = dict(local=llm, endpoint=llm_endpoint, model=llm_model)
        self._client, self.endpoint_options = client, endpoint_options or {}
        self.captions = sorted((float(t), c) for t, c in frame_captions if c)
        self.subtitles = tuple(subtitles)
        self.prompt_dir = Path(prompt_dir) if prompt_dir is not None else None
        self.rules = RulesReasoner(**rules_options)
        self.anticipation = self.rules.anticipation

    @property
    def client(self) -> ModelClient:
        if self._client is None:
            self._client = open_client(**self.source, kind="llm", **self.endpoint_options)  # type: ignore[arg-type]
        return self._client

    def describe(self, scene: Scene) -> str:
        """What the model is told a scene shows: distinct VLM captions inside it, else the rules caption."""
        seen: list[str] = []
        for t, caption in self.captions:
            if scene.start - 1e-6 <= t < scene.end and caption not in seen:
                seen.append(caption)
        if not seen:
            return scene.caption
        step = max(1, len(seen) // CAPTIONS_PER_SCENE)
        return "; ".join(seen[::step][:CAPTIONS_PER_SCENE])

    def dialogue(self, scene: Scene) -> str:
        lines = [" ".join(s.text.split()) for s in self.subtitles if s.start < scene.end and s.end > scene.start]
        text = " / ".join(lines)
        return text[:DIALOGUE_CHARS] + ("..." if len(text) > DIALOGUE_CHARS else "")

    # ---------------------------------------------------------------- the two passes
    def story_request(self, scenes: Sequence[Scene], duration: float) -> ChatRequest:
        rows = []
        for i, s in enumerate(scenes, start=1):
            said = self.dialogue(s)
            rows.append(f"{i}. {s.start:.1f}-{s.end:.1f} s: {self.describe(s)}" + (f' Dialogue: "{said}"' if said else ""))
        text = load_prompt("llm_global").render(duration=f"{duration:.1f}", count=len(scenes), scenes="\n".join(rows))
        return ChatRequest(parts=(text,), max_tokens=STORY_TOKENS)

    def scene_request(self, scenes: Sequence[Scene], i: int, s_global: str) -> ChatRequest:
        s = scenes[i]

        def brief(j: int) -> str:
            if not 0 <= j < len(scenes):
                return "(none)"
            return f"{scenes[j].start:.1f}-{scenes[j].end:.1f} s: {self.describe(scenes[j])}"

        said = self.dialogue(s)
        text = load_prompt("llm_scene").render(
            s_global=s_global, index=i + 1, count=len(scenes), start=f"{s.start:.1f}", end=f"{s.end:.1f}",
            scene=self.describe(s) + (f' Dialogue: "{said}"' if said else ""), previous=brief(i - 1), next=brief(i + 1),
            valence=f"{s.valence:+.2f}", arousal=f"{s.arousal:+.2f}",
        )
        return ChatRequest(parts=(text,), max_tokens=SCENE_TOKENS)

    def _ask(self, requests: list[ChatRequest], read: Any) -> tuple[list[Any], list[str], list[ChatRequest]]:
        """Answers read by ``read``; unreadable ones retried once with the reminder. Returns values, raw answers, requests sent."""
        reminder = load_prompt("json_retry").render()
        answers = self.client.complete(requests) if requests else []
        values = [read(a) for a in answers]
        again = [i for i, v in enumerate(values) if v is None]
        if again:
            retries = [ChatRequest(parts=(requests[i].parts[0] + "\n" + reminder,), max_tokens=requests[i].max_tokens) for i in again]
            for i, request, answer in zip(again, retries, self.client.complete(retries)):
                values[i] = read(answer)
                answers[i] = answers[i] + "\n--- retry ---\n" + answer
                requests[i] = request
        return values, answers, requests

    def reason(self, media: MediaInfo, shots: Shots, affect: AffectCurve) -> NarrativePlan:
        base = self.rules.reason(media, shots, affect)
        scenes = base.scenes
        (story,), (story_answer,), (story_sent,) = self._ask([self.story_request(scenes, base.duration)], read_story)
        s_global = story if story is not None else base.s_global
        if story is None:
            _log.warning("llm: no readable story (S_global); using the rules reasoner's")

        requests = [self.scene_request(scenes, i, s_global) for i in range(len(scenes))]
        values, answers, sent = self._ask(requests, lambda a: read_scene(a, ARC_ROLES))
        local: list[Scene] = []
        for scene, value in zip(scenes, values):
            caption = self.describe(scene)
            if value is None:
                local.append(dataclasses.replace(scene, caption=caption))
                continue
            v, a = round(value.valence, 6), round(value.arousal, 6)
            local.append(dataclasses.replace(
                scene, caption=caption, valence=v, arousal=a, label=value.label or label_for(v, a), arc_role=value.arc_role or scene.arc_role,
            ))
        fallbacks = sum(v is None for v in values)
        if fallbacks:
            _log.warning("llm: %d of %d scenes unreadable; they keep the rules reasoner's E_local", fallbacks, len(values))
        self._save_prompts(story_sent, story_answer, sent, answers, values)

        scenes = tuple(local)
        cuts = shots.cut_times()
        times, valence, arousal = derive_curve(scenes, base.duration, affect.hop, cuts, affect=affect, anticipation=self.anticipation)
        peak = climax_time(scenes, times, arousal)
        return NarrativePlan(
            s_global=s_global, scenes=scenes, hop=affect.hop, times=times, valence=valence, arousal=arousal,
            climax_time=peak, duration=base.duration, reasoner=self.name, scenes_fingerprint=scenes_fingerprint(scenes),
        )

    def _save_prompts(self, story: ChatRequest, story_answer: str, sent: list[ChatRequest], answers: list[str], values: list[Any]) -> None:
        if self.prompt_dir is None:
            return
        write_text_atomic(self.prompt_dir / "llm_global.txt", f"{story.text}\n\n=== answer ===\n{story_answer}\n")
        rows = [{"scene": i + 1, "prompt": r.text, "answer": a, "fallback": v is None} for i, (r, a, v) in enumerate(zip(sent, answers, values))]
        write_text_atomic(self.prompt_dir / "llm_scenes.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
