"""The listeners side by side: ours against the baselines, as each listener hears them; speed and memory.

    python benchmarks/bench_listeners.py [--quick] [--json out.json]

1. Ours against fixed-mood and shuffled on the demo and on the 36 s arc story video of
   tests/test_evaluate_cli.py, heard by the pretrained listener (VibeNet) and by the descriptor
   listener in the same run: Pearson r and mean-removed MAE per dimension.
2. Speed: listener seconds per minute of audio (the demo's soundtrack, repeated), each listener
   in its own process, interleaved A B A B; peak memory (max RSS of that process) for 5 and 40
   minutes of audio: flat in length means streaming.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LISTENERS = ("vibenet", "descriptors")


def scored_videos(work: Path, quick: bool) -> dict[str, Path]:
    import narrascore
    from narrascore.media import make_demo_video
    from narrascore.media.synthetic import make_video

    sys.path.insert(0, str(REPO / "tests"))
    from test_evaluate_cli import ARC_STORY  # the claim test's planted arc

    folders = {}
    demo = work / "demo"
    demo.mkdir(parents=True, exist_ok=True)
    if not (demo / "soundtrack.wav").exists():
        make_demo_video(demo / "demo.mp4", seconds=60.0 if quick else 120.0)
        narrascore.score(demo / "demo.mp4", demo)
    folders["demo"] = demo
    arc = work / "arc"
    arc.mkdir(parents=True, exist_ok=True)
    if not (arc / "soundtrack.wav").exists():
        make_video(arc / "arc.mp4", list(ARC_STORY))
        narrascore.score(arc / "arc.mp4", arc)
    folders["arc"] = arc
    return folders


def alignment_table(folders: dict[str, Path]) -> tuple[list[list[str]], dict]:
    from narrascore.evaluate.run import evaluate_folder, summary_rows

    rows, data = [], {}
    for video, folder in folders.items():
        by_listener = {}
        for listener in LISTENERS:
            run = evaluate_folder(folder, listener=listener)
            by_listener[listener] = {r["soundtrack"]: r for r in summary_rows(run)}
        data[video] = by_listener
        for soundtrack in ("ours", "fixed-mood", "shuffled"):
            cells = [video, soundtrack]
            for listener in LISTENERS:
                r = by_listener[listener].get(soundtrack)
                for dim in ("valence", "arousal"):
                    cells.append("—" if r is None or r[f"{dim}_r"] is None else f"{r[f'{dim}_r']:+.2f} / {r[f'{dim}_mae']:.3f}")
            rows.append(cells)
    return rows, data


def long_audio(path: Path, source: Path, minutes: float) -> Path:
    """``minutes`` of the soundtrack at ``source`` repeated, mono 22.05 kHz 16-bit, written chunk by chunk."""
    import soundfile as sf

    if path.exists():
        return path
    x, rate = sf.read(source, dtype="float32")
    mono = x.mean(axis=1) if x.ndim == 2 else x
    from scipy.signal import resample_poly

    mono = resample_poly(mono, 147, 320).astype(np.float32)  # 48 kHz -> 22.05 kHz
    need = int(minutes * 60 * 22050)
    with sf.SoundFile(path, "w", samplerate=22050, channels=1, subtype="PCM_16") as f:
        while need > 0:
            part = mono[:need]
            f.write(part)
            need -= part.size
    return path


CHILD = """
import sys, time
from narrascore.evaluate.listeners import get_listener
listener = get_listener(sys.argv[1])
t0 = time.perf_counter()
curve = listener.hear(sys.argv[2])
seconds = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]  # kB, since exec
print(seconds, curve.times.size, hwm)
"""


def run_child(listener: str, audio: Path) -> tuple[float, float]:
    """(seconds hearing, peak RSS in MiB) of one process that hears ``audio``; the peak is the child's own
    VmHWM (``ru_maxrss`` would carry the forking parent's peak across exec)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, listener, str(audio)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"{listener} on {audio} failed: {proc.stderr[-300:]}")
    seconds, _n, hwm_kb = proc.stdout.split()[-3:]
    return float(seconds), int(hwm_kb) / 1024


def main() -> int:
    ap = bl.parser(__doc__)
    ap.add_argument("--only-speed", action="store_true", help="skip the alignment table")
    args = ap.parse_args()
    from narrascore.evaluate.listeners import vibenet_installed

    if not vibenet_installed():
        print("skipped: the vibenet listener is not installed (pip install '.[listen]')")
        return 0
    work = Path(os.environ.get("NARRASCORE_BENCH_CACHE", "/work/bench-cache")) / "listeners"
    work.mkdir(parents=True, exist_ok=True)
    folders = scored_videos(work, args.quick)
    rows, data = ([], {}) if args.only_speed else alignment_table(folders)
    header = ["video", "soundtrack", "VibeNet valence r / MAE", "VibeNet arousal r / MAE",
              "descriptors valence r / MAE", "descriptors arousal r / MAE"]

    minutes = (1.0, 5.0) if args.quick else (5.0, 40.0)
    speed: dict[str, list[float]] = {name: [] for name in LISTENERS}
    memory: dict[str, dict[str, float]] = {name: {} for name in LISTENERS}
    with tempfile.TemporaryDirectory() as tmp:
        files = {m: long_audio(Path(tmp) / f"{m:g}min.wav", folders["demo"] / "soundtrack.wav", m) for m in minutes}
        for repeat in range(1 if args.quick else 2):
            for name in LISTENERS:  # interleaved: A B A B
                seconds, rss = run_child(name, files[minutes[0]])
                speed[name].append(seconds / minutes[0])
                memory[name][f"{minutes[0]:g} min"] = max(rss, memory[name].get(f"{minutes[0]:g} min", 0.0))
        for name in LISTENERS:
            seconds, rss = run_child(name, files[minutes[1]])
            speed[name].append(seconds / minutes[1])
            memory[name][f"{minutes[1]:g} min"] = rss
    speed_rows = [[name, f"{np.median(speed[name]):.2f} s (median of {len(speed[name])})",
                   *(f"{memory[name][f'{m:g} min']:.0f} MiB" for m in minutes)] for name in LISTENERS]
    ratio = np.median(speed["vibenet"]) / np.median(speed["descriptors"])
    result = {
        "name": "listeners", "title": "listeners: ours vs baselines as each hears them; speed and memory",
        "machine": bl.machine(),
        "tables": [
            {"title": "ours vs baselines: Pearson r / mean-removed MAE per dimension", "columns": header, "rows": rows},
            {"title": "listener time per minute of audio, peak RSS of the listening process",
             "columns": ["listener", "seconds per minute of audio", *(f"peak RSS, {m:g} min" for m in minutes)],
             "rows": speed_rows},
        ],
        "alignment": data,
        "summary": {"baseline": f"descriptors: {np.median(speed['descriptors']):.2f} s per audio minute",
                    "ours": f"vibenet: {np.median(speed['vibenet']):.2f} s per audio minute",
                    "ratio": f"{ratio:.2f}x the time", "target": "memory flat in length"},
    }
    bl.finish(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
