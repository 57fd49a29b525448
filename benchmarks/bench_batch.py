"""Batch throughput: `narrascore batch` with 1 and 2 local workers, and on a local Ray instance.

A folder of short synthetic videos (made once into the media cache) is scored from scratch by
each contender, each run a fresh `narrascore batch IN -o OUT --quiet` process into an empty
output folder (imports, pool or Ray start-up and the summary included). The contenders run
interleaved, the order alternating each round, so the noise of a shared machine falls on all:

* ``local, 1 worker`` - ``--workers 1``;
* ``local, 2 workers`` - ``--workers 2``;
* ``ray, 2 CPUs`` - ``--ray auto``: starts a local Ray instance (all usable cores), one task per video.

Ray's overhead against the local pool is the difference of the medians (2 workers vs Ray), and
separately the start and stop of an empty local Ray instance. With ``--baseline DIR`` (a checkout of
an older commit, its renderer built) the local contenders also run from there (``PYTHONPATH=DIR``),
interleaved with ours; ``--no-ray`` leaves Ray out.

    python benchmarks/bench_batch.py [--quick] [--runs N] [--videos N] [--seconds S] [--baseline DIR] [--no-ray]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

RAY_START = ("import time; t = time.perf_counter(); import ray; ray.init(include_dashboard=False); "
             "ray.shutdown(); print(time.perf_counter() - t)")


def make_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` different videos of ``seconds`` each (cuts every 2-4 s), made once."""
    from narrascore.media.synthetic import Segment, make_video

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        path = folder / f"clip{k:02d}.mp4"
        paths.append(path)
        if path.exists():
            continue
        segments, t, i = [], 0.0, 0
        while t < seconds - 1e-6:
            length = min(2.0 + (i + k) % 3, seconds - t)
            colour = ((40 + 70 * i + 30 * k) % 230, (90 + 50 * i) % 230, (160 + 40 * k + 20 * i) % 230)
            segments.append(Segment(length, colour, motion=0.1 * ((i + k) % 4), audio_db=-36 + 5 * ((i + k) % 5),
                                    audio_pulse_hz=float(2 + (i % 3) * 2) if i % 2 else 0.0))
            t += length
            i += 1
        tmp = path.with_name(f".{path.name}")
        make_video(tmp, segments, seed=k)
        tmp.rename(path)
    return paths


def main() -> None:
    p = bl.parser(__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=None, help="videos in the batch (default 4, quick 3)")
    p.add_argument("--seconds", type=float, default=None, help="length of each video in seconds (default 12, quick 8)")
    p.add_argument("--baseline", type=Path, default=None, help="also run the local pool from this older checkout")
    p.add_argument("--no-ray", action="store_true", help="leave the Ray contender out")
    args = p.parse_args()
    runs = bl.runs_of(args)
    count = args.videos or (3 if args.quick else 4)
    seconds = args.seconds or (8.0 if args.quick else 12.0)
    folder = bl.cache_dir() / f"batch-videos-{count}x{seconds:g}s"
    make_videos(folder, count, seconds)
    total = count * seconds
    out = bl.scratch_dir("batch-out")

    def command(*extra: str) -> list[str]:
        return [bl.PYTHON, "-m", "narrascore.cli", "batch", str(folder), "-o", str(out), "--quiet", *extra]

    contenders = {
        "local, 1 worker": command("--workers", "1"),
        "local, 2 workers": command("--workers", "2"),
    }
    envs: dict[str, dict[str, str] | None] = {name: None for name in contenders}
    if args.baseline:
        for workers in ("1", "2"):
            name = f"baseline, {workers} worker{'s' if workers == '2' else ''}"
            contenders[name] = command("--workers", workers)
            envs[name] = {**os.environ, "PYTHONPATH": str(args.baseline)}
    if not args.no_ray:
        contenders["ray, 2 CPUs"] = command("--ray", "auto")
        envs["ray, 2 CPUs"] = None
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    failures: list[str] = []
    order = list(contenders)
    for round_ in range(runs):
        for name in (order if round_ % 2 == 0 else order[::-1]):
            shutil.rmtree(out, ignore_errors=True)
            timed = bl.run_timed(contenders[name], env=envs[name])
            done = _done(out / "batch-summary.csv")
            if timed.returncode != 0 or done != count:
                failures.append(f"{name}: exit {timed.returncode}, {done}/{count} done: {bl.tail(timed.stderr)}")
                continue
            walls[name].append(timed.wall)
            cpus[name].append(timed.cpu)
            print(f"round {round_ + 1} {name}: {timed.wall:.2f} s", flush=True)
    ray_start = []
    for _ in range(0 if args.no_ray else runs):
        timed = bl.run_timed([bl.PYTHON, "-c", RAY_START])
        if timed.returncode == 0:
            ray_start.append(float(timed.stdout.strip().splitlines()[-1]))
    shutil.rmtree(out, ignore_errors=True)

    rows = []
    for name in contenders:
        w = walls[name]
        rows.append([name, bl.fmt_s(w), bl.fmt_x([60.0 * count / x for x in w], 1).replace("x", " videos/min"),
                     bl.fmt_x([total / x for x in w], 1),
                     "n/a (Ray's workers are not its children)" if name.startswith("ray") else bl.fmt_s(cpus[name])])
    med = {name: statistics.median(w) for name, w in walls.items() if w}
    notes = [f"{count} synthetic videos of {seconds:g} s (320x180-class H.264 + AAC, cuts every 2-4 s), "
             f"{total:g} s of video per batch; every run starts from an empty output folder."]
    headline = ""
    if "local, 1 worker" in med and "local, 2 workers" in med:
        headline = f"2 workers / 1 worker throughput: {med['local, 1 worker'] / med['local, 2 workers']:.2f}x"
    for workers in ("1 worker", "2 workers"):
        if f"baseline, {workers}" in med and f"local, {workers}" in med:
            headline += (f"; {workers}: {med[f'baseline, {workers}'] / med[f'local, {workers}']:.2f}x the baseline's "
                         "throughput")
    if "ray, 2 CPUs" in med and "local, 2 workers" in med:
        overhead = med["ray, 2 CPUs"] - med["local, 2 workers"]
        notes.append(f"Ray overhead against the local pool (2 workers): {overhead:+.2f} s per batch "
                     f"({med['ray, 2 CPUs'] / med['local, 2 workers']:.2f}x the wall time); starting and stopping "
                     f"an empty local Ray instance alone: {bl.fmt_s(ray_start)}.")
    result = {
        "name": "batch", "title": "Batch scoring throughput (local pool vs Ray)",
        "what": __doc__.split("\n\n")[1], "headline": headline, "machine": bl.machine(),
        "tables": [{"title": "narrascore batch, medians of runs", "columns": ["contender", "wall", "throughput",
                                                                               "video s / wall s", "CPU time"],
                    "rows": rows}],
        "notes": notes, "failures": failures,
        "commands": [bl.cmdline(c) for c in contenders.values()],
        "raw": {"walls": walls, "cpus": cpus, "ray_start": ray_start, "videos": count, "seconds": seconds},
    }
    bl.finish(result, args)


def _done(summary: Path) -> int:
    import csv

    try:
        with open(summary, newline="") as handle:
            return sum(row["status"] == "done" for row in csv.DictReader(handle))
    except OSError:
        return 0


if __name__ == "__main__":
    main()
