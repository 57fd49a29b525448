"""Nothing stale, orphaned or mixed up: cache keys hold what a stage used, `render` checks its video,
one run per folder, workers end with their parent, signals and kills leave no litter, and a resumed
or split run writes the same bytes as one clean run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import narrascore
from narrascore.artifacts import AffectCurve, MediaInfo, MusicConcept, NarrativePlan, Shots, load_artifact
from narrascore.errors import MediaError, OutputError
from narrascore.synth.procedural.soundfont import bundled_soundfont

FONT = bundled_soundfont()
pytestmark = pytest.mark.skipif(FONT is None, reason="needs pretty_midi's TimGM6mb.sf2 (loads in milliseconds)")
OUTPUTS = ("media.json", "shots.json", "affect.json", "narrative.json", "concept.json",
           "soundtrack.wav", "score.mid", "figure.png", "scored.mp4")


def cli(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, COLUMNS="120")
    env.pop("NARRASCORE_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "narrascore.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


def litter(folder: Path) -> list[str]:
    """Every hidden file under ``folder``: NarraScore's own files never start with a dot."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if p.is_file())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if alive(p)}


def signal_when(proc: subprocess.Popen[str], path: Path, sig: int, timeout: float = 120) -> set[int]:
    """Send ``sig`` to ``proc`` as soon as ``path`` exists; returns the worker processes it had then."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path.name} appeared: {proc.stderr.read() if proc.stderr else ''}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.005)
    workers = descendants(proc.pid)
    proc.send_signal(sig)
    return workers


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A 12 s demo video at 320x180 (its figure differed between a split and a clean run before the fix)."""
    from narrascore.media import make_demo_video

    path = tmp_path_factory.mktemp("safety-media") / "demo.mp4"
    make_demo_video(path, seconds=12, width=320, height=180)
    return path


@pytest.fixture(scope="module")
def clean(demo, tmp_path_factory):
    """One clean `score` of the demo: the bytes every resumed, split or interrupted run must equal."""
    out = tmp_path_factory.mktemp("clean")
    result = narrascore.score(demo, out, soundfont=str(FONT))
    return out, result, files(out)


# --------------------------------------------------------------------------- 5. exact round trip
def test_the_artifacts_a_run_goes_on_with_equal_their_files(clean):
    out, result, _ = clean
    for cls, value in ((MediaInfo, result.media), (Shots, result.shots), (AffectCurve, result.affect),
                       (NarrativePlan, result.plan), (MusicConcept, result.concept)):
        assert load_artifact(cls, out / cls.FILENAME) == value, cls.__name__


def test_analyze_then_render_equals_score_byte_for_byte(demo, clean, tmp_path):
    _, _, expected = clean
    narrascore.analyze(demo, tmp_path)
    narrascore.render(tmp_path, soundfont=str(FONT))
    got = files(tmp_path)
    assert [name for name in OUTPUTS if got[name] != expected[name]] == []


# --------------------------------------------------------------------------- 1. cache keys
def test_render_recomputes_when_the_soundfont_changes_and_reuses_the_same_one(demo, tmp_path):
    font = tmp_path / "font.sf2"
    shutil.copyfile(FONT, font)
    out = tmp_path / "out"
    narrascore.score(demo, out, soundfont=str(font))
    first = (out / "soundtrack.wav").read_bytes()
    first_audio = sf.read(out / "soundtrack.wav")[0]
    assert "render" in narrascore.render(out, soundfont=str(font)).reused

    data = bytearray(font.read_bytes())  # the same font with every sample's polarity inverted: same size, other sound
    at = data.find(b"smpl")
    size = int.from_bytes(data[at + 4:at + 8], "little")
    samples = np.frombuffer(bytes(data[at + 8:at + 8 + size]), dtype="<i2")
    data[at + 8:at + 8 + size] = np.clip(-samples.astype(np.int32), -32768, 32767).astype("<i2").tobytes()
    font.write_bytes(bytes(data))

    again = narrascore.render(out, soundfont=str(font))
    assert "render" not in again.reused and "soundtrack" not in again.reused
    assert (out / "soundtrack.wav").read_bytes() != first
    np.testing.assert_allclose(sf.read(out / "soundtrack.wav")[0], -first_audio, atol=2e-3)  # the new font played
    assert "render" in narrascore.render(out, soundfont=str(font)).reused


def test_a_batch_scores_again_with_another_soundfont(short_video, tmp_path):
    from narrascore.batch.inputs import BatchItem
    from narrascore.batch.item import finished, score_one
    from narrascore.options import ScoreOptions

    font = tmp_path / "font.sf2"
    shutil.copyfile(FONT, font)
    item = BatchItem(video=short_video.path, name="short", options=ScoreOptions(soundfont=str(font)))
    assert score_one(item, tmp_path).status == "done"
    assert finished(item, tmp_path) is not None
    font.write_bytes(font.read_bytes()[:-2] + b"\x00\x01")  # the same path and size, other content
    assert finished(item, tmp_path) is None


def test_file_hashes_are_remembered_by_path_size_and_mtime(tmp_path, monkeypatch):
    from narrascore import identity

    blob = tmp_path / "big.bin"
    blob.write_bytes(b"x" * 1000)
    cache = tmp_path / "hashes.json"
    first = identity.cached_sha256(blob, cache=cache)
    monkeypatch.setattr(identity, "file_sha256", lambda path: pytest.fail("hashed again"))
    assert identity.cached_sha256(blob, cache=cache) == first
    monkeypatch.undo()
    blob.write_bytes(b"y" * 1000)
    assert identity.cached_sha256(blob, cache=cache) != first


# --------------------------------------------------------------------------- 2. render checks its video
def test_render_finds_the_video_from_another_working_folder(demo, tmp_path, monkeypatch):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    shutil.copyfile(demo, here / "film.mp4")
    monkeypatch.chdir(here)
    narrascore.analyze("film.mp4", "film.narrascore")
    info = load_artifact(MediaInfo, here / "film.narrascore" / "media.json")
    assert info.path == "film.mp4" and info.absolute_path == str((here / "film.mp4").resolve())
    monkeypatch.chdir(elsewhere)
    result = narrascore.render(here / "film.narrascore", soundfont=str(FONT))
    assert result.video is not None and result.video.is_file()
    # the evaluation's original-audio baseline and the editor's timeline find it too
    assert info.located() == here / "film.mp4" and info.located().is_absolute()
    pytest.importorskip("opentimelineio")
    from narrascore.export.timeline import export_timeline

    timeline = export_timeline(here / "film.narrascore", "otio")
    assert str((here / "film.mp4").resolve()) in timeline.read_text()


def test_render_refuses_a_replaced_video_and_rebinds_with_video(demo, short_video, tmp_path):
    video = tmp_path / "film.mp4"
    shutil.copyfile(demo, video)
    out = tmp_path / "out"
    narrascore.analyze(video, out)
    shutil.copyfile(short_video.path, video)  # another film under the same name

    code, err = finish(cli("render", str(out), "--quiet", "--soundfont", str(FONT)))
    assert code == MediaError.exit_code
    line = one_line(err)
    assert str(video) in line and "--video" in line
    assert not (out / "soundtrack.wav").exists()

    moved = tmp_path / "moved.mp4"
    shutil.copyfile(demo, moved)
    code, err = finish(cli("render", str(out), "--video", str(moved), "--quiet", "--soundfont", str(FONT)))
    assert code == 0, err
    assert load_artifact(MediaInfo, out / "media.json").absolute_path == str(moved.resolve())
    assert "render" in narrascore.render(out, soundfont=str(FONT)).reused  # bound for good

    with pytest.raises(MediaError, match="lasts"):
        narrascore.render(out, video=short_video.path, soundfont=str(FONT))


# --------------------------------------------------------------------------- 3. one run per folder
HOLD = """
import sys, time
from pathlib import Path
from narrascore.lock import hold
with hold(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(work: Path, seconds: float) -> subprocess.Popen[str]:
    work.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(work), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_fails_at_once_naming_the_holder(short_video, tmp_path):
    holder = hold_lock(tmp_path / ".narrascore", 60)
    try:
        started = time.monotonic()
        code, err = finish(cli("score", str(short_video.path), "-o", str(tmp_path), "--quiet"))
        assert code == OutputError.exit_code
        assert f"PID {holder.pid}" in one_line(err) and "--wait" in err
        assert time.monotonic() - started < 20  # at once: no scan, no render
        assert not (tmp_path / "media.json").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock is stale and the next run takes it over
    assert narrascore.analyze(short_video.path, tmp_path).plan.scenes


def test_evaluate_fails_at_once_while_a_run_holds_the_folder(clean, tmp_path):
    out, _, _ = clean
    folder = tmp_path / "scored"
    shutil.copytree(out, folder)
    holder = hold_lock(folder / ".narrascore", 60)
    try:
        code, err = finish(cli("evaluate", str(folder), "--quiet", "--no-baselines", "--listener", "descriptors"))
        assert code == OutputError.exit_code
        assert f"PID {holder.pid}" in one_line(err)
        assert not (folder / "report.json").exists()
    finally:
        holder.kill()
        holder.wait()
    code, err = finish(cli("evaluate", str(folder), "--quiet", "--no-baselines", "--listener", "descriptors"))
    assert code == 0, err
    assert (folder / "report.json").is_file()


def test_wait_waits_for_the_holder(short_video, tmp_path):
    holder = hold_lock(tmp_path / ".narrascore", 2)
    try:
        started = time.monotonic()
        result = narrascore.analyze(short_video.path, tmp_path, wait=True)
        assert time.monotonic() - started >= 1.0
        assert holder.wait(10) == 0
        assert result.plan.scenes
    finally:
        holder.kill()


def test_two_concurrent_runs_with_wait_both_finish_and_agree(demo, clean, tmp_path):
    out, _, _ = clean
    runs = [cli("analyze", str(demo), "-o", str(tmp_path), "--quiet", "--wait") for _ in range(2)]
    for run in runs:
        code, err = finish(run)
        assert code == 0, err
    for name in OUTPUTS[:4]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_the_overlapped_run_equals_a_sequential_one(demo, clean, tmp_path, monkeypatch):
    """The SoundFont loaded during the scan (its samples mapped from the cache), the figure's worker readied
    during the render and the mux fed while the soundtrack is written change no byte against a run that
    does each in turn, loads the font whole and muxes the finished soundtrack file."""
    from narrascore.export import mux
    from narrascore.pipeline import Pipeline
    from narrascore.synth.procedural import render

    _, _, expected = clean
    started: list[str] = []
    monkeypatch.setattr(Pipeline, "warm_synth", lambda self: started.append("font"))
    monkeypatch.setattr(Pipeline, "ready_drawing", lambda self: started.append("figure"))
    monkeypatch.setattr(render, "_mapped_samples", lambda tsf, font: started.append("whole"))
    monkeypatch.setattr(mux, "MuxWhileWriting", lambda *a, **k: MuxAfterwards(started))
    render._loaded.clear()  # the font loads in the render itself, as it did before the overlap
    narrascore.score(demo, tmp_path, soundfont=str(FONT))
    assert started == ["font", "figure", "whole", "mux"]
    got = files(tmp_path)
    assert [name for name in OUTPUTS if got[name] != expected[name]] == []


class MuxAfterwards(contextlib.nullcontext):
    """Stands in for ``MuxWhileWriting``: taps nothing, so the pipeline muxes the finished file."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(self)
        log.append("mux")

    def write(self, samples) -> None:
        pass

    def restart(self) -> None:
        pass

    def result(self, progress=None) -> None:
        return None


def _get_ready() -> None:
    os.environ["NARRASCORE_TEST_READY"] = "yes"


def _report_ready(x: int) -> tuple[str | None, int]:
    return os.environ.get("NARRASCORE_TEST_READY"), 2 * x


def _fail_to_get_ready() -> None:
    raise ValueError("no matplotlib here")


def test_a_standby_worker_gets_ready_then_runs_the_call_it_is_handed():
    from narrascore.parallel import Background

    with Background.standby(_get_ready) as worker:
        worker.submit(_report_ready, 21)
        assert worker.result() == ("yes", 42)
    assert "NARRASCORE_TEST_READY" not in os.environ  # it got ready in its own process
    with Background.standby(_fail_to_get_ready) as worker:
        worker.submit(_report_ready, 1)
        with pytest.raises(ValueError, match="no matplotlib"):
            worker.result()


_PARENT_GARBAGE = r"""
import gc, os, sys
from narrascore.parallel import Background

class Cycle:
    def __del__(self):
        print(f"freed in {'the worker' if os.getpid() != PARENT else 'the parent'}", flush=True)

PARENT = os.getpid()
gc.disable()
cycle = Cycle(); cycle.me = cycle
del cycle  # garbage only a collection frees
with Background(gc.collect) as worker:
    worker.result()
gc.collect()
"""

_RESAMPLER_GARBAGE = r"""
import gc, sys
import av
from narrascore.parallel import Background

gc.disable()
with av.open(sys.argv[1]) as container:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=22050)
    for frame in container.decode(audio=0):
        resampler.resample(frame)
del resampler  # its filter graph is a cycle, and its threads live in this process only
with Background(gc.collect) as worker:
    worker.result()
print("done")
"""


def test_a_worker_leaves_the_parents_garbage_to_the_parent(short_video):
    """A forked worker that collected the parent's cycles freed PyAV 18.1.1 filter graphs whose threads
    exist only in the parent, and hung for ever: the score never finished."""
    run = subprocess.run([sys.executable, "-c", _PARENT_GARBAGE], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.split("\n")[:1] == ["freed in the parent"], run.stdout + run.stderr
    run = subprocess.run([sys.executable, "-c", _RESAMPLER_GARBAGE, str(short_video.path)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "done", run.stderr


def _count_to(n: int, pause: float, progress=None) -> int:
    for k in range(1, n + 1):
        time.sleep(pause)
        progress(float(k))
    return n


def _fail_after(pause: float, progress=None) -> None:
    time.sleep(pause)
    raise OutputError("disk full")


@pytest.mark.parametrize("to", ["main thread", "another thread"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_that_lands_during_a_fork_still_stops_the_run(sig, to):
    """Handled while ``os.fork`` ran its after-fork handlers, the signal used to be raised inside one,
    printed as "Exception ignored" and lost: the run went on to the end and exited 0. It must stop the
    run, and the new worker with it, whichever thread the kernel handed it to."""
    import threading

    from narrascore.parallel import Background, Terminated, interrupt_on_stop_signals

    other = threading.Event()
    helper = threading.Thread(target=other.wait, daemon=True)
    helper.start()
    target = helper.ident if to == "another thread" else threading.main_thread().ident
    armed, before, forked = [True], descendants(os.getpid()), set()

    def signal_in_the_fork() -> None:
        if armed[0]:
            armed[0] = False
            forked.update(descendants(os.getpid()) - before)
            signal.pthread_kill(target, sig)
            time.sleep(0.05)  # (time for the handler to be called here, inside the fork's handlers)

    os.register_at_fork(after_in_parent=signal_in_the_fork)
    expected = KeyboardInterrupt if sig == signal.SIGINT else Terminated
    # Python answers Ctrl-C with KeyboardInterrupt unless the process started with SIGINT ignored, as one
    # started in the background of a non-interactive shell does (and then Ctrl-C is meant to be ignored):
    # the test stands in for a terminal's foreground run, whatever shell started pytest.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with interrupt_on_stop_signals(), pytest.raises(expected):
            with Background(time.sleep, 30.0):
                pytest.fail("the signal was lost")
    finally:
        armed[0] = False  # (fork hooks cannot be removed: this one stays disarmed)
        other.set()
        signal.signal(signal.SIGINT, inherited)
    assert forked and gone_within(forked, 3.0) == set()


def test_a_worker_told_to_stop_as_it_is_forked_stops():
    """A SIGTERM that reaches a new worker inside its fork (``start_process`` stops the worker it just
    forked when the run was stopped meanwhile) would be raised in an after-fork handler and lost, and the
    worker would live on until killed 5 s later. It is kept until the worker's handlers are set."""
    from narrascore.errors import NarrascoreError
    from narrascore.parallel import Background, interrupt_on_stop_signals

    armed = [True]

    def stop_myself() -> None:  # in the new worker, among its after-fork handlers
        if armed[0]:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # (time for the handler to be called here)

    os.register_at_fork(after_in_child=stop_myself)
    started = time.monotonic()
    try:
        with interrupt_on_stop_signals(), Background(time.sleep, 30.0) as worker:
            armed[0] = False  # (the parent's copy: later forks are left alone)
            pid = worker.process.pid
            with pytest.raises(NarrascoreError, match="worker process died"):
                worker.result()
    finally:
        armed[0] = False
    assert time.monotonic() - started < 3.0
    assert gone_within({pid}, 1.0) == set()


def test_gather_returns_values_in_order_and_sums_progress():
    from narrascore.parallel import Background, gather

    seen: list[float] = []
    with Background(_count_to, 5, 0.02, reports_progress=True) as a, Background(_count_to, 3, 0.01, reports_progress=True) as b:
        assert gather([a, b], seen.append) == [5, 3]
    assert seen == sorted(seen) and seen[-1] == 8.0  # each worker's latest count, summed
    with Background(_count_to, 50, 0.1, reports_progress=True) as slow, Background(_fail_after, 0.05, reports_progress=True) as bad:
        started = time.monotonic()
        with pytest.raises(OutputError, match="disk full"):
            gather([slow, bad])
        pid = slow.process.pid
    assert time.monotonic() - started < 4.0  # the error comes first, the other worker is not awaited
    assert gone_within({pid}, 3.0) == set()


@needs_proc
def test_a_standby_worker_never_handed_a_call_ends_with_its_block():
    from narrascore.parallel import Background

    with Background.standby(_get_ready) as worker:
        pid = worker.process.pid
        assert alive(pid)
    assert gone_within({pid}, 3.0) == set()


# --------------------------------------------------------------------------- 4. workers, signals, litter
WORKERS = """
import sys, time
from pathlib import Path
from narrascore.parallel import Background
from narrascore.synth.procedural.render import WorkerPool
with Background(time.sleep, 120) as side, Background.standby() as standby, WorkerPool(Path(sys.argv[1]), 2) as pool:
    print(" ".join(str(p.pid) for p in [side.process, standby.process, *pool.processes]), flush=True)
    time.sleep(120)
"""


@needs_proc
def test_workers_die_with_a_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", WORKERS, str(FONT)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    workers = {int(pid) for pid in parent.stdout.readline().split()}
    assert len(workers) == 4 and all(alive(p) for p in workers)
    parent.kill()
    parent.wait()
    assert gone_within(workers, 3.0) == set()


DEAF_WORKER = """
import signal, sys, time
from narrascore.parallel import Background

def deaf():  # a worker stuck where SIGTERM does nothing (a C library that swallows it, say)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("deaf", flush=True)
    time.sleep(120)

with Background(deaf) as worker:
    print(worker.process.pid, flush=True)
    time.sleep(120)
"""


@needs_proc
def test_a_worker_deaf_to_sigterm_is_killed_soon_after_its_parent():
    from narrascore.parallel import STOP_SECONDS

    parent = subprocess.Popen([sys.executable, "-c", DEAF_WORKER], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    lines = {parent.stdout.readline().strip(), parent.stdout.readline().strip()}
    assert "deaf" in lines
    pid = int(next(line for line in lines if line != "deaf"))
    parent.kill()
    parent.wait()
    assert gone_within({pid}, 1.0) == {pid}  # SIGTERM did nothing...
    assert gone_within({pid}, STOP_SECONDS + 3.0) == set()  # ...SIGKILL did


@needs_proc
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_cleanly(sig, demo, tmp_path):
    run = cli("score", str(demo), "-o", str(tmp_path), "--quiet", "--soundfont", str(FONT))
    # on concept.json the render (its workers and scratch files) and the export are still ahead: on a
    # quiet machine the mux after soundtrack.wav can finish before the signal lands
    workers = signal_when(run, tmp_path / "concept.json", sig)
    code, err = finish(run)
    assert code == 128 + sig
    assert signal.Signals(sig).name in one_line(err)
    assert litter(tmp_path) == []
    assert not (tmp_path / "scored.mp4").exists()
    assert gone_within(workers, 3.0) == set()


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("when", ["shots.json", "soundtrack.wav"])
def test_kill_9_and_rerun_equals_a_clean_run(when, demo, clean, tmp_path):
    _, _, expected = clean
    run = cli("score", str(demo), "-o", str(tmp_path), "--quiet", "--soundfont", str(FONT))
    workers = signal_when(run, tmp_path / when, signal.SIGKILL)
    finish(run)
    assert gone_within(workers, 3.0) == set()  # no orphan outlives the killed run
    code, err = finish(cli("score", str(demo), "-o", str(tmp_path), "--quiet", "--soundfont", str(FONT)))
    assert code == 0, err
    assert litter(tmp_path) == []
    got = files(tmp_path)
    assert [name for name in OUTPUTS if got[name] != expected[name]] == []


def test_a_run_removes_what_a_killed_run_left_and_nothing_else(short_video, tmp_path):
    work = tmp_path / ".narrascore"
    (work / "render").mkdir(parents=True)
    left = [tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=folder)[1]
            for stem, suffix, folder in (("soundtrack", ".wav", tmp_path), ("scored", ".mp4", tmp_path),
                                         ("figure", ".png", tmp_path), ("narrative", ".json", tmp_path),
                                         ("mix", ".wav", work / "render"), ("outputs", ".json", work))]
    (work / "render" / ".part0.render.wav").write_bytes(b"x")
    kept = [tmp_path / ".notes.txt", tmp_path / ".holiday.abcdefgh.mp4", tmp_path / "soundtrack-old.wav"]
    for path in kept:
        path.write_bytes(b"mine")

    holder = hold_lock(work, 60)  # while another run holds the folder, its temporary files are its own
    try:
        with pytest.raises(OutputError, match=f"PID {holder.pid}"):
            narrascore.analyze(short_video.path, tmp_path)
        assert all(Path(p).exists() for p in left)
    finally:
        holder.kill()
        holder.wait()

    narrascore.analyze(short_video.path, tmp_path)
    assert [p for p in left if Path(p).exists()] == []
    assert not (work / "render" / ".part0.render.wav").exists()
    assert all(path.read_bytes() == b"mine" for path in kept)
