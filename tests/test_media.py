"""The media stage on synthetic videos with known content."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHORT_SEGMENTS, make_test_video
from narrascore.artifacts import MediaInfo
from narrascore.errors import MediaError
from narrascore.media import (
    Segment,
    SubtitleLine,
    audio_stats,
    iter_audio,
    iter_frames,
    parse_subtitles,
    probe,
    read_subtitle_file,
    read_subtitles,
    scan_video,
    write_srt,
)

CUT_SEGMENTS = tuple(
    Segment(d, c, motion=m, texture=0.35, transition=tr, fade_seconds=0.8)
    for d, c, m, tr in [
        (1.3, (200, 60, 50), 0.0, "hard"),
        (0.9, (40, 170, 80), 0.2, "hard"),
        (1.5, (60, 70, 210), 0.4, "hard"),
        (1.6, (220, 210, 90), 0.05, "fade"),
        (0.7, (120, 30, 140), 0.3, "hard"),
        (1.2, (30, 140, 150), 0.0, "hard"),
        (1.5, (240, 150, 60), 0.1, "fade"),
        (1.0, (90, 90, 90), 0.5, "hard"),
    ]
)


def f1_score(true: list[float], found: list[float], tol: float = 0.25) -> float:
    used: set[int] = set()
    hits = 0
    for t in true:
        near = [j for j, f in enumerate(found) if j not in used and abs(f - t) <= tol]
        if near:
            used.add(min(near, key=lambda j: abs(found[j] - t)))
            hits += 1
    if not hits:
        return 0.0
    precision, recall = hits / len(found), hits / len(true)
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- probe
@pytest.mark.parametrize(
    "name, options, codec, audio_codec",
    [
        ("p.mp4", {}, "h264", "aac"),
        ("p.mkv", {}, "h264", "aac"),
        ("p8.webm", {"codec": "libvpx"}, "vp8", "opus"),
        ("p9.webm", {"codec": "libvpx-vp9"}, "vp9", "opus"),
        ("p.avi", {"codec": "mpeg4"}, "mpeg4", "pcm_s16le"),
        ("p.mov", {}, "h264", "aac"),
        ("pn.mp4", {"audio": False}, "h264", None),
    ],
)
def test_probe_containers_and_exact_duration(video_factory, name, options, codec, audio_codec):
    video = video_factory(name, **options)
    info = probe(video.path)
    assert isinstance(info, MediaInfo)
    assert info.video_codec == codec and info.audio_codec == audio_codec
    assert info.has_audio == (audio_codec is not None)
    assert info.duration == pytest.approx(4.0, abs=1e-9)
    assert info.frame_count == 100 and info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (320, 180) and not info.variable_frame_rate
    assert len(info.content_hash) == 64


def test_probe_variable_frame_rate(video_factory):
    info = probe(video_factory("vfr.mkv", vfr=True).path)
    assert info.variable_frame_rate
    assert info.frame_count == 100
    assert info.duration == pytest.approx(4.0, abs=0.06)


def test_probe_bad_inputs(tmp_path, short_video):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(short_video.path.read_bytes()[: short_video.path.stat().st_size // 2])
    cases = {
        tmp_path / "missing.mp4": "not found",
        empty: "empty",
        text: "not a readable media file",
        truncated: "truncated",
    }
    for path, words in cases.items():
        with pytest.raises(MediaError, match=words) as info:
            probe(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_probe_audio_only_file(tmp_path):
    import av

    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        for k in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, k * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(MediaError, match="has no video stream"):
        probe(path)


def test_sidecar_subtitles_are_found(tmp_path, short_video):
    video = make_test_video(tmp_path, "talk.mp4", audio=False)
    write_srt(tmp_path / "talk.srt", [SubtitleLine(0.5, 1.5, "Hello")])
    assert probe(video.path).sidecar_subtitles == str(tmp_path / "talk.srt")
    assert probe(short_video.path).sidecar_subtitles is None


# --------------------------------------------------------------------------- cuts
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    "name, options",
    [
        ("cuts.mp4", {"bframes": 3}),
        ("cuts_noscenecut.mp4", {"gop": 250, "codec_options": {"x264-params": "scenecut=0"}}),
        ("cuts.webm", {"codec": "libvpx"}),
        ("cuts.avi", {"codec": "mpeg4"}),
        ("cuts_vfr.mkv", {"vfr": True}),
    ],
)
def test_cuts_f1_and_hard_cuts_exact_to_the_frame(video_factory, name, options, fast):
    video = video_factory(name, CUT_SEGMENTS, audio=False, **options)
    info = probe(video.path)
    _stats, shots = scan_video(video.path, info, fast=fast)
    assert f1_score(video.cuts, shots.cut_times()) >= 0.95
    hard_true = [c for c, s in zip(video.cuts, CUT_SEGMENTS[1:]) if s.transition == "hard"]
    hard_found = {round(c.time, 6) for c in shots.cuts if c.kind == "hard"}
    assert all(round(t, 6) in hard_found for t in hard_true)
    fades = [c for c in shots.cuts if c.kind == "fade"]
    assert len(fades) == 2
    for cut in shots.cuts:
        if cut.kind == "hard" and not info.variable_frame_rate:
            assert cut.frame_index == round(cut.time * 25)


def test_static_and_moving_shots_have_no_false_cuts(video_factory):
    segments = (Segment(3.0, (120, 100, 90), motion=0.6, texture=0.5), Segment(2.0, (60, 60, 60), motion=0.0))
    video = video_factory("nocut.mp4", segments, audio=False)
    _stats, shots = scan_video(video.path, probe(video.path))
    assert shots.cut_times() == pytest.approx(video.cuts)


# --------------------------------------------------------------------------- statistics
def test_video_stats_follow_brightness_warmth_and_motion(video_factory):
    segments = (
        Segment(1.0, (230, 200, 160), motion=0.0, texture=0.2),  # bright, warm, static
        Segment(1.0, (30, 40, 90), motion=0.5, texture=0.4),  # dark, cool, moving
        Segment(1.0, (128, 128, 128), motion=0.0, texture=0.2),  # grey
    )
    video = video_factory("stats.mp4", segments, audio=False)
    stats, _ = scan_video(video.path, probe(video.path), fast=False, sample_hz=25.0)
    assert len(stats) == 75 and np.all(np.diff(stats.times) > 0)
    a, b, c = (slice(3, 22), slice(28, 47), slice(53, 72))
    assert stats.luma_mean[a].mean() > stats.luma_mean[b].mean() + 0.3
    assert stats.warmth[a].mean() > 0.05 > stats.warmth[b].mean()
    assert stats.motion[b].mean() > 5 * stats.motion[a].mean() + 0.05
    assert stats.saturation[c].mean() < 0.05 < stats.saturation[b].mean()
    for name in ("luma_mean", "saturation"):
        values = getattr(stats, name)
        assert np.all((values >= 0) & (values <= 1))


def test_video_stats_are_sampled_at_the_requested_rate(video_factory):
    segments = (Segment(1.0, (230, 200, 160)), Segment(1.0, (30, 40, 90), motion=0.5, texture=0.4))
    video = video_factory("sampled.mp4", segments, audio=False)
    info = probe(video.path)
    every, _ = scan_video(video.path, info, fast=False, sample_hz=25.0)
    sampled, _ = scan_video(video.path, info, fast=False, sample_hz=4.0)
    assert len(sampled) == 8
    # each row is the mean of its interval's frames
    first = every.times < 0.25
    assert sampled.times[0] == pytest.approx(every.times[first].mean())
    assert sampled.luma_mean[0] == pytest.approx(every.luma_mean[first].mean())
    assert sampled.motion[-1] == pytest.approx(every.motion[every.times >= 1.75].mean())


def test_progress_is_reported(short_video):
    seen: list[float] = []
    scan_video(short_video.path, probe(short_video.path), progress=seen.append)
    assert seen and seen[-1] == pytest.approx(4.0) and seen == sorted(seen)


def test_iter_frames_returns_requested_times(short_video):
    frames = list(iter_frames(short_video.path, [0.0, 1.5, 3.5, 10.0], size=(64, 36)))
    assert [round(t, 2) for t, _ in frames] == [0.0, 1.48, 3.48, 3.96]
    assert frames[0][1].shape == (36, 64, 3) and frames[0][1].dtype == np.uint8
    assert frames[0][1][..., 0].mean() > frames[0][1][..., 2].mean()  # first shot is red


# --------------------------------------------------------------------------- audio
def test_audio_stats_loudness_and_onsets(short_video):
    info = probe(short_video.path)
    stats = audio_stats(short_video.path, info, hop=0.5)
    assert len(stats) == 8 and stats.times[0] == pytest.approx(0.25)
    assert stats.loudness_db[0] == pytest.approx(-30, abs=1.5)
    assert stats.loudness_db[5] > stats.loudness_db[1] + 10
    assert stats.onset_rate[5] > 2 > stats.onset_rate[0]
    assert np.all((stats.speech >= 0) & (stats.speech <= 1))


def test_audio_stats_none_without_audio(silent_video):
    info = probe(silent_video.path)
    assert audio_stats(silent_video.path, info) is None
    assert list(iter_audio(silent_video.path)) == []


@pytest.mark.parametrize("name, options", [("a.mp4", {}), ("a.webm", {}), ("a.avi", {"codec": "mpeg4"})])
def test_iter_audio_exact_samples(video_factory, name, options):
    video = video_factory(name, **options)
    info = probe(video.path)
    chunks = list(iter_audio(video.path, chunk_seconds=1.0, duration=info.duration))
    assert sum(c.shape[0] for c in chunks) == round(info.duration * 48000)
    assert all(c.dtype == np.float32 and c.shape[1] == 2 for c in chunks)
    assert all(c.shape[0] == 48000 for c in chunks[:-1])
    first = chunks[0][1000:40000]
    assert 20 * np.log10(np.sqrt(np.mean(first**2))) == pytest.approx(-30, abs=1.0)
    raw = sum(c.shape[0] for c in iter_audio(video.path))
    assert abs(raw - round(info.duration * 48000)) <= 1024  # the codec's own padding at most


# --------------------------------------------------------------------------- subtitles
SRT = "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> there\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nTwo\r\nlines\r\n"
VTT = "WEBVTT\n\nNOTE a comment\n\ncue-1\n00:01.000 --> 00:02.500 align:start\nHello\n\n01:00:00.250 --> 01:00:01.000\nLater\n"


def test_parse_srt_and_vtt():
    lines = parse_subtitles(SRT)
    assert lines == [SubtitleLine(1.0, 2.5, "Hello there"), SubtitleLine(3.0, 4.0, "Two lines")]
    lines = parse_subtitles(VTT)
    assert lines == [SubtitleLine(1.0, 2.5, "Hello"), SubtitleLine(3600.25, 3601.0, "Later")]


def test_write_srt_round_trips_and_sidecar_is_read(tmp_path):
    video = make_test_video(tmp_path, "film.mp4", SHORT_SEGMENTS[:1], audio=False)
    lines = [SubtitleLine(0.2, 0.9, "One"), SubtitleLine(1.0, 1.2, "Two")]
    write_srt(tmp_path / "film.srt", lines)
    assert read_subtitles(video.path) == lines


def test_malformed_subtitles_name_the_file(tmp_path):
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01,000 --> 00:0X:02,000\nHi\n")
    with pytest.raises(MediaError, match="bad.srt.*line 2"):
        read_subtitle_file(bad)
    binary = tmp_path / "bin.srt"
    binary.write_bytes(b"\x00\x01 not subtitles")
    with pytest.raises(MediaError, match="bin.srt"):
        read_subtitle_file(binary)


# --------------------------------------------------------------------------- the scan in ranges
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    "name, options",
    [
        ("ranges.mp4", {"bframes": 3, "gop": 12}),
        ("ranges_open_gop.mp4", {"bframes": 3, "gop": 12, "codec_options": {"x264-params": "open-gop=1"}}),
        ("ranges.webm", {"codec": "libvpx", "gop": 12}),
        ("ranges.avi", {"codec": "mpeg4", "gop": 12}),
        ("ranges_vfr.mkv", {"vfr": True, "gop": 12}),
    ],
)
def test_a_scan_in_ranges_equals_one_pass(video_factory, name, options, fast):
    """Ranges decoded apart and joined give one pass's statistics and cuts, bit for bit, also where
    a range starts on an open group of pictures (whose leading frames belong to the range before)."""
    from narrascore.media.scan import split_ranges

    video = video_factory(name, CUT_SEGMENTS, audio=False, **options)
    info = probe(video.path)
    spans = split_ranges(video.path, 3)
    assert len(spans) == 3 and spans[0].start is None and spans[-1].stop is None
    assert spans[0].stop == spans[1].start < spans[1].stop == spans[2].start
    one_stats, one_shots = scan_video(video.path, info, fast=fast)
    seen: list[float] = []
    stats, shots = scan_video(video.path, info, fast=fast, parts=3, progress=seen.append)
    assert shots == one_shots
    for field in ("times", "luma_mean", "luma_std", "saturation", "warmth", "motion"):
        assert np.array_equal(getattr(stats, field), getattr(one_stats, field)), field
    assert seen == sorted(seen) and seen[-1] == pytest.approx(info.duration)


def test_scan_parts_follow_cores_and_length():
    from narrascore.media.scan import MIN_PART_SECONDS, scan_parts

    assert scan_parts(600.0, 2) == 2
    assert scan_parts(600.0, 16) == 4
    assert scan_parts(MIN_PART_SECONDS * 1.5, 8) == 1
    assert scan_parts(14.0, 2) == 1
    assert scan_parts(600.0, 1) == 1


def test_a_truncated_video_scans_in_ranges_as_in_one_pass(video_factory, tmp_path):
    """A file cut short mid-stream: the ranges stop where one pass stops, with the same statistics and cuts."""
    video = video_factory("ranges_cut_short.mkv", CUT_SEGMENTS, audio=False, gop=12)
    data = video.path.read_bytes()
    short = tmp_path / "cut_short.mkv"
    short.write_bytes(data[: len(data) * 6 // 10])
    from narrascore.media.scan import split_ranges

    info = probe(short)
    assert len(split_ranges(short, 3)) >= 2
    one_stats, one_shots = scan_video(short, info)
    stats, shots = scan_video(short, info, parts=3)
    assert one_stats.times[-1] < 0.8 * sum(s.duration for s in CUT_SEGMENTS)  # it did stop early
    assert shots == one_shots
    for field in ("times", "luma_mean", "motion"):
        assert np.array_equal(getattr(stats, field), getattr(one_stats, field)), field
