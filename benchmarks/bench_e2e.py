"""End-to-end: `narrascore score VIDEO -o DIR --quiet` on the benchmark video, real-time factor and peak RSS.

Each round runs, in a fresh output folder: the CLI (timed from outside, peak RSS from ``wait4``),
then the CLI again over the same folder (every artifact reused), and, in the first two rounds, the
same pipeline through the API (``narrascore.pipeline.run``) with a reporter that times each stage,
to show where the time goes. Target: real-time factor (video seconds / wall seconds) >= 20.

    python benchmarks/bench_e2e.py [--quick] [--runs N] [--video PATH]
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

TARGET_RTF = 20.0


def narrascore_cmd() -> list[str]:
    exe = Path(bl.PYTHON).parent / "narrascore"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("narrascore")
    return [found] if found else [bl.PYTHON, "-m", "narrascore.cli"]


def main() -> None:
    p = bl.parser(__doc__.splitlines()[0])
    bl.add_video_arg(p)
    p.add_argument("--stage-runs", type=int, default=2, help="rounds that also time each stage through the API")
    args = p.parse_args()
    runs = bl.runs_of(args)
    video, _ = bl.pick_video(args)
    bl.warm_page_cache(video)
    sys.path.insert(0, str(bl.REPO))
    from narrascore.media import probe

    duration = probe(video).duration
    score = narrascore_cmd() + ["score", str(video), "-o"]
    fresh, reuse = {"wall": [], "cpu": [], "rss": [], "tree_pss": []}, {"wall": [], "cpu": [], "rss": [], "tree_pss": []}
    stage_times: dict[str, list[float]] = {}
    api_totals, imports = [], []
    failures, errors = [], set()
    reused_line = ""
    for r in range(runs):
        out = bl.scratch_dir(f"e2e-{r}")
        t = bl.run_timed(score + [str(out), "--quiet"], sample_memory=True)
        print(f"  round {r + 1}/{runs} fresh   {t.wall:7.2f} s  {bl.mib(t.max_rss):6.0f} MiB largest process  "
              f"{bl.mib(t.tree_pss):6.0f} MiB tree PSS  exit {t.returncode}", flush=True)
        if not t.ok:
            errors.add(f"`narrascore score` failed (exit {t.returncode}): {bl.tail(t.stderr + t.stdout, 2)}")
        else:
            fresh["wall"].append(t.wall), fresh["cpu"].append(t.cpu), fresh["rss"].append(t.max_rss)
            fresh["tree_pss"].append(t.tree_pss)
            t2 = bl.run_timed(score + [str(out), "--quiet"], sample_memory=True)
            print(f"  round {r + 1}/{runs} reused  {t2.wall:7.2f} s  {bl.mib(t2.max_rss):6.0f} MiB  exit {t2.returncode}", flush=True)
            if t2.ok:
                reuse["wall"].append(t2.wall), reuse["cpu"].append(t2.cpu), reuse["rss"].append(t2.max_rss)
                reuse["tree_pss"].append(t2.tree_pss)
                reused_line = next((x.strip() for x in t2.stdout.splitlines() if x.strip().startswith("reused")), "reused: nothing")
            else:
                errors.add(f"re-run over the same folder failed (exit {t2.returncode}): {bl.tail(t2.stderr, 2)}")
        shutil.rmtree(out, ignore_errors=True)
        if r < args.stage_runs:
            out = bl.scratch_dir(f"e2e-stages-{r}")
            t3 = bl.run_timed([bl.PYTHON, str(bl.BENCH_DIR / "workers.py"), "stages", str(video), str(out)])
            if t3.ok:
                info = bl.last_json_line(t3.stdout)
                for name, sec in info["stages"].items():
                    stage_times.setdefault(name, []).append(sec)
                stage_times.setdefault("(untimed: concept, artifact I/O)", []).append(info["untimed"])
                api_totals.append(info["total"])
                imports.append(info["import"])
                if info["error"]:
                    errors.add(f"pipeline through the API stopped: {info['error']}")
                print(f"  round {r + 1}/{runs} stages  {info['total']:7.2f} s  "
                      + ", ".join(f"{k} {v:.1f}" for k, v in info["stages"].items()), flush=True)
            else:
                errors.add(f"stage-timing worker failed (exit {t3.returncode}): {bl.tail(t3.stderr, 2)}")
            shutil.rmtree(out, ignore_errors=True)
    failures += sorted(errors)

    rtf = [duration / w for w in fresh["wall"]]
    rows = []
    if fresh["wall"]:
        rows.append(["fresh folder", bl.fmt_s(fresh["wall"]), bl.fmt_s(fresh["cpu"]), bl.fmt_x(rtf, 1),
                     bl.fmt_s([bl.mib(x) for x in fresh["rss"]], "MiB", 0), bl.fmt_s([bl.mib(x) for x in fresh["tree_pss"]], "MiB", 0),
                     f"{statistics.median(rtf) / TARGET_RTF:.2f}"])
    if reuse["wall"]:
        rows.append(["same folder again (all reused)", bl.fmt_s(reuse["wall"]), bl.fmt_s(reuse["cpu"]),
                     bl.fmt_x([duration / w for w in reuse["wall"]], 0), bl.fmt_s([bl.mib(x) for x in reuse["rss"]], "MiB", 0),
                     bl.fmt_s([bl.mib(x) for x in reuse["tree_pss"]], "MiB", 0), ""])
    total_api = statistics.median(api_totals) if api_totals else None
    stage_rows = []
    for name, vals in sorted(stage_times.items(), key=lambda kv: -statistics.median(kv[1])):
        share = f"{100 * statistics.median(vals) / total_api:.0f}%" if total_api else ""
        fast_enough = statistics.median(vals) < 0.05  # a stage that takes no time has no meaningful speed
        stage_rows.append([name, bl.fmt_s(vals), share, "—" if fast_enough else bl.fmt_x([duration / v for v in vals if v > 0], 0)])
    if api_totals:
        stage_rows.append(["total through the API (imports excluded)", bl.fmt_s(api_totals), "100%", bl.fmt_x([duration / v for v in api_totals], 1)])
        stage_rows.append(["imports (narrascore, numpy, av)", bl.fmt_s(imports), "", ""])
    if rtf:
        headline = (f"real-time factor {statistics.median(rtf):.1f}x (median of {len(rtf)}; target >= {TARGET_RTF:g}x: "
                    f"{'met' if statistics.median(rtf) >= TARGET_RTF else 'NOT met'}); peak memory {bl.mib(max(fresh['tree_pss'])):.0f} MiB "
                    f"(process tree PSS; largest single process {bl.mib(max(fresh['rss'])):.0f} MiB)")
    else:
        headline = "`narrascore score` did not finish: real-time factor not measured"
    if stage_rows and len(stage_rows) > 2:
        headline += f"; slowest stage: {stage_rows[0][0]} ({stage_rows[0][2]} of the time)"
    summary = {"baseline": f"real time ({duration:.0f} s of video)",
               "ours": (f"{bl.fmt_s(fresh['wall'])}, peak {bl.mib(max(fresh['tree_pss'])):.0f} MiB (tree PSS)" if fresh["wall"] else "failed")
               + (f"; re-run {bl.fmt_s(reuse['wall'])}" if reuse["wall"] else ""),
               "ratio": f"{bl.fmt_x(rtf, 1)} real-time" if rtf else "—", "target": f">= {TARGET_RTF:g}x"}
    result = {
        "name": "e2e",
        "summary": summary,
        "title": "End-to-end `narrascore score`",
        "what": " ".join(__doc__.split("\n\n")[1].split()),
        "headline": headline,
        "tables": [
            {"title": f"`narrascore score` on {video.name} ({duration:.0f} s of video), {runs} round(s)",
             "columns": ["run", "wall, median (min–max)", "CPU user+sys", "real-time factor", "peak RSS, largest process",
                         "peak PSS, process tree", "RTF / target 20x"],
             "rows": rows},
            {"title": "where the time goes (API run with a timing reporter, fresh folder; sorted by time)",
             "columns": ["stage", "seconds", "share", "real-time factor of the stage"], "rows": stage_rows},
        ],
        "notes": ["peak RSS, largest process = ru_maxrss from wait4 of the `narrascore` process: the largest single process "
                  "among it and the children it waited for (not their sum); peak PSS, process tree = the sum over "
                  "`narrascore` and its worker processes, sampled every 0.1 s from /proc (see bench_memory)",
                  f"the second run's own summary says: `{reused_line}`" if reused_line else "",
                  "'scan audio' is only the wait for the audio scan after the video scan ends: the pipeline runs the "
                  "audio scan in a second process while it decodes the video",
                  "stage names are those the pipeline reports to its progress reporter; what runs outside a named stage "
                  "(the concept, reading and writing artifacts) is the 'untimed' row"],
        "failures": failures,
        "commands": [bl.cmdline(score + ["OUT_DIR", "--quiet"]) + "   # fresh OUT_DIR, then again over the same OUT_DIR",
                     bl.cmdline([bl.PYTHON, bl.BENCH_DIR / "workers.py", "stages", video, "OUT_DIR"])],
        "raw": {"duration": duration, "fresh": fresh, "reuse": reuse, "stages": stage_times, "api_totals": api_totals},
    }
    bl.finish(result, args)


if __name__ == "__main__":
    main()
