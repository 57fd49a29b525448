"""What the page's plan editor changes, written the way a user editing the JSON by hand would.

* scene edits (valence, arousal in [-1, 1], arc role) go into ``narrative.json``'s data while its
  recorded fingerprint stays: the pipeline sees a hand edit, keeps it and re-derives the curve;
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

from ..artifacts import ARC_ROLES, KEYS, MODES, AffectCurve, MusicConcept, NarrativePlan, Shots, fingerprint, read_artifact, save_artifact, to_data
from ..errors import ArtifactError, OptionError
from ..fileio import write_json_atomic

CONCEPT_FIELDS = ("key", "mode", "tempo_min", "tempo_max")


@dataclasses.dataclass(frozen=True)
class SceneEdit:
    """The editable part of one scene: valence and arousal in [-1, 1], arc role (one of ``ARC_ROLES``)."""

    valence: float
    arousal: float
    arc_role: str


def parse_scene_edits(raw: Any) -> list[SceneEdit]:
    """Scene edits from the page's JSON; OptionError naming the scene and value at fault."""
    if not isinstance(raw, list):
        raise OptionError(f"scenes must be a list, got {type(raw).__name__}")
    edits = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise OptionError(f"scene {i + 1}: expected an object, got {type(item).__name__}")
        values = {}
        for name in ("valence", "arousal"):
            value = item.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
                raise OptionError(f"scene {i + 1}: {name} must be a number in [-1, 1], got {value!r}")
            values[name] = float(value)
        role = item.get("arc_role")
        if role not in ARC_ROLES:
            raise OptionError(f"scene {i + 1}: arc role {role!r} is not one of {', '.join(ARC_ROLES)}")
        edits.append(SceneEdit(arc_role=role, **values))
    return edits


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


def edit_plan(out: Path, edits: Sequence[SceneEdit]) -> bool:
    """Write ``edits`` into ``out/narrative.json`` as a hand edit; True when anything changed."""
    path = out / NarrativePlan.FILENAME
    plan = read_artifact(NarrativePlan, path).artifact  # validates the file first
    if len(edits) != len(plan.scenes):
        raise OptionError(f"the plan has {len(plan.scenes)} scene(s), the edit names {len(edits)}")
    envelope = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for scene, edit in zip(envelope["data"]["scenes"], edits):
        for name in ("valence", "arousal", "arc_role"):
            value = getattr(edit, name)
            value = round(value, 6) if isinstance(value, float) else value
            if scene[name] != value:
                scene[name] = value
                changed = True
    if changed:
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
