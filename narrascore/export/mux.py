"""Put the soundtrack into the video: ``scored.mp4`` (plays everywhere) or ``scored.mkv`` (any codec kept).

The video stream is copied packet for packet (timestamps untouched) when it is H.264, HEVC or AV1 in a form
every browser and editor reads from MP4 (4:2:0, 8-bit for H.264, even size; see ``reencode_reason``).
Anything else is re-encoded to H.264 (libx264, yuv420p, CRF 20, preset veryfast), with a one-line note
saying why, each frame keeping its own timestamp, so variable frame rates survive. VP9 is legal
in MP4 and browsers play it, but many editors (and older Apple software) do not, so it is re-encoded too;
``copy_video=True`` keeps any codec untouched in Matroska instead.

The audio is AAC (192 kb/s) at 48 kHz stereo, starting at the first video frame and exactly as long as the
video. Audio and video packets are interleaved by time as they are produced, so memory stays flat; the file
is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..artifacts import MediaInfo
from ..errors import MediaError, NarrascoreError, OutputError
from ..fileio import atomic_path, ensure_writable_dir
from ..media.features import AudioStats
from .audio import CHUNK_SECONDS, mix_under_original
from .loudness import iter_wav, measure_chunks, measure_file

log = logging.getLogger(__name__)

COPYABLE_CODECS = ("h264", "hevc", "av1")  # played by browsers and editors from MP4
PLAYABLE_PIX_FMTS = {"h264": ("yuv420p", "yuvj420p"), "hevc": ("yuv420p", "yuvj420p", "yuv420p10le"),
                     "av1": ("yuv420p", "yuv420p10le")}  # what browsers decode of each
MP4_TAGS = {"h264": "avc1", "hevc": "hvc1", "av1": "av01"}  # hvc1: what Apple players require
AUDIO_RATE = 48_000
AUDIO_BITRATE = 192_000
X264_OPTIONS = {"crf": "20", "preset": "veryfast"}


def output_name(copy_video: bool) -> str:
    return "scored.mkv" if copy_video else "scored.mp4"


def will_copy(codec: str, copy_video: bool, *, pix_fmt: str | None = None, width: int = 0, height: int = 0) -> bool:
    """Whether the video stream is remuxed as is (True) or re-encoded to H.264 (False)."""
    return copy_video or reencode_reason(codec, pix_fmt, width, height) is None


def reencode_reason(codec: str, pix_fmt: str | None, width: int, height: int) -> str | None:
    """Why a video stream is re-encoded for ``scored.mp4`` instead of copied (None: it is copied).

    Browsers play H.264 only as 8-bit 4:2:0 (High 4:4:4 and High 10 do not play), HEVC and AV1 as
    4:2:0 in 8 or 10 bits; an odd picture size does not fit 4:2:0's half-size colour planes.
    """
    if codec not in COPYABLE_CODECS:
        return f"{codec or 'its codec'} does not play in browsers from MP4"
    if pix_fmt and pix_fmt not in PLAYABLE_PIX_FMTS[codec]:
        return f"{codec} in {pix_fmt} does not play in browsers (they need {PLAYABLE_PIX_FMTS[codec][0]})"
    if width % 2 or height % 2:
        return f"its size {width}x{height} is odd (4:2:0 needs even sizes)"
    return None


def mux_video(
    video: Path,
    info: MediaInfo,
    soundtrack: Path | None,
    out_dir: Path,
    *,
    copy_video: bool = False,
    mix_original_db: float | None = None,
    speech: AudioStats | None = None,
    true_peak_dbtp: float = -1.0,
    progress: Callable[[float], None] | None = None,
    music: Iterable[np.ndarray] | None = None,
) -> Path:
    """Write ``out_dir/scored.mp4`` (or ``scored.mkv`` with ``copy_video``) and return its path.

    ``soundtrack``: 48 kHz stereo WAV; cut or padded with silence to ``info.duration`` seconds.
    ``mix_original_db``: keep the video's own audio this many dB (loudness) below the music, ducking the
    music by 8 dB where ``speech`` (``AudioStats`` of the original; computed when omitted) finds dialogue.
    ``progress`` is called with the seconds of video muxed so far. ``music``: the soundtrack's (n, 2)
    float32 blocks, as ``soundtrack`` would read, instead of the file (``MuxWhileWriting``); not with
    ``mix_original_db``.
    Raises ``MediaError`` naming the file that cannot be read, ``OutputError`` when the output cannot be written.
    """
    video, out_dir = Path(video), Path(out_dir)
    out = ensure_writable_dir(out_dir) / output_name(copy_video)
    n_samples = int(round(info.duration * AUDIO_RATE))
    if music is not None:
        if mix_original_db is not None:
            raise NarrascoreError("internal error: the original audio is mixed from the soundtrack file")
        music = _fit_length(music, n_samples)
    else:
        assert soundtrack is not None
        music = _soundtrack_chunks(Path(soundtrack), n_samples)
    if mix_original_db is not None and not info.has_audio:
        log.info("%s has no audio to mix under the music; muxing the music alone", video)
    elif mix_original_db is not None:
        music = _with_original(video, info, Path(soundtrack), music, mix_original_db, speech, true_peak_dbtp)
    try:
        source = av.open(str(video), "r", metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{video}: cannot open the video ({_reason(exc)})") from None
    try:
        with source, atomic_path(out) as tmp:
            _mux(source, video, tmp, music, n_samples, copy_video, progress)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{video}: muxing into {out} failed ({_reason(exc)})") from None
    except OSError as exc:
        raise OutputError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out


class Abandoned(NarrascoreError):
    """The soundtrack fed to a mux is being written again: this mux is void."""


class MuxWhileWriting:
    """``mux_video`` in a worker process, fed the soundtrack's blocks while ``write_soundtrack`` writes them
    (its ``tap``): the AAC encoding and the mux run beside the loudness pass instead of after it, and the
    mux does not read back the file just written. It is handed exactly what reading the 24-bit file gives
    (see ``quantise``), so ``scored.mp4`` has the same bytes as a mux of the finished file.

    ``restart()`` (a second write of the soundtrack) abandons the worker's mux, and ``result()`` then
    says so with None: the caller muxes the finished file instead.
    """

    def __init__(self, video: Path, info: MediaInfo, out_dir: Path, *, copy_video: bool = False) -> None:
        from ..parallel import Background, process_context

        receive, self._send = process_context().Pipe(duplex=False)
        self.worker = Background(_mux_received, receive, video, info, out_dir, copy_video=copy_video,
                                 reports_progress=True)
        receive.close()
        self.abandoned = False  # restarted: the worker's mux is void
        self._silent = False  # nothing more to send (abandoned, or the worker has gone)

    def write(self, samples: np.ndarray) -> None:
        self._put(b"A" + samples.tobytes())

    def restart(self) -> None:
        self._put(b"X")
        self.abandoned = self._silent = True

    def _put(self, message: bytes) -> None:
        if self._silent:
            return
        try:
            self._send.send_bytes(message)
        except (BrokenPipeError, OSError):  # the worker failed: ``result`` raises its error
            self._silent = True

    def result(self, progress: Callable[[float], None] | None = None) -> Path | None:
        """The scored video, once the soundtrack is complete; None if the mux was abandoned."""
        self._put(b"E")
        self._send.close()
        try:
            return self.worker.result(progress)
        except Exception:
            if self.abandoned:  # a failure after a restart is the abandoned mux's, not the caller's
                return None
            raise

    def __enter__(self) -> "MuxWhileWriting":
        self.worker.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self._send.close()
        self.worker.__exit__(*exc)


def _mux_received(receive, video: Path, info: MediaInfo, out_dir: Path, *, copy_video: bool,
                  progress: Callable[[float], None] | None = None) -> Path:
    return mux_video(video, info, None, out_dir, copy_video=copy_video, progress=progress, music=_received(receive))


def _received(receive) -> Iterator[np.ndarray]:
    """The blocks ``MuxWhileWriting`` sends: A + samples, then E (the end) or X (abandoned)."""
    from .audio import dequantise

    while True:
        message = receive.recv_bytes()
        if message[:1] == b"E":
            return
        if message[:1] == b"X":
            raise Abandoned("the soundtrack is written again")
        yield dequantise(np.frombuffer(message, dtype=np.int32, offset=1).reshape(-1, 2))


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).splitlines()[0] if text else type(exc).__name__


def _soundtrack_chunks(path: Path, n_samples: int) -> Iterator[np.ndarray]:
    rate, channels, chunks = iter_wav(path, chunk_seconds=CHUNK_SECONDS)
    if rate != AUDIO_RATE or channels != 2:
        raise MediaError(f"{path}: soundtrack must be 48000 Hz stereo, found {rate} Hz with {channels} channel(s)")
    return _fit_length(chunks, n_samples)


def _fit_length(chunks: Iterable[np.ndarray], n_samples: int) -> Iterator[np.ndarray]:
    """Cut or pad (with silence) a stream of (n, 2) chunks to exactly ``n_samples``."""
    done = 0
    for chunk in chunks:
        chunk = chunk[: n_samples - done]
        if chunk.shape[0]:
            done += chunk.shape[0]
            yield chunk
    step = int(CHUNK_SECONDS * AUDIO_RATE)
    while done < n_samples:
        pad = min(step, n_samples - done)
        done += pad
        yield np.zeros((pad, 2), np.float32)


def _with_original(video: Path, info: MediaInfo, soundtrack: Path, music: Iterator[np.ndarray],
                   db_below: float, speech: AudioStats | None, true_peak_dbtp: float) -> Iterator[np.ndarray]:
    """Music mixed over the original audio (two cheap measuring passes first: both loudnesses)."""
    from ..media.audio import audio_stats, iter_audio

    if speech is None:
        speech = audio_stats(video, info)
    original_lufs = measure_chunks(iter_audio(video, duration=info.duration), AUDIO_RATE, true_peak=False).integrated_lufs
    music_lufs = measure_file(soundtrack).integrated_lufs
    return mix_under_original(
        music,
        iter_audio(video, duration=info.duration),
        original_db_below=db_below,
        speech=None if speech is None else speech.speech,
        hop=speech.hop if speech is not None else 0.5,
        music_lufs=music_lufs,
        original_lufs=original_lufs,
        true_peak_dbtp=true_peak_dbtp,
    )


# --------------------------------------------------------------------------- muxing
def _mux(source: av.container.InputContainer, video: Path, tmp: Path, music: Iterator[np.ndarray],
         n_samples: int, copy_video: bool, progress: Callable[[float], None] | None = None) -> None:
    vin = next((s for s in source.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)
    if vin is None:
        raise MediaError(f"{video}: has no video stream")
    cc = vin.codec_context
    codec = cc.name if cc is not None else ""
    pix_fmt = cc.format.name if cc is not None and cc.format is not None else None
    width, height = (cc.width, cc.height) if cc is not None else (0, 0)
    reason = None if copy_video else reencode_reason(codec, pix_fmt, width, height)
    copy = reason is None
    origin = float(vin.start_time * vin.time_base) if vin.start_time is not None else 0.0
    fmt = "matroska" if copy_video else "mp4"
    options = {} if copy_video else {"movflags": "+faststart"}
    with av.open(str(tmp), "w", format=fmt, options=options) as sink:
        if copy:
            vout = sink.add_stream_from_template(vin)
            if not copy_video and codec in MP4_TAGS:
                vout.codec_tag = MP4_TAGS[codec]
            video_packets = _copied_packets(source, vin, vout)
        else:
            vout = _h264_stream(sink, vin)
            size = (vout.codec_context.width, vout.codec_context.height)
            resized = f"; its size {width}x{height} becomes {size[0]}x{size[1]}" if size != (width, height) else ""
            log.warning("%s: re-encoding the video to H.264 (yuv420p, 8-bit): %s%s", video, reason, resized)
            video_packets = _encoded_packets(source, vin, vout, video)
        aout = sink.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        aout.bit_rate = AUDIO_BITRATE
        # FFmpeg's "fast" AAC coder encodes 2.5x faster than the default two-loop search; at 192 kb/s the
        # difference is hard to hear, and soundtrack.wav stays the lossless master.
        aout.codec_context.options = {"aac_coder": "fast"}
        audio_packets = _audio_packets(music, aout, origin, n_samples)
        # Interleave by decode time as both are produced: neither stream is ever held in memory.
        # (time, tie-breaker, packet): within one stream the order of production is kept.
        next_report = 1.0
        for t, _order, packet in heapq.merge(_numbered(video_packets, 0), _numbered(audio_packets, 1)):
            sink.mux(packet)
            if progress is not None and t >= next_report:
                progress(t)
                next_report = t + 1.0


def _numbered(packets: Iterator[av.Packet], stream: int) -> Iterator[tuple[float, tuple[int, int], av.Packet]]:
    """(decode time in s, order, packet); a stream's packets share one time base, read once (each read
    of ``packet.time_base`` builds a Fraction: a tenth of the mux's own time)."""
    seconds: float | None = None
    for i, packet in enumerate(packets):
        stamp = packet.dts if packet.dts is not None else packet.pts
        if seconds is None and packet.time_base:
            seconds = float(packet.time_base)
        yield (stamp * seconds if stamp is not None and seconds else 0.0), (stream, i), packet


def _copied_packets(source: av.container.InputContainer, vin: av.VideoStream, vout: av.VideoStream) -> Iterator[av.Packet]:
    for packet in source.demux(vin):
        if packet.size == 0:  # the demuxer's end-of-stream marker
            continue
        packet.stream = vout
        yield packet


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _h264_stream(sink: av.container.OutputContainer, vin: av.VideoStream) -> av.VideoStream:
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = sink.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
    cc = vin.codec_context
    vout.width, vout.height = _even(cc.width), _even(cc.height)
    vout.pix_fmt = "yuv420p"
    # The input's clock (fine enough for its own timestamps) keeps every frame at its original time (VFR).
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    if cc.sample_aspect_ratio:
        vout.codec_context.sample_aspect_ratio = cc.sample_aspect_ratio
    return vout


def _encoded_packets(source: av.container.InputContainer, vin: av.VideoStream, vout: av.VideoStream,
                     video: Path) -> Iterator[av.Packet]:
    vin.thread_type = "AUTO"
    tb = vin.time_base
    step = max(1, int(round(1 / (float(vin.average_rate or vin.guessed_rate or 25) * float(tb)))))
    last_pts: int | None = None
    width, height = vout.codec_context.width, vout.codec_context.height
    try:
        for frame in source.decode(vin):
            pts = frame.pts if frame.pts is not None else (last_pts + step if last_pts is not None else 0)
            if last_pts is not None and pts <= last_pts:  # broken stamps: keep the order, never go back
                pts = last_pts + 1
            last_pts = pts
            image = frame.reformat(width=width, height=height, format="yuv420p")
            image.pts, image.time_base = pts, tb
            for packet in vout.encode(image):
                yield packet
    except av.error.FFmpegError as exc:
        if last_pts is None:
            raise MediaError(f"{video}: cannot decode the video ({_reason(exc)})") from None
        log.warning("%s: video decoding stopped early (%s); the rest is dropped", video, _reason(exc))
    for packet in vout.encode(None):
        yield packet


def _audio_packets(music: Iterable[np.ndarray], aout: av.AudioStream, origin: float,
                   n_samples: int) -> Iterator[av.Packet]:
    """AAC packets of exactly ``n_samples`` of music, the first sample at ``origin`` seconds."""
    frame_size = aout.codec_context.frame_size or 1024
    start = int(round(origin * AUDIO_RATE))
    tb = Fraction(1, AUDIO_RATE)
    position = 0
    step = frame_size * 64
    for chunk in music:  # frames of any length: the encoder's own queue cuts them into its frames
        for at in range(0, chunk.shape[0], step):
            block = chunk[at : at + step][: n_samples - position]
            if block.shape[0] == 0:
                break
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T, dtype=np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start + position, tb
            position += block.shape[0]
            for packet in aout.encode(frame):
                yield packet
    for packet in aout.encode(None):
        yield packet
    if position != n_samples:
        raise NarrascoreError(f"internal error: muxed {position} audio samples, expected {n_samples}")
