"""The web page's server: time to score and re-render, and how fast /api/config answers meanwhile.

    python benchmarks/bench_ui.py [--seconds 8,120] [--renders 3] [--before 5e5ecbc]

For each video length (demo videos made by ``make_demo_video``), in the same run:
* ``cli``: ``narrascore score V`` then ``narrascore render OUT`` after a scene edit (fresh processes);
* ``before``: the page at commit ``--before`` (jobs on a thread of the server, the SoundFont loaded
  by every render), extracted with ``git archive``;
* ``worker``: this tree's page, jobs in the worker process that keeps the SoundFont loaded.
Each page run scores once and re-renders ``--renders`` times (each with a different scene edit, so
nothing is reused but the analysis), while a second thread asks ``/api/config`` every 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


class Poller(threading.Thread):
    """Asks /api/config every 50 ms and keeps each answer's latency (seconds)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.latencies, self.stop = url, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            urllib.request.urlopen(self.url + "/api/config", timeout=60).read()
            self.latencies.append(time.perf_counter() - t0)
            self.stop.wait(0.05)


def _job(url: str, path: str, body: dict) -> float:
    t0 = time.perf_counter()
    job = _call(url + path, "POST", body)["job"]
    while True:
        state = _call(f"{url}/api/jobs/{job}")
        if state["state"] == "done":
            return time.perf_counter() - t0
        if state["state"] == "failed":
            raise RuntimeError(state["error"])
        time.sleep(0.05)


def _scene_edits(view: dict, k: int) -> list[dict]:
    scenes = view["plan"]["scenes"]
    return [{"valence": s["valence"], "arousal": (0.9 if k % 2 else -0.9) if i == 0 else s["arousal"], "arc_role": s["arc_role"]}
            for i, s in enumerate(scenes)]


def page(video: Path, tree: Path, renders: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-ui-page-"))
    port = _port()
    code = ("import uvicorn; from narrascore.ui import create_app; "
            f"uvicorn.run(create_app({str(work)!r}, folder={str(video.parent)!r}), "
            f"host='127.0.0.1', port={port}, log_level='warning')")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    server = subprocess.Popen([sys.executable, "-c", code], cwd=tree, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                _call(url + "/api/config")
                break
            except OSError:
                time.sleep(0.1)
        pid = _call(url + "/api/folder/open", "POST", {"name": video.name})["project"]
        poller = Poller(url)
        poller.start()
        score = _job(url, f"/api/projects/{pid}/score", {})
        view = _call(f"{url}/api/projects/{pid}")
        times = [_job(url, f"/api/projects/{pid}/render", {"scenes": _scene_edits(view, k)}) for k in range(renders)]
        poller.stop.set()
        poller.join()
    finally:
        server.terminate()
        server.wait(30)
    lat = sorted(poller.latencies)
    return {"score": score, "render": times, "config_max_ms": 1000 * lat[-1],
            "config_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "config_n": len(lat)}


def cli(video: Path, renders: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-ui-cli-"))
    run = lambda *args: subprocess.run([sys.executable, "-m", "narrascore.cli", *args, "--quiet"], check=True, cwd=REPO,  # noqa: E731
                                       stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    run("score", str(video), "-o", str(out))
    score = time.perf_counter() - t0
    times = []
    for k in range(renders):
        envelope = json.loads((out / "narrative.json").read_text())
        envelope["data"]["scenes"][0]["arousal"] = 0.9 if k % 2 else -0.9
        (out / "narrative.json").write_text(json.dumps(envelope))
        t0 = time.perf_counter()
        run("render", str(out))
        times.append(time.perf_counter() - t0)
    return {"score": score, "render": times}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", default="8", help="comma-separated video lengths in seconds")
    p.add_argument("--renders", type=int, default=3)
    p.add_argument("--before", default="5e5ecbc", help="the commit whose page is the baseline")
    args = p.parse_args()
    before = Path(tempfile.mkdtemp(prefix="bench-ui-before-"))
    archive = subprocess.run(["git", "archive", args.before], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    from narrascore.media import make_demo_video
    from narrascore.synth.procedural.soundfont import find_soundfont

    print(f"SoundFont: {find_soundfont(None)}")
    print("| video | contender | score | re-render, median (min-max) | /api/config during jobs: max, p95 (n) |")
    print("|---|---|---|---|---|")
    for seconds in (float(s) for s in args.seconds.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="bench-ui-video-"))
        video = folder / f"demo-{seconds:g}s.mp4"
        make_demo_video(video, seconds=seconds)
        results = {"cli": cli(video, args.renders)}
        results["before"] = page(video, before, args.renders)
        results["worker"] = page(video, REPO, args.renders)
        for name, r in results.items():
            render = f"{statistics.median(r['render']):.2f} s ({min(r['render']):.2f}-{max(r['render']):.2f}, n={len(r['render'])})"
            config = f"{r['config_max_ms']:.0f} ms, {r['config_p95_ms']:.0f} ms ({r['config_n']})" if "config_max_ms" in r else "-"
            print(f"| {seconds:g} s | {name} | {r['score']:.2f} s | {render} | {config} |", flush=True)
        base, ours = results["before"], results["worker"]
        print(f"ratio {seconds:g} s: re-render before / worker {statistics.median(base['render']) / statistics.median(ours['render']):.2f}x; "
              f"/api/config max {base['config_max_ms']:.0f} -> {ours['config_max_ms']:.0f} ms")


if __name__ == "__main__":
    main()
