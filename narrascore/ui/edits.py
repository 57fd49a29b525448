"""What the page's plan editor changes, written the way a user editing the JSON by hand would.

* plan edits (each scene's start, end, valence, arousal in [-1, 1] and arc role, so boundaries move and
  scenes split or merge; the ``events`` list) go into ``narrative.json``'s data while its recorded
  fingerprint stays: the pipeline sees a hand edit, keeps it and re-derives the curve;
* concept overrides (key, mode, tempo range in BPM) are applied to the concept the pipeline would
  conceive for the edited plan, style and seed, and written to ``concept.json`` with the fingerprint
  of the unedited concept, so it too counts as hand-edited and is kept by ``render``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..artifacts import (ARC_ROLES, EVENT_KINDS, KEYS, MODES, AffectCurve, Event, MusicConcept, NarrativePlan, Scene, Shots,
                         fingerprint, from_data, read_artifact, save_artifact, to_data, validate)
from ..errors import ArtifactError, OptionError
from ..fileio import write_json_atomic

CONCEPT_FIELDS = ("key", "mode", "tempo_min", "tempo_max")


@dataclasses.dataclass(frozen=True)
class SceneEdit:
    """The editable part of one scene: valence and arousal in [-1, 1], arc role (one of ``ARC_ROLES``),
    and its span in seconds (None: the span of the plan's scene at the same index)."""

    valence: float
    arousal: float
    arc_role: str
    start: float | None = None
    end: float | None = None


def _number(item: dict, name: str, where: str, lo: float, hi: float, *, optional: bool = False) -> float | None:
    value = item.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise OptionError(f"{where}: {name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def parse_scene_edits(raw: Any) -> list[SceneEdit]:
    """Scene edits from the page's JSON; OptionError naming the scene and value at fault."""
    if not isinstance(raw, list) or not raw:
        raise OptionError(f"scenes must be a non-empty list, got {raw!r:.40}")
    edits = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise OptionError(f"scene {i + 1}: expected an object, got {type(item).__name__}")
        where = f"scene {i + 1}"
        values = {name: _number(item, name, where, -1.0, 1.0) for name in ("valence", "arousal")}
        span = {name: _number(item, name, where, 0.0, 1e7, optional=True) for name in ("start", "end")}
        role = item.get("arc_role")
        if role not in ARC_ROLES:
            raise OptionError(f"scene {i + 1}: arc role {role!r} is not one of {', '.join(ARC_ROLES)}")
        edits.append(SceneEdit(arc_role=role, **values, **span))
    return edits


def parse_events(raw: Any) -> list[Event]:
    """Events from the page's JSON: ``[{"time", "kind", "strength"}]``, sorted by time."""
    if not isinstance(raw, list):
        raise OptionError(f"events must be a list, got {type(raw).__name__}")
    events = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise OptionError(f"event {i + 1}: expected an object, got {type(item).__name__}")
        if item.get("kind") not in EVENT_KINDS:
            raise OptionError(f"event {i + 1}: kind {item.get('kind')!r} is not one of {', '.join(EVENT_KINDS)}")
        time = _number(item, "time", f"event {i + 1}", 0.0, 1e7)
        strength = _number(item, "strength", f"event {i + 1}", 0.0, 1.0)
        if not strength > 0:
            raise OptionError(f"event {i + 1}: strength must lie in (0, 1], got {strength}")
        events.append(Event(time=round(time, 6), kind=item["kind"], strength=round(strength, 6)))
    return sorted(events, key=lambda e: e.time)


def parse_concept_overrides(raw: Any) -> dict[str, Any]:
    """Concept overrides from the page's JSON (any of key, mode, tempo_min, tempo_max)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise OptionError(f"concept must be an object, got {type(raw).__name__}")
    unknown = set(raw) - set(CONCEPT_FIELDS)
    if unknown:
        raise OptionError(f"concept: unknown field(s) {', '.join(sorted(unknown))}; editable: {', '.join(CONCEPT_FIELDS)}")
    out: dict[str, Any] = {}
    if "key" in raw:
        if raw["key"] not in KEYS:
            raise OptionError(f"key {raw['key']!r} is not one of {', '.join(KEYS)}")
        out["key"] = raw["key"]
    if "mode" in raw:
        if raw["mode"] not in MODES:
            raise OptionError(f"mode {raw['mode']!r} is not one of {', '.join(MODES)}")
        out["mode"] = raw["mode"]
    for name in ("tempo_min", "tempo_max"):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 20 <= value <= 300:
                raise OptionError(f"{name.replace('_', ' ')} must lie within 20..300 BPM, got {value!r}")
            out[name] = float(value)
    return out


def edited_plan(plan: NarrativePlan, edits: Sequence[SceneEdit] | None, events: Sequence[Event] | None) -> NarrativePlan:
    """``plan`` with the page's scenes and events (its curve not yet re-derived); OptionError when the
    scenes do not tile the video. A scene keeps the caption and label of the plan's scene it starts in."""
    scenes = plan.scenes
    if edits is not None:
        if any(e.start is None or e.end is None for e in edits) and len(edits) != len(plan.scenes):
            raise OptionError(f"the plan has {len(plan.scenes)} scene(s), the edit names {len(edits)} without their times")
        scenes = []
        for i, edit in enumerate(edits):
            start = edit.start if edit.start is not None else plan.scenes[i].start
            end = edit.end if edit.end is not None else plan.scenes[i].end
            origin = next((s for s in plan.scenes if s.start - 1e-6 <= start < s.end), plan.scenes[-1])
            scenes.append(Scene(start=round(start, 6), end=round(end, 6), caption=origin.caption, valence=round(edit.valence, 6),
                                arousal=round(edit.arousal, 6), label=origin.label, arc_role=edit.arc_role))
        scenes = tuple(scenes)
    new = dataclasses.replace(plan, scenes=scenes, events=tuple(events) if events is not None else plan.events)
    try:
        validate(new)
    except ArtifactError as exc:
        raise OptionError(f"the edited plan is not valid: {str(exc).replace('NarrativePlan.', '')}") from None
    return new


def edit_plan(out: Path, edits: Sequence[SceneEdit] | None, events: Sequence[Event] | None = None) -> bool:
    """Write ``edits`` and ``events`` into ``out/narrative.json`` as a hand edit; True when anything changed.
    Checked in full before the file is touched."""
    path = out / NarrativePlan.FILENAME
    plan = read_artifact(NarrativePlan, path).artifact  # validates the file first
    new = edited_plan(plan, edits, events)
    envelope = json.loads(path.read_text(encoding="utf-8"))
    data = envelope["data"]
    changed = False
    for name in ("scenes", "events"):
        value = to_data(getattr(new, name))
        if data.get(name, []) != value:
            data[name] = value
            changed = True
    if changed:
        from_data(NarrativePlan, data)  # the envelope still reads back
        write_json_atomic(path, envelope)  # data changed, fingerprint kept: a hand edit
        read_artifact(NarrativePlan, path)
    return changed


def apply_overrides(concept: MusicConcept, overrides: Mapping[str, Any]) -> MusicConcept:
    """``concept`` in another home key (every cue transposed by the same interval), home mode (the cues
    in the home key take it) and tempo range (cue tempi mapped linearly from the old range to the new)."""
    from ..concept import transpose_key

    if not overrides:
        return concept
    key, mode = overrides.get("key", concept.key), overrides.get("mode", concept.mode)
    lo, hi = overrides.get("tempo_min", concept.tempo_min), overrides.get("tempo_max", concept.tempo_max)
    if lo > hi:
        raise OptionError(f"tempo range {lo:g}..{hi:g} BPM: the minimum is above the maximum")
    shift = (KEYS.index(key) - KEYS.index(concept.key)) % 12
    span = concept.tempo_max - concept.tempo_min
    cues = []
    for cue in concept.cues:
        tempo = lo + (hi - lo) * ((cue.tempo - concept.tempo_min) / span if span > 0 else 0.5)
        cue_key = transpose_key(cue.key, shift)
        cue_mode = mode if cue.key == concept.key and cue.mode == concept.mode else cue.mode
        cues.append(dataclasses.replace(cue, key=cue_key, mode=cue_mode, tempo=float(round(tempo, 2))))
    return dataclasses.replace(concept, key=key, mode=mode, tempo_min=float(lo), tempo_max=float(hi), cues=tuple(cues))


def write_concept(out: Path, *, style: str, seed: int, overrides: Mapping[str, Any]) -> MusicConcept | None:
    """Prepare ``out/concept.json`` for a re-render.

    With overrides: the concept for the (edited) plan with them applied, saved as a hand edit.
    Without: a hand-edited concept left by an earlier edit is removed so the pipeline conceives anew.
    """
    from ..concept import anchor_prompt, conceive
    from ..pipeline import refresh_curve

    path = out / MusicConcept.FILENAME
    if not overrides:
        if path.exists() and _hand_edited(path):
            path.unlink()
        return None
    plan = refresh_curve(read_artifact(NarrativePlan, out / NarrativePlan.FILENAME).artifact,
                         read_artifact(Shots, out / Shots.FILENAME).artifact,
                         read_artifact(AffectCurve, out / AffectCurve.FILENAME).artifact)
    base = conceive(plan, style=style, seed=seed)
    edited = apply_overrides(base, overrides)
    edited = dataclasses.replace(edited, anchor_prompt=anchor_prompt(edited, plan))
    save_artifact(edited, out)
    envelope = json.loads(path.read_text(encoding="utf-8"))
    envelope["fingerprint"] = fingerprint(base) if to_data(base) != to_data(edited) else envelope["fingerprint"]
    write_json_atomic(path, envelope)
    return edited


def _hand_edited(path: Path) -> bool:
    try:
        return read_artifact(MusicConcept, path).hand_edited
    except ArtifactError:
        return True
