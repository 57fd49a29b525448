"""Narrative reasoning: scenes, their local emotion E_local, the global arc S_global, and the curve for the music.

A reasoner implements ``NarrativeReasoner`` and registers under a name (``rules`` is the default).
``derive_curve`` (and ``refresh`` around it) turns scenes into the music-driving curve again after
a user edits a scene's valence or arousal by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..artifacts import AffectCurve, MediaInfo, NarrativePlan, Scene, Shots, to_data, validate
from ..fileio import canonical_hash
from ..registry import Registry
from .curve import derive_curve


class NarrativeReasoner(Protocol):
    name: str

    def reason(self, media: MediaInfo, shots: Shots, affect: AffectCurve) -> NarrativePlan:
        """Read the story from the shots and the affect curve; return the plan covering ``[0, media.duration]``."""
        ...


REASONERS: Registry[NarrativeReasoner] = Registry("reasoner")


def reason(media: MediaInfo, shots: Shots, affect: AffectCurve, reasoner: str = "rules", **options: object) -> NarrativePlan:
    """Run the named reasoner (options go to its constructor) and validate its plan."""
    plan = REASONERS.create(reasoner, **options).reason(media, shots, affect)
    validate(plan)
    return plan


def scenes_fingerprint(scenes: Sequence[Scene]) -> str:
    """The hash recorded in ``NarrativePlan.scenes_fingerprint``."""
    return canonical_hash(to_data(tuple(scenes)))


def climax_time(scenes: Sequence[Scene], times: Sequence[float], arousal: Sequence[float]) -> float:
    """Time (s) the narrative arousal inside the climax scene first comes within 0.1 of its peak there."""
    climax = next((s for s in scenes if s.arc_role == "climax"), None)
    if climax is None:
        climax = max(scenes, key=lambda s: s.arousal)
    t = np.asarray(times, dtype=float)
    inside = np.flatnonzero((t >= climax.start - 1e-9) & (t < climax.end - 1e-9))
    if inside.size == 0:
        return float(climax.start)
    a = np.asarray(arousal, dtype=float)[inside]
    return float(t[inside[int(np.argmax(a >= a.max() - 0.1))]])


def refresh(plan: NarrativePlan, cuts: Sequence[float] = (), *, affect: AffectCurve | None = None) -> NarrativePlan:
    """Re-derive the curve, climax time and fingerprint of a plan whose scenes were edited by hand.

    Text (``s_global``, captions, labels) is kept as the user left it.
    """
    times, valence, arousal = derive_curve(plan.scenes, plan.duration, plan.hop, cuts, affect=affect)
    fresh = dataclasses.replace(
        plan,
        times=times,
        valence=valence,
        arousal=arousal,
        climax_time=climax_time(plan.scenes, times, arousal),
        scenes_fingerprint=scenes_fingerprint(plan.scenes),
    )
    validate(fresh)
    return fresh


from . import rules as _rules  # noqa: E402,F401  (registers "rules")
from . import llm as _llm  # noqa: E402,F401  (registers "llm"; torch/transformers load only when it runs)

__all__ = ["REASONERS", "NarrativeReasoner", "climax_time", "derive_curve", "reason", "refresh", "scenes_fingerprint"]
