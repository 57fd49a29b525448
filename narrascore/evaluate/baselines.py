"""Control plans for the evaluation: the same music machinery driven by a curve that does not follow the story.

* :func:`fixed_mood_plan` flattens the narrative curve to its time-weighted mean: a "one mood"
  soundtrack, the usual library-music baseline.
* :func:`shuffled_plan` permutes the scenes (and their stretches of the curve): the same moods, in
  the wrong places. If our soundtrack aligns no better with the real curve than this control does,
  the alignment comes from the music's overall mood, not from following the story.

Both are pure functions returning a valid :class:`NarrativePlan` whose ``scenes_fingerprint``
matches its scenes, so the pipeline renders the curve as given.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..artifacts import MusicConcept, NarrativePlan, Scene, to_data, validate
from ..fileio import canonical_hash


def _fingerprint(scenes: tuple[Scene, ...]) -> str:
    try:
        from ..narrative import scenes_fingerprint
    except ImportError:  # narrative stage not installed: same definition
        return canonical_hash(to_data(tuple(scenes)))
    return scenes_fingerprint(scenes)


def fixed_mood_plan(plan: NarrativePlan) -> NarrativePlan:
    """The plan with its curve, and every scene's E_local, set to the curve's mean valence and arousal."""
    v = float(np.mean(plan.valence)) if plan.valence else 0.0
    a = float(np.mean(plan.arousal)) if plan.arousal else 0.0
    scenes = tuple(dataclasses.replace(s, valence=v, arousal=a) for s in plan.scenes)
    n = len(plan.times)
    out = dataclasses.replace(plan, scenes=scenes, valence=(v,) * n, arousal=(a,) * n,
                              reasoner=f"{plan.reasoner}+fixed-mood", scenes_fingerprint=_fingerprint(scenes))
    validate(out)
    return out


def shuffled_plan(plan: NarrativePlan, seed: int = 0) -> NarrativePlan:
    """The plan with its scenes in a random order (a derangement when there are 2 or more scenes).

    Each scene keeps its length, caption, E_local and arc role and takes its stretch of the curve
    with it; scenes are laid end to end again from 0, so the plan lasts as long as before.
    ``climax_time`` moves with the scene that holds it. Deterministic in ``seed``.
    """
    n = len(plan.scenes)
    rng = np.random.default_rng(seed)
    order = np.arange(n)
    if n > 1:
        for _ in range(100):
            order = rng.permutation(n)
            if not np.any(order == np.arange(n)):
                break
    times = np.asarray(plan.times, dtype=np.float64)
    val, aro = np.asarray(plan.valence), np.asarray(plan.arousal)
    # the curve samples of each scene: [start, end), the last scene also takes samples at its end
    bounds = [s.start for s in plan.scenes] + [np.inf]
    seg = [np.nonzero((times >= bounds[i]) & (times < bounds[i + 1]))[0] for i in range(n)]
    idx = np.concatenate([seg[i] for i in order]) if n else np.zeros(0, dtype=int)
    scenes: list[Scene] = []
    t = 0.0
    climax = plan.climax_time
    for i in order:
        s = plan.scenes[i]
        length = s.end - s.start
        if s.start <= plan.climax_time < s.end or (i == n - 1 and plan.climax_time >= s.end):
            climax = t + (plan.climax_time - s.start)
        scenes.append(dataclasses.replace(s, start=t, end=t + length))
        t += length
    if scenes:  # absorb rounding so the plan ends exactly where it did
        scenes[-1] = dataclasses.replace(scenes[-1], end=plan.duration)
    out = dataclasses.replace(
        plan, scenes=tuple(scenes), valence=tuple(float(x) for x in val[idx]), arousal=tuple(float(x) for x in aro[idx]),
        climax_time=float(min(max(climax, 0.0), plan.duration)), reasoner=f"{plan.reasoner}+shuffled",
        scenes_fingerprint=_fingerprint(tuple(scenes)),
    )
    validate(out)
    return out


def baseline_concept(concept: MusicConcept, plan: NarrativePlan) -> MusicConcept:
    """``concept``'s Global Semantic Anchor with a cue plan derived from ``plan`` (a baseline's curve).

    Style, instruments, home key and mode, meter, seed and anchor prompt stay ours; the cues (their
    bounds, tempo, intensity, key and E_local) are derived from ``plan`` as ``concept.conceive``
    derives ours. Our own cues carry the story's affect, so a baseline curve rendered with them would
    get the story back at cue level: the composer follows each cue's intensity.
    """
    from ..artifacts import KEYS
    from ..concept import conceive, transpose_key

    derived = conceive(plan, style=concept.style, seed=concept.seed)
    cues = derived.cues
    if derived.mode == concept.mode and derived.key != concept.key:  # home key edited by hand: move the cues with it
        shift = KEYS.index(concept.key) - KEYS.index(derived.key)
        cues = tuple(dataclasses.replace(c, key=transpose_key(c.key, shift)) for c in cues)
    out = dataclasses.replace(
        concept, cues=cues, tempo_min=min(concept.tempo_min, derived.tempo_min),
        tempo_max=max(concept.tempo_max, derived.tempo_max),
    )
    validate(out)
    return out
