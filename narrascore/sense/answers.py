"""Reading a model's JSON answer robustly: extract, repair, clamp; ``None`` when nothing usable is left.

Models wrap JSON in prose or code fences, use single quotes, leave trailing commas, write
``True``/``None``, or stop mid-object. ``parse_json_object`` takes the first ``{...}`` (balanced,
quotes respected; a truncated object is closed), tries it as JSON, then as repaired JSON.
``read_affect`` and ``read_scene`` turn an object into clamped values or ``None``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:")
_LITERALS = {r"\bTrue\b": "true", r"\bFalse\b": "false", r"\bNone\b": "null"}
CAPTION_CHARS = 160


def _first_object(text: str) -> str | None:
    """The first balanced ``{...}`` in ``text`` (closing it if the text stops inside), or None."""
    start = text.find("{")
    if start < 0:
        return None
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    tail = text[start:].rstrip().rstrip(",")
    return tail + (quote or "") + "}" * max(depth, 1)


def _repair(candidate: str) -> str:
    fixed = candidate
    if '"' not in fixed:
        fixed = fixed.replace("'", '"')
    else:  # 'key': 'value' beside "double" quotes: swap only quote marks next to JSON punctuation
        fixed = re.sub(r"(?<=[{\[,:])\s*'|'\s*(?=[:,}\]])", '"', fixed)
    for pattern, word in _LITERALS.items():
        fixed = re.sub(pattern, word, fixed)
    fixed = _BARE_KEY.sub(r'\1"\2":', fixed)
    return _TRAILING_COMMA.sub(r"\1", fixed)


def parse_json_object(text: str | None) -> dict[str, Any] | None:
    """The first JSON object in a model's answer, repaired if need be; None if there is none."""
    if not text:
        return None
    candidate = _first_object(text)
    if candidate is None:
        return None
    for attempt in (candidate, _repair(candidate)):
        try:
            value = json.loads(attempt)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


@dataclass(frozen=True)
class AffectAnswer:
    """One frame's zero-shot reading: valence, arousal in [-1, 1], confidence in [0, 1], caption."""

    valence: float
    arousal: float
    confidence: float
    caption: str


def _with_valence_arousal(text: str | None) -> tuple[dict, float, float] | None:
    """The answer's JSON object with its valence and arousal (unclamped), or None unless both are numbers."""
    obj = parse_json_object(text)
    if obj is None:
        return None
    valence, arousal = _number(obj.get("valence")), _number(obj.get("arousal"))
    if valence is None or arousal is None:
        return None
    return obj, valence, arousal


def read_affect(text: str | None, *, default_confidence: float = 0.5) -> AffectAnswer | None:
    """A frame answer's values, clamped; None unless valence and arousal are both numbers."""
    found = _with_valence_arousal(text)
    if found is None:
        return None
    obj, valence, arousal = found
    confidence = _number(obj.get("confidence"))
    caption = obj.get("caption")
    return AffectAnswer(
        valence=_clamp(valence, -1.0, 1.0),
        arousal=_clamp(arousal, -1.0, 1.0),
        confidence=_clamp(default_confidence if confidence is None else confidence, 0.0, 1.0),
        caption=" ".join(caption.split())[:CAPTION_CHARS] if isinstance(caption, str) else "",
    )


@dataclass(frozen=True)
class SceneAnswer:
    """One scene's E_local from the reasoner; ``label``/``arc_role`` are None when unusable."""

    valence: float
    arousal: float
    label: str | None
    arc_role: str | None


def read_scene(text: str | None, arc_roles: tuple[str, ...]) -> SceneAnswer | None:
    """A scene answer's values, clamped; None unless valence and arousal are both numbers."""
    found = _with_valence_arousal(text)
    if found is None:
        return None
    obj, valence, arousal = found
    label = obj.get("label")
    label = label.strip().lower() if isinstance(label, str) else ""
    role = obj.get("arc_role")
    role = role.strip().lower() if isinstance(role, str) else ""
    return SceneAnswer(
        valence=_clamp(valence, -1.0, 1.0),
        arousal=_clamp(arousal, -1.0, 1.0),
        label=label if re.fullmatch(r"[a-z][a-z -]{0,23}", label) else None,
        arc_role=role if role in arc_roles else None,
    )


def read_story(text: str | None) -> str | None:
    """S_global text from a pass-1 answer ``{"plot", "turning_points", "climax"}``; None if no plot."""
    obj = parse_json_object(text)
    if obj is None or not isinstance(obj.get("plot"), str) or not obj["plot"].strip():
        return None
    parts = [" ".join(obj["plot"].split())]
    points = obj.get("turning_points")
    if isinstance(points, list):
        points = [" ".join(str(p).split()) for p in points if str(p).strip()]
        if points:
            parts.append("Turning points: " + "; ".join(points) + ".")
    climax = obj.get("climax")
    if isinstance(climax, (str, int, float)) and str(climax).strip():
        parts.append(f"Climax: {' '.join(str(climax).split())}.")
    return " ".join(parts)[:2000]
