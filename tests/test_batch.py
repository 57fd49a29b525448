"""Batch scoring: local pool and Ray give the same files as single runs, resume, failures, lists, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import narrascore
from narrascore.batch import collect_inputs, range_hook, run_batch, sense_in_ranges, split_ranges
from narrascore.batch import local as batch_local
from narrascore.batch.summary import SUMMARY, read_summary
from narrascore.errors import OptionError
from narrascore.media.synthetic import Segment
from narrascore.options import ScoreOptions
from narrascore.pipeline import Pipeline, run
from narrascore.sense import SensingInput, grid, sense

B_SEGMENTS = (
    Segment(1.0, (30, 30, 40), motion=0.0, audio_db=-34),
    Segment(1.0, (220, 120, 40), motion=0.2, audio_db=-18, audio_pulse_hz=5),
    Segment(1.0, (90, 200, 220), motion=0.05, audio_db=-26),
)


@pytest.fixture(scope="module")
def batch_inputs(tmp_path_factory, video_factory):
    """A folder with two tiny videos (one in a subfolder) and a broken one."""
    folder = tmp_path_factory.mktemp("batch-in")
    a = video_factory("batch-a.mp4")
    b = video_factory("batch-b.mp4", B_SEGMENTS)
    (folder / "sub").mkdir()
    (folder / "a.mp4").write_bytes(a.path.read_bytes())
    (folder / "sub" / "b.mp4").write_bytes(b.path.read_bytes())
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 100)
    return folder


@pytest.fixture(scope="module")
def references(batch_inputs, tmp_path_factory):
    """narrascore.score on each good video (seed 0): what every batch must reproduce."""
    root = tmp_path_factory.mktemp("batch-ref")
    return {name: narrascore.score(batch_inputs / f"{name}.mp4", root / name, seed=0).out_dir for name in ("a", "sub/b")}


def _affect_data(folder: Path) -> dict:
    return json.loads((folder / "affect.json").read_text())["data"]


def _assert_same_as_single_runs(out: Path, references: dict[str, Path]) -> None:
    for name, ref in references.items():
        assert (out / name / "soundtrack.wav").read_bytes() == (ref / "soundtrack.wav").read_bytes(), name
        assert _affect_data(out / name) == _affect_data(ref), name


def _statuses(result) -> dict[str, str]:
    return {row.name: row.status for row in result.rows}


def _assert_summary(result, statuses: dict[str, str]) -> None:
    assert _statuses(result) == statuses
    rows = {r["name"]: r for r in read_summary(result.out_dir / SUMMARY)}
    assert {k: r["status"] for k, r in rows.items()} == statuses
    broken = rows["broken"]
    assert "broken.mp4" in broken["error"] and "\n" not in broken["error"]
    for name in ("a", "sub/b"):
        assert float(rows[name]["video_s"]) > 2.5
        assert -1 <= float(rows[name]["arousal_r"]) <= 1 and 0 <= float(rows[name]["cut_sync"]) <= 1
        report = json.loads((result.out_dir / name / "report.json").read_text())["data"]
        assert rows[name]["listener"] == report["emotion"]["listener"] in ("vibenet", "descriptors")
        if statuses[name] == "done":
            assert float(rows[name]["rtf"]) > 0


# --------------------------------------------------------------------------- inputs
def test_collect_inputs_folder_glob_and_names(tmp_path):
    (tmp_path / "x").mkdir()
    for rel in ("clip.mp4", "clip.mkv", "x/other.webm", "notes.txt"):
        (tmp_path / rel).write_bytes(b"")
    out = tmp_path / "x" / "out"
    (out / "old").mkdir(parents=True)
    (out / "old" / "scored.mp4").write_bytes(b"")  # an earlier batch's output inside the input folder
    items = collect_inputs(tmp_path, exclude=out)
    assert [(i.video.relative_to(tmp_path).as_posix(), i.name) for i in items] == [
        ("clip.mkv", "clip-mkv"), ("clip.mp4", "clip-mp4"), ("x/other.webm", "x/other")]
    assert collect_inputs(tmp_path, exclude=out) == items  # deterministic
    globbed = collect_inputs(str(tmp_path / "x" / "*.webm"))
    assert [i.name for i in globbed] == ["other"]
    with pytest.raises(OptionError, match="no videos"):
        collect_inputs(str(tmp_path / "*.avi"))
    with pytest.raises(OptionError, match="not a folder"):
        collect_inputs(tmp_path / "missing")


def test_collect_inputs_lists_with_per_video_options(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"")
    (tmp_path / "list.csv").write_text("video,style,seed,synth\nv.mp4,piano,3,\nv.mp4,rock,5,procedural\n")
    items = collect_inputs(tmp_path / "list.csv", options=ScoreOptions(loudness=-20))
    assert [(i.name, i.options.style, i.options.seed, i.options.loudness) for i in items] == [
        ("v", "piano", 3, -20), ("v-2", "rock", 5, -20)]
    (tmp_path / "list.jsonl").write_text('{"video": "v.mp4", "name": "runs/first", "seed": 7}\n\n{"video": "v.mp4"}\n')
    items = collect_inputs(tmp_path / "list.jsonl")
    assert [(i.name, i.options.seed, i.video) for i in items] == [("runs/first", 7, tmp_path / "v.mp4"), ("v", 0, tmp_path / "v.mp4")]
    for text, message in (("video,colour\nv.mp4,red\n", "unknown column"), ("video,seed\nv.mp4,x\n", "seed must be an integer"),
                          ("video,style\nv.mp4,polka\n", "unknown style"), ("video,name\nv.mp4,../up\n", "without '..'"),
                          ("video,seed\n,1\n", "no video")):
        (tmp_path / "bad.csv").write_text(text)
        with pytest.raises(OptionError, match=message):
            collect_inputs(tmp_path / "bad.csv")


# --------------------------------------------------------------------------- range sensing
def test_range_split_sensing_equals_single_process(short_video, tmp_path):
    options = ScoreOptions()
    pipe = Pipeline(tmp_path / "signals", options)
    info = pipe.media(short_video.path)
    shots, stats, audio = pipe.signals(short_video.path, info, need_stats=True)
    inputs = SensingInput(media=info, shots=shots, video=stats, audio=audio, subtitles=(),
                          times=grid(info.duration, options.hop), hop=options.hop)
    whole = sense(inputs)
    for seconds in (0.5, 0.7, 1.3, 10.0):  # on the grid, between grid points, longer than the video
        ranges = split_ranges(info.duration, seconds)
        assert ranges[0][0] is None and ranges[-1][1] is None
        assert sense_in_ranges(inputs, ranges) == whole, seconds

    calls = []

    def counting_map(inputs, ranges):
        calls.append(len(ranges))
        from narrascore.batch.ranges import serial_map
        return serial_map(inputs, ranges)

    plain = run(short_video.path, tmp_path / "plain", options, until="narrative")
    split = run(short_video.path, tmp_path / "split", options, until="narrative", sense_hook=range_hook(1.0, counting_map))
    assert calls == [4]
    assert _affect_data(split.out_dir) == _affect_data(plain.out_dir)
    assert split.plan == plain.plan


# --------------------------------------------------------------------------- local pool
def test_local_pool_batch_matches_single_runs_and_resumes(batch_inputs, references, tmp_path, monkeypatch):
    out = tmp_path / "out"
    seen = []
    result = run_batch(batch_inputs, out, workers=2, on_row=seen.append)
    _assert_summary(result, {"a": "done", "broken": "failed", "sub/b": "done"})
    assert sorted(r.name for r in seen) == ["a", "broken", "sub/b"]
    _assert_same_as_single_runs(out, references)

    started = []
    real = batch_local.run_local

    def spy(jobs, *args, **kwargs):
        started.extend(item.name for _, item in jobs)
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(batch_local, "run_local", spy)
    again = run_batch(batch_inputs, out, workers=2)
    assert started == ["broken"]  # finished videos are skipped without a worker
    _assert_summary(again, {"a": "skipped", "broken": "failed", "sub/b": "skipped"})
    assert [r.arousal_r for r in again.rows if r.name != "broken"] == [r.arousal_r for r in result.rows if r.name != "broken"]

    changed = run_batch(batch_inputs, out, workers=1, options=ScoreOptions(seed=4))  # new options: scored again
    assert _statuses(changed)["a"] == "done"


def test_list_batch_applies_per_video_options(batch_inputs, tmp_path):
    listing = tmp_path / "videos.csv"
    listing.write_text(f"video,style,seed\n{batch_inputs / 'a.mp4'},piano,3\n{batch_inputs / 'a.mp4'},rock,5\n")
    result = run_batch(listing, tmp_path / "out", workers=2)
    assert _statuses(result) == {"a": "done", "a-2": "done"}
    for name, style, seed in (("a", "piano", 3), ("a-2", "rock", 5)):
        concept = json.loads((tmp_path / "out" / name / "concept.json").read_text())["data"]
        assert concept["seed"] == seed and style in json.dumps(concept)
    sound = [(tmp_path / "out" / n / "soundtrack.wav").read_bytes() for n in ("a", "a-2")]
    assert sound[0] != sound[1]


# --------------------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_batch_matches_single_runs_with_range_sensing(local_ray, batch_inputs, references, tmp_path):
    out = tmp_path / "out"
    result = run_batch(batch_inputs, out, ray="auto", range_seconds=1.0)  # every video's sensing split in ranges
    _assert_summary(result, {"a": "done", "broken": "failed", "sub/b": "done"})
    _assert_same_as_single_runs(out, references)
    assert local_ray.is_initialized()  # the caller's instance is left running

    again = run_batch(batch_inputs, out, ray="auto")
    _assert_summary(again, {"a": "skipped", "broken": "failed", "sub/b": "skipped"})


def test_ray_range_map_equals_serial(local_ray, short_video, tmp_path):
    from narrascore.batch.cluster import ray_map
    from narrascore.batch.ranges import serial_map

    pipe = Pipeline(tmp_path, ScoreOptions())
    info = pipe.media(short_video.path)
    shots, stats, audio = pipe.signals(short_video.path, info, need_stats=True)
    inputs = SensingInput(media=info, shots=shots, video=stats, audio=audio, subtitles=(), times=grid(info.duration, 0.5), hop=0.5)
    ranges = split_ranges(info.duration, 0.7)
    remote, local = ray_map(inputs, ranges), serial_map(inputs, ranges)
    assert len(remote) == len(ranges) == 6
    for a, b in zip(remote, local):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert sense_in_ranges(inputs, ranges, ray_map) == sense(inputs)


def test_ray_resources_follow_the_synth():
    from narrascore.batch.cluster import needs_gpu

    assert not needs_gpu(ScoreOptions())
    assert needs_gpu(ScoreOptions(synth="musicgen"))


# --------------------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("stop, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_workers_and_leaves_no_half_written_files(batch_inputs, tmp_path, video_factory, stop, code):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"v{i}.mp4").write_bytes((batch_inputs / "a.mp4").read_bytes())
    out = tmp_path / "out"
    env = {**os.environ, "COLUMNS": "200"}
    # As from a terminal: a test run started in the background of a non-interactive shell inherits SIGINT ignored.
    proc = subprocess.Popen([sys.executable, "-m", "narrascore.cli", "batch", str(folder), "-o", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not any(out.glob("*/.narrascore/*.npz")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # wait until the workers are inside the pipeline
    proc.send_signal(stop)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "interrupted" in stderr and "batch-summary.csv" in stdout
    leftovers = [p for p in out.rglob(".*") if p.is_file()]
    assert leftovers == [], leftovers  # atomic writes removed their temporary files
    for wav in out.rglob("soundtrack.wav"):
        assert sf.info(str(wav)).frames > 0 and np.isfinite(sf.read(str(wav))[0]).all()
    for name in out.rglob("*.json"):
        json.loads(name.read_text())
    summary = read_summary(out / SUMMARY)
    assert len(summary) < 3 and all(r["status"] == "done" for r in summary)
    assert subprocess.run(["pgrep", "-f", f"narrascore.cli batch {folder}"], capture_output=True).stdout == b""

    (out / ".batch-summary.k1ll3d00.csv").write_text("name,status\n")  # as a batch killed while writing it leaves
    resumed = run_batch(folder, out, workers=2)  # a re-run finishes the rest and sweeps that
    assert not (out / ".batch-summary.k1ll3d00.csv").exists()
    assert sorted(_statuses(resumed).values()) == sorted(["skipped"] * len(summary) + ["done"] * (3 - len(summary)))


def test_batch_errors_are_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from narrascore.cli import app

    result = CliRunner().invoke(app, ["batch", str(tmp_path / "nothing"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not a folder, a glob" in result.output
    (tmp_path / "v.mp4").write_bytes(b"")
    result = CliRunner().invoke(app, ["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--workers", "0"])
    assert result.exit_code == 2 and "workers must be at least 1" in result.output
    result = CliRunner().invoke(app, ["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--workers", "2", "--ray", "auto"])
    assert result.exit_code == 2 and "local pool" in result.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the batch extra were not installed
    result = CliRunner().invoke(app, ["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--ray", "auto"])
    assert result.exit_code == 6 and "narrascore[batch]" in result.output


def test_a_dying_worker_takes_only_its_video(tmp_path, monkeypatch):
    from narrascore.batch.inputs import BatchItem
    from narrascore.batch.item import ItemResult

    def fake_score(item, out_root, **_):
        if item.name == "boom":
            os._exit(3)  # a crash in a native library, say
        return ItemResult(name=item.name, video=str(item.video), status="done")

    monkeypatch.setattr(batch_local, "score_one", fake_score)  # forked workers inherit it
    jobs = [(i, BatchItem(video=tmp_path / f"{n}.mp4", name=n, options=ScoreOptions()))
            for i, n in enumerate(["a", "boom", "b", "c", "d"])]
    rows = {}
    batch_local.run_local(jobs, tmp_path, workers=2, on_row=lambda i, row: rows.__setitem__(i, row))
    assert {r.name: r.status for r in rows.values()} == {"a": "done", "boom": "failed", "b": "done", "c": "done", "d": "done"}
    assert "exit code 3" in rows[1].error


# --------------------------------------------------------------------------- short videos, the table
def test_a_video_too_short_to_evaluate_is_done_not_failed_nor_retried(tmp_path, video_factory, monkeypatch):
    half = video_factory("half-second.mp4", (Segment(0.25, (200, 60, 50)), Segment(0.25, (50, 60, 200))))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "half.mp4").write_bytes(half.path.read_bytes())
    result = run_batch(folder, tmp_path / "out", workers=1)
    (row,) = result.rows
    assert (row.status, row.note, row.error) == ("done", "too short to evaluate", "")
    assert row.video_s == pytest.approx(0.48) and row.arousal_r is None
    assert (tmp_path / "out" / "half" / "soundtrack.wav").is_file() and not result.failed
    (line,) = read_summary(result.summary)
    assert (line["status"], line["note"], line["error"]) == ("done", "too short to evaluate", "")

    started = []
    monkeypatch.setattr(batch_local, "run_local", lambda jobs, *a, **k: started.extend(jobs))
    again = run_batch(folder, tmp_path / "out", workers=1)
    assert started == [] and [(r.status, r.note) for r in again.rows] == [("skipped", "too short to evaluate")]


def test_the_table_is_readable_at_80_columns():
    import io

    from rich.console import Console

    from narrascore.batch import ItemResult, summary_table

    rows = [ItemResult(name="holidays/2024/day-one-at-the-beach", video="x", status="done", video_s=1234.4, wall_s=40.2,
                       rtf=3.1, arousal_r=-0.52, cut_sync=0.8),
            ItemResult(name="clips/short", video="x", status="failed", wall_s=0.2,
                       error="/data/clips/short.mp4: not a readable media file or truncated (Invalid data found)"),
            ItemResult(name="b", video="x", status="skipped", video_s=0.5, note="too short to evaluate")]
    for width in (80, 120):
        buffer = io.StringIO()
        Console(file=buffer, width=width, soft_wrap=True).print(summary_table(rows, width=width))
        lines = buffer.getvalue().splitlines()
        assert max(len(line) for line in lines) <= width
        text = buffer.getvalue()
        for needle in ("holidays/2024/", "clips/short", "done", "failed", "skipped", "1234.4 s", "-0.52", "0.80",
                       "/data/clips/", "too short"):
            assert needle in text, (width, needle, text)
        assert ("40.2 s" in text) == (width >= 110)  # wall time only where there is room (it is in the CSV)


def test_a_second_batch_into_the_same_folder_fails_at_once(batch_inputs, tmp_path):
    import threading

    from narrascore.errors import OutputError
    from narrascore.lock import hold

    out = tmp_path / "out"
    (out / ".narrascore").mkdir(parents=True)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            run_batch(batch_inputs, out, workers=1)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    with hold(out / ".narrascore"):  # another thread's hold is another open file: as another run's
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(60)
    assert len(errors) == 1 and isinstance(errors[0], OutputError), errors
    assert "another narrascore run" in str(errors[0]) and not (out / "a").exists()
