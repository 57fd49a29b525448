"""Asking a model for the Global Semantic Anchor (``--anchor vlm|llm``), as the paper's conceptualization step.

* ``vlm``: the model sees keyframes spread over the whole video, one per scene (its middle), at most
  ``max_frames`` (scenes picked evenly when there are more), in order, each after its "Time: t s"
  marker, then the question (``prompts/anchor_vlm.txt``).
* ``llm``: a text model reads S_global and one line per scene (time span, caption, label, valence,
  arousal) instead (``prompts/anchor_llm.txt``).

Both answer the four fields in JSON (read by ``concept.anchor.read_anchor``). An unreadable answer gets
one retry with the reminder (``prompts/json_retry.txt``); after that the rules write all four fields,
with a note. A missing or unusable field falls back alone, with a note. Nothing a model says stops the
run. The exact prompt, the answer(s) and the notes go to ``prompt_dir/anchor.txt``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import MediaInfo, NarrativePlan
from ..errors import OptionError
from ..fileio import write_text_atomic
from ..prompts import load_prompt, split_image
from ..sense.chat import ChatRequest, ModelClient
from ..sense.models import open_client
from .anchor import read_anchor

_log = logging.getLogger(__name__)
ANSWER_TOKENS = 256
MAX_FRAMES = 8
KINDS = ("vlm", "llm")


@dataclass(frozen=True)
class AnchorAnswer:
    """The fields a model wrote (any subset of the four), the notes on what fell back, and who answered."""

    fields: dict[str, str]
    notes: tuple[str, ...]
    model: str


def keyframe_times(plan: NarrativePlan, max_frames: int = MAX_FRAMES) -> list[float]:
    """Times (s) of the keyframes: each scene's middle, at most ``max_frames`` scenes spread evenly over the video."""
    if max_frames < 1:
        raise OptionError(f"anchor_frames must be at least 1, got {max_frames}")
    scenes = plan.scenes
    picks = sorted({int(round(i)) for i in np.linspace(0, len(scenes) - 1, min(max_frames, len(scenes)))})
    return [round((scenes[i].start + scenes[i].end) / 2, 3) for i in picks]


class AnchorWriter:
    """kind: "vlm" or "llm"; client, or source (``local``/``endpoint``/``model`` for ``open_client``);
    max_frames: keyframes the VLM sees; prompt_dir: where ``anchor.txt`` goes."""

    def __init__(self, kind: str, *, client: ModelClient | None = None, source: dict[str, Any] | None = None,
                 max_frames: int = MAX_FRAMES, prompt_dir: str | os.PathLike[str] | None = None,
                 endpoint_options: dict[str, Any] | None = None) -> None:
        if kind not in KINDS:
            raise OptionError(f"unknown anchor writer {kind!r}; available: {', '.join(KINDS)}")
        if client is None and not source:
            raise OptionError(f"anchor '{kind}' needs a model")
        self.kind, self._client, self.source = kind, client, dict(source or {})
        self.max_frames, self.endpoint_options = max_frames, endpoint_options or {}
        self.prompt_dir = Path(prompt_dir) if prompt_dir is not None else None
        self.prompt = load_prompt(f"anchor_{kind}")

    @property
    def client(self) -> ModelClient:
        if self._client is None:
            self._client = open_client(**self.source, kind=self.kind, **self.endpoint_options)
        return self._client

    def request(self, plan: NarrativePlan, frames: list[tuple[float, np.ndarray]] | None = None) -> ChatRequest:
        """The question: keyframes with time markers (vlm), or the story and scenes as text (llm)."""
        if self.kind == "llm":
            rows = [f"{i}. {s.start:.1f}-{s.end:.1f} s: {s.caption} ({s.label}, valence {s.valence:+.2f}, arousal {s.arousal:+.2f})"
                    for i, s in enumerate(plan.scenes, start=1)]
            text = self.prompt.render(duration=f"{plan.duration:.1f}", s_global=plan.s_global, count=len(rows),
                                      scenes="\n".join(rows))
            return ChatRequest(parts=(text,), max_tokens=ANSWER_TOKENS)
        frames = frames or []
        before, after = split_image(self.prompt.render(duration=f"{plan.duration:.1f}", count=len(frames)))
        parts: list[Any] = [before]
        for t, rgb in frames:
            parts += [f"Time: {t:.1f} s", rgb]
        return ChatRequest(parts=(*parts, after), max_tokens=ANSWER_TOKENS)

    def frames(self, plan: NarrativePlan, media: MediaInfo) -> list[tuple[float, np.ndarray]]:
        from ..media import iter_frames
        from ..sense.vlm import frame_size

        times = keyframe_times(plan, self.max_frames)
        size = frame_size(media.width, media.height)
        return [(round(float(t), 3), rgb) for t, rgb in iter_frames(media.path, times, size=size)]

    def ask(self, plan: NarrativePlan, media: MediaInfo | None = None) -> AnchorAnswer:
        """The model's fields for ``plan`` (the VLM also reads ``media``'s keyframes); never raises on a bad answer."""
        if self.kind == "vlm" and media is None:
            raise OptionError("anchor 'vlm' needs the video to take keyframes from")
        request = self.request(plan, self.frames(plan, media) if self.kind == "vlm" else None)
        (answer,) = self.client.complete([request])
        read = read_anchor(answer)
        log = [request.text, "=== answer ===", answer]
        if read is None:
            reminder = load_prompt("json_retry").render()
            retry = ChatRequest(parts=(*request.parts[:-1], str(request.parts[-1]) + "\n" + reminder), max_tokens=ANSWER_TOKENS)
            (again,) = self.client.complete([retry])
            read = read_anchor(again)
            log += ["=== retry ===", again]
        if read is None:
            fields, notes = {}, ["no readable anchor answer after one retry: the rules wrote all four fields"]
        else:
            fields, notes = read
        for note in notes:
            _log.warning("anchor: %s", note)
        if self.prompt_dir is not None:
            log += ["=== notes ===", *notes] if notes else []
            write_text_atomic(self.prompt_dir / "anchor.txt", "\n".join(log) + "\n")
        return AnchorAnswer(fields=fields, notes=tuple(notes), model=f"{self.client.identity}#{self.prompt.tag}")
