"""Odd inputs (issue 13, items 8-9): truncated files, one-frame videos, 4:4:4 / 10-bit / odd-size video,
and a failed input that must leave no empty folders behind."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import narrascore
from narrascore.cli import app
from narrascore.errors import MediaError
from narrascore.export import measure_chunks, mux_video
from narrascore.media import check_complete, probe
from narrascore.media.synthetic import Segment, make_video

TEN_SECONDS = (Segment(5.0, (200, 60, 50), motion=0.2), Segment(5.0, (50, 60, 200), motion=0.2))


def _faststart(src, dst) -> None:
    """Remux with the index first, as web videos are: cut short, such a file still opens."""
    with av.open(str(src)) as source, av.open(str(dst), "w", options={"movflags": "+faststart"}) as sink:
        streams = {s.index: sink.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                sink.mux(packet)


@pytest.fixture(scope="module")
def truncated(tmp_path_factory):
    """A 10 s mp4 (index first) and an mkv, each cut to 60 % of its bytes."""
    folder = tmp_path_factory.mktemp("truncated")
    make_video(folder / "ten.mp4", TEN_SECONDS, width=160, height=90)
    _faststart(folder / "ten.mp4", folder / "web.mp4")
    make_video(folder / "ten.mkv", TEN_SECONDS, width=160, height=90)
    for name in ("web.mp4", "ten.mkv"):
        data = (folder / name).read_bytes()
        (folder / f"cut-{name}").write_bytes(data[: int(len(data) * 0.6)])
    return folder


@pytest.mark.parametrize("name", ["web.mp4", "ten.mkv"])
def test_probe_measures_what_a_truncated_file_lacks(truncated, name, caplog):
    whole, cut = probe(truncated / name, content_hash=False), probe(truncated / f"cut-{name}", content_hash=False)
    assert whole.duration == pytest.approx(10.0) and whole.truncated_seconds < 0.05
    assert 5.0 < cut.duration < 7.5 and cut.truncated_seconds == pytest.approx(10.0 - cut.duration, abs=0.05)
    with caplog.at_level(logging.WARNING):
        check_complete(whole)
        assert not caplog.records
        check_complete(cut)
    (record,) = caplog.records
    assert record.getMessage().startswith("warning: ") and "10.0 s" in record.getMessage()
    with pytest.raises(MediaError, match="truncated"):
        check_complete(cut, strict=True)


def test_an_mkv_whose_audio_outlasts_its_video_is_not_truncated(tmp_path):
    make_video(tmp_path / "three.mkv", [Segment(3.0, (200, 60, 50))], width=160, height=90)
    make_video(tmp_path / "six.mkv", [Segment(6.0, (200, 60, 50))], width=160, height=90)
    with av.open(str(tmp_path / "three.mkv")) as short, av.open(str(tmp_path / "six.mkv")) as long, \
            av.open(str(tmp_path / "both.mkv"), "w") as sink:
        pairs = [(source, stream, sink.add_stream_from_template(stream))  # every stream before the first packet
                 for source, stream in ((short, short.streams.video[0]), (long, long.streams.audio[0]))]
        for source, stream, out in pairs:
            for packet in source.demux(stream):
                if packet.size:
                    packet.stream = out
                    sink.mux(packet)
    info = probe(tmp_path / "both.mkv", content_hash=False)
    assert info.duration == pytest.approx(3.0) and info.truncated_seconds < 0.1


def test_a_truncated_file_warns_and_strict_refuses_it(truncated, tmp_path):
    video = truncated / "cut-web.mp4"
    env = dict(os.environ)
    env.pop("NARRASCORE_DEBUG", None)
    warned = subprocess.run([sys.executable, "-m", "narrascore.cli", "analyze", str(video), "-o", str(tmp_path / "a"),
                             "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert warned.returncode == 0, warned.stderr
    (line,) = [line for line in warned.stderr.splitlines() if line.startswith("warning: ")]
    assert re.search(r"cut-web\.mp4: only \d\.\d s of the 10\.0 s it declares", line), line
    assert "--strict makes this an error" in line
    refused = CliRunner().invoke(app, ["score", str(video), "-o", str(tmp_path / "s"), "--strict", "--quiet"])
    assert refused.exit_code == 3
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("narrascore: error: ") and "of the 10.0 s it declares" in line
    assert not (tmp_path / "s" / "shots.json").exists() and not (tmp_path / "s" / "soundtrack.wav").exists()


def test_a_one_frame_video_gets_a_loudness_not_minus_infinity(tmp_path):
    make_video(tmp_path / "one.mp4", [Segment(0.04, (200, 60, 50))])
    result = CliRunner().invoke(app, ["score", str(tmp_path / "one.mp4"), "-o", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "inf" not in result.output and "(0.04 s)" in result.output
    assert "-16.0 LUFS" in result.output
    audio, rate = sf.read(tmp_path / "out" / "soundtrack.wav")
    assert audio.shape == (round(0.04 * rate), 2)


def test_a_clip_under_one_block_is_measured_as_one_block():
    rate = 48_000
    t = np.arange(2 * rate) / rate
    tone = np.stack([0.1 * np.sin(2 * np.pi * 1000 * t)] * 2, axis=1).astype(np.float32)
    steady = measure_chunks([tone], rate).integrated_lufs
    short = measure_chunks([tone[: rate // 10]], rate).integrated_lufs  # 100 ms
    assert np.isfinite(short) and short == pytest.approx(steady, abs=0.2)
    assert measure_chunks([np.zeros((rate // 10, 2), np.float32)], rate).integrated_lufs == -np.inf


def _silent_soundtrack(info, folder):
    path = folder / "music.wav"
    sf.write(path, np.zeros((round(info.duration * 48_000), 2), np.float32), 48_000, subtype="PCM_24")
    return path


@pytest.mark.parametrize("name, options, note", [
    ("yuv444-odd.mp4", {"pix_fmt": "yuv444p", "width": 321, "height": 241},
     "h264 in yuv444p does not play in browsers (they need yuv420p); its size 321x241 becomes 320x240"),
    ("ten-bit.mp4", {"pix_fmt": "yuv420p10le"}, "h264 in yuv420p10le does not play in browsers"),
    ("plain.mp4", {}, None),
])
def test_video_browsers_cannot_play_is_reencoded_with_a_note(tmp_path, caplog, name, options, note):
    make_video(tmp_path / name, [Segment(0.6, (200, 60, 50), motion=0.2)], **options)
    info = probe(tmp_path / name)
    with caplog.at_level(logging.WARNING, logger="narrascore.export.mux"):
        out = mux_video(tmp_path / name, info, _silent_soundtrack(info, tmp_path), tmp_path / "out")
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        fmt, size = stream.codec_context.format.name, (stream.width, stream.height)
    with av.open(str(tmp_path / name)) as container:
        source = [bytes(p) for p in container.demux(video=0) if p.size]
    with av.open(str(out)) as container:
        copied = [bytes(p) for p in container.demux(video=0) if p.size] == source
    messages = [r.getMessage() for r in caplog.records]
    if note is None:
        assert copied and messages == []
        return
    assert not copied and fmt == "yuv420p" and size[0] % 2 == 0 and size[1] % 2 == 0
    (message,) = messages
    assert message.startswith(f"{tmp_path / name}: re-encoding the video to H.264 (yuv420p, 8-bit): ") and note in message


@pytest.mark.parametrize("layout", ["new", "nested", "existing"])
def test_a_failed_input_leaves_no_empty_folders(tmp_path, layout):
    video = tmp_path / "notes.mp4"
    video.write_text("not a video\n" * 50)
    out = {"new": tmp_path / "out", "nested": tmp_path / "a" / "b" / "out", "existing": tmp_path / "there"}[layout]
    if layout == "existing":
        out.mkdir()
    with pytest.raises(MediaError, match="notes.mp4"):
        narrascore.score(video, out)
    if layout == "existing":
        assert out.is_dir() and list(out.iterdir()) == []  # the user's folder stays, without our .narrascore
    else:
        assert not out.exists() and not (tmp_path / "a").exists()


def test_an_artifact_written_before_a_field_existed_is_not_a_hand_edit(tmp_path):
    """media.json from before ``truncated_seconds``: reused as it is, an edit of it still counts as one."""
    import json

    from narrascore.artifacts import MediaInfo, read_artifact, save_artifact
    from narrascore.fileio import canonical_hash

    info = MediaInfo(path="a.mp4", size_bytes=1, content_hash="x", duration=1.0, fps=25.0, frame_count=25, width=2,
                     height=2, video_codec="h264")
    path = save_artifact(info, tmp_path)
    envelope = json.loads(path.read_text())
    del envelope["data"]["truncated_seconds"]
    envelope["fingerprint"] = canonical_hash(envelope["data"])
    path.write_text(json.dumps(envelope))
    stored = read_artifact(MediaInfo, path)
    assert stored.artifact == info and not stored.hand_edited
    envelope["data"]["fps"] = 30.0
    path.write_text(json.dumps(envelope))
    assert read_artifact(MediaInfo, path).hand_edited


def test_the_command_exits_with_its_code_after_the_exit_handlers_run(tmp_path):
    """``narrascore`` skips the interpreter's teardown (``cli.run``), but not the exit code, the one-line
    error, the exit handlers or output still in a pipe's buffer."""
    code = ("import atexit, sys\n"
            "from narrascore import cli\n"
            "atexit.register(lambda: print('exit handlers ran'))\n"
            "sys.stdout.write('buffered, not flushed; ')\n"
            "sys.argv = ['narrascore', *sys.argv[1:]]\n"
            "cli.run()\n")
    missing = tmp_path / "missing.mp4"
    failed = subprocess.run([sys.executable, "-c", code, "score", str(missing), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 3, failed.stderr
    assert failed.stderr.strip().splitlines() == [f"narrascore: error: {missing}: file not found"]
    assert failed.stdout == "buffered, not flushed; exit handlers ran\n"
    version = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout == f"buffered, not flushed; narrascore {narrascore.__version__}\nexit handlers ran\n"
