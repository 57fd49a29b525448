"""The vision-language sensor: a VLM looks at frames and reports valence and arousal.

Frames: every ``1 / vlm_hz`` seconds on the absolute time grid, plus one keyframe just after each
cut (``KEYFRAME_DELAY`` s in, at most half the shot), so every shot is seen at least once. Each
frame goes to the model as "Time: t s", the picture, and the question (``prompts/vlm_frame.txt``).

Two readings:

* zero-shot: the model answers ``{"valence", "arousal", "confidence", "caption"}`` in JSON, read by
  ``answers.read_affect`` (extract, repair, clamp). An unreadable answer gets one retry with a
  reminder (``prompts/json_retry.txt``); after that the frame is *missing*: confidence 0.
* trained head (``vlm_head``): the frozen model's last hidden states, mean-pooled over the frame's
  tokens, go through ``head.AffectHead``; confidence is the head's configured value.

The dense curve interpolates the frames' readings onto the grid *within each shot*, never across
a cut (values are held flat towards a shot's ends); confidence is interpolated the same way with
missing frames counting 0, so a failed stretch hands the fused curve to the other sensors.

Readings are cached per frame in ``cache_dir/vlm-frames.jsonl``, keyed by the frame's pixels, its
time, the model's identity and the prompt version (and the head's identity): a re-run sends nothing.
``frames_path`` receives every frame's reading and caption (the LLM reasoner reads the captions),
``prompt_dir/vlm_frames.jsonl`` the exact prompt and answer of each frame.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import SensorCurve
from ..errors import OptionError
from ..fileio import write_json_atomic, write_text_atomic
from ..prompts import load_prompt, split_image
from . import SENSORS, SensingInput
from . import clip
from .answers import AffectAnswer, read_affect
from .chat import ChatRequest, ModelClient
from .models import open_client

_log = logging.getLogger(__name__)
KEYFRAME_DELAY = 0.2  # s after a cut: past any transition frame, still the new shot's opening
FRAME_LONG_SIDE = 448  # px; the frame sent keeps the video's aspect ratio
ANSWER_TOKENS = 96


@dataclass(frozen=True)
class FrameReading:
    """One frame's reading. ``ok`` is False for a missing frame (confidence 0)."""

    time: float
    shot: int
    valence: float
    arousal: float
    confidence: float
    caption: str
    ok: bool


# --------------------------------------------------------------------------- where to look
def shot_starts(cuts: Sequence[float]) -> list[float]:
    """Start times (s) of the shots: 0 and every cut after it."""
    return [0.0] + sorted(c for c in cuts if c > 0)


def shot_of(t: float, starts: Sequence[float]) -> int:
    """Index of the shot showing time ``t`` (s)."""
    return max(0, bisect.bisect_right(starts, t + 1e-6) - 1)


def sample_times(duration: float, cuts: Sequence[float], hz: float) -> list[float]:
    """Frame times (s): the ``1 / hz`` grid plus a keyframe just after each cut, sorted, 0.1 s apart at least."""
    if not hz > 0:
        raise OptionError(f"vlm_hz must be positive, got {hz}")
    step = 1.0 / hz
    times = [round(i * step, 6) for i in range(int(np.floor(duration / step - 1e-9)) + 1)]
    starts = shot_starts(cuts)
    ends = starts[1:] + [duration]
    times += [round(s + min(KEYFRAME_DELAY, (e - s) / 2), 6) for s, e in zip(starts[1:], ends[1:])]
    kept: list[float] = []
    for t in sorted(times):
        if t < duration and (not kept or t - kept[-1] >= 0.1):
            kept.append(t)
    return kept


def frame_size(width: int, height: int, long_side: int = FRAME_LONG_SIDE) -> tuple[int, int]:
    """(width, height) with the long side ``long_side`` px, aspect kept, both even."""
    scale = long_side / max(width, height, 1)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


# --------------------------------------------------------------------------- the dense curve
def readings_curve(readings: Sequence[FrameReading], times: Sequence[float], cuts: Sequence[float]) -> SensorCurve:
    """Interpolate frame readings onto the grid ``times`` within each shot, never across a cut."""
    t = np.asarray(times, dtype=float)
    starts = shot_starts(cuts)
    shot = np.array([shot_of(x, starts) for x in t], dtype=int)
    valence, arousal, confidence = np.zeros(len(t)), np.zeros(len(t)), np.zeros(len(t))
    by_shot: dict[int, list[FrameReading]] = {}
    for r in sorted(readings, key=lambda r: r.time):
        by_shot.setdefault(r.shot, []).append(r)
    for s, frames in by_shot.items():
        inside = shot == s
        if not inside.any():
            continue
        rt = np.array([r.time for r in frames])
        confidence[inside] = np.interp(t[inside], rt, [r.confidence if r.ok else 0.0 for r in frames])
        good = [r for r in frames if r.ok]
        if good:
            gt = np.array([r.time for r in good])
            valence[inside] = np.interp(t[inside], gt, [r.valence for r in good])
            arousal[inside] = np.interp(t[inside], gt, [r.arousal for r in good])
    return SensorCurve(valence=tuple(map(float, valence)), arousal=tuple(map(float, arousal)), confidence=tuple(map(float, confidence)))


# --------------------------------------------------------------------------- per-frame cache
class FrameCache:
    """Append-only JSON-lines cache of frame readings; a torn last line (crash) is ignored."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            self.entries[item["key"]] = item
        if self.path is not None and items:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(item) + "\n" for item in items))


# --------------------------------------------------------------------------- the sensor
@SENSORS.register("vlm")
class VLMSensor:
    """Valence/arousal from a vision-language model, local or served (see module docstring).

    vlm: local folder, hub id or ``"debug"``; or endpoint + vlm_model. vlm_head: folder of a
    trained head (local models only). vlm_hz: frames per second on the grid (Hz). vlm_context: consecutive
    frames per request (``sense/clip.py``); vlm_max_len: a served model's context in tokens (checked against it).
    cache_dir / frames_path / prompt_dir: where the per-frame cache, the readings and the prompt log go.
    """

    name = "vlm"

    def __init__(
        self,
        *,
        vlm: str | None = None,
        endpoint: str | None = None,
        vlm_model: str | None = None,
        vlm_head: str | None = None,
        vlm_hz: float = 1.0,
        vlm_context: int = 1,
        vlm_max_len: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        frames_path: str | os.PathLike[str] | None = None,
        prompt_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 16,
        client: ModelClient | None = None,
        endpoint_options: dict[str, Any] | None = None,
    ) -> None:
        if client is None and vlm is None and endpoint is None:
            raise OptionError("sensor 'vlm' needs a model: --vlm PATH_OR_ID (or 'debug'), or --endpoint URL --vlm-model NAME")
        if vlm_head is not None and (endpoint is not None or (client is not None and not hasattr(client, "pooled_hidden"))):
            raise OptionError("--vlm-head reads the model's hidden states: it needs a local --vlm, not an endpoint")
        self.source = dict(local=vlm, endpoint=endpoint, model=vlm_model)
        if vlm_context < 1:
            raise OptionError(f"vlm_context must be at least 1, got {vlm_context}")
        if vlm_context > 1 and vlm_head is not None:
            raise OptionError("--vlm-head reads one frame per request: it cannot be combined with --vlm-context above 1")
        self.head_dir, self.hz, self.batch_size = vlm_head, vlm_hz, batch_size
        self.context, self.max_len = vlm_context, vlm_max_len
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.frames_path = Path(frames_path) if frames_path is not None else None
        self.prompt_dir = Path(prompt_dir) if prompt_dir is not None else None
        self._client, self.endpoint_options = client, endpoint_options or {}
        self.prompt, self.retry_prompt = load_prompt("vlm_frame"), load_prompt("json_retry")
        self.clip_prompt = load_prompt("vlm_clip")

    @property
    def client(self) -> ModelClient:
        if self._client is None:
            self._client = open_client(**self.source, kind="vlm", **self.endpoint_options)  # type: ignore[arg-type]
        return self._client

    def request(self, time: float, rgb: np.ndarray, *, retry: bool = False) -> ChatRequest:
        before, after = split_image(self.prompt.render(time=f"{time:.1f}"))
        if retry:
            after += "\n" + self.retry_prompt.render()
        return ChatRequest(parts=(before, rgb, after), max_tokens=ANSWER_TOKENS)

    def clip_request(self, frames: Sequence[tuple[float, np.ndarray]], *, retry: bool = False) -> ChatRequest:
        """K frames in one request: the intro, then each frame after its "Time: t s" marker, then the question."""
        before, after = split_image(self.clip_prompt.render(count=len(frames), first=f"{frames[0][0]:.1f}", last=f"{frames[-1][0]:.1f}"))
        parts: list[Any] = [before]
        for t, rgb in frames:
            parts += [f"Time: {t:.1f} s", rgb]
        if retry:
            after += "\n" + self.retry_prompt.render()
        return ChatRequest(parts=(*parts, after), max_tokens=clip.answer_tokens(len(frames)))

    def check_context(self, size: tuple[int, int]) -> None:
        """One clear line, before any request, when ``vlm_context`` frames do not fit the model's context."""
        if self.context <= 1:
            return
        client = self.client
        dummy = [(0.0, np.zeros((size[1], size[0], 3), np.uint8))] * self.context
        if hasattr(client, "request_tokens"):  # a local model: count exactly, with its own template
            context = client.context_tokens  # type: ignore[attr-defined]
            one = client.request_tokens(self.clip_request(dummy[:1])) - clip.answer_tokens(1)  # type: ignore[attr-defined]
            need = client.request_tokens(self.clip_request(dummy))  # type: ignore[attr-defined]
            if context is not None and need > context:
                per = max(1, (need - one) // max(1, self.context - 1))
                fit = max(1, 1 + (context - one - clip.answer_tokens(1)) // (per + clip.ANSWER_TOKENS_PER_FRAME))
                raise OptionError(f"vlm_context {self.context} needs {need} tokens, more than the {context}-token "
                                  f"context of {client.identity}: use --vlm-context {fit} or less")
            return
        clip.check_context(self.context, image_tokens=clip.image_tokens(size), context=self.max_len, model=client.identity)

    def sense(self, inputs: SensingInput) -> tuple[SensorCurve, dict[str, tuple[float, ...]]]:
        from ..media import iter_frames

        cuts = inputs.shots.cut_times()
        starts = shot_starts(cuts)
        wanted = sample_times(inputs.media.duration, cuts, self.hz)
        size = frame_size(inputs.media.width, inputs.media.height)
        if self.context > 1:
            self.check_context(size)
            readings = self._sense_clips(inputs, wanted, size, starts)
            return readings_curve(readings, inputs.times, cuts), {}
        head = self._head()
        tag = self.prompt.tag + (f"+head:{head.identity}" if head is not None else "")
        cache = FrameCache(self.cache_dir / "vlm-frames.jsonl" if self.cache_dir is not None else None)
        readings: list[FrameReading] = []
        log: list[dict[str, Any]] = []
        frames = iter_frames(inputs.media.path, wanted, size=size)
        for batch in _batches(frames, self.batch_size):
            batch = [(round(float(t), 3), rgb) for t, rgb in batch]
            keys = [_frame_key(rgb, t, self.client.identity, tag) for t, rgb in batch]
            misses = [i for i, k in enumerate(keys) if cache.get(k) is None]
            fresh = self._read_head(batch, misses, head) if head is not None else self._read_zero_shot(batch, misses)
            cache.put([{"key": keys[i], **entry} for i, entry in fresh.items() if entry.pop("cacheable", True)])
            for i, ((t, _), key) in enumerate(zip(batch, keys)):
                entry = fresh.get(i) or cache.get(key) or {}
                reading = FrameReading(time=t, shot=shot_of(t, starts), **entry["reading"])
                readings.append(reading)
                log.append({"time": t, "prompt": entry.get("prompt", ""), "answer": entry.get("answer", ""),
                            "retried": entry.get("retried", False), "cached": i not in fresh})
        failed = sum(not r.ok for r in readings)
        if failed:
            _log.warning("vlm: %d of %d frames gave no usable answer (confidence 0 there)", failed, len(readings))
        self._write(readings, log, tag)
        curve = readings_curve(readings, inputs.times, cuts)
        return curve, {}

    # ---------------------------------------------------------------- K frames per request
    def _sense_clips(self, inputs: SensingInput, wanted: list[float], size: tuple[int, int], starts: list[float]) -> list[FrameReading]:
        from ..media import iter_frames

        spans = clip.windows(len(wanted), self.context)
        tag = f"{self.clip_prompt.tag}x{self.context}"
        cache = FrameCache(self.cache_dir / "vlm-frames.jsonl" if self.cache_dir is not None else None)
        per_window: list[dict[int, Any]] = []
        times: list[float] = []
        log: list[dict[str, Any]] = []
        frames = ((round(float(t), 3), rgb) for t, rgb in iter_frames(inputs.media.path, wanted, size=size))
        for batch in _batches(clip.stream_windows(frames, spans), max(1, self.batch_size // self.context)):
            keys = [_clip_key(window, self.client.identity, tag) for window in batch]
            misses = [i for i, k in enumerate(keys) if cache.get(k) is None]
            fresh = self._read_clips([batch[i] for i in misses])
            cache.put([{"key": keys[i], **entry} for i, entry in zip(misses, fresh) if entry.pop("cacheable")])
            got = dict(zip(misses, fresh))
            for i, (window, key) in enumerate(zip(batch, keys)):
                entry = got.get(i) or cache.get(key) or {}
                readings = {int(k): AffectAnswer(**v) for k, v in entry.get("readings", {}).items()}
                per_window.append(readings)
                if not times:
                    times.append(window[0][0])
                times.extend(t for t, _ in window[1:])
                log.append({"times": [t for t, _ in window], "prompt": entry.get("prompt", ""), "answer": entry.get("answer", ""),
                            "retried": entry.get("retried", False), "cached": i not in got})
        merged = clip.merge(per_window, spans[:len(per_window)], len(times))
        readings = [FrameReading(time=t, shot=shot_of(t, starts), valence=r.valence, arousal=r.arousal, confidence=r.confidence,
                                 caption=r.caption, ok=True) if r is not None else
                    FrameReading(time=t, shot=shot_of(t, starts), valence=0.0, arousal=0.0, confidence=0.0, caption="", ok=False)
                    for t, r in zip(times, merged)]
        failed = sum(not r.ok for r in readings)
        if failed:
            _log.warning("vlm: %d of %d frames gave no usable answer (confidence 0 there)", failed, len(readings))
        self._write(readings, log, tag)
        return readings

    def _read_clips(self, windows: list[list[tuple[float, np.ndarray]]]) -> list[dict[str, Any]]:
        """Each window's readings (frame index in the window -> values), its prompt and answer; one retry if none read."""
        requests = [self.clip_request(w) for w in windows]
        answers = self.client.complete(requests) if requests else []
        read = [clip.read_clip(a, [t for t, _ in w]) for a, w in zip(answers, windows)]
        again = [i for i, r in enumerate(read) if not r]
        retries = [self.clip_request(windows[i], retry=True) for i in again]
        for i, answer, request in zip(again, self.client.complete(retries) if retries else [], retries):
            read[i] = clip.read_clip(answer, [t for t, _ in windows[i]])
            answers[i] = answers[i] + "\n--- retry ---\n" + answer
            requests[i] = request
        return [{"readings": {str(k): asdict(v) for k, v in sorted(r.items())}, "prompt": q.text, "answer": a,
                 "retried": i in again, "cacheable": bool(r) or bool(a.replace("--- retry ---", "").strip())}
                for i, (r, a, q) in enumerate(zip(read, answers, requests))]

    # ---------------------------------------------------------------- the two readings
    def _read_zero_shot(self, batch: list[tuple[float, np.ndarray]], misses: list[int]) -> dict[int, dict[str, Any]]:
        requests = [self.request(*batch[i]) for i in misses]
        answers = self.client.complete(requests) if requests else []
        parsed = {i: (read_affect(a), a, r) for i, a, r in zip(misses, answers, requests)}
        again = [i for i in misses if parsed[i][0] is None]
        retries = [self.request(*batch[i], retry=True) for i in again]
        for i, answer, request in zip(again, self.client.complete(retries) if retries else [], retries):
            first = parsed[i][1]
            parsed[i] = (read_affect(answer), first + "\n--- retry ---\n" + answer, request)
        out = {}
        for i, (value, answer, request) in parsed.items():
            reading = (dict(valence=value.valence, arousal=value.arousal, confidence=value.confidence, caption=value.caption, ok=True)
                       if value is not None else dict(valence=0.0, arousal=0.0, confidence=0.0, caption="", ok=False))
            # an empty answer is a transport failure (timeout, 5xx): try again next run; garbage is the model's answer
            out[i] = {"reading": reading, "prompt": request.text, "answer": answer, "retried": i in again,
                      "cacheable": value is not None or bool(answer.replace("--- retry ---", "").strip())}
        return out

    def _read_head(self, batch: list[tuple[float, np.ndarray]], misses: list[int], head: Any) -> dict[int, dict[str, Any]]:
        if not misses:
            return {}
        requests = [self.request(*batch[i]) for i in misses]
        va = head.predict(self.client.pooled_hidden(requests))  # type: ignore[attr-defined]
        return {
            i: {"reading": dict(valence=float(v), arousal=float(a), confidence=head.config.confidence, caption="", ok=True),
                "prompt": r.text, "answer": f"head: valence {v:.3f}, arousal {a:.3f}"}
            for i, r, (v, a) in zip(misses, requests, va)
        }

    def _head(self) -> Any:
        if self.head_dir is None:
            return None
        from .head import AffectHead

        head = AffectHead.load(self.head_dir)
        if head.config.model and head.config.model != self.client.identity:
            _log.warning("head %s was trained on %s, now reading %s", self.head_dir, head.config.model, self.client.identity)
        return head

    def _write(self, readings: list[FrameReading], log: list[dict[str, Any]], tag: str) -> None:
        if self.frames_path is not None:
            write_json_atomic(self.frames_path, {"model": self.client.identity, "prompt": tag,
                                                 "frames": [asdict(r) for r in readings]})
        if self.prompt_dir is not None:
            write_text_atomic(self.prompt_dir / "vlm_frames.jsonl", "".join(json.dumps(e) + "\n" for e in log))


def load_readings(path: str | os.PathLike[str]) -> list[FrameReading]:
    """The frame readings a ``VLMSensor`` wrote to ``frames_path`` (empty if the file is missing or unreadable)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [FrameReading(**f) for f in data["frames"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _frame_key(rgb: np.ndarray, time: float, model: str, prompt: str) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(rgb).tobytes())
    digest.update(f"|{rgb.shape}|{time:.1f}|{model}|{prompt}".encode())
    return digest.hexdigest()


def _clip_key(window: Sequence[tuple[float, np.ndarray]], model: str, prompt: str) -> str:
    digest = hashlib.sha256()
    for t, rgb in window:
        digest.update(np.ascontiguousarray(rgb).tobytes())
        digest.update(f"|{rgb.shape}|{t:.1f}".encode())
    digest.update(f"|{model}|{prompt}".encode())
    return digest.hexdigest()


def _batches(frames: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in frames:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
