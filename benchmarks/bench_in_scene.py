"""Cut sync and alignment (``narrascore evaluate``) on the demo and the arc story video, and the scan cost.

Run before and after a change to the narrative curve or the composer: it scores both videos with
the defaults into ``OUT/<name>``, evaluates them (ours and the baselines) and prints one JSON line
per video with ours' cut-sync and alignment metrics, the fixed-mood baseline's, and the scan time.

    python benchmarks/bench_in_scene.py OUT
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import narrascore
from narrascore.evaluate import EvaluationReport
from narrascore.evaluate.run import evaluate_folder
from narrascore.media import make_demo_video
from narrascore.media.synthetic import make_video

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_evaluate_cli import ARC_STORY  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    videos = {"demo": out / "demo.mp4", "arc-story": out / "arc.mp4"}
    if not videos["demo"].exists():
        make_demo_video(videos["demo"])
    if not videos["arc-story"].exists():
        make_video(videos["arc-story"], list(ARC_STORY), width=640, height=360)
    for name, video in videos.items():
        folder = out / name
        t0 = time.perf_counter()
        narrascore.analyze(video, folder)
        analyse_s = time.perf_counter() - t0
        narrascore.score(video, folder)
        run = evaluate_folder(folder, baselines=True)
        row = {"video": name, "analyse_s": round(analyse_s, 2), "ours": _metrics(run.report)}
        row.update({k: _metrics(v) for k, v in run.baselines.items() if k != "original"})
        print(json.dumps(row))


def _metrics(report: EvaluationReport) -> dict[str, float | None]:
    """Cut sync and alignment of one report (None where a curve is flat)."""
    a, c = report.alignment, report.cut_sync
    r = (lambda x: None if x is None else round(float(x), 3))
    return {"arousal_r": r(a.arousal.pearson_r), "valence_r": r(a.valence.pearson_r),
            "arousal_mae_centered": r(a.arousal.mae_centered), "cut_hit_rate": r(c.hit_rate), "cut_margin": r(c.margin)}


if __name__ == "__main__":
    main(Path(sys.argv[1]))
