"""The Global Semantic Anchor's four fields: reading a model's answer, and mapping the fields onto the concept.

The anchor is four short texts (``artifacts.ANCHOR_FIELDS``): genre and style, instrumentation and
timbre, emotional atmosphere, rhythmic pacing. The rules write them from the narrative curve; a model
(``--anchor vlm|llm``, ``concept/ask.py``) may write any of them. MusicGen's text condition is built
from the four (``prompt_text``); the procedural path reads them through this mapping:

=================  ==========================================================================
field              what it sets on the procedural concept
=================  ==========================================================================
genre + instr.     **style**: the style whose keywords (``STYLE_WORDS``) occur most often, genre
                   words counting twice; none found: the rules' style. A user's ``--style`` wins.
instrumentation    **instruments**: each GM instrument named (``INSTRUMENT_WORDS``, in order of
                   mention) takes over its role from the style's instrument; one per role.
pacing             **tempo range**: an explicit ``N BPM`` or ``N-M BPM`` becomes the bounds that
                   arousal -1..1 maps onto; else slow words take the lower half of the style's
                   bounds, fast words the upper half, moderate words the middle half.
atmosphere         **home mode**: dark words (``MINOR_WORDS``) against bright ones
                   (``MAJOR_WORDS``); a tie or none: the rules' mode (mean valence).
=================  ==========================================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any

from ..artifacts import ANCHOR_FIELDS, Anchor, MusicConcept
from ..sense.answers import parse_json_object
from .styles import StyleSpec

FIELD_CHARS = 200
UNUSABLE = {"", "unknown", "n/a", "none", "null", "-", "?"}
STYLE_WORDS = {
    "orchestral": ("orchestra", "orchestral", "symphon", "cinematic", "epic", "strings", "brass", "horns", "choir"),
    "piano": ("piano", "solo piano", "felt piano", "keys"),
    "ambient": ("ambient", "drone", "atmospheric", "soundscape", "pads", "new age", "meditative"),
    "electronic": ("electronic", "synth", "techno", "edm", "house", "synthwave", "arpeggiat", "drum machine"),
    "rock": ("rock", "guitar", "metal", "punk", "grunge", "distort"),
}
INSTRUMENT_WORDS = (  # keyword -> (role, General MIDI name); the first mention per role wins
    ("piano", "melody", "Acoustic Grand Piano"), ("violin", "melody", "Violin"), ("flute", "melody", "Flute"),
    ("oboe", "melody", "Oboe"), ("clarinet", "melody", "Clarinet"), ("trumpet", "melody", "Trumpet"),
    ("horn", "melody", "French Horn"), ("cello", "bass", "Cello"), ("double bass", "bass", "Contrabass"),
    ("contrabass", "bass", "Contrabass"), ("harp", "harmony", "Orchestral Harp"), ("guitar", "harmony", "Acoustic Guitar (nylon)"),
    ("brass", "harmony", "Brass Section"), ("organ", "pad", "Drawbar Organ"), ("choir", "pad", "Choir Aahs"),
    ("strings", "pad", "String Ensemble 1"), ("synth", "pad", "Pad 3 (polysynth)"), ("bells", "melody", "Tubular Bells"),
    ("marimba", "melody", "Marimba"), ("timpani", "percussion", "Timpani"), ("drums", "percussion", "Drum Kit"),
)
MINOR_WORDS = ("dark", "sad", "melanchol", "ominous", "tense", "sombre", "somber", "grim", "tragic", "mournful",
               "eerie", "menacing", "bleak", "anxious", "gloomy", "brooding", "sinister")
MAJOR_WORDS = ("bright", "happy", "joy", "uplifting", "hopeful", "warm", "triumphant", "playful", "cheerful",
               "serene", "tender", "peaceful", "light-hearted", "festive")
SLOW_WORDS = ("slow", "gentle", "calm", "languid", "unhurried", "still", "adagio", "largo", "sparse")
FAST_WORDS = ("fast", "driving", "energetic", "frantic", "urgent", "rapid", "brisk", "relentless", "allegro", "pounding")
MODERATE_WORDS = ("moderate", "steady", "walking", "medium", "andante", "mid-tempo")
_BPM = re.compile(r"(\d{2,3})(?:\s*(?:-|–|to)\s*(\d{2,3}))?\s*bpm", re.IGNORECASE)
_ALIASES = {"genre_and_style": "genre", "genre_style": "genre", "style": "genre", "instruments": "instrumentation",
            "instrumentation_and_timbre": "instrumentation", "timbre": "instrumentation", "mood": "atmosphere",
            "emotional_atmosphere": "atmosphere", "rhythmic_pacing": "pacing", "tempo": "pacing", "rhythm": "pacing"}


def check(text: str) -> str:
    """Short hash of a field's text as written (``Anchor.checks``)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def read_anchor(text: str | None) -> tuple[dict[str, str], list[str]] | None:
    """A model's anchor answer as (usable fields, notes); None when no JSON object is in it.

    A field missing, not a string, or empty/"unknown" is left out with a note (the rules fill it);
    keys other than the four (and their common spellings) are ignored with a note.
    """
    obj = parse_json_object(text)
    if obj is None:
        return None
    fields: dict[str, str] = {}
    notes: list[str] = []
    for key, value in obj.items():
        name = _ALIASES.get(str(key).strip().lower().replace(" ", "_"), str(key).strip().lower())
        if name not in ANCHOR_FIELDS:
            notes.append(f"ignored unknown field {key!r}")
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value if isinstance(v, (str, int, float)))
        if not isinstance(value, str) or " ".join(value.split()).lower().strip(".") in UNUSABLE:
            continue
        fields.setdefault(name, " ".join(value.split())[:FIELD_CHARS])
    for name in ANCHOR_FIELDS:
        if name not in fields:
            notes.append(f"{name}: missing or unusable in the answer, the rules wrote it")
    return fields, notes


def prompt_text(anchor: Anchor, key: str, mode: str) -> str:
    """MusicGen's text condition: the four fields with the key (``genre in KEY MODE, instr., pacing, atmosphere``)."""
    parts = [f"{anchor.genre} in {key} {mode}".strip(), anchor.instrumentation, anchor.pacing, anchor.atmosphere]
    return ", ".join(p for p in parts if p)


def with_checks(anchor: Anchor, prompt: str) -> Anchor:
    """The anchor with ``checks`` recording each field and the prompt as they are now."""
    checks = {name: check(getattr(anchor, name)) for name in ANCHOR_FIELDS}
    return dataclasses.replace(anchor, checks={**checks, "prompt": check(prompt)})


def hand_edited_fields(anchor: Anchor) -> list[str]:
    """Fields whose text no longer matches its recorded check (edited in concept.json); none without checks."""
    if not anchor.checks:
        return []
    return [name for name in ANCHOR_FIELDS if anchor.checks.get(name) not in (None, check(getattr(anchor, name)))]


# --------------------------------------------------------------------------- fields -> procedural concept
def _count(text: str, words: tuple[str, ...]) -> int:
    low = text.lower()
    return sum(low.count(w) for w in words)


def style_from_fields(fields: dict[str, str]) -> str | None:
    """The style the genre and instrumentation texts name most (genre counts twice); None if none is named."""
    genre, instruments = fields.get("genre", ""), fields.get("instrumentation", "")
    scores = {style: 2 * _count(genre, words) + _count(instruments, words) for style, words in STYLE_WORDS.items()}
    best = max(scores.values())
    return next(style for style, score in scores.items() if score == best) if best > 0 else None


def instruments_from_text(text: str, base: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The style's (role, GM name) list with each role named in ``text`` taken over by the instrument named."""
    low = text.lower()
    mentioned = sorted((low.find(word), role, name) for word, role, name in INSTRUMENT_WORDS if word in low)
    chosen: dict[str, str] = {}
    for _, role, name in mentioned:
        chosen.setdefault(role, name)
    out, used = [], set()
    for role, name in base:
        if role in chosen and role not in used:
            out.append((role, chosen[role]))
            used.add(role)
        elif role not in chosen:
            out.append((role, name))
    out += [(role, name) for role, name in chosen.items() if role not in used]
    return tuple(out)


def tempo_bounds(text: str, low: float, high: float) -> tuple[float, float]:
    """BPM bounds for arousal -1 and +1 from a pacing text (see the module table); the style's when it says nothing."""
    found = _BPM.search(text)
    if found:
        a = float(found.group(1))
        b = float(found.group(2)) if found.group(2) else a
        lo, hi = sorted((min(300.0, max(20.0, a)), min(300.0, max(20.0, b))))
        return (lo, hi) if hi > lo else (max(20.0, lo - 10), min(300.0, hi + 10))
    slow, fast, moderate = _count(text, SLOW_WORDS), _count(text, FAST_WORDS), _count(text, MODERATE_WORDS)
    span = high - low
    if slow > max(fast, moderate):
        return low, low + span / 2
    if fast > max(slow, moderate):
        return low + span / 2, high
    if moderate > max(slow, fast):
        return low + span / 4, high - span / 4
    return low, high


def mode_from_text(text: str) -> str | None:
    """``minor`` when dark words outnumber bright ones, ``major`` for the reverse, None on a tie."""
    dark, bright = _count(text, MINOR_WORDS), _count(text, MAJOR_WORDS)
    return "minor" if dark > bright else "major" if bright > dark else None


def adapt_spec(spec: StyleSpec, fields: dict[str, str]) -> StyleSpec:
    """The style's spec with the model's instruments and tempo bounds (fields absent: unchanged)."""
    instruments = instruments_from_text(fields["instrumentation"], spec.instruments) if "instrumentation" in fields else spec.instruments
    low, high = tempo_bounds(fields["pacing"], spec.tempo_low, spec.tempo_high) if "pacing" in fields else (spec.tempo_low, spec.tempo_high)
    return dataclasses.replace(spec, instruments=instruments, tempo_low=float(round(low)), tempo_high=float(round(high)))


def describe(anchor: Anchor) -> dict[str, Any]:
    """The four fields with their writers, for logs and reports."""
    return {name: {"text": getattr(anchor, name), "by": anchor.written_by.get(name, "rules")} for name in ANCHOR_FIELDS}


def refresh(concept: MusicConcept) -> MusicConcept:
    """A hand-edited concept: its edited anchor fields become the user's, and the MusicGen prompt follows them
    unless the prompt itself was edited too (then the user's prompt stands)."""
    edited = hand_edited_fields(concept.anchor)
    if not edited:
        return concept
    anchor = dataclasses.replace(concept.anchor, written_by={**concept.anchor.written_by, **{n: "user" for n in edited}})
    prompt = concept.anchor_prompt
    if concept.anchor.checks.get("prompt") == check(prompt):
        prompt = prompt_text(anchor, concept.key, concept.mode)
    return dataclasses.replace(concept, anchor=anchor, anchor_prompt=prompt)
