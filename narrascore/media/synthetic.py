"""Test videos with known content: shots of chosen colour, texture, motion and sound, and their true cuts.

Every stage's tests and the demo use these files, so they are deterministic (same arguments and
``seed``, same pictures and sound) and cheap to make: frames are synthesised with numpy from a
precomputed texture per shot, slid sideways for motion.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import MediaError
from .features import SubtitleLine

AUDIO_CODECS = {
    ".mp4": "aac",
    ".m4v": "aac",
    ".mov": "aac",
    ".mkv": "aac",
    ".webm": "libopus",
    ".avi": "pcm_s16le",
}
DEFAULT_VIDEO_CODECS = {".webm": "libvpx-vp9"}


@dataclass(frozen=True)
class Segment:
    """One shot of a synthetic video.

    duration: seconds; color: base RGB (0..255); motion: sideways speed of the content in picture
    widths per second (0 = static); texture: 0..1 amplitude of the pattern over the base colour;
    transition: "hard" or "fade" (a cross-dissolve of ``fade_seconds`` centred on the cut) into this
    segment, or "none": the same shot goes on (same pattern, same position) with this segment's
    colour, motion and sound, so a change happens inside a shot; audio_db: RMS level of the soundtrack under it in dBFS (None = silence);
    audio_pulse_hz: percussive bursts per second (0 = steady tone); audio_tone_hz: tone pitch (Hz).
    motion_end / audio_db_end: when set, motion and level ramp linearly to these values over the segment.
    """

    duration: float
    color: tuple[int, int, int] = (128, 128, 128)
    motion: float = 0.0
    texture: float = 0.3
    transition: str = "hard"
    fade_seconds: float = 1.0
    audio_db: float | None = -24.0
    audio_pulse_hz: float = 0.0
    audio_tone_hz: float = 220.0
    motion_end: float | None = None
    audio_db_end: float | None = None


# --------------------------------------------------------------------------- pictures
def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A pattern in [-1, 1] of shape (height, width), periodic in x so it can slide forever."""
    x = np.arange(width, dtype=np.float32) / width
    y = np.arange(height, dtype=np.float32)[:, None] / height
    pattern = np.zeros((height, width), np.float32)
    for _ in range(3):  # gratings with a whole number of periods across the width
        fx = int(rng.integers(1, 9))
        fy = float(rng.uniform(-4, 4))
        pattern += np.sin(2 * np.pi * (fx * x + fy * y + rng.uniform()))
    blocks = rng.uniform(-1, 1, size=(int(rng.integers(3, 7)), int(rng.integers(4, 10)))).astype(np.float32)
    by = np.arange(height) * blocks.shape[0] // height
    bx = np.arange(width) * blocks.shape[1] // width
    pattern = pattern / 3 + 1.2 * blocks[by][:, bx]
    return np.clip(pattern / max(float(np.abs(pattern).max()), 1e-6), -1, 1)


def _shot_image(segment: Segment, pattern: np.ndarray) -> np.ndarray:
    """Float RGB image (height, 2 * width, 3): the shot's picture twice side by side, for sliding."""
    base = np.asarray(segment.color, np.float32)
    swing = segment.texture * 110.0 * (0.25 + 0.75 * base / 255.0)
    image = base + pattern[..., None] * swing
    image = np.clip(image, 0, 255)
    return np.concatenate([image, image], axis=1)


class _Shot:
    def __init__(self, segment: Segment, pattern: np.ndarray, start: float, width: int, offset: float = 0.0) -> None:
        self.image = _shot_image(segment, pattern)
        self.speed = segment.motion * width  # pixels per second
        end_motion = segment.motion if segment.motion_end is None else segment.motion_end
        self.accel = (end_motion - segment.motion) * width / max(segment.duration, 1e-9)  # pixels per second^2
        self.start = start
        self.width = width
        self.offset = offset  # pixels already slid (a shot that goes on from the previous segment)

    def shift(self, t: float) -> float:
        tau = t - self.start
        return self.offset + tau * self.speed + 0.5 * self.accel * tau * tau

    def frame(self, t: float) -> np.ndarray:
        shift = int(round(self.shift(t))) % self.width
        return self.image[:, shift : shift + self.width]


# --------------------------------------------------------------------------- sound
def _segment_audio(segment: Segment, n: int, t0: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mono float32 samples for one segment (n samples starting at t0 seconds)."""
    if segment.audio_db is None or n <= 0:
        return np.zeros(n, np.float32)
    t = t0 + np.arange(n) / sample_rate
    tone = np.sin(2 * np.pi * segment.audio_tone_hz * t) + 0.3 * np.sin(2 * np.pi * 2 * segment.audio_tone_hz * t)
    if segment.audio_pulse_hz > 0:
        period = 1.0 / segment.audio_pulse_hz
        since = np.mod(t - t0, period)
        envelope = np.exp(-since / 0.03)
        burst = rng.standard_normal(n) * envelope + np.sin(2 * np.pi * 80 * t) * envelope
        signal = 0.35 * tone + 2.0 * burst
    else:
        signal = tone
    rms = float(np.sqrt(np.mean(signal**2))) or 1.0
    db = segment.audio_db
    if segment.audio_db_end is not None:
        db = segment.audio_db + (segment.audio_db_end - segment.audio_db) * (t - t0) / max(segment.duration, 1e-9)
    level = 10 ** (np.asarray(db) / 20)
    return (signal * (level / rms)).astype(np.float32)


# --------------------------------------------------------------------------- writer
def _frame_times(n_frames: int, fps: float, vfr: bool, rng: np.random.Generator) -> np.ndarray:
    times = np.arange(n_frames) / fps
    if vfr:  # jitter each frame by up to +-35% of a period, alternating long/short gaps
        jitter = rng.uniform(-0.35, 0.35, n_frames) / fps
        jitter[0] = 0.0
        times = np.round((times + jitter) * 1000) / 1000  # the millisecond clock the file stores
    return times


def _pick_pix_fmt(codec: str) -> str:
    formats = [f.name for f in (av.codec.Codec(codec, "w").video_formats or ())]
    for wanted in ("yuv420p", "yuvj420p"):
        if wanted in formats or not formats:
            return wanted
    return formats[0]


def _add_audio_stream(container: av.container.OutputContainer, suffix: str, sample_rate: int) -> av.AudioStream:
    name = AUDIO_CODECS.get(suffix, "aac")
    stream = container.add_stream(name, rate=sample_rate)
    stream.layout = "stereo"
    formats = [f.name for f in (stream.codec_context.codec.audio_formats or ())]
    stream.format = "fltp" if "fltp" in formats or not formats else ("flt" if "flt" in formats else formats[0])
    return stream


def _audio_frames(samples: np.ndarray, stream: av.AudioStream, sample_rate: int) -> Iterator[av.AudioFrame]:
    """Stereo frames of the codec's frame size in the codec's sample format, pts in samples."""
    size = stream.codec_context.frame_size or 1024
    fmt = stream.format.name
    for start in range(0, samples.shape[0], size):
        block = samples[start : start + size]
        stereo = np.stack([block, block])  # (2, n)
        if fmt == "fltp":
            array = stereo
        elif fmt == "flt":
            array = stereo.T.reshape(1, -1)
        elif fmt == "s16":
            array = (np.clip(stereo.T, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        elif fmt == "s16p":
            array = (np.clip(stereo, -1, 1) * 32767).astype(np.int16)
        else:
            raise MediaError(f"synthetic audio: unsupported sample format {fmt}")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(array), format=fmt, layout="stereo")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        yield frame


def make_video(
    path: str | os.PathLike[str],
    segments: Sequence[Segment],
    *,
    fps: float = 25.0,
    width: int = 320,
    height: int = 180,
    codec: str | None = None,
    audio: bool = True,
    sample_rate: int = 48000,
    gop: int | None = None,
    bframes: int | None = None,
    vfr: bool = False,
    codec_options: dict[str, str] | None = None,
    pix_fmt: str | None = None,
    seed: int = 0,
) -> list[float]:
    """Write a video made of ``segments`` and return its true cut times in seconds.

    A hard cut's time is the timestamp of the first frame of the new segment; a fade's is the middle
    of the dissolve (the segment's nominal start). The container follows the suffix of ``path``
    (.mp4 .mkv .webm .avi .mov); ``codec`` defaults to libx264 (VP9 for .webm). ``vfr`` jitters the
    frame timestamps (variable frame rate). The soundtrack lasts exactly as long as the video:
    ``round(duration * sample_rate)`` samples where duration is the end of the last frame.
    ``codec_options`` go to the encoder (e.g. ``{"x264-params": "scenecut=0"}``); ``pix_fmt`` overrides the
    codec's 8-bit 4:2:0 default (e.g. ``yuv444p`` or ``yuv420p10le``, which browsers cannot play).
    """
    if not segments:
        raise ValueError("make_video needs at least one segment")
    path = Path(path)
    suffix = path.suffix.lower()
    codec = codec or DEFAULT_VIDEO_CODECS.get(suffix, "libx264")
    rng = np.random.default_rng(seed)
    starts = np.concatenate([[0.0], np.cumsum([s.duration for s in segments])])
    total = float(starts[-1])
    n_frames = max(1, int(round(total * fps)))
    times = _frame_times(n_frames, fps, vfr, rng)
    shots: list[_Shot] = []
    pattern = None
    for i, seg in enumerate(segments):
        going_on = i > 0 and seg.transition == "none"
        if not going_on:
            pattern = _texture(np.random.default_rng([seed, i]), width, height)
        offset = shots[-1].shift(float(starts[i])) if going_on else 0.0
        shots.append(_Shot(seg, pattern, float(starts[i]), width, offset))
    seg_of_frame = np.searchsorted(starts[1:-1] - 1e-9, times, side="right")  # same rule as the cut times
    cuts: list[float] = []
    for i in range(1, len(segments)):
        if segments[i].transition == "none":
            continue
        if segments[i].transition == "fade":
            cuts.append(float(starts[i]))
        else:
            first = int(np.searchsorted(times, starts[i] - 1e-9))
            if first < n_frames:
                cuts.append(float(times[first]))

    vfr_base = Fraction(1, 1000)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        vstream = container.add_stream(codec, rate=rate)
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = pix_fmt or _pick_pix_fmt(codec)
        if vfr:
            vstream.codec_context.time_base = vfr_base
            vstream.time_base = vfr_base
        if gop is not None:
            vstream.codec_context.gop_size = gop
        if bframes is not None:
            vstream.codec_context.max_b_frames = bframes
        if codec == "libx264":
            vstream.options = {"preset": "veryfast", **({"bf": str(bframes)} if bframes is not None else {})}
        elif codec in ("libvpx", "libvpx-vp9"):
            vstream.options = {"deadline": "realtime", "cpu-used": "8", "b": "1M"}
            vstream.bit_rate = 1_000_000
        if codec_options:
            vstream.options = {**vstream.options, **codec_options}
        astream = _add_audio_stream(container, suffix, sample_rate) if audio else None

        for k in range(n_frames):
            t = float(times[k])
            s = int(seg_of_frame[k])
            image = shots[s].frame(t)
            image = _blend_fades(image, t, s, segments, shots, starts)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image.astype(np.uint8)), format="rgb24")
            if vfr:
                frame.pts, frame.time_base = int(round(t * 1000)), vfr_base
            else:
                frame.pts, frame.time_base = k, 1 / rate
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode(None))

        if astream is not None:
            end = times[-1] + (1.0 / fps)
            n_samples = int(round(end * sample_rate))
            for frame in _audio_frames(_soundtrack(segments, starts, n_samples, sample_rate, seed), astream, sample_rate):
                container.mux(astream.encode(frame))
            container.mux(astream.encode(None))
    return cuts


def _blend_fades(image: np.ndarray, t: float, s: int, segments: Sequence[Segment], shots: list[_Shot], starts: np.ndarray) -> np.ndarray:
    """Cross-dissolve between neighbouring shots around a fade transition."""
    for j in (s, s + 1):  # the fade into this shot, or into the next one
        if j < 1 or j >= len(segments) or segments[j].transition != "fade":
            continue
        half = segments[j].fade_seconds / 2
        if abs(t - starts[j]) < half:
            alpha = (t - (starts[j] - half)) / (2 * half)  # 0 = old shot, 1 = new shot
            return (1 - alpha) * shots[j - 1].frame(t) + alpha * shots[j].frame(t)
    return image


def _soundtrack(segments: Sequence[Segment], starts: np.ndarray, n_samples: int, sample_rate: int, seed: int) -> np.ndarray:
    out = np.zeros(n_samples, np.float32)
    bounds = [int(round(s * sample_rate)) for s in starts]
    bounds[-1] = n_samples
    for i, seg in enumerate(segments):
        a, b = min(bounds[i], n_samples), min(bounds[i + 1], n_samples)
        out[a:b] = _segment_audio(seg, b - a, a / sample_rate, sample_rate, np.random.default_rng([seed, 7, i]))
    ramp = min(240, n_samples // 2)  # 5 ms ramps at the ends avoid clicks
    if ramp:
        out[:ramp] *= np.linspace(0, 1, ramp)
        out[-ramp:] *= np.linspace(1, 0, ramp)
    return out


# --------------------------------------------------------------------------- demo and subtitles
def demo_segments(seconds: float = 120.0) -> list[Segment]:
    """The planted story of the demo video, scaled to ``seconds``.

    calm opening (slow cuts, warm soft light, quiet) -> rising tension (faster cuts, darker,
    colder, more motion, louder pulsing audio) -> climax (very fast cuts, saturated red, loud)
    -> calm bright resolution. Two fades sit among the hard cuts.
    """
    plan: list[Segment] = []
    warm = [(235, 185, 135), (185, 145, 105), (245, 215, 175), (200, 160, 120)]
    for i, d in enumerate([8.0, 7.0, 8.0, 7.0]):  # 0..30 s: setup
        plan.append(Segment(d, warm[i], motion=0.01, texture=0.2, audio_db=-32, audio_tone_hz=220,
                            transition="fade" if i == 2 else "hard"))
    rising = [5.0, 4.5, 4.0, 3.5, 3.0, 3.0, 2.5, 2.5, 2.0, 2.0, 1.8, 1.6, 1.4, 1.2, 1.2, 1.0, 1.0, 1.0, 0.8, 0.8]
    for i, d in enumerate(rising):  # 30..75 s: tension rises
        p = i / (len(rising) - 1)
        level = int(150 - 100 * p)
        color = (int(level * 0.55), int(level * 0.95), int(level * 1.2)) if i % 2 else (int(level * 0.9), int(level * 0.6), int(level * 1.2))
        plan.append(Segment(d, color, motion=0.05 + 0.3 * p, texture=0.35, audio_db=-30 + 16 * p,
                            audio_pulse_hz=1 + 4 * p, audio_tone_hz=110 + 20 * (i % 3)))
    climax = [0.6, 0.7, 0.6, 0.8, 0.6, 0.7, 0.6, 0.6, 0.8, 0.6, 0.7, 0.6, 0.6, 0.8, 0.7, 0.6, 0.6, 0.7, 0.6, 0.6]
    for i, d in enumerate(climax):  # 75..88.2 s: climax
        plan.append(Segment(d, (230 - 40 * (i % 2), 20 + 15 * (i % 3), 25 + 10 * (i % 2)), motion=0.5 + 0.1 * (i % 3),
                            texture=0.45, audio_db=-10, audio_pulse_hz=7, audio_tone_hz=98))
    used = sum(s.duration for s in plan)
    rest = 120.0 - used  # resolution: a fade into calm, bright, slow shots
    for i, frac in enumerate([0.4, 0.3, 0.3]):
        plan.append(Segment(rest * frac, (235, 230, 205) if i % 2 == 0 else (220, 235, 225), motion=0.01, texture=0.15,
                            audio_db=-34, audio_tone_hz=262, transition="fade" if i == 0 else "hard", fade_seconds=1.5))
    scale = seconds / 120.0
    return [Segment(**{**s.__dict__, "duration": s.duration * scale}) for s in plan]


def make_demo_video(path: str | os.PathLike[str], *, seconds: float = 120.0, width: int = 640, height: int = 360, seed: int = 0) -> list[float]:
    """Write the demo video (see :func:`demo_segments`) and return its true cut times (s)."""
    return make_video(path, demo_segments(seconds), width=width, height=height, seed=seed)


def _srt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: str | os.PathLike[str], lines: Sequence[SubtitleLine]) -> None:
    """Write ``lines`` as a SubRip (.srt) file."""
    blocks = [f"{i}\n{_srt_time(x.start)} --> {_srt_time(x.end)}\n{x.text}\n" for i, x in enumerate(lines, 1)]
    Path(path).write_text("\n".join(blocks), encoding="utf-8")
