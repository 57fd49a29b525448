"""Benchmark the procedural synthesizer: compose and render N minutes of music.

    python benchmarks/bench_render.py --minutes 10 [--style orchestral] [--soundfont PATH] [--stems] [--workers 2]

Prints compose time, render time (SoundFont loading included; the workers load it while the parent
composes), their real-time factors, and the peak RSS of this process and of the largest worker
(``resource.getrusage``; workers are separate processes, so the machine's peak is at most their sum).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from narrascore.artifacts import Cut, NarrativePlan, Scene, Shots
from narrascore.concept import conceive
from narrascore.synth import SAMPLE_RATE, RenderRequest
from narrascore.synth.procedural import ProceduralSynthesizer, compose, find_soundfont, write_midi

ROLES = ("setup", "rising", "climax", "falling", "resolution")


def synthetic_plan(minutes: float, *, seed: int = 0, hop: float = 0.5) -> tuple[NarrativePlan, Shots]:
    """Scenes of 8..40 s with a slow valence/arousal arc plus noise; shots every 2..8 s."""
    rng = np.random.default_rng(seed)
    duration = 60.0 * minutes
    bounds = [0.0]
    while bounds[-1] < duration - 8:
        bounds.append(min(duration, bounds[-1] + float(rng.uniform(8, 40))))
    bounds[-1] = duration
    times = np.arange(0.0, duration + 1e-9, hop)
    phase = 2 * np.pi * times / duration
    arousal = np.clip(0.7 * np.sin(phase * 1.5 - 1.2) + 0.15 * np.sin(phase * 11), -1, 1)
    valence = np.clip(0.5 * np.cos(phase * 2.0) + 0.1 * np.sin(phase * 7), -1, 1)
    scenes = []
    for i, (t0, t1) in enumerate(zip(bounds[:-1], bounds[1:])):
        mask = (times >= t0) & (times <= t1)
        role = ROLES[min(4, int(5 * (t0 + t1) / 2 / duration))]
        scenes.append(Scene(t0, t1, f"scene {i}", float(valence[mask].mean()), float(arousal[mask].mean()), "synthetic", role))
    plan = NarrativePlan("synthetic benchmark", tuple(scenes), hop, tuple(times.tolist()), tuple(valence.tolist()),
                         tuple(arousal.tolist()), float(times[int(np.argmax(arousal))]), duration)
    cuts, t = [], 0.0
    while True:
        t += float(rng.uniform(2, 8))
        if t >= duration:
            break
        cuts.append(Cut(t, 1.0))
    cuts += [Cut(s.start, 1.0) for s in scenes[1:]]
    return plan, Shots(tuple(sorted(cuts, key=lambda c: c.time)), "synthetic", duration)


def peak_rss_mib() -> tuple[float, float]:
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kib / 1024, children_kib / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--style", default="orchestral")
    parser.add_argument("--soundfont", default=None, help="default: the best installed SoundFont")
    parser.add_argument("--stems", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: 2 for long renders)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args(argv)

    plan, shots = synthetic_plan(args.minutes, seed=args.seed)
    concept = conceive(plan, style=args.style, seed=args.seed)
    audio_s = plan.duration
    font = find_soundfont(args.soundfont)
    print(f"{args.minutes:g} min, {len(plan.scenes)} scenes, {len(concept.cues)} cues, style {concept.style}, font {font.name}")

    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        t0 = time.perf_counter()
        score = compose(plan, concept, shots)
        write_midi(score, Path(work) / "bench.mid")
        compose_s = time.perf_counter() - t0
        n_notes = sum(len(t.notes) for t in score.tracks)
        del score

        synth = ProceduralSynthesizer(workers=args.workers)
        t0 = time.perf_counter()
        synth.render(plan, concept, shots, RenderRequest(n_samples=round(audio_s * SAMPLE_RATE), work_dir=Path(work),
                                                        stems=args.stems, soundfont=str(font)))
        total_s = time.perf_counter() - t0
    timing = synth.last_timing
    rss_self, rss_child = peak_rss_mib()
    print(f"notes: {n_notes}")
    print(f"compose (+MIDI): {compose_s:7.2f} s  {audio_s / compose_s:8.1f}x real time")
    print(f"render:          {timing['render_s']:7.2f} s  {audio_s / timing['render_s']:8.1f}x real time  ({timing['workers']:.0f} workers)")
    print(f"compose+render:  {total_s:7.2f} s  {audio_s / total_s:8.1f}x real time (one synth.render call, font loading included)")
    print(f"peak RSS: parent {rss_self:.0f} MiB, largest worker {rss_child:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
