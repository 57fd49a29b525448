"""The default reasoner: scenes from shots and affect, arc roles by rule, captions and S_global from templates."""

from __future__ import annotations

import dataclasses

from ..artifacts import AffectCurve, MediaInfo, NarrativePlan, Scene, Shots
from . import REASONERS, climax_time, scenes_fingerprint
from .arc import arc_roles, describe_arc
from .curve import affect_pieces, derive_curve
from .scenes import caption, descriptors, label_for, scene_affect, segment_scenes
from .shape import sharp_affect


@REASONERS.register("rules")
class RulesReasoner:
    """Deterministic, explainable narrative reading (see ``scenes``, ``arc`` and ``curve`` for the rules).

    min_scene / max_scene: scene length bounds (s); merge_distance: VA distance under which adjacent
    scenes merge; anticipation: seconds the arousal builds before the climax.
    """

    name = "rules"

    def __init__(self, *, min_scene: float = 4.0, max_scene: float = 60.0, merge_distance: float = 0.25, anticipation: float = 4.0) -> None:
        self.min_scene, self.max_scene = min_scene, max_scene
        self.merge_distance, self.anticipation = merge_distance, anticipation

    def reason(self, media: MediaInfo, shots: Shots, affect: AffectCurve) -> NarrativePlan:
        duration = float(media.duration)
        cuts = shots.cut_times()
        bounds = segment_scenes(
            cuts, affect, duration, min_scene=self.min_scene, max_scene=self.max_scene, merge_distance=self.merge_distance
        )
        # E_local from the sharp copy of the affect (the sensor's 6 s smoothing leaks across boundaries),
        # rounded as the artifact file stores them, so a saved plan re-derives to the same curve
        v, a, _ = sharp_affect(affect)
        sharp = dataclasses.replace(affect, valence=tuple(v.tolist()), arousal=tuple(a.tolist()))
        local = [tuple(round(x, 6) for x in scene_affect(sharp, start, end)) for start, end in bounds]
        roles, _ = arc_roles([b[0] for b in bounds], [b[1] for b in bounds], [a for _, a in local])
        scenes = []
        for i, ((start, end), (v, a), role) in enumerate(zip(bounds, local, roles), start=1):
            label = label_for(v, a)
            words = descriptors(affect.features, affect.times, start, end)
            scenes.append(Scene(start=start, end=end, caption=caption(i, start, end, label, words), valence=v, arousal=a, label=label, arc_role=role))
        scenes = tuple(scenes)
        pieces = affect_pieces(scenes, affect)
        times, valence, arousal = derive_curve(scenes, duration, affect.hop, cuts, pieces=pieces, anticipation=self.anticipation)
        peak = climax_time(scenes, times, arousal)
        return NarrativePlan(
            s_global=describe_arc(scenes, peak, curve=(times, valence, arousal), pieces=pieces),
            scenes=scenes,
            hop=affect.hop,
            times=times,
            valence=valence,
            arousal=arousal,
            climax_time=peak,
            duration=duration,
            reasoner=self.name,
            scenes_fingerprint=scenes_fingerprint(scenes),
        )
