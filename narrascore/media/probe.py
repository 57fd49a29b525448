"""What a video file holds: streams, exact duration, frame count and rate (``MediaInfo``).

The duration is measured, not trusted: container and stream durations are often rounded or
include the audio, so the video packets are demuxed (no decoding) and the duration is the end of
the last frame, its timestamp plus its duration. All times in NarraScore are seconds from the
first video frame (the video's *origin*, usually 0).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..artifacts import MediaInfo, SubtitleStream
from ..errors import MediaError
from ..fileio import file_sha256

SIDECAR_SUFFIXES = (".srt", ".vtt")
TRUNCATION_TOLERANCE = 1.0  # s: a file that holds this much less than it declares is reported
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoTiming:
    """Timestamps of a video stream, from its packets. ``pts`` in seconds from the origin, sorted."""

    origin: float  # pts of the first frame in seconds (the file's time, not the origin-relative one)
    pts: np.ndarray
    duration: float  # end of the last frame (s from the origin), computed in exact clock ticks
    frame_step: float  # the typical step between frames (s), exact for a constant rate


def open_media(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a media file for reading, turning every failure into a one-line ``MediaError``."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        return av.open(str(path), "r", metadata_errors="replace")  # a stray byte in a title is no reason to refuse
    except av.error.InvalidDataError as exc:
        raise MediaError(f"{path}: not a readable media file or truncated ({_reason(exc)})") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot open ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).splitlines()[0] if text else type(exc).__name__


def video_stream(container: av.container.InputContainer, path: str | os.PathLike[str]) -> av.VideoStream:
    """The main video stream (cover art in audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise MediaError(f"{path}: has no video stream")


def audio_stream(container: av.container.InputContainer) -> av.AudioStream | None:
    return container.streams.audio[0] if container.streams.audio else None


def _packet_time(packet: av.Packet) -> int | None:
    return packet.pts if packet.pts is not None else packet.dts


def read_timing(path: str | os.PathLike[str]) -> VideoTiming:
    """Demux the video packets (no decoding) and return their sorted timestamps."""
    with open_media(path) as container:
        stream = video_stream(container, path)
        return _timing(container, stream, path)


def _timing(container: av.container.InputContainer, stream: av.VideoStream, path: str | os.PathLike[str]) -> VideoTiming:
    tb = stream.time_base
    stamps: list[int] = []
    last_durations: dict[int, int] = {}
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            t = _packet_time(packet)
            if t is None:  # no timestamps at all (raw streams): count frames instead
                t = (stamps[-1] + 1) if stamps else 0
            stamps.append(t)
            last_durations[t] = packet.duration or 0
    except av.error.FFmpegError as exc:
        if not stamps:
            raise MediaError(f"{path}: cannot read video packets ({_reason(exc)})") from None
    if not stamps:
        raise MediaError(f"{path}: the video stream has no frames")
    ticks = np.unique(np.asarray(stamps, dtype=np.int64))
    steps = np.diff(ticks)
    last = last_durations.get(int(ticks[-1]), 0)
    if last <= 0:  # containers without packet durations: the typical frame step, else the nominal rate
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        last = int(np.median(steps)) if steps.size else int(round(1 / (float(rate) * float(tb))))
    seconds = (ticks - ticks[0]) * float(tb)
    step = Fraction(int(np.median(steps))) * tb if steps.size else Fraction(last) * tb
    duration = Fraction(int(ticks[-1] - ticks[0]) + int(last)) * tb
    return VideoTiming(origin=float(ticks[0] * tb), pts=seconds, duration=float(duration), frame_step=float(step))


def _truncated_seconds(container: av.container.InputContainer, stream: av.VideoStream, timing: VideoTiming) -> float:
    """How much longer the container says the video is than its packets (0 when it says nothing).

    The video stream's own duration where the container records one (MP4, MOV); else, for Matroska
    and WebM, the container's duration against the end of the video or, when that falls short, of the
    audio (which may run longer). Other containers' durations are estimates (from the bit rate) and
    are not trusted for this.
    """
    if stream.duration and stream.time_base:
        declared = float(stream.duration * stream.time_base)
        return max(0.0, round(declared - timing.duration, 6))
    if not container.duration or "matroska" not in (container.format.name or ""):
        return 0.0
    declared_end = ((container.start_time or 0) + container.duration) / av.time_base
    end = timing.origin + timing.duration
    if declared_end - end > TRUNCATION_TOLERANCE:
        end = max(end, _audio_end(container))
    return max(0.0, round(declared_end - end, 6))


def _audio_end(container: av.container.InputContainer) -> float:
    """End of the last audio packet (the file's time, s); 0 without audio or when it cannot be read."""
    audio, end = audio_stream(container), 0.0
    if audio is None or not audio.time_base:
        return end
    tb = float(audio.time_base)
    try:
        container.seek(0)
        for packet in container.demux(audio):
            if packet.size and packet.pts is not None:
                end = max(end, (packet.pts + (packet.duration or 0)) * tb)
    except av.error.FFmpegError:
        pass  # what was read so far is what the file holds
    return end


def check_complete(info: MediaInfo, *, strict: bool = False) -> None:
    """Warn (one line) when a file holds over ``TRUNCATION_TOLERANCE`` s less than it declares; ``strict``: raise."""
    if info.truncated_seconds <= TRUNCATION_TOLERANCE:
        return
    message = (f"{info.path}: only {info.duration:.1f} s of the {info.duration + info.truncated_seconds:.1f} s "
               "it declares can be read (a truncated file?)")
    if strict:
        raise MediaError(f"{message}; without --strict the readable part is scored")
    log.warning("warning: %s; scoring those %.1f s (--strict makes this an error)", message, info.duration)


def _is_vfr(pts: np.ndarray, tick: float) -> bool:
    """True when frame steps vary by more than the clock's rounding (1 ms for Matroska)."""
    steps = np.diff(pts)
    if steps.size < 2:
        return False
    spread = float(steps.max() - steps.min())
    return spread > max(2.5 * tick, 0.0011, 0.1 * float(np.median(steps)))


def _check_decodable(container: av.container.InputContainer, stream: av.VideoStream, path: str | os.PathLike[str]) -> None:
    """Decode the first frame: an unknown codec or broken data fails here, with the file named."""
    if stream.codec_context is None:
        raise MediaError(f"{path}: video codec is not supported by this FFmpeg build")
    try:
        container.seek(0)
        for packet in container.demux(stream):
            for _frame in packet.decode():
                return
        raise MediaError(f"{path}: the video stream cannot be decoded (no frame came out)")
    except av.error.FFmpegError as exc:
        codec = stream.codec_context.name
        raise MediaError(f"{path}: cannot decode the {codec} video ({_reason(exc)})") from None


def find_sidecar_subtitles(path: str | os.PathLike[str]) -> Path | None:
    """A subtitle file beside the video with the same stem: film.srt, film.vtt, film.en.srt..."""
    path = Path(path)
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    for suffix in SIDECAR_SUFFIXES:
        matches = sorted(path.parent.glob(f"{_glob_escape(path.stem)}.*{suffix}"))
        if matches:
            return matches[0]
    return None


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def probe(path: str | os.PathLike[str], *, content_hash: bool = True) -> MediaInfo:
    """Describe a video file: exact duration (s), frame count, average fps, VFR, audio and subtitles.

    Raises ``MediaError`` (one line naming the file) for a missing, empty, unreadable, truncated,
    audio-only or undecodable file.
    """
    path = Path(path)
    with open_media(path) as container:
        stream = video_stream(container, path)
        if stream.codec_context is None or not stream.codec_context.name:
            raise MediaError(f"{path}: video codec is not supported by this FFmpeg build")
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        timing = _timing(container, stream, path)
        truncated = _truncated_seconds(container, stream, timing)
        _check_decodable(container, stream, path)
        if not width or not height:
            raise MediaError(f"{path}: video stream has no picture size")
        audio = audio_stream(container)
        audio_context = audio.codec_context if audio is not None else None
        audio_fields = (
            (audio_context.name, int(audio_context.sample_rate), int(audio_context.channels)) if audio_context else (None, None, None)
        )
        subtitles = tuple(
            SubtitleStream(index=s.index, codec=s.codec_context.name if s.codec_context else "unknown", language=s.metadata.get("language"))
            for s in container.streams.subtitles
        )
        time_base, average_rate = float(stream.time_base), stream.average_rate  # a closed stream can no longer be read
    frame_count = int(timing.pts.size)
    duration = timing.duration
    vfr = _is_vfr(timing.pts, time_base)
    fps = frame_count / duration if duration > 0 else float(average_rate or 0)
    if not vfr and average_rate and abs(float(average_rate) - fps) < 0.01 * fps:
        fps = float(average_rate)
    sidecar = find_sidecar_subtitles(path)
    return MediaInfo(
        path=str(path),
        size_bytes=path.stat().st_size,
        content_hash=file_sha256(path) if content_hash else "",
        duration=float(duration),
        fps=float(fps),
        frame_count=frame_count,
        width=int(width),
        height=int(height),
        video_codec=codec,
        variable_frame_rate=vfr,
        has_audio=audio is not None,
        audio_codec=audio_fields[0],
        audio_sample_rate=audio_fields[1],
        audio_channels=audio_fields[2],
        subtitle_streams=subtitles,
        sidecar_subtitles=str(sidecar) if sidecar else None,
        absolute_path=str(path.resolve()),
        truncated_seconds=truncated,
    )
