"""The procedural synthesizer: a rule-based composer (harmony, rhythm, orchestration driven by the
narrative valence/arousal curve) and a SoundFont renderer (tinysoundfont). No neural network.

>>> synth = SYNTHESIZERS.create("procedural")
>>> result = synth.render(plan, concept, shots, RenderRequest(n_samples=..., work_dir=Path("work")))

Writes into ``request.work_dir``: ``score.mid``, ``mix.wav`` (48 kHz stereo float32, exactly
``request.n_samples`` long, through the style's mix bus (``mix.py``: reverb and bus compression), not
loudness-normalised) and, with ``request.stems``, ``stems/<group>.wav`` for the groups melody,
harmony, bass, pad, percussion (those that play) plus ``stems/reverb.wav``, the room.
With stems the mix is the sum of the stem files; without, a two-way split of the groups is summed
(the two mixes differ only by float rounding). Output depends only on the inputs and ``concept.seed``.
"""

from __future__ import annotations

import math

import time
from dataclasses import dataclass, field
from pathlib import Path

from ...artifacts import MusicConcept, NarrativePlan, Shots, validate
from ...errors import OptionError
from ...fileio import atomic_path, ensure_writable_dir
from .. import SAMPLE_RATE, SYNTHESIZERS, RenderRequest, RenderResult
from .composer import Score, compose, write_midi
from .fontcache import decoded_soundfont
from .mix import MixBus
from .render import (CHUNK, RenderStats, WorkerPool, build_units, default_workers, preload_synth, render_units,
                     wait_for_preload)
from .soundfont import find_soundfont

__all__ = ["ProceduralSynthesizer", "compose", "write_midi", "find_soundfont", "preload_synth", "wait_for_preload", "Score"]


@dataclass
class ProceduralSynthesizer:
    """``workers``: render processes (None: 2 for renders over 90 s, else render in-process)."""

    workers: int | None = None
    name: str = "procedural"
    last_timing: dict[str, float] = field(default_factory=dict)

    def render(self, plan: NarrativePlan, concept: MusicConcept, shots: Shots, request: RenderRequest) -> RenderResult:
        if request.n_samples <= 0:
            raise OptionError(f"n_samples must be positive, got {request.n_samples}")
        validate(plan)
        validate(concept)
        soundfont = decoded_soundfont(find_soundfont(request.soundfont))  # once, before any worker loads it
        work = ensure_writable_dir(request.work_dir)
        workers = default_workers(request.n_samples) if self.workers is None else self.workers
        pool = None
        finished = False
        try:
            t0 = time.perf_counter()
            score = compose(plan, concept, shots)
            midi = work / "score.mid"
            with atomic_path(midi) as tmp:
                write_midi(score, tmp)
            t1 = time.perf_counter()
            units = build_units(score, stems=request.stems, style=concept.style)  # before the fork: it imports scipy.signal
            pool = WorkerPool(soundfont, workers) if workers > 0 else None
            stem_paths: dict[str, Path] = {}
            if request.stems:
                stem_dir = ensure_writable_dir(work / "stems")
                stem_paths = {u.name: stem_dir / f"{u.name}.wav" for u in units}
                stem_paths["reverb"] = stem_dir / "reverb.wav"
            mix = work / "mix.wav"
            bus = MixBus(concept.style, SAMPLE_RATE, CHUNK)
            stats: RenderStats = render_units(units, soundfont=soundfont, n_samples=request.n_samples, mix=mix,
                                              stem_paths=stem_paths, scratch=work, pool=pool, progress=request.progress,
                                              bus=bus)
            finished = True
        finally:
            if pool is not None:
                pool.close(stop=not finished)
        self.last_timing = {"compose_s": t1 - t0, "render_s": stats.seconds, "workers": float(stats.workers)}
        lufs = stats.integrated_lufs if stats.integrated_lufs is not None and math.isfinite(stats.integrated_lufs) else None
        return RenderResult(mix=mix, n_samples=request.n_samples, sample_rate=SAMPLE_RATE, stems=stem_paths, midi=midi,
                            integrated_lufs=lufs)


@SYNTHESIZERS.register("procedural")
def _make(**kwargs: object) -> ProceduralSynthesizer:
    return ProceduralSynthesizer(**kwargs)  # type: ignore[arg-type]
