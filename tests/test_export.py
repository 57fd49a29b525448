"""Export stage: loudness metering, the delivered soundtrack, muxing and the figure."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from narrascore.artifacts import NarrativePlan, Scene
from narrascore.errors import MediaError, OutputError
from narrascore.export import (
    LoudnessMeter,
    measure_chunks,
    measure_file,
    mix_under_original,
    mux_video,
    spectrogram,
    write_figure,
    write_soundtrack,
)
from narrascore.export import audio as export_audio
from narrascore.export import mux as export_mux
from narrascore.media.features import AudioStats
from narrascore.media.probe import probe
from narrascore.media.synthetic import Segment, make_video

FS = 48_000
RNG = np.random.default_rng(1234)


def chunked(x: np.ndarray, size: int = 23_456):
    for i in range(0, x.shape[0], size):
        yield x[i : i + size]


def stereo(mono: np.ndarray, right: float = 1.0) -> np.ndarray:
    return np.stack([mono, right * mono], axis=1).astype(np.float32)


def music_like(seconds: float, *, seed: int = 0, extra: int = 0) -> np.ndarray:
    """Tones that swell plus percussive hits: a crest factor that makes the limiter work at -14 LUFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS) + extra
    t = np.arange(n) / FS
    x = 0.05 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.25 * t)) + 0.01 * rng.normal(size=n)
    hits = np.zeros(n)
    hits[:: FS // 2] = 1.0
    decay = np.exp(-np.arange(2000) / 300) * np.sin(np.arange(2000) * 0.3)
    return stereo(x + 0.5 * np.convolve(hits, decay)[:n], right=0.7)


def no_temp_files(folder: Path) -> bool:
    return not any(p.name.startswith(".") for p in folder.iterdir())


# --------------------------------------------------------------------------- loudness
SIGNALS = {
    "sine_1k": lambda t: stereo(0.5 * np.sin(2 * np.pi * 1000 * t)),
    "noise": lambda t: RNG.normal(0, 0.1, (t.size, 2)).astype(np.float32),
    "steps": lambda t: stereo(np.sin(2 * np.pi * 440 * t) * np.where((t // 4) % 2 == 0, 0.3, 0.03), right=0.5),
    "low_high": lambda t: np.stack([0.3 * np.sin(2 * np.pi * 50 * t), 0.2 * np.sin(2 * np.pi * 10_000 * t)], 1).astype(np.float32),
    "gaps": lambda t: stereo(RNG.normal(0, 0.05, t.size) * ((t % 5) < 2.5)),
}


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_loudness_matches_pyloudnorm(name):
    t = np.arange(FS * 16) / FS
    x = SIGNALS[name](t)
    ours = measure_chunks(chunked(x), FS)
    meter = pyloudnorm.Meter(FS)
    reference = meter.integrated_loudness(x.astype(np.float64))
    assert abs(ours.integrated_lufs - reference) < 0.1
    assert abs(ours.loudness_range_lu - meter.loudness_range(x.astype(np.float64))) < 0.5
    assert ours.duration == pytest.approx(16.0)


def test_loudness_independent_of_chunking_and_reference_tone():
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS.
    t = np.arange(FS * 5) / FS
    x = np.stack([np.sin(2 * np.pi * 997 * t), np.zeros_like(t)], 1).astype(np.float32)
    a = measure_chunks(chunked(x, 4_801), FS)
    b = measure_chunks([x], FS)
    assert a.integrated_lufs == pytest.approx(b.integrated_lufs, abs=1e-6)
    assert a.integrated_lufs == pytest.approx(-3.01, abs=0.05)
    assert a.loudness_range_lu == pytest.approx(0.0, abs=0.1)


def test_loudness_range_of_two_levels():
    # EBU Tech 3342 style: alternating 20 s at -20 and -30 LUFS gives LRA of about 10 LU.
    t = np.arange(FS * 80) / FS
    level = np.where((t // 20) % 2 == 0, 1.0, 10 ** (-10 / 20))
    x = stereo(0.1 * np.sin(2 * np.pi * 1000 * t) * level)
    assert measure_chunks(chunked(x, FS * 7), FS).loudness_range_lu == pytest.approx(10.0, abs=0.5)


def test_true_peak_finds_intersample_peak():
    n = np.arange(FS)
    x = stereo(np.sin(2 * np.pi * (FS / 4) * n / FS + np.pi / 4))  # samples at +-0.707, true peak 1.0
    stats = measure_chunks(chunked(x, 1_001), FS)
    assert stats.sample_peak_dbfs == pytest.approx(-3.01, abs=0.01)
    assert stats.true_peak_dbtp == pytest.approx(0.0, abs=0.1)


def test_silence_and_clipping_counts():
    x = np.zeros((FS * 3, 2), np.float32)
    x[FS : FS + 10] = 1.0
    stats = measure_chunks(chunked(x), FS)
    assert stats.clipped_samples == 20
    assert stats.silent_seconds > 1.5
    silent = LoudnessMeter(FS)
    silent.add(np.zeros((FS, 2), np.float32))
    assert silent.stats().integrated_lufs == -math.inf


# --------------------------------------------------------------------------- soundtrack
@pytest.fixture(scope="module")
def raw_mix(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    path = folder / "mix.wav"
    sf.write(path, music_like(20, extra=77), FS, subtype="FLOAT")
    return path


@pytest.mark.parametrize("target", [-23.0, -16.0, -14.0])
def test_soundtrack_hits_target_under_ceiling(raw_mix, tmp_path, target):
    out = tmp_path / "soundtrack.wav"
    stats = write_soundtrack(raw_mix, out, target_lufs=target, true_peak_dbtp=-1.0)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (FS, 2, "PCM_24", 20 * FS + 77)
    again = measure_file(out)
    assert abs(again.integrated_lufs - target) <= 0.5
    assert again.true_peak_dbtp <= -1.0
    assert stats.integrated_lufs == pytest.approx(again.integrated_lufs, abs=0.01)
    data, _ = sf.read(out, dtype="float64")
    assert abs(pyloudnorm.Meter(FS).integrated_loudness(data) - target) <= 0.5
    assert no_temp_files(tmp_path)


def test_stems_get_the_mix_gain(tmp_path):
    n = 6 * FS + 11
    t = np.arange(n) / FS
    a = stereo(0.02 * np.sin(2 * np.pi * 330 * t))
    b = stereo(0.01 * np.sin(2 * np.pi * 110 * t), right=0.5)
    b[3 * FS : 3 * FS + 500] += 0.3  # one transient the limiter must catch
    sf.write(tmp_path / "a.wav", a, FS, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", b, FS, subtype="FLOAT")
    sf.write(tmp_path / "mix.wav", a + b, FS, subtype="FLOAT")
    stats = write_soundtrack(tmp_path / "mix.wav", tmp_path / "out.wav", target_lufs=-16,
                             stems={"a": tmp_path / "a.wav", "b": tmp_path / "b.wav"}, stems_dir=tmp_path / "stems")
    assert stats.true_peak_dbtp <= -1.0
    sa, _ = sf.read(tmp_path / "stems" / "a.wav", dtype="float32")
    sb, _ = sf.read(tmp_path / "stems" / "b.wav", dtype="float32")
    assert sa.shape == sb.shape == (n, 2)
    gain_a = float(np.linalg.lstsq(a[:, :1], sa[:, :1], rcond=None)[0][0, 0])
    np.testing.assert_allclose(sa, a * gain_a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sb, b * gain_a, rtol=1e-5, atol=1e-7)  # the same gain for every stem
    mix, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    quiet = slice(0, 2 * FS)  # far from the transient the limiter is idle: stems sum to the delivered mix
    np.testing.assert_allclose(mix[quiet], (sa + sb)[quiet], atol=2e-6)


def test_soundtrack_from_a_known_raw_loudness_is_identical(raw_mix, tmp_path):
    measured = measure_file(raw_mix).integrated_lufs
    write_soundtrack(raw_mix, tmp_path / "a.wav")
    write_soundtrack(raw_mix, tmp_path / "b.wav", raw_lufs=measured)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_soundtrack_write_failure_leaves_nothing(raw_mix, tmp_path, monkeypatch):
    original_write = sf.SoundFile.write
    calls = []

    def disk_full(self, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return original_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", disk_full)
    with pytest.raises(OutputError, match="soundtrack.wav"):
        write_soundtrack(raw_mix, tmp_path / "soundtrack.wav")
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder(raw_mix, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError):
        write_soundtrack(raw_mix, blocker / "soundtrack.wav")


def test_wrong_sample_rate_is_reported(tmp_path):
    sf.write(tmp_path / "raw.wav", np.zeros((4410, 2), np.float32), 44_100)
    with pytest.raises(MediaError, match="raw.wav"):
        write_soundtrack(tmp_path / "raw.wav", tmp_path / "out.wav")


# --------------------------------------------------------------------------- mixing under the original
def test_music_ducks_under_speech_with_ramps():
    n = 8 * FS + 5
    t = np.arange(n) / FS
    music = stereo(0.2 * np.sin(2 * np.pi * 500 * t))
    speech = np.zeros(16)
    speech[6:10] = 1.0  # 3..5 s, hop 0.5
    out = np.concatenate(list(mix_under_original(chunked(music, 30_000), iter(()), original_db_below=12,
                                                  speech=speech, hop=0.5)))
    assert out.shape == music.shape

    def rms_db(a, b):
        return 10 * np.log10(np.mean(out[int(a * FS) : int(b * FS), 0] ** 2))

    assert rms_db(3.4, 4.6) - rms_db(0.5, 2.5) == pytest.approx(-8.0, abs=0.3)
    assert rms_db(6.0, 7.5) == pytest.approx(rms_db(0.5, 2.5), abs=0.1)
    # the ramps are gradual: 10 ms windows never jump by more than 1 dB
    frames = out[: (n // 480) * 480, 0].reshape(-1, 480)
    levels = 10 * np.log10(np.mean(frames**2, axis=1))
    assert np.max(np.abs(np.diff(levels))) < 1.0


def test_mix_keeps_original_below_and_is_limited():
    n = 4 * FS
    t = np.arange(n) / FS
    music = stereo(0.5 * np.sin(2 * np.pi * 1000 * t))
    original = stereo(0.9 * np.sin(2 * np.pi * 200 * t))
    music_lufs = measure_chunks([music], FS).integrated_lufs
    original_lufs = measure_chunks([original], FS).integrated_lufs
    out = np.concatenate(list(mix_under_original(chunked(music), chunked(original[: 3 * FS]), original_db_below=10,
                                                  music_lufs=music_lufs, original_lufs=original_lufs)))
    assert out.shape == music.shape  # the shorter original is padded
    spectrum = np.abs(np.fft.rfft(out[FS : 2 * FS, 0]))
    ratio_db = 20 * np.log10(spectrum[200] / spectrum[1000])
    original_gain_db = music_lufs - 10 - original_lufs
    expected = 20 * np.log10(0.9 * 10 ** (original_gain_db / 20) / 0.5)
    assert ratio_db == pytest.approx(expected, abs=0.5)
    assert measure_chunks([out], FS).true_peak_dbtp <= -1.0


# --------------------------------------------------------------------------- muxing
SEGMENTS = [Segment(1.2, (200, 60, 50), motion=0.2, audio_db=None), Segment(1.0, (50, 60, 200), audio_db=None)]


def soundtrack_for(info, folder: Path, freq: float = 440.0) -> Path:
    n = int(round(info.duration * FS))
    t = np.arange(n) / FS
    path = folder / "soundtrack.wav"
    sf.write(path, stereo(0.3 * np.sin(2 * np.pi * freq * t)), FS, subtype="PCM_24")
    return path


def video_packets(path: Path) -> tuple[str, list[tuple[float, bytes]]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        packets = [(float(p.pts * tb), bytes(p)) for p in container.demux(stream) if p.size]
        return stream.codec_context.name, packets


def decoded(path: Path) -> tuple[list[float], int, float | None]:
    """(video frame times, decoded audio samples, audio stream duration s) of a file."""
    with av.open(str(path)) as container:
        frames = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        duration = float(audio.duration * audio.time_base) if audio.duration else None
        samples = sum(f.samples for f in container.decode(audio=0))
    return frames, samples, duration


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    made = {}
    for name, codec, options in [
        ("h264.mp4", None, {}),
        ("mpeg4.avi", "mpeg4", {}),
        ("vp8.webm", "libvpx", {"vfr": True, "width": 322, "height": 182}),
    ]:
        make_video(folder / name, SEGMENTS, codec=codec, **options)
        made[name] = folder / name
    return made


def test_h264_is_copied_not_reencoded(videos, tmp_path):
    src = videos["h264.mp4"]
    info = probe(src)
    out = mux_video(src, info, soundtrack_for(info, tmp_path), tmp_path / "out")
    assert out.name == "scored.mp4"
    codec, packets = video_packets(out)
    assert (codec, packets) == video_packets(src)  # same bytes at the same times
    frames, samples, duration = decoded(out)
    assert len(frames) == info.frame_count
    assert duration == pytest.approx(info.duration, abs=1 / FS)  # the container's audio length is exact
    assert abs(samples - round(info.duration * FS)) <= 1024  # decoders may keep AAC's last-frame padding
    assert no_temp_files(tmp_path / "out")


@pytest.mark.parametrize("name", ["mpeg4.avi", "vp8.webm"])
def test_other_codecs_become_h264(videos, tmp_path, name):
    src = videos[name]
    info = probe(src)
    out = mux_video(src, info, soundtrack_for(info, tmp_path), tmp_path)
    codec, _packets = video_packets(out)
    assert codec == "h264"
    frames, samples, duration = decoded(out)
    with av.open(str(src)) as container:
        source_frames = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    np.testing.assert_allclose(frames, source_frames, atol=1e-3)  # every frame keeps its time (VFR too)
    assert duration == pytest.approx(info.duration, abs=1 / FS)
    assert abs(samples - round(info.duration * FS)) <= 1024
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.codec_context.width % 2 == 0 and stream.codec_context.height % 2 == 0


def test_copy_video_keeps_any_codec_in_mkv(videos, tmp_path):
    src = videos["vp8.webm"]
    info = probe(src)
    out = mux_video(src, info, soundtrack_for(info, tmp_path), tmp_path, copy_video=True)
    assert out.name == "scored.mkv"
    assert video_packets(out) == video_packets(src)
    frames, samples, _ = decoded(out)
    assert len(frames) == info.frame_count
    assert abs(samples - round(info.duration * FS)) <= 1024


def test_mux_mixes_original_and_ducks(tmp_path):
    src = tmp_path / "talk.mp4"
    make_video(src, [Segment(2.0, audio_db=-20, audio_tone_hz=300), Segment(2.0, audio_db=-20, audio_tone_hz=300)])
    info = probe(src)
    hop = 0.5
    times = (np.arange(8) + 0.5) * hop
    speech = np.where(times > 2.0, 1.0, 0.0)  # "dialogue" in the second half
    stats = AudioStats(hop=hop, times=times, loudness_db=np.zeros(8), onset_rate=np.zeros(8), speech=speech)
    out = mux_video(src, info, soundtrack_for(info, tmp_path, freq=1000.0), tmp_path / "out", mix_original_db=6.0,
                    speech=stats)
    with av.open(str(out)) as container:
        audio = np.concatenate([f.to_ndarray().reshape(2, -1).T if f.format.is_planar else f.to_ndarray().reshape(-1, 2)
                                for f in container.decode(audio=0)])

    def band_db(a, b, freq):
        seg = audio[int(a * FS) : int(b * FS), 0]
        spectrum = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
        k = int(round(freq * seg.size / FS))
        return 20 * np.log10(spectrum[k - 2 : k + 3].max())

    # the original's tone is there, and the music drops by about 8 dB where the original "speaks"
    assert band_db(0.5, 1.5, 300) > band_db(0.5, 1.5, 1000) - 15
    assert band_db(2.6, 3.6, 1000) - band_db(0.5, 1.5, 1000) == pytest.approx(-8.0, abs=1.5)


def test_mux_failure_leaves_nothing(videos, tmp_path, monkeypatch):
    src = videos["h264.mp4"]
    info = probe(src)
    soundtrack = soundtrack_for(info, tmp_path)
    original = export_mux._audio_packets

    def broken(*args, **kwargs):
        for i, packet in enumerate(original(*args, **kwargs)):
            if i == 20:
                raise av.error.InvalidDataError(5, "simulated encoder failure")
            yield packet

    monkeypatch.setattr(export_mux, "_audio_packets", broken)
    with pytest.raises(MediaError, match="h264.mp4"):
        mux_video(src, info, soundtrack, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


class Recorder:
    """A soundtrack tap that keeps what it is handed."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.restarts = 0

    def write(self, samples: np.ndarray) -> None:
        self.blocks.append(samples.copy())

    def restart(self) -> None:
        self.blocks, self.restarts = [], self.restarts + 1


@pytest.fixture(scope="module")
def quiet_mix(tmp_path_factory) -> Path:
    """A quiet tone: normalised without limiting, so the soundtrack is written in one pass."""
    path = tmp_path_factory.mktemp("quiet") / "tone.wav"
    t = np.arange(13 * FS + 5) / FS
    sf.write(path, stereo(0.02 * np.sin(2 * np.pi * 440 * t)), FS, subtype="FLOAT")
    return path


def test_the_tap_gets_exactly_what_the_soundtrack_file_reads(raw_mix, quiet_mix, tmp_path):
    from narrascore.export.audio import dequantise

    tap = Recorder()
    write_soundtrack(quiet_mix, tmp_path / "out.wav", tap=tap)  # the limiter idle: one pass
    read, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert tap.restarts == 0 and np.array_equal(dequantise(np.concatenate(tap.blocks)), read)
    # music the limiter bites into: the gain is searched and the file written again
    tap = Recorder()
    write_soundtrack(raw_mix, tmp_path / "again.wav", tap=tap, target_lufs=-9.0)
    read, _ = sf.read(tmp_path / "again.wav", dtype="float32")
    assert tap.restarts >= 1 and np.array_equal(dequantise(np.concatenate(tap.blocks)), read)


def test_a_mux_fed_while_the_soundtrack_is_written_equals_a_mux_of_the_file(videos, quiet_mix, raw_mix, tmp_path):
    from narrascore.export.mux import MuxWhileWriting

    src = videos["h264.mp4"]
    info = probe(src)
    soundtrack = tmp_path / "soundtrack.wav"
    seen: list[float] = []
    with MuxWhileWriting(src, info, tmp_path / "fed") as muxing:
        write_soundtrack(quiet_mix, soundtrack, tap=muxing)
        fed = muxing.result(seen.append)
    after = mux_video(src, info, soundtrack, tmp_path / "after")
    assert fed == tmp_path / "fed" / "scored.mp4" and fed.read_bytes() == after.read_bytes()
    assert seen and seen[-1] <= info.duration  # the worker's progress reached this process
    assert no_temp_files(tmp_path / "fed")

    with MuxWhileWriting(src, info, tmp_path / "void") as muxing:  # a second write abandons the fed mux
        write_soundtrack(raw_mix, tmp_path / "limited.wav", tap=muxing, target_lufs=-9.0)
        assert muxing.result() is None
    assert list((tmp_path / "void").iterdir()) == []
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with MuxWhileWriting(bad, info, tmp_path / "bad") as muxing, pytest.raises(MediaError, match="broken.mp4"):
        write_soundtrack(quiet_mix, tmp_path / "s2.wav", tap=muxing)  # the worker's error, not a broken pipe
        muxing.result()


def test_mux_reports_bad_inputs(videos, tmp_path):
    info = probe(videos["h264.mp4"])
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(MediaError, match="broken.mp4"):
        mux_video(bad, info, soundtrack_for(info, tmp_path), tmp_path / "out")
    with pytest.raises(MediaError, match="missing.wav"):
        mux_video(videos["h264.mp4"], info, tmp_path / "missing.wav", tmp_path / "out")


# --------------------------------------------------------------------------- figure
def test_figure_is_a_png(tmp_path):
    n = 12 * FS
    t = np.arange(n) / FS
    sf.write(tmp_path / "s.wav", stereo(0.2 * np.sin(2 * np.pi * np.where(t < 6, 220, 440) * t)), FS)
    roles = ["setup", "rising", "climax", "resolution"]
    bounds = [0.0, 3.0, 6.0, 9.0, 12.0]
    scenes = tuple(Scene(bounds[i], bounds[i + 1], f"scene {i}", 0.0, 0.2 * i, "calm", roles[i]) for i in range(4))
    grid = np.arange(0, 12, 0.5)
    plan = NarrativePlan("test", scenes, 0.5, tuple(grid), tuple(np.sin(grid / 4) * 0.5), tuple(np.cos(grid / 4) * 0.5),
                         climax_time=7.0, duration=12.0)
    out = write_figure(tmp_path / "figure.png", soundtrack=tmp_path / "s.wav", plan=plan, cuts=[3.0, 6.0, 9.0],
                       measured=(grid, np.zeros_like(grid), np.ones_like(grid) * 0.3))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert no_temp_files(tmp_path)
    times, edges, db = spectrogram(tmp_path / "s.wav", max_columns=50)
    assert db.shape[1] <= 50 and db.shape[0] == edges.size - 1
    assert times[-1] == pytest.approx(12.0, abs=0.5)
    # the 440 Hz half is brighter around 440 Hz than the 220 Hz half
    band = np.argmin(np.abs(np.sqrt(edges[:-1] * edges[1:]) - 440))
    assert db[band, -5] > db[band, 5] + 10


def test_figure_marks_the_events(tmp_path):
    import dataclasses

    import matplotlib.image as mpimg

    from narrascore.artifacts import Event

    n = 12 * FS
    sf.write(tmp_path / "s.wav", stereo(0.1 * np.sin(2 * np.pi * 220 * np.arange(n) / FS)), FS)
    grid = np.arange(0, 12, 0.5)
    plan = NarrativePlan("test", (Scene(0.0, 12.0, "scene", 0.0, 0.0, "calm", "climax"),), 0.5, tuple(grid),
                         tuple(np.zeros_like(grid)), tuple(np.zeros_like(grid)), climax_time=2.0, duration=12.0)
    plain = write_figure(tmp_path / "plain.png", soundtrack=tmp_path / "s.wav", plan=plan, cuts=[])
    marked = write_figure(tmp_path / "marked.png", soundtrack=tmp_path / "s.wav", cuts=[],
                          plan=dataclasses.replace(plan, events=(Event(8.0, "impact", 1.0),)))

    def orange(path) -> int:  # pixels of the event marker's colour (#ff8c00)
        rgb = mpimg.imread(path)[..., :3]
        return int(np.sum((np.abs(rgb[..., 0] - 1.0) < 0.05) & (np.abs(rgb[..., 1] - 0.55) < 0.05) & (rgb[..., 2] < 0.05)))

    assert orange(plain) == 0 and orange(marked) > 50
