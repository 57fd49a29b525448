"""Decode + sensing (what `narrascore analyze` does before the narrative) versus `ffmpeg -f null`.

Ours, two ways, each in a fresh Python process (imports included), on the benchmark video:
"pipeline" is what `narrascore analyze` runs (``Pipeline.media`` + ``Pipeline.signals``: probe, then
``scan_video(fast=True)`` with ``audio_stats`` beside it in a second process), "sequential" is
``probe`` + ``scan_video(fast=True)`` + ``audio_stats`` one after the other in one process. Baseline: ``ffmpeg -i VIDEO -f null -``, which decodes every
video frame and the audio and throws them away. Both are run interleaved (the order alternates
each round) so the noise of a shared machine falls on both alike. ``fast=False`` (every frame
decoded) is measured alongside for reference.

    python benchmarks/bench_sensing.py [--quick] [--runs N] [--video PATH]

Prints ffmpeg / ours: above 1 means ours is faster (the target is >= 1).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402


def main() -> None:
    p = bl.parser(__doc__.splitlines()[0])
    bl.add_video_arg(p)
    p.add_argument("--no-full", action="store_true", help="skip the fast=False reference")
    args = p.parse_args()
    runs = bl.runs_of(args)
    video, _ = bl.pick_video(args)
    bl.warm_page_cache(video)

    analyze_out = bl.cache_dir() / "runs" / "sensing-analyze"
    contenders = {
        "ffmpeg": ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-i", str(video), "-f", "null", "-"],
        "ours (pipeline)": [bl.PYTHON, str(bl.BENCH_DIR / "workers.py"), "analyze", str(video), str(analyze_out)],
        "ours (fast)": [bl.PYTHON, str(bl.BENCH_DIR / "workers.py"), "sense", str(video)],
    }
    if not args.no_full:
        contenders["ours (fast=False)"] = [bl.PYTHON, str(bl.BENCH_DIR / "workers.py"), "sense", str(video), "--full"]
    wall: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    parts: dict[str, dict[str, list[float]]] = {k: {} for k in contenders}
    ratios: list[float] = []
    ratios_full: list[float] = []
    ratios_pipe: list[float] = []
    cpu_ratios: dict[str, list[float]] = {k: [] for k in contenders}
    failures: list[str] = []
    duration = None
    names = list(contenders)
    for r in range(runs):
        order = names if r % 2 == 0 else names[::-1]  # A B C, C B A, ...
        this: dict[str, float] = {}
        this_cpu: dict[str, float] = {}
        for name in order:
            if name == "ours (pipeline)":
                bl.scratch_dir(analyze_out.name)  # fresh: nothing to reuse
            t = bl.run_timed(contenders[name])
            if not t.ok:
                failures.append(f"{name} failed (exit {t.returncode}): {bl.tail(t.stderr)}")
                continue
            wall[name].append(t.wall)
            cpu[name].append(t.cpu)
            this[name] = t.wall
            this_cpu[name] = t.cpu
            if name != "ffmpeg":
                info = bl.last_json_line(t.stdout)
                duration = info["duration"]
                for part, sec in info["times"].items():
                    parts[name].setdefault(part, []).append(sec)
            print(f"  run {r + 1}/{runs} {name:<18} {t.wall:7.2f} s wall {t.cpu:7.2f} s cpu", flush=True)
        if "ffmpeg" in this and "ours (fast)" in this:
            ratios.append(this["ffmpeg"] / this["ours (fast)"])
        if "ffmpeg" in this and "ours (pipeline)" in this:
            ratios_pipe.append(this["ffmpeg"] / this["ours (pipeline)"])
        if "ffmpeg" in this and "ours (fast=False)" in this:
            ratios_full.append(this["ffmpeg"] / this["ours (fast=False)"])
        for name in this_cpu:
            if "ffmpeg" in this_cpu:
                cpu_ratios[name].append(this_cpu["ffmpeg"] / this_cpu[name])

    rows = []
    for name in names:
        if not wall[name]:
            rows.append([name, "—", "—", "—", "—", "—"])
            continue
        rtf = [duration / w for w in wall[name]] if duration else []
        ratio = "1 (baseline)" if name == "ffmpeg" else bl.fmt_x(
            {"ours (fast)": ratios, "ours (pipeline)": ratios_pipe}.get(name, ratios_full))
        cpu_ratio = "1 (baseline)" if name == "ffmpeg" else bl.fmt_x(cpu_ratios[name])
        rows.append([name, bl.fmt_s(wall[name]), bl.fmt_s(cpu[name]), bl.fmt_x(rtf, 1), ratio, cpu_ratio])
    part_rows = [[name, part, bl.fmt_s(vals)] for name in names for part, vals in parts[name].items()]
    headline = (f"ffmpeg / ours as `analyze` runs it (pipeline): {statistics.median(ratios_pipe):.2f}x wall (median of "
                f"{len(ratios_pipe)} interleaved rounds; >= 1 means ours is at least as fast; target >= 1)") if ratios_pipe else "ratio not measured"
    if ratios:
        headline += (f"; sequential in one process: {statistics.median(ratios):.2f}x wall, "
                     f"{statistics.median(cpu_ratios['ours (fast)']):.2f}x by CPU time")
    ff, ours = wall["ffmpeg"], wall["ours (pipeline)"]
    summary = {"baseline": f"ffmpeg -f null: {bl.fmt_s(ff)}" if ff else "—",
               "ours": f"media + signals stages (audio in a 2nd process): {bl.fmt_s(ours)}" if ours else "—",
               "ratio": (f"{bl.fmt_x(ratios_pipe)} (ffmpeg / ours, wall); sequential in one process: {bl.fmt_x(ratios)} wall, "
                         f"{bl.fmt_x(cpu_ratios['ours (fast)'])} by CPU time" if ratios_pipe else "—"), "target": ">= 1x"}
    result = {
        "name": "sensing",
        "summary": summary,
        "title": "Decode + sensing versus ffmpeg -f null",
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "video": f"{video} ({duration:.0f} s)" if duration else str(video),
        "headline": headline,
        "tables": [
            {"title": f"{runs} interleaved rounds on {video.name}; ratio = ffmpeg wall / ours wall, per round (> 1: ours faster)",
             "columns": ["contender", "wall, median (min–max)", "CPU user+sys", "real-time factor", "ffmpeg / this (wall)",
                         "ffmpeg / this (CPU time)"],
             "rows": rows},
            {"title": "inside our runs (timed in the child process)", "columns": ["contender", "part", "seconds"],
             "rows": part_rows},
        ],
        "notes": ["real-time factor = video duration / wall time", "CPU = user + system time of the child process; "
                  "above wall time means it used both cores; on a shared machine wall time also counts waiting for "
                  "the cores, CPU time does not, so the CPU-time ratio is the steadier of the two",
                  "ffmpeg is run as `ffmpeg -i VIDEO -f null -` plus quiet-logging flags, which do not change the work"],
        "failures": failures,
        "commands": [bl.cmdline(c) for c in contenders.values()],
        "raw": {"wall": wall, "cpu": cpu, "ratios": ratios, "ratios_pipeline": ratios_pipe, "cpu_ratios": cpu_ratios, "ratios_full": ratios_full, "parts": parts, "duration": duration},
    }
    bl.finish(result, args)


if __name__ == "__main__":
    main()
