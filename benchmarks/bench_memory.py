"""Peak memory of `narrascore score` on a 5-minute and a 40-minute video: it should stay flat in length.

The videos are low resolution (320x180, 25 fps, H.264 + AAC) so they are cheap to make: the
5-minute one is generated with ``narrascore.media.synthetic.make_video`` (shots of 2 to 15 s,
hard cuts and dissolves, moving texture, a tone per shot), the 40-minute one is that file eight
times over, joined with ``ffmpeg -f concat -c copy`` (memory depends on length, not on the
content repeating). Both are cached. Each run writes into a fresh folder; peak memory is sampled
over the `narrascore` process and its worker processes (PSS and RSS summed), beside ``wait4``'s peak
RSS of the largest single process. Target: under 1 GiB and about the same for both lengths.

    python benchmarks/bench_memory.py [--quick] [--runs N] [--soundfont PATH]

With --quick: 1 and 8 minutes instead of 5 and 40.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402
from bench_e2e import narrascore_cmd  # noqa: E402

GIB = 2**30
REPEAT = 8


def short_video(minutes: float) -> Path:
    """The generated ``minutes``-long 320x180 video (made once)."""
    import numpy as np
    from narrascore.media import Segment, make_video

    path = bl.cache_dir() / f"memory-{minutes:g}min-320x180.mp4"
    if path.exists():
        return path
    print(f"making {path}", flush=True)
    rng = np.random.default_rng(5)
    segments, t = [], 0.0
    seconds = minutes * 60.0
    while t < seconds:
        d = min(float(rng.uniform(2.0, 15.0)), seconds - t)
        if d < 0.5:
            break
        segments.append(Segment(d, tuple(int(c) for c in rng.integers(20, 235, 3)), motion=float(rng.uniform(0, 0.4)),
                                texture=float(rng.uniform(0.1, 0.5)), transition="fade" if segments and rng.uniform() < 0.2 else "hard",
                                audio_db=float(rng.uniform(-36, -12)), audio_pulse_hz=float(rng.choice([0, 0, 1, 2, 4])),
                                audio_tone_hz=float(rng.uniform(100, 400))))
        t += d
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    make_video(tmp, segments, width=320, height=180, fps=25.0, seed=5)
    os.replace(tmp, path)
    return path


def repeated_video(source: Path, times: int) -> Path:
    """``source`` joined ``times`` times with the concat demuxer, streams copied (made once)."""
    path = source.with_name(source.stem.replace("min-", f"min-x{times}-") + source.suffix)
    if path.exists():
        return path
    listing = path.with_suffix(".txt")
    listing.write_text("".join(f"file '{source}'\n" for _ in range(times)))
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(tmp)], check=True)
    os.replace(tmp, path)
    listing.unlink()
    return path


def main() -> None:
    p = bl.parser(__doc__.splitlines()[0])
    p.add_argument("--soundfont", default=None, help="render with this SoundFont (default: the best one installed)")
    args = p.parse_args()
    font = ["--soundfont", args.soundfont] if args.soundfont else []
    runs = bl.runs_of(args, default=2)
    sys.path.insert(0, str(bl.REPO))
    from narrascore.media import probe

    base = short_video(1.0 if args.quick else 5.0)
    videos = [base, repeated_video(base, REPEAT)]
    durations = {v: probe(v).duration for v in videos}
    rss: dict[Path, list[int]] = {v: [] for v in videos}
    tree_rss: dict[Path, list[int]] = {v: [] for v in videos}
    tree_pss: dict[Path, list[int]] = {v: [] for v in videos}
    wall: dict[Path, list[float]] = {v: [] for v in videos}
    failures = set()
    for r in range(runs):
        for v in (videos if r % 2 == 0 else videos[::-1]):
            out = bl.scratch_dir(f"memory-{v.stem}")
            t = bl.run_timed(narrascore_cmd() + ["score", str(v), "-o", str(out), "--quiet", *font], sample_memory=True)
            shutil.rmtree(out, ignore_errors=True)
            print(f"  run {r + 1}/{runs} {v.name:<32} {t.wall:7.1f} s  largest process {bl.mib(t.max_rss):6.0f} MiB  "
                  f"tree RSS {bl.mib(t.tree_rss):6.0f} MiB  tree PSS {bl.mib(t.tree_pss):6.0f} MiB  exit {t.returncode}", flush=True)
            if not t.ok:
                failures.add(f"`narrascore score {v.name}` failed (exit {t.returncode}): {bl.tail(t.stderr + t.stdout, 2)}")
                continue
            rss[v].append(t.max_rss)
            tree_rss[v].append(t.tree_rss)
            tree_pss[v].append(t.tree_pss)
            wall[v].append(t.wall)
    rows = []
    for v in videos:
        if not rss[v]:
            rows.append([v.name, f"{durations[v] / 60:.1f} min", "failed", "", "", "", "", ""])
            continue
        rows.append([v.name, f"{durations[v] / 60:.1f} min", bl.fmt_s([bl.mib(x) for x in tree_pss[v]], "MiB", 0),
                     bl.fmt_s([bl.mib(x) for x in tree_rss[v]], "MiB", 0), bl.fmt_s([bl.mib(x) for x in rss[v]], "MiB", 0),
                     "yes" if max(tree_pss[v]) < GIB else "NO", bl.fmt_s(wall[v]), bl.fmt_x([durations[v] / w for w in wall[v]], 1)])
    if all(rss[v] for v in videos):
        growth = statistics.median(tree_pss[videos[1]]) / statistics.median(tree_pss[videos[0]])
        worst = max(max(x) for x in tree_pss.values())
        headline = (f"peak memory (process tree PSS) {bl.mib(statistics.median(tree_pss[videos[0]])):.0f} MiB at "
                    f"{durations[videos[0]] / 60:.0f} min, {bl.mib(statistics.median(tree_pss[videos[1]])):.0f} MiB at "
                    f"{durations[videos[1]] / 60:.0f} min "
                    f"(ratio {growth:.2f}; target: < 1 GiB {'met' if worst < GIB else 'NOT met'}, flat in length "
                    f"{'met' if growth < 1.25 else 'NOT met'})")
    else:
        growth, headline = None, "peak RSS not measured (see failures)"
    short, long_ = videos
    summary = {"baseline": f"{durations[short] / 60:.0f} min: {bl.fmt_s([bl.mib(x) for x in tree_pss[short]], 'MiB', 0)} tree PSS",
               "ours": f"{durations[long_] / 60:.0f} min: {bl.fmt_s([bl.mib(x) for x in tree_pss[long_]], 'MiB', 0)} tree PSS",
               "ratio": f"{growth:.2f} (long / short)" if growth else "—", "target": "< 1 GiB, ratio about 1"}
    result = {
        "name": "memory",
        "summary": summary,
        "title": "Peak memory of `narrascore score` versus video length",
        "what": " ".join(__doc__.split("\n\n")[1].split()),
        "headline": headline,
        "tables": [{"title": f"{runs} run(s) each, interleaved; fresh output folder every run",
                    "columns": ["video", "length", "peak PSS of the process tree", "peak RSS of the process tree (sum)",
                                "largest single process (wait4 ru_maxrss)", "tree PSS < 1 GiB", "wall", "real-time factor"],
                    "rows": rows}],
        "notes": ["ratio = long / short median peak PSS of the process tree; 'flat' here means a ratio under 1.25",
                  "the renderer works in forked worker processes on long videos (sharing the SoundFont the parent loaded), so the largest single process "
                  "(what wait4 / RUSAGE_CHILDREN report) understates what the machine holds; the tree columns are "
                  "sampled every 0.1 s from /proc (RSS summed over the processes counts shared libraries once per "
                  "process; PSS splits shared pages fairly, so it is the machine's real share; peaks shorter than "
                  "0.1 s can slip by)"],
        "failures": sorted(failures),
        "commands": [bl.cmdline(narrascore_cmd() + ["score", str(v), "-o", "OUT_DIR", "--quiet"]) for v in videos],
        "raw": {"rss": {str(k): v for k, v in rss.items()}, "tree_rss": {str(k): v for k, v in tree_rss.items()},
                "tree_pss": {str(k): v for k, v in tree_pss.items()}, "wall": {str(k): v for k, v in wall.items()},
                "durations": {str(k): v for k, v in durations.items()}, "growth": growth},
    }
    bl.finish(result, args)


if __name__ == "__main__":
    main()
