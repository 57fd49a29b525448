"""Set-up and the decode floor (issue 18): a short clip end to end, and the 10-minute video against one decode.

    python benchmarks/bench_setup.py [--baseline DIR] [--runs N] [--long-runs N] [--quick] [--json OUT]

1. A 14 s 1280x720 25 fps H.264 + AAC clip (made like the benchmark video, cached): ``narrascore score``
   into a fresh folder, the SoundFont cache warm, once per installed SoundFont (pretty_midi's TimGM6mb,
   MuseScore General Lite and Full where Debian's packages put them). With ``--baseline DIR`` (a checkout
   of an older commit, its renderer built), the same command from there (``PYTHONPATH=DIR``), the two
   interleaved (A B, B A, ...). The first run on a machine, with an empty cache folder, is reported apart.
2. Where the clip's time goes: one run through the API with a reporter that notes when each stage starts
   and ends, and the CPU seconds of this process and of its workers at that moment.
3. The benchmark video: ``ffmpeg -i VIDEO -f null -`` (every frame and the audio decoded, nothing else)
   against ``narrascore score VIDEO`` (and the baseline's, with ``--baseline``), interleaved; each ratio
   is taken against ffmpeg in its own round. Target: at most 1.3.
Targets: the clip under 2 s once the cache exists, with each SoundFont; the long video at most 1.3x ffmpeg.

Both checkouts get their bytecode compiled first, as ``pip install`` compiles an installed package's: a
checkout run with ``PYTHONDONTWRITEBYTECODE`` set compiles each of our modules from source at every
start (0.1 s of the clip), which no installed copy does.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

CLIP_SECONDS = 14.0
TARGET_CLIP_S = 2.0
TARGET_RATIO = 1.3


def installed_fonts() -> list[tuple[str, Path]]:
    sys.path.insert(0, str(bl.REPO))
    from narrascore.synth.procedural.soundfont import bundled_soundfont

    found = []
    tim = bundled_soundfont()
    if tim is not None:
        found.append(("TimGM6mb", Path(tim)))
    for name in ("MuseScore_General_Lite.sf3", "MuseScore_General_Full.sf3", "MuseScore_General.sf3"):
        path = Path("/usr/share/sounds/sf3") / name
        if path.is_file() and not any(p.resolve() == path.resolve() for _, p in found):
            found.append((path.stem.replace("MuseScore_General", "MuseScore General").replace("_", " ").strip()
                          or "MuseScore General", path))
    return found


def clip() -> Path:
    from benchvideo import make_benchmark_video

    path = bl.cache_dir() / "clip-14s-1280x720.mp4"
    make_benchmark_video(path, minutes=CLIP_SECONDS / 60.0)
    return path


def score_cmd(video: Path, out: Path, font: Path | None) -> list[str]:
    cmd = [bl.PYTHON, "-m", "narrascore.cli", "score", str(video), "-o", str(out), "--quiet"]
    return cmd + (["--soundfont", str(font)] if font is not None else [])


def env_for(checkout: Path | None, cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    if cache is not None:
        env["NARRASCORE_CACHE"] = str(cache)
    return env


def compile_bytecode(*checkouts: Path) -> None:
    """What ``pip install`` does for an installed package: every module's bytecode written beside it."""
    import subprocess

    for checkout in checkouts:
        subprocess.run([bl.PYTHON, "-m", "compileall", "-q", str(checkout / "narrascore")], check=True,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})


def short_clip(args, fonts, video: Path) -> tuple[list[dict], list[list], list[str]]:
    rows, results, failures = [], [], []
    contenders = [("ours", None)] + ([("baseline", args.baseline)] if args.baseline else [])
    for label, font in fonts:
        cold = bl.scratch_dir("setup-cold-cache")
        t = bl.run_timed(score_cmd(video, bl.scratch_dir("setup-cold"), font), env=env_for(None, cold))
        shutil.rmtree(cold, ignore_errors=True)
        walls: dict[str, list[float]] = {name: [] for name, _ in contenders}
        rss: dict[str, list[float]] = {name: [] for name, _ in contenders}
        for name, checkout in contenders:  # warm each one's cache once, untimed
            bl.run_timed(score_cmd(video, bl.scratch_dir(f"setup-warm-{name}"), font), env=env_for(checkout), cwd=bl.cache_dir())
        for r in range(args.runs):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for name, checkout in order:
                run = bl.run_timed(score_cmd(video, bl.scratch_dir(f"setup-{name}-{r}"), font), env=env_for(checkout),
                                   cwd=bl.cache_dir())  # not the repository: `python -m` would import it first
                if not run.ok:
                    failures.append(f"{name} with {label}: exit {run.returncode}: {bl.tail(run.stderr)}")
                    continue
                walls[name].append(run.wall)
                rss[name].append(bl.mib(run.max_rss))
            print(f"  {label} round {r + 1}/{args.runs}: " + ", ".join(f"{n} {walls[n][-1]:.2f} s" for n in walls if walls[n]),
                  flush=True)
        ratios = [b / a for a, b in zip(walls["ours"], walls.get("baseline", []))]
        results.append({"font": label, "ours": walls["ours"], "baseline": walls.get("baseline", []), "cold": t.wall if t.ok else None,
                        "rss": rss["ours"], "baseline_rss": rss.get("baseline", [])})
        rows.append([label, bl.fmt_s(walls["ours"]), f"{t.wall:.2f} s" if t.ok else "failed",
                     bl.fmt_s(rss["ours"], "MiB", 0), bl.fmt_s(walls.get("baseline", [])) if args.baseline else "—",
                     bl.fmt_s(rss.get("baseline", []), "MiB", 0) if args.baseline else "—",
                     bl.fmt_x(ratios) if ratios else "—",
                     "met" if walls["ours"] and sorted(walls["ours"])[len(walls["ours"]) // 2] < TARGET_CLIP_S else "not met"])
    return results, rows, failures


def timeline_rows(video: Path) -> list[list]:
    run = bl.run_timed([bl.PYTHON, str(bl.BENCH_DIR / "workers.py"), "timeline", str(video), str(bl.scratch_dir("setup-timeline"))])
    if not run.ok:
        return [["timeline failed", bl.tail(run.stderr), "", "", ""]]
    events = bl.last_json_line(run.stdout)["events"]
    return [[e["event"], f"{e['at']:.3f}", f"{e['cpu']:.2f}", f"{e['workers_cpu']:.2f}"] for e in events]


def long_video(args) -> tuple[dict, list[list], list[str]]:
    """ffmpeg's decode, ours and (with ``--baseline``) the baseline's ``score``, interleaved, the order turning each round."""
    video, _ = bl.pick_video(args)
    bl.warm_page_cache(video)
    ffmpeg = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-i", str(video), "-f", "null", "-"]
    names = ["ffmpeg", "ours"] + (["baseline"] if args.baseline else [])
    walls: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names[1:]}
    pss: dict[str, list[float]] = {name: [] for name in names[1:]}
    failures = []
    for r in range(args.long_runs):
        order = names if r % 2 == 0 else names[::-1]
        got = {}
        for name in order:
            if name == "ffmpeg":
                t = bl.run_timed(ffmpeg)
            else:
                checkout = args.baseline if name == "baseline" else None
                t = bl.run_timed(score_cmd(video, bl.scratch_dir(f"setup-long-{name}-{r}"), None), env=env_for(checkout),
                                 cwd=bl.cache_dir(), sample_memory=True)
                pss[name].append(bl.mib(t.tree_pss))
            if not t.ok:
                failures.append(f"{name}: exit {t.returncode}: {bl.tail(t.stderr)}")
                continue
            walls[name].append(t.wall)
            got[name] = t.wall
        for name in ratios:
            if name in got and "ffmpeg" in got:
                ratios[name].append(got[name] / got["ffmpeg"])
        print(f"  long round {r + 1}/{args.long_runs}: " + ", ".join(f"{k} {v:.2f} s" for k, v in got.items()), flush=True)
    rows = [["ffmpeg -f null", bl.fmt_s(walls["ffmpeg"]), "1 (baseline)", "—"]]
    rows += [[f"narrascore score ({name})", bl.fmt_s(walls[name]), bl.fmt_x(ratios[name]), bl.fmt_s(pss[name], "MiB", 0)]
             for name in names[1:]]
    return {"video": str(video), "walls": walls, "ratios": ratios["ours"], "baseline_ratios": ratios.get("baseline", []),
            "tree_pss_mib": pss["ours"]}, rows, failures


def main() -> None:
    p = bl.parser(__doc__.splitlines()[0])
    bl.add_video_arg(p)
    p.add_argument("--baseline", type=Path, default=None, help="a checkout of an older commit to run beside this one")
    p.add_argument("--long-runs", type=int, default=3, help="rounds on the long video (0: skip it)")
    args = p.parse_args()
    args.runs = bl.runs_of(args, default=5)
    if shutil.which("ffmpeg") is None:
        args.long_runs = 0
    compile_bytecode(bl.REPO, *([args.baseline] if args.baseline else []))
    fonts = installed_fonts()
    video = clip()
    results, rows, failures = short_clip(args, fonts, video)
    tables = [{"title": f"`narrascore score` of a {CLIP_SECONDS:g} s 1280x720 H.264 clip, fresh folder, cache warm "
                        f"(target under {TARGET_CLIP_S:g} s)",
               "columns": ["SoundFont", "ours, wall", "ours, first run (cold cache)", "ours, peak RSS",
                           "baseline, wall", "baseline, peak RSS", "baseline / ours", "target"], "rows": rows},
              {"title": "where the clip's time goes (MuseScore General if installed, else TimGM6mb: the default font)",
               "columns": ["event", "seconds since start", "CPU s, this process", "CPU s, its finished workers"],
               "rows": timeline_rows(video)}]
    long = {}
    if args.long_runs:
        long, long_rows, long_failures = long_video(args)
        failures += long_failures
        tables.append({"title": f"the benchmark video against one decode (target: at most {TARGET_RATIO}x)",
                       "columns": ["contender", "wall", "ours / ffmpeg", "peak PSS, process tree"], "rows": long_rows})
    medians = {r["font"]: bl.summary(r["ours"])["median"] for r in results}
    ratio = bl.summary(long.get("ratios", []))["median"] if long else float("nan")
    result = {
        "title": "Short clips and the decode floor (issue 18)",
        "machine": bl.machine(), "tables": tables, "failures": failures, "clip": results, "long": long,
        "headline": "clip: " + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items())
                    + (f"; long video {ratio:.2f}x ffmpeg -f null" if long else ""),
    }
    bl.finish(result, args)


if __name__ == "__main__":
    main()
