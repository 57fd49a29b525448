"""Multi-frame VLM requests (``--vlm-context K``): K consecutive frames per request, as the paper's sensor reads them.

Windows: the frame list is cut into windows of K consecutive frames that overlap by one frame (starts at
0, K-1, 2(K-1), ...), so every frame but the first is seen with the one before it. Each request is the
intro, then per frame its "Time: t s" marker and the picture, then the question (``prompts/vlm_clip.txt``).

Reading an answer (``read_clip``): the objects of a ``{"frames": [...]}`` list, or of a bare list, or
every ``{...}`` in the text, each read like a one-frame answer (``answers.read_affect``). An object
with a usable ``time`` lands on the frame nearest that time (within half the spacing to its
neighbours, at least 0.25 s), so answers out of order still land right; one without a time takes
its position in the list. A frame claimed twice keeps the first reading; frames left unanswered are
missing in that window. An answer with no reading at all gets one retry.

Merging: a frame seen by two windows (the overlap) gets the mean of the two readings, earlier window
first (caption from the earlier); seen by one, that one's; by none: missing (confidence 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import OptionError
from .answers import AffectAnswer, _first_object, parse_json_object, read_affect

MIN_TOLERANCE = 0.25  # s
TEXT_TOKENS = 260  # intro, markers and question of a clip prompt, about
ANSWER_TOKENS_PER_FRAME = 48


def windows(n: int, k: int) -> list[tuple[int, int]]:
    """[start, end) index ranges of K consecutive frames overlapping by one, covering ``n`` frames."""
    if k < 1:
        raise OptionError(f"vlm_context must be at least 1, got {k}")
    if n <= 0:
        return []
    if k == 1:
        return [(i, i + 1) for i in range(n)]
    out, start = [], 0
    while True:
        end = min(n, start + k)
        out.append((start, end))
        if end == n:
            return out
        start = end - 1


def stream_windows(frames: Iterator[tuple[float, np.ndarray]], spans: Sequence[tuple[int, int]]) -> Iterator[list[tuple[float, np.ndarray]]]:
    """The frames of each span in turn, streaming: at most one window (K frames) is held at a time."""
    held: list[tuple[int, tuple[float, np.ndarray]]] = []
    spans = list(spans)
    k = 0
    for index, frame in enumerate(frames):
        held.append((index, frame))
        while k < len(spans) and index + 1 >= spans[k][1]:
            start, end = spans[k]
            yield [f for i, f in held if start <= i < end]
            held = [(i, f) for i, f in held if i >= end - 1]
            k += 1
    if k < len(spans) and held:  # the video gave fewer frames than asked: the last window is shorter
        yield [f for i, f in held if i >= spans[k][0]]


def image_tokens(size: tuple[int, int]) -> int:
    """Image tokens of a served model for a frame (width, height), estimated as Qwen2.5-VL's merged 28-px patches."""
    return math.ceil(size[0] / 28) * math.ceil(size[1] / 28)


def answer_tokens(k: int) -> int:
    return 32 + ANSWER_TOKENS_PER_FRAME * k


def _items(text: str | None) -> list[Any]:
    obj = parse_json_object(text)
    if isinstance(obj, dict) and isinstance(obj.get("frames"), list):
        return list(obj["frames"])
    items, rest = [], text or ""
    while True:  # a bare list, or objects one after another: every top-level {...}
        start = rest.find("{")
        found = _first_object(rest) if start >= 0 else None
        if found is None:
            return items
        parsed = parse_json_object(found)
        if parsed is not None:
            items.append(parsed)
        rest = rest[start + len(found):]


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and not isinstance(value, bool) else None


def read_clip(text: str | None, times: Sequence[float]) -> dict[int, AffectAnswer]:
    """Readings of a clip answer by frame index (0..len(times)-1); see the module docstring for the rules."""
    import json

    t = np.asarray(times, dtype=float)
    gaps = np.diff(t) if len(t) > 1 else np.array([2 * MIN_TOLERANCE])
    left = np.concatenate([[np.inf], gaps])
    right = np.concatenate([gaps, [np.inf]])
    tolerance = np.maximum(MIN_TOLERANCE, np.minimum(left, right) / 2)
    found: dict[int, AffectAnswer] = {}
    for position, item in enumerate(_items(text)):
        if not isinstance(item, dict):
            continue
        reading = read_affect(json.dumps(item))
        if reading is None:
            continue
        at = _number(item.get("time", item.get("t")))
        if at is not None:
            index = int(np.argmin(np.abs(t - at)))
            if abs(t[index] - at) > tolerance[index]:
                continue  # a time that is no frame of this window
        elif position < len(t):
            index = position
        else:
            continue
        found.setdefault(index, reading)
    return found


def merge(per_window: Sequence[dict[int, AffectAnswer]], spans: Sequence[tuple[int, int]], n: int) -> list[AffectAnswer | None]:
    """One reading per frame from the windows' readings (indices local to each window): the mean where two overlap."""
    seen: list[list[AffectAnswer]] = [[] for _ in range(n)]
    for readings, (start, _) in zip(per_window, spans):
        for local, reading in sorted(readings.items()):
            seen[start + local].append(reading)
    out: list[AffectAnswer | None] = []
    for readings in seen:
        if not readings:
            out.append(None)
            continue
        out.append(AffectAnswer(
            valence=float(np.mean([r.valence for r in readings])), arousal=float(np.mean([r.arousal for r in readings])),
            confidence=float(np.mean([r.confidence for r in readings])), caption=next((r.caption for r in readings if r.caption), ""),
        ))
    return out


def request_tokens(k: int, image_tokens: int) -> int:
    """Tokens a K-frame request needs, about: frames, text and the answer."""
    return k * (image_tokens + 8) + TEXT_TOKENS + answer_tokens(k)


def check_context(k: int, *, image_tokens: int, context: int | None, model: str) -> None:
    """Raise ``OptionError`` (before any request) when K frames do not fit the model's context."""
    if context is None or k <= 1:
        return
    need = request_tokens(k, image_tokens)
    if need > context:
        fit = max(1, (context - TEXT_TOKENS - 32) // (image_tokens + 8 + ANSWER_TOKENS_PER_FRAME))
        raise OptionError(f"vlm_context {k} needs about {need} tokens ({image_tokens} per frame), more than the "
                          f"{context}-token context of {model}: use --vlm-context {fit} or less")
