"""The original soundtrack: descriptors for the sensors (``AudioStats``) and sample streaming for mixing.

Both decode the audio stream in chunks; a film's audio never sits in memory. Times are seconds
from the first video frame (the origin ``probe`` uses): audio before it is dropped, a late start
is padded with silence.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

import av
import numpy as np

from ..artifacts import MediaInfo
from ..errors import MediaError
from .features import AudioStats
from .probe import _reason, audio_stream, open_media, video_stream

log = logging.getLogger(__name__)

ANALYSIS_RATE = 16000
FRAME = 512  # STFT window at 16 kHz (32 ms)
STEP = 256  # STFT hop (16 ms): 62.5 analysis frames per second
SPEECH_BAND = (300.0, 3400.0)
ANALYSIS_BLOCK = ANALYSIS_RATE  # samples analysed at once (changing it moves the speech score in its 7th decimal: part of the cache key)


def _origin(container: av.container.InputContainer) -> float:
    """Seconds of the first video frame in the file's clock (0 when there is no video)."""
    try:
        stream = video_stream(container, "")
    except MediaError:
        return 0.0
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _decode(path: str | os.PathLike[str], sample_rate: int, layout: str) -> Iterator[np.ndarray]:
    """Float32 blocks of shape (n, channels), aligned so that sample 0 is at the video origin."""
    with open_media(path) as container:
        stream = audio_stream(container)
        if stream is None:
            return
        origin = _origin(container)
        resampler = av.AudioResampler(format="flt", layout=layout, rate=sample_rate)
        channels = 1 if layout == "mono" else 2
        position: int | None = None  # samples emitted so far
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    block = out.to_ndarray().reshape(-1, channels)
                    if position is None:
                        start = 0.0 if out.pts is None else float(out.pts * out.time_base) - origin
                        lead = int(round(start * sample_rate))
                        if lead > 0:
                            yield np.zeros((lead, channels), np.float32)
                        elif lead < 0:
                            block = block[-lead:]
                        position = 0
                    position += block.shape[0]
                    yield block
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1, channels)
        except av.error.FFmpegError as exc:
            if position is None:
                raise MediaError(f"{path}: cannot decode the audio ({_reason(exc)})") from None
            # a truncated file (probe warns about it): keep what decoded, the rest is silence
            log.warning("%s: audio decoding stopped at %.1f s (%s); the rest is silent", path,
                        position / sample_rate, _reason(exc))


def decode_audio_window(path: str | os.PathLike[str], start: float, end: float) -> tuple[int, float, np.ndarray]:
    """Mono float32 samples of ``[start, end]`` seconds (seeking, not decoding from the start).

    Returns ``(sample_rate, time of the first sample in s, samples)``; times from the first video frame.
    """
    with open_media(path) as container:
        stream = audio_stream(container)
        if stream is None:
            return ANALYSIS_RATE, start, np.zeros(0, np.float32)
        origin = _origin(container)
        rate = int(stream.codec_context.sample_rate or ANALYSIS_RATE)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        first: float | None = None
        blocks: list[np.ndarray] = []
        try:
            container.seek(max(0, int((max(0.0, start - 0.5) + origin) / float(stream.time_base))), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * frame.time_base) - origin
                if first is None:
                    first = t
                for out in resampler.resample(frame):
                    blocks.append(out.to_ndarray().reshape(-1))
                if t > end:
                    break
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: cannot decode the audio ({_reason(exc)})") from None
    if first is None or not blocks:
        return rate, start, np.zeros(0, np.float32)
    samples = np.concatenate(blocks)
    skip = max(0, int(round((start - first) * rate)))
    stop = max(skip, int(round((end - first) * rate)))
    return rate, first + skip / rate, samples[skip:stop]


def iter_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = 48000,
    channels: int = 2,
    chunk_seconds: float = 10.0,
    duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Stream the file's audio as float32 chunks of shape (n, channels), ``chunk_seconds`` long.

    Sample 0 is at t = 0 (the first video frame). Without ``duration`` the chunks hold exactly the
    stream's samples; with it they are padded or cut to ``round(duration * sample_rate)`` samples.
    Yields nothing when the file has no audio.
    """
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    chunk = max(1, int(round(chunk_seconds * sample_rate)))
    total = None if duration is None else int(round(duration * sample_rate))
    pending: list[np.ndarray] = []
    held = 0
    emitted = 0
    for block in _decode(path, sample_rate, "mono" if channels == 1 else "stereo"):
        if total is not None:
            block = block[: max(0, total - emitted - held)]
        pending.append(block)
        held += block.shape[0]
        while held >= chunk:
            data = np.concatenate(pending)
            yield data[:chunk]
            emitted += chunk
            pending, held = [data[chunk:]], data.shape[0] - chunk
    data = np.concatenate(pending) if pending else np.zeros((0, channels), np.float32)
    if total is not None and emitted + data.shape[0] < total:
        if emitted == 0 and data.shape[0] == 0 and not _has_audio(path):
            return
        data = np.concatenate([data, np.zeros((total - emitted - data.shape[0], channels), np.float32)])
        while data.shape[0] > chunk:
            yield data[:chunk]
            data = data[chunk:]
    if data.shape[0]:
        yield data


def _has_audio(path: str | os.PathLike[str]) -> bool:
    with open_media(path) as container:
        return audio_stream(container) is not None


class _Analyser:
    """Streaming STFT: per analysis frame RMS, spectral flux and speech-band ratio."""

    def __init__(self) -> None:
        self.window = np.hanning(FRAME).astype(np.float32)
        freqs = np.fft.rfftfreq(FRAME, 1 / ANALYSIS_RATE)
        self.band = (freqs >= SPEECH_BAND[0]) & (freqs <= SPEECH_BAND[1])
        self.buffer = np.zeros(0, np.float32)
        self.previous: np.ndarray | None = None
        self.energy: list[np.ndarray] = []
        self.flux: list[np.ndarray] = []
        self.band_ratio: list[np.ndarray] = []
        self.band_energy: list[np.ndarray] = []
        self.samples: list[np.ndarray] = []

    def add(self, mono: np.ndarray) -> None:
        data = np.concatenate([self.buffer, mono])
        n = (data.shape[0] - FRAME) // STEP + 1
        if n <= 0:
            self.buffer = data
            return
        idx = np.arange(FRAME)[None, :] + STEP * np.arange(n)[:, None]
        frames = data[idx]
        self.buffer = data[n * STEP :]
        spec = np.abs(np.fft.rfft(frames * self.window, axis=1)).astype(np.float32)
        logspec = np.log1p(100 * spec)
        prev = self.previous if self.previous is not None else logspec[:1]
        diff = np.diff(np.concatenate([prev, logspec]), axis=0)
        self.previous = logspec[-1:]
        power = spec**2
        total = power.sum(axis=1) + 1e-12
        self.flux.append(np.maximum(diff, 0).mean(axis=1))
        self.band_ratio.append(power[:, self.band].sum(axis=1) / total)
        self.band_energy.append(power[:, self.band].sum(axis=1))
        self.energy.append((frames**2).mean(axis=1))


def audio_stats(
    path: str | os.PathLike[str],
    info: MediaInfo,
    *,
    hop: float = 0.5,
    progress: Callable[[float], None] | None = None,
) -> AudioStats | None:
    """Loudness (dBFS), onset rate (onsets/s) and speech likelihood [0, 1] every ``hop`` seconds.

    Returns None when the file has no audio stream. The grid covers the video's duration:
    ``times[i] = (i + 0.5) * hop``.
    """
    if not info.has_audio:
        return None
    analyser = _Analyser()
    done = 0
    next_report = 10.0
    pending: list[np.ndarray] = []
    held = 0
    for block in _decode(path, ANALYSIS_RATE, "stereo"):
        pending.append(block)
        held += block.shape[0]
        if held < ANALYSIS_BLOCK:  # a codec frame is about 20 ms: analysed one by one, the calls cost 4x the maths
            continue
        analyser.add(np.concatenate(pending).mean(axis=1))  # not FFmpeg's downmix, which adds 3 dB to centred sound
        done += held
        pending, held = [], 0
        if progress is not None and done / ANALYSIS_RATE >= next_report:
            progress(done / ANALYSIS_RATE)
            next_report += 10.0
    if pending:
        analyser.add(np.concatenate(pending).mean(axis=1))
    n_hops = max(1, int(np.ceil(info.duration / hop - 1e-9)))
    frame_rate = ANALYSIS_RATE / STEP
    times = (np.arange(n_hops) + 0.5) * hop
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.float32))
    energy, flux = cat(analyser.energy), cat(analyser.flux)
    band_ratio, band_energy = cat(analyser.band_ratio), cat(analyser.band_energy)
    frame_times = (np.arange(energy.size) * STEP + FRAME / 2) / ANALYSIS_RATE
    hop_of = np.minimum((frame_times / hop).astype(np.int64), n_hops - 1)
    counts = np.bincount(hop_of, minlength=n_hops)
    mean_energy = np.bincount(hop_of, weights=energy, minlength=n_hops) / np.maximum(counts, 1)
    loudness = np.maximum(-90.0, 10 * np.log10(mean_energy + 1e-12))
    loudness[counts == 0] = -90.0
    onsets = _onsets(flux, energy)
    onset_rate = _rate_around(frame_times[onsets], times, window=2.0)
    speech = _speech(band_ratio, band_energy, hop_of, n_hops, frame_rate, loudness, hop)
    if progress is not None:
        progress(info.duration)
    return AudioStats(hop=hop, times=times, loudness_db=loudness, onset_rate=onset_rate, speech=speech)


def _onsets(flux: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Indices of spectral-flux peaks above a moving median threshold (at least 50 ms apart)."""
    if flux.size < 3:
        return np.zeros(0, np.int64)
    from scipy.ndimage import median_filter
    from scipy.signal import find_peaks

    baseline = median_filter(flux, size=31, mode="nearest")
    audible = energy > 1e-6  # about -60 dBFS
    height = baseline + 0.1 + 0.5 * float(np.std(flux))
    peaks, _ = find_peaks(flux, height=height, distance=3)
    return peaks[audible[peaks]]


def _rate_around(events: np.ndarray, times: np.ndarray, *, window: float) -> np.ndarray:
    lo = np.searchsorted(events, times - window / 2)
    hi = np.searchsorted(events, times + window / 2)
    return (hi - lo) / window


def _speech(band_ratio, band_energy, hop_of, n_hops, frame_rate, loudness, hop) -> np.ndarray:
    """Speech-band share times syllabic (2-8 Hz) modulation of the band envelope, per hop."""
    counts = np.maximum(np.bincount(hop_of, minlength=n_hops), 1)
    ratio = np.bincount(hop_of, weights=band_ratio, minlength=n_hops) / counts
    envelope = np.log10(band_energy + 1e-9)
    size = int(round(frame_rate))  # 1 s windows
    modulation = np.zeros(n_hops)
    if envelope.size >= size:
        from scipy.ndimage import uniform_filter1d

        freqs = np.fft.rfftfreq(size, 1 / frame_rate)
        syllabic = (freqs >= 2) & (freqs <= 8)
        centres = ((np.arange(n_hops) + 0.5) * hop * frame_rate).astype(np.int64)
        starts = np.clip(centres - size // 2, 0, envelope.size - size)
        windows = envelope[starts[:, None] + np.arange(size)[None, :]]
        windows = windows - windows.mean(axis=1, keepdims=True)
        spectrum = np.abs(np.fft.rfft(windows * np.hanning(size), axis=1)) ** 2
        modulation = spectrum[:, syllabic].sum(axis=1) / (spectrum[:, 1:].sum(axis=1) + 1e-9)
        modulation = uniform_filter1d(modulation, 3, mode="nearest")
    band_score = np.clip((ratio - 0.3) / 0.4, 0, 1)
    mod_score = np.clip((modulation - 0.2) / 0.4, 0, 1)
    speech = band_score * mod_score
    speech[loudness < -60] = 0.0
    return speech
