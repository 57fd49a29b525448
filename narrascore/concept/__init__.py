"""The music concept: one Global Semantic Anchor for the whole video plus a cue plan on scene cuts.

``conceive(plan)`` reads the narrative plan and decides, deterministically:

* **style** (when ``style="auto"``), from the whole curve: mean arousal ``ma``, arousal spread
  ``r`` (95th minus 5th percentile) and mean valence ``mv``:

  ====================================  ==============
  condition (checked in order)          style
  ====================================  ==============
  ``ma >= 0.15`` and ``r >= 0.7``       orchestral (energetic and dramatic: wide dynamics)
  ``ma >= 0.15`` and ``mv < -0.1``      rock (driving, dark)
  ``ma >= 0.15``                        electronic (driving, bright)
  ``ma <= -0.25`` and ``mv >= 0``       piano (calm, warm)
  ``ma <= -0.25``                       ambient (calm, dark)
  ``r >= 0.8``                          orchestral (moderate but with a large arc)
  ``mv >= 0.1``                         piano
  ``mv <= -0.2``                        ambient
  otherwise                             orchestral
  ====================================  ==============

* **home mode** from mean valence (major when ``mv >= 0``), **home key** from a short list of
  idiomatic keys per mode, picked by ``seed``;
* **tempo** in BPM, ``tempo(a) = low + (high - low) * (a + 1) / 2`` with the style's bounds
  (arousal up, tempo up: Gabrielsson & Lindström 2010); the concept's range covers the 5th..95th
  percentile of the arousal curve and every cue;
* **meter**: 4/4, except 3/4 for calm, warm piano music;
* **cues**: one per scene; neighbouring scenes with nearly the same affect (valence and arousal
  within 0.12) are merged, as are scenes shorter than 2 s, so every cue boundary is a scene cut.
  A cue with negative valence (<= -0.1) in a major home key turns to the parallel minor (same tonic),
  positive valence (>= 0.1) in a minor home key to the parallel major (near-neutral cues keep the home
  mode): the film score's change of mode, which a listener hears (the relative minor shares every pitch
  with its major, and a key-profile listener heard it as the major). An energetic (arousal >= 0.3),
  non-negative climax in a major key lifts to the dominant. The tonic stays or moves by a fifth, so each
  cue's cadence into the next uses a shared dominant. ``intensity = (arousal + 1) / 2``.

The **anchor** (``concept.anchor``) holds the four fields of the Global Semantic Anchor (genre, instrumentation,
atmosphere, pacing) and who wrote each. The rules write them from the above; a model's fields (``fields``,
from ``concept.ask``) replace them one by one and steer the style, instruments, tempo bounds and home mode
(``concept.anchor`` documents the mapping). A user's ``style`` wins over the model's genre and instrumentation.
The MusicGen prompt (``anchor_prompt``) is built from the four fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..artifacts import ANCHOR_FIELDS, KEYS, Anchor, Cue, MusicConcept, NarrativePlan, Scene, validate
from ..errors import OptionError
from ..options import STYLES
from .anchor import adapt_spec, mode_from_text, prompt_text, style_from_fields, with_checks
from .styles import DRUM_KIT, ROLES, STYLE_SPECS, StyleSpec, parse_instrument

__all__ = [
    "conceive", "choose_style", "tempo_for_arousal", "anchor_prompt", "transpose_key",
    "STYLE_SPECS", "StyleSpec", "ROLES", "DRUM_KIT", "parse_instrument",
]

HOME_KEYS = {"major": ("C", "D", "Eb", "F", "G", "A", "Bb"), "minor": ("A", "D", "E", "C", "G", "B", "F")}
MERGE_TOLERANCE = 0.12
MIN_CUE_SECONDS = 2.0
MODE_TURN = 0.1


def conceive(plan: NarrativePlan, *, style: str = "auto", seed: int = 0, fields: Mapping[str, str] | None = None,
             model: str = "") -> MusicConcept:
    """Build the ``MusicConcept`` for ``plan``.

    style: one of ``narrascore.options.STYLES`` ("auto" picks from the affect, see module doc).
    seed: stored in the concept; the composer derives every random choice from it.
    fields: anchor fields a model wrote (``concept.ask``), any subset of ``ANCHOR_FIELDS``; model: which model.
    """
    if style not in STYLES:
        raise OptionError(f"unknown style {style!r}; available: {', '.join(STYLES)}")
    validate(plan)
    valence = np.asarray(plan.valence, dtype=float)
    arousal = np.asarray(plan.arousal, dtype=float)
    mean_v, mean_a = float(valence.mean()), float(arousal.mean())
    a_lo, a_hi = (float(x) for x in np.percentile(arousal, [5, 95]))
    user_style = style != "auto"
    fields = {k: v for k, v in (fields or {}).items() if k in ANCHOR_FIELDS and v}
    if user_style:  # the user's style decides genre and instruments
        fields = {k: v for k, v in fields.items() if k not in ("genre", "instrumentation")}
    if style == "auto":
        style = style_from_fields(fields) or choose_style(mean_valence=mean_v, mean_arousal=mean_a, arousal_range=a_hi - a_lo)
    spec = adapt_spec(STYLE_SPECS[style], fields)

    mode = mode_from_text(fields.get("atmosphere", "")) or ("major" if mean_v >= 0 else "minor")
    rng = np.random.default_rng([seed, 0xC0C])
    keys = HOME_KEYS[mode]
    key = keys[int(rng.integers(len(keys)))]
    beats_per_bar = 3 if style == "piano" and mean_a <= -0.2 and mean_v >= 0 else 4

    cues = tuple(_cue(group, plan, spec, key, mode) for group in _group_scenes(plan.scenes))
    tempo_min = min(tempo_for_arousal(spec, a_lo), *(c.tempo for c in cues))
    tempo_max = max(tempo_for_arousal(spec, a_hi), *(c.tempo for c in cues))
    concept = MusicConcept(
        anchor_prompt="",
        style=style,
        genre=spec.genre,
        instruments=tuple(f"{role}:{name}" for role, name in spec.instruments),
        key=key,
        mode=mode,
        tempo_min=float(round(tempo_min)),
        tempo_max=float(round(tempo_max)),
        beats_per_bar=beats_per_bar,
        seed=int(seed),
        cues=cues,
    )
    writers = {name: "model" if name in fields else "user" if user_style and name in ("genre", "instrumentation") else "rules"
               for name in ANCHOR_FIELDS}
    concept = dataclasses.replace(concept, anchor=Anchor(**fields, written_by=writers, model=model if fields else ""))
    concept = dataclasses.replace(concept, anchor=_filled(concept, plan))
    prompt = prompt_text(concept.anchor, concept.key, concept.mode)
    concept = dataclasses.replace(concept, anchor_prompt=prompt, anchor=with_checks(concept.anchor, prompt))
    validate(concept)
    return concept


def choose_style(*, mean_valence: float, mean_arousal: float, arousal_range: float) -> str:
    """The "auto" style rule of the module docstring (valence/arousal in [-1, 1])."""
    if mean_arousal >= 0.15:
        if arousal_range >= 0.7:
            return "orchestral"
        return "rock" if mean_valence < -0.1 else "electronic"
    if mean_arousal <= -0.25:
        return "piano" if mean_valence >= 0 else "ambient"
    if arousal_range >= 0.8:
        return "orchestral"
    if mean_valence >= 0.1:
        return "piano"
    if mean_valence <= -0.2:
        return "ambient"
    return "orchestral"


def tempo_for_arousal(spec: StyleSpec, arousal: float) -> float:
    """Tempo in BPM (rounded to 1) for arousal in [-1, 1], linear between the style's bounds."""
    a = min(1.0, max(-1.0, arousal))
    return float(round(spec.tempo_low + (spec.tempo_high - spec.tempo_low) * (a + 1.0) / 2.0))


def transpose_key(key: str, semitones: int) -> str:
    """``transpose_key("A", 3) == "C"`` (names as in ``artifacts.KEYS``)."""
    return KEYS[(KEYS.index(key) + semitones) % 12]


def anchor_prompt(concept: MusicConcept, plan: NarrativePlan) -> str:
    """MusicGen's text condition for ``concept``: its model- and user-written anchor fields as they are, the
    rules' fields written afresh from the concept's current key, tempo and meter (after an edit)."""
    return prompt_text(_filled(concept, plan), concept.key, concept.mode)


def _filled(concept: MusicConcept, plan: NarrativePlan) -> Anchor:
    """``concept.anchor`` with every field the rules own (an older concept: all four) written by the rules."""
    spec = STYLE_SPECS.get(concept.style)
    mean_v = float(np.mean(plan.valence))
    mean_a = float(np.mean(plan.arousal))
    mood = {
        (True, True): "uplifting and energetic",
        (True, False): "warm and tender",
        (False, True): "tense and dramatic",
        (False, False): "melancholic and sombre",
    }[(mean_v >= 0, mean_a >= 0)]
    rules = {
        "genre": spec.description if spec else concept.genre,
        "instrumentation": spec.prompt_words if spec else ", ".join(parse_instrument(i)[1] for i in concept.instruments),
        "atmosphere": f"{mood}, {_arc_words(plan)}",
        "pacing": f"{concept.tempo_min:.0f}-{concept.tempo_max:.0f} BPM, {concept.beats_per_bar}/4",
    }
    anchor = concept.anchor
    writers = {name: anchor.written_by.get(name, "rules") for name in ANCHOR_FIELDS}
    # the rules' texts fill every rules field, and a --style's genre and instruments (the user's, by style)
    owned = {name: rules[name] for name in ANCHOR_FIELDS if writers[name] == "rules" or not getattr(anchor, name)}
    return dataclasses.replace(anchor, **owned, written_by=writers)


# --------------------------------------------------------------------------- helpers
def _arc_words(plan: NarrativePlan) -> str:
    arousal = np.asarray(plan.arousal, dtype=float)
    n = len(arousal)
    if n < 3 or float(arousal.max() - arousal.min()) < 0.3:
        return "steady mood throughout"
    third = max(1, n // 3)
    start, end = float(arousal[:third].mean()), float(arousal[-third:].mean())
    peak = float(arousal.max())
    climax = f"{int(plan.climax_time // 60)}:{int(plan.climax_time % 60):02d}"
    if peak - max(start, end) > 0.25:
        return f"building tension to a climax at {climax}, then resolving"
    if end > start + 0.2:
        return "building tension towards the end"
    if start > end + 0.2:
        return "energetic opening settling into calm"
    return f"rising and falling with a peak at {climax}"


def _group_scenes(scenes: tuple[Scene, ...]) -> list[list[tuple[int, Scene]]]:
    """Merge neighbouring scenes of nearly the same affect, and very short scenes, into cue groups."""
    groups: list[list[tuple[int, Scene]]] = []
    for index, scene in enumerate(scenes):
        if groups:
            last = groups[-1]
            v, a = _mean_affect([s for _, s in last])
            similar = abs(scene.valence - v) < MERGE_TOLERANCE and abs(scene.arousal - a) < MERGE_TOLERANCE
            short = (scene.end - scene.start) < MIN_CUE_SECONDS
            both_climax = scene.arc_role == "climax" or any(s.arc_role == "climax" for _, s in last)
            if short or (similar and not both_climax):
                last.append((index, scene))
                continue
        groups.append([(index, scene)])
    # a too-short first group joins the next one
    if len(groups) > 1 and groups[0][-1][1].end - groups[0][0][1].start < MIN_CUE_SECONDS:
        groups[1] = groups[0] + groups[1]
        groups.pop(0)
    return groups


def _mean_affect(scenes: list[Scene]) -> tuple[float, float]:
    weights = np.array([s.end - s.start for s in scenes])
    v = float(np.average([s.valence for s in scenes], weights=weights))
    a = float(np.average([s.arousal for s in scenes], weights=weights))
    return v, a


def _cue(group: list[tuple[int, Scene]], plan: NarrativePlan, spec: StyleSpec, home_key: str, home_mode: str) -> Cue:
    scenes = [s for _, s in group]
    v, a = _mean_affect(scenes)
    key, mode = home_key, home_mode
    if home_mode == "major" and v <= -MODE_TURN:
        mode = "minor"
    elif home_mode == "minor" and v >= MODE_TURN:
        mode = "major"
    elif home_mode == "major" and any(s.arc_role == "climax" for s in scenes) and a >= 0.3 and v >= 0:
        key = transpose_key(home_key, 7)
    return Cue(
        start=float(scenes[0].start),
        end=float(scenes[-1].end),
        tempo=tempo_for_arousal(spec, a),
        key=key,
        mode=mode,
        intensity=round(min(1.0, max(0.0, (a + 1.0) / 2.0)), 6),
        valence=round(v, 6),
        arousal=round(a, 6),
        scene_index=group[0][0],
    )
