"""Shared helpers of the benchmarks: the media cache, timed subprocesses, statistics, the machine.

Every benchmark script (``bench_*.py``) measures in child processes (so imports, peak memory and
crashes stay with the child), prints a short summary with its ratio, and with ``--json PATH``
writes a result dict that ``run_all.py`` turns into ``docs/benchmarks.md``.

A result dict has: ``name``, ``title``, ``what`` (one paragraph), ``tables`` (each a ``title``,
``columns`` and ``rows`` of strings), ``notes`` (list of lines), ``commands`` (shell lines that
reproduce it), ``failures`` (list of lines: numbers that could not be measured) and ``raw``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
DEFAULT_CACHE = Path("/work/bench-cache")
BENCH_VIDEO = "bench-10min.mp4"


# --------------------------------------------------------------------------- paths
def cache_dir() -> Path:
    """The media cache: $NARRASCORE_BENCH_CACHE or /work/bench-cache, never inside the repository."""
    path = Path(os.environ.get("NARRASCORE_BENCH_CACHE") or DEFAULT_CACHE).resolve()
    if path == REPO or REPO in path.parents:
        raise SystemExit(f"benchmark cache {path} lies inside the repository; set NARRASCORE_BENCH_CACHE elsewhere")
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch_dir(name: str) -> Path:
    """A fresh, empty folder under the cache for one run's output."""
    path = cache_dir() / "runs" / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def benchmark_video(*, wait: float = 0.0) -> tuple[Path, list[float]] | None:
    """The 10-minute benchmark video and its true cuts, or None when it is not there (yet).

    It is made by ``python benchmarks/benchvideo.py`` (15 to 25 min on 2 cores). While another
    process is writing it (its temporary file grows), wait up to ``wait`` seconds for it.
    """
    path = cache_dir() / BENCH_VIDEO
    cuts = path.with_suffix(path.suffix + ".cuts.json")
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    deadline = time.monotonic() + wait
    while not (path.exists() and cuts.exists()):
        if time.monotonic() >= deadline or not tmp.exists():
            return None
        if time.time() - tmp.stat().st_mtime > 300:  # stopped growing: a crashed writer
            return None
        time.sleep(10)
    return path, json.loads(cuts.read_text())


def ensure_benchmark_video(*, make: bool) -> tuple[Path, list[float]] | None:
    """The benchmark video; with ``make`` it is generated when missing and nobody is writing it."""
    found = benchmark_video(wait=1800.0)
    if found is not None or not make:
        return found
    tmp = cache_dir() / f".{BENCH_VIDEO}.tmp.mp4"
    if tmp.exists() and time.time() - tmp.stat().st_mtime < 300:  # someone else is writing it
        return None
    print(f"making the benchmark video {cache_dir() / BENCH_VIDEO} (15 to 25 min on 2 cores)", flush=True)
    subprocess.run([PYTHON, str(BENCH_DIR / "benchvideo.py"), str(cache_dir() / BENCH_VIDEO)], check=True,
                   stdout=subprocess.DEVNULL)
    return benchmark_video()


# --------------------------------------------------------------------------- running things
@dataclass(frozen=True)
class Timed:
    """One child process: wall time (s), CPU time (user + system, s, its waited-for children included),
    peak RSS (bytes) of the largest single process (``wait4``), and, when sampled, the peak over time
    of the whole process tree's summed RSS and PSS (bytes; 0 when not sampled)."""

    wall: float
    cpu: float
    max_rss: int
    returncode: int
    stdout: str
    stderr: str
    tree_rss: int = 0
    tree_pss: int = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/*/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as handle:
                    todo += [int(c) for c in handle.read().split()]
        except OSError:
            continue
    return out


def _memory_of(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes, from /proc/PID/smaps_rollup; (0, 0) when it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return rss, pss


class TreeSampler:
    """Samples the summed RSS and PSS of a process tree every ``interval`` seconds, keeping the peaks.

    ``wait4``'s ru_maxrss is the largest single process; when a program renders in worker processes,
    the machine holds their sum, which only sampling sees (peaks shorter than ``interval`` can slip by).
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        import threading

        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = pss = 0
            for p in _tree(self.pid):
                r, q = _memory_of(p)
                rss, pss = rss + r, pss + q
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_timed(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
              sample_memory: bool = False) -> Timed:
    """Run ``cmd`` and measure it with ``wait4`` (the rusage of this child and what it waited for);
    with ``sample_memory``, also sample the memory of its whole process tree (see ``TreeSampler``)."""
    out_path = cache_dir() / "runs" / f".stdout-{os.getpid()}"
    err_path = out_path.with_name(f".stderr-{os.getpid()}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(map(str, cmd)), stdout=out, stderr=err, env=env, cwd=cwd)
        sampler = TreeSampler(proc.pid) if sample_memory else None
        # the zombie keeps /proc/PID/task/*/children readable until it is reaped; wait for the exit first
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        wall = time.perf_counter() - start
        if sampler is not None:
            sampler.stop()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    return Timed(wall=wall, cpu=usage.ru_utime + usage.ru_stime, max_rss=usage.ru_maxrss * 1024,
                 returncode=proc.returncode, stdout=stdout, stderr=stderr,
                 tree_rss=sampler.peak_rss if sampler else 0, tree_pss=sampler.peak_pss if sampler else 0)


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of ``text`` that parses as a JSON object (workers print their result last)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError(f"no JSON result in the output:\n{text[-2000:]}")


def tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------- statistics and formatting
def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and count of ``values``."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"n": len(vals), "median": statistics.median(vals), "min": min(vals), "max": max(vals)}


def fmt_s(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    """'12.34 s (11.9–13.0, n=3)': the median, then min–max and the count."""
    s = summary(values)
    if not s["n"]:
        return "—"
    if s["n"] == 1:
        return f"{s['median']:.{digits}f} {unit} (n=1)"
    return f"{s['median']:.{digits}f} {unit} ({s['min']:.{digits}f}–{s['max']:.{digits}f}, n={s['n']})"


def fmt_x(values: Sequence[float], digits: int = 2) -> str:
    return fmt_s(values, unit="x", digits=digits).replace(" x", "x")


def mib(n_bytes: float) -> float:
    return n_bytes / 2**20


def cmdline(cmd: Sequence[Any]) -> str:
    """``cmd`` as one shell line, with this interpreter written as ``python``."""
    parts = ["python" if str(c) == PYTHON else str(c).replace(f"{REPO}/", "") for c in cmd]
    return " ".join(shlex.quote(p) for p in parts)


# --------------------------------------------------------------------------- the machine
def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, load and the software versions the numbers depend on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    ffmpeg = "not found"
    if shutil.which("ffmpeg"):
        first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()
        ffmpeg = first[0] if first else "unknown"
    versions = subprocess.run(
        [PYTHON, "-c", "import av, numpy, narrascore; print(av.__version__, numpy.__version__, narrascore.__version__)"],
        capture_output=True, text=True,
    ).stdout.split()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "loadavg": load,
        "python": platform.python_version(),
        "ffmpeg": ffmpeg,
        "pyav": versions[0] if versions else "?",
        "numpy": versions[1] if len(versions) > 1 else "?",
        "narrascore": versions[2] if len(versions) > 2 else "?",
        "commit": (commit or "?") + (" (with uncommitted changes)" if dirty else ""),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --------------------------------------------------------------------------- command line of each benchmark
def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer runs and shorter media (a smoke test, not a measurement)")
    p.add_argument("--runs", type=int, default=None, help="timed runs of each contender (default 3, quick 1)")
    p.add_argument("--json", type=Path, default=None, help="write the result dict here (run_all.py reads it)")
    return p


def runs_of(args: argparse.Namespace, default: int = 3) -> int:
    return args.runs if args.runs else (1 if args.quick else default)


def finish(result: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the tables and write the JSON result."""
    result.setdefault("failures", [])
    result["notes"] = [n for n in result.get("notes", []) if n]
    print(f"\n== {result['title']}")
    for table in result.get("tables", []):
        print(f"-- {table['title']}")
        print("   " + " | ".join(table["columns"]))
        for row in table["rows"]:
            print("   " + " | ".join(str(c) for c in row))
    for line in result["notes"]:
        print(f"   note: {line}")
    for line in result["failures"]:
        print(f"   NOT MEASURED: {line}")
    if result.get("headline"):
        print(f"   {result['headline']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str))


# --------------------------------------------------------------------------- which video
def add_video_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", type=Path, default=None,
                   help="measure this file instead of the benchmark video (true cuts from VIDEO.cuts.json if present)")


def pick_video(args: argparse.Namespace) -> tuple[Path, list[float] | None]:
    """``--video``, else the 10-minute benchmark video (a 1-minute one of the same kind with --quick).

    The 10-minute file is waited for while another process writes it, and made when missing.
    """
    if args.video:
        cuts = args.video.with_suffix(args.video.suffix + ".cuts.json")
        return args.video, (json.loads(cuts.read_text()) if cuts.exists() else None)
    if args.quick:
        sys.path.insert(0, str(BENCH_DIR))
        from benchvideo import make_benchmark_video

        path = cache_dir() / "bench-1min.mp4"
        if not path.exists():
            print(f"making {path} (about 2 min)", flush=True)
        return path, make_benchmark_video(path, minutes=1.0)
    found = ensure_benchmark_video(make=True)
    if found is None:
        raise SystemExit(f"the benchmark video {cache_dir() / BENCH_VIDEO} is missing and another process seems "
                         "to be writing it; try again when it is finished")
    return found


def warm_page_cache(path: Path) -> None:
    """Read the file once so the first timed run does not pay for the disk alone."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass
