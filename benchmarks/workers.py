"""Child processes of the benchmarks (run in NarraScore's environment); each prints one JSON line last.

    python benchmarks/workers.py sense VIDEO [--full]   probe + scan_video + audio_stats, timed apart
    python benchmarks/workers.py analyze VIDEO OUT      the pipeline's media + signals stages (as `analyze` runs them)
    python benchmarks/workers.py cuts VIDEO [--full]    scan_video's cuts (time, kind) and its time
    python benchmarks/workers.py stages VIDEO OUT       the whole pipeline, each stage timed
    python benchmarks/workers.py timeline VIDEO OUT     the whole pipeline: when each stage starts and ends, and
                                                        the CPU time of this process and of its workers then
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

T0 = time.perf_counter()


def sense(video: str, fast: bool) -> dict:
    from narrascore.media import audio_stats, probe, scan_video

    times = {"import": time.perf_counter() - T0}
    t = time.perf_counter()
    info = probe(video)
    times["probe"] = time.perf_counter() - t
    t = time.perf_counter()
    stats, shots = scan_video(video, info, fast=fast)
    times["scan_video"] = time.perf_counter() - t
    t = time.perf_counter()
    sound = audio_stats(video, info, hop=0.5)
    times["audio_stats"] = time.perf_counter() - t
    return {"times": times, "duration": info.duration, "frames": int(len(stats.times)), "cuts": len(shots.cuts),
            "audio_hops": 0 if sound is None else int(len(sound.times))}


def analyze(video: str, out: str) -> dict:
    """What `narrascore analyze` does before sensing: probe, then the video scan with the audio scan
    beside it in a second process (``Pipeline.media`` + ``Pipeline.signals``), into a fresh ``out``."""
    from narrascore.options import ScoreOptions
    from narrascore.pipeline import Pipeline

    imported = time.perf_counter() - T0
    reporter = TimingReporter()
    pipe = Pipeline(out, ScoreOptions(), reporter)
    t = time.perf_counter()
    info = pipe.media(Path(video))
    shots, stats, audio = pipe.signals(Path(video), info, need_stats=True)
    total = time.perf_counter() - t
    return {"times": {"import": imported, **reporter.times, "total": total}, "duration": info.duration,
            "frames": int(len(stats.times)) if stats is not None else 0, "cuts": len(shots.cuts),
            "audio_hops": 0 if audio is None else int(len(audio.times))}


def cuts(video: str, fast: bool) -> dict:
    from narrascore.media import probe, scan_video

    info = probe(video)
    t, c = time.perf_counter(), time.process_time()
    _, shots = scan_video(video, info, fast=fast)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    return {"seconds": seconds, "cpu_seconds": cpu, "fps": info.fps, "duration": info.duration,
            "cuts": [{"time": c.time, "kind": c.kind} for c in shots.cuts]}


class TimelineReporter:
    """A pipeline Reporter that records, at each stage's start and end, the seconds since the process
    started and the CPU seconds of this process and of its finished workers."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.mark("imported")

    def mark(self, what: str) -> None:
        import os

        t = os.times()
        self.events.append({"at": round(time.perf_counter() - T0, 3), "event": what,
                            "cpu": round(t.user + t.system, 2), "workers_cpu": round(t.children_user + t.children_system, 2)})

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator:
        self.mark(f"start {name}")
        try:
            yield lambda done: None
        finally:
            self.mark(f"end {name}")

    def note(self, message: str) -> None:
        pass


def timeline(video: str, out: str) -> dict:
    from narrascore.options import ScoreOptions
    from narrascore.pipeline import run

    reporter = TimelineReporter()
    options = ScoreOptions()
    reporter.mark("options checked")
    run(video, out, options, reporter=reporter)
    reporter.mark("done")
    return {"events": reporter.events}


class TimingReporter:
    """A pipeline Reporter that records the wall time of each named stage (s)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.notes: list[str] = []

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator:
        start = time.perf_counter()
        try:
            yield lambda done: None
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - start

    def note(self, message: str) -> None:
        self.notes.append(message)


def stages(video: str, out: str) -> dict:
    """Run ``narrascore.pipeline.run`` (what ``narrascore score`` calls) with a timing reporter."""
    import resource

    from narrascore.options import ScoreOptions
    from narrascore.pipeline import run

    imported = time.perf_counter() - T0
    reporter = TimingReporter()
    start = time.perf_counter()
    error = None
    try:
        result = run(video, out, ScoreOptions(), reporter=reporter)
        duration, reused = result.media.duration, list(result.reused)
    except Exception as exc:  # report what ran before the failure
        error, duration, reused = f"{type(exc).__name__}: {exc}", None, []
    total = time.perf_counter() - start
    return {"import": imported, "total": total, "stages": reporter.times,
            "untimed": total - sum(reporter.times.values()), "duration": duration, "reused": reused,
            "error": error, "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("sense", "cuts"):
        p = sub.add_parser(name)
        p.add_argument("video")
        p.add_argument("--full", action="store_true", help="fast=False: decode every frame")
    p = sub.add_parser("analyze")
    p.add_argument("video")
    p.add_argument("out")
    p = sub.add_parser("stages")
    p.add_argument("video")
    p.add_argument("out")
    p = sub.add_parser("timeline")
    p.add_argument("video")
    p.add_argument("out")
    args = parser.parse_args()
    if args.what == "sense":
        result = sense(args.video, fast=not args.full)
    elif args.what == "analyze":
        result = analyze(args.video, args.out)
    elif args.what == "cuts":
        result = cuts(args.video, fast=not args.full)
    elif args.what == "timeline":
        result = timeline(args.video, args.out)
    else:
        result = stages(args.video, args.out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
