"""Streaming audio descriptors for the music emotion estimate and the evaluation metrics.

One pass over the audio (decoded by PyAV to mono at 22.05 kHz, chunk by chunk; the samples are
never kept) gives two grids:

* a fine grid of STFT frames, ``hop = 220`` samples (about 10 ms), ``n_fft = 2048`` (93 ms, Hann),
  frame ``i`` centred on ``i * hop / sample_rate`` seconds: onset strength, K-weighted power,
  spectral centroid and rolloff, frame peak, chroma. A few floats per frame: a two-hour film
  keeps about 60 MB of them, the audio itself would be 600 MB.
* a coarse grid at ``rate_hz`` (2 Hz by default), bin ``b`` centred on ``(b + 0.5) / rate_hz``:
  the descriptors of :data:`DESCRIPTOR_NAMES`, each a smoothed reading over a window of a few
  seconds around the bin, plus 13 MFCCs per bin (timbre, for coherence metrics).

Units are given with each field of :class:`Analysis`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from scipy.fft import dct
from scipy.signal import find_peaks

from ..errors import MediaError, OptionError

SAMPLE_RATE = 22050
HOP = 220
N_FFT = 2048
N_MELS = 40
N_MFCC = 13
_BLOCK_FRAMES = 512  # frames analysed per batch: bounds the working memory (512 x 1025 complex)

AudioSource = Union[str, os.PathLike, Iterable[np.ndarray]]

DESCRIPTOR_NAMES = (
    "loudness_lufs",  # short-term loudness (BS.1770 K-weighting, 3 s window), LUFS, mono
    "onset_rate",  # onsets per second (3 s window)
    "tempo_bpm",  # dominant periodicity of the onset envelope (6 s window), beats per minute
    "pulse_clarity",  # height of that autocorrelation peak, 0..1
    "centroid_hz",  # spectral centroid (magnitude-weighted), Hz, 2 s window
    "rolloff_hz",  # frequency below which 85% of the power lies, Hz, 2 s window
    "flux",  # mean positive log-mel difference between frames, dB per 10 ms frame, 2 s window
    "roughness",  # Sethares dissonance of spectral peaks, normalised by peak power, 2 s window
    "mode",  # best major minus best minor Krumhansl-Kessler correlation, -2..2 (4 s window)
    "key_index",  # best key 0..23 (0-11 major C..B, 12-23 minor), -1 when no tonal content
    "harmonic_change",  # cosine distance of chroma 1 s before and after, 0..1
)


@dataclass(frozen=True)
class Analysis:
    """Everything measured in one pass.

    duration: seconds of audio. Fine grid (``frame_hop`` s): ``onset_strength`` (dB, >= 0),
    ``frame_peak_db`` (dBFS of the loudest sample in each hop), ``onset_times`` (s, peaks of onset
    strength), ``chord_change_times`` (s, peaks of chroma novelty).
    Coarse grid (``1 / rate_hz`` s): ``times`` (bin centres, s), ``descriptors`` (name -> shape (n,)),
    ``mfcc`` (shape (n, 13), from the mean log-mel spectrum of each bin; row 0 follows level).
    """

    sample_rate: int
    frame_hop: float
    duration: float
    onset_strength: np.ndarray
    frame_peak_db: np.ndarray
    onset_times: np.ndarray
    chord_change_times: np.ndarray
    rate_hz: float
    times: np.ndarray
    descriptors: dict[str, np.ndarray]
    mfcc: np.ndarray


# --------------------------------------------------------------------------- decoding
def decode_mono(path: str | os.PathLike[str], *, sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Yield float32 mono chunks at ``sample_rate`` from the first audio stream of any file FFmpeg reads."""
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot open ({exc})") from None
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path}: has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: decoding failed ({exc})") from None


def _chunks(source: AudioSource, sample_rate: int) -> Iterator[np.ndarray]:
    if isinstance(source, (str, os.PathLike)):
        yield from decode_mono(source, sample_rate=sample_rate)
        return
    if isinstance(source, np.ndarray):
        source = [source]
    for chunk in source:
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 1:
            raise OptionError(f"audio chunks must be 1-D mono arrays at {sample_rate} Hz, got shape {chunk.shape}")
        yield chunk


# --------------------------------------------------------------------------- fixed tables
def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def _mel_matrix(sr: int, n_fft: int, n_mels: int, fmin: float = 40.0, fmax: float = 8000.0) -> np.ndarray:
    """Triangular mel filterbank, shape (n_fft // 2 + 1, n_mels)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / (mid - lo)
    down = (hi - freqs[None, :]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).T.astype(np.float32)


def _chroma_matrix(sr: int, n_fft: int, fmin: float = 60.0, fmax: float = 5000.0) -> np.ndarray:
    """Bin -> pitch class map, shape (n_fft // 2 + 1, 12); pitch class 0 is C."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    out = np.zeros((freqs.size, 12), dtype=np.float32)
    ok = (freqs >= fmin) & (freqs <= fmax)
    midi = 69.0 + 12.0 * np.log2(freqs[ok] / 440.0)
    # spread each bin over its nearest pitch classes (Gaussian, 0.5 semitone), so low bins wider
    # than a semitone still count
    idx = np.nonzero(ok)[0]
    for pc_off in (-1, 0, 1):
        nearest = np.round(midi) + pc_off
        w = np.exp(-0.5 * ((midi - nearest) / 0.5) ** 2)
        np.add.at(out, (idx, (nearest.astype(int) % 12)), w)
    return out


def _k_weight_power(sr: int, n_fft: int) -> np.ndarray:
    """|H(f)|^2 of the BS.1770 K-weighting (shelf + high-pass biquads, RBJ form as in pyloudnorm)."""
    from scipy.signal import freqz

    def shelf(G: float, Q: float, fc: float) -> tuple[list[float], list[float]]:
        A = 10 ** (G / 40.0)
        w0 = 2 * np.pi * fc / sr
        alpha = np.sin(w0) / (2 * Q)
        c = np.cos(w0)
        b = [A * ((A + 1) + (A - 1) * c + 2 * np.sqrt(A) * alpha), -2 * A * ((A - 1) + (A + 1) * c),
             A * ((A + 1) + (A - 1) * c - 2 * np.sqrt(A) * alpha)]
        a = [(A + 1) - (A - 1) * c + 2 * np.sqrt(A) * alpha, 2 * ((A - 1) - (A + 1) * c),
             (A + 1) - (A - 1) * c - 2 * np.sqrt(A) * alpha]
        return b, a

    def highpass(Q: float, fc: float) -> tuple[list[float], list[float]]:
        w0 = 2 * np.pi * fc / sr
        alpha = np.sin(w0) / (2 * Q)
        c = np.cos(w0)
        return [(1 + c) / 2, -(1 + c), (1 + c) / 2], [1 + alpha, -2 * c, 1 - alpha]

    n = n_fft // 2 + 1
    _, h1 = freqz(*shelf(4.0, 1 / np.sqrt(2), 1500.0), worN=n, fs=sr)
    _, h2 = freqz(*highpass(0.5, 38.0), worN=n, fs=sr)
    return (np.abs(h1 * h2) ** 2).astype(np.float32)


# Krumhansl & Kessler (1982) probe-tone profiles, C major / C minor.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _key_templates() -> np.ndarray:
    """Shape (24, 12): rows 0-11 major keys C..B, 12-23 minor keys; each row zero-mean, unit-norm."""
    rows = [np.roll(KK_MAJOR, k) for k in range(12)] + [np.roll(KK_MINOR, k) for k in range(12)]
    t = np.array(rows)
    t -= t.mean(axis=1, keepdims=True)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def sethares_roughness(freqs: np.ndarray, amps: np.ndarray) -> float:
    """Sethares (1993) dissonance of a set of partials, divided by their summed squared amplitude.

    freqs in Hz, amps linear; a pure tone gives 0, a semitone cluster of equal partials about 0.2.
    """
    if freqs.size < 2:
        return 0.0
    f1, f2 = np.meshgrid(freqs, freqs, indexing="ij")
    a1, a2 = np.meshgrid(amps, amps, indexing="ij")
    upper = np.triu(np.ones_like(f1, dtype=bool), 1)
    fmin = np.minimum(f1, f2)[upper]
    df = np.abs(f2 - f1)[upper]
    s = 0.24 / (0.0207 * fmin + 18.96)
    d = (a1 * a2)[upper] * (np.exp(-3.51 * s * df) - np.exp(-5.75 * s * df))
    return float(d.sum() / max(float((amps**2).sum()), 1e-12))


def _frame_roughness(mag: np.ndarray, freqs: np.ndarray, max_peaks: int = 20) -> float:
    """Roughness of one magnitude spectrum from its strongest peaks (50 Hz - 5 kHz, within 40 dB)."""
    band = (freqs >= 50.0) & (freqs <= 5000.0)
    m = np.where(band, mag, 0.0)
    top = float(m.max())
    if top <= 1e-6:
        return 0.0
    peaks, _ = find_peaks(m, height=top * 0.01)
    if peaks.size < 2:
        return 0.0
    peaks = peaks[np.argsort(m[peaks])[::-1][:max_peaks]]
    # parabolic interpolation on log magnitude for sub-bin frequency (bins are 10.8 Hz wide)
    la, lb, lc = (np.log(mag[p] + 1e-12) for p in (peaks - 1, peaks, peaks + 1))
    denom = la - 2 * lb + lc
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (la - lc) / np.where(denom == 0, 1, denom), 0.0)
    f = freqs[peaks] + np.clip(shift, -0.5, 0.5) * (freqs[1] - freqs[0])
    return sethares_roughness(f, m[peaks])


# --------------------------------------------------------------------------- frame pass
class _FramePass:
    """Consumes mono chunks; keeps per-frame scalars and per-bin log-mel sums."""

    def __init__(self, sr: int, rate_hz: float) -> None:
        self.sr, self.rate_hz = sr, rate_hz
        self.window = np.hanning(N_FFT).astype(np.float32)
        self.freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr).astype(np.float32)
        self.mel = _mel_matrix(sr, N_FFT, N_MELS)
        self.chroma_m = _chroma_matrix(sr, N_FFT)
        self.kw = _k_weight_power(sr, N_FFT)
        # one-sided |X|^2 -> mean square of the (unwindowed) signal, for a Hann window
        self.ms_scale = 2.0 / (N_FFT * float((self.window**2).sum()))
        self.buf = np.zeros(N_FFT // 2, dtype=np.float32)  # frames are centred: pad the start
        self.n_samples = 0
        self.n_frames = 0
        self.prev_logmel: np.ndarray | None = None
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in ("kms", "centroid", "rolloff", "onset", "peak", "rough", "chroma", "energy")}
        self.mel_sum: list[np.ndarray] = []  # per coarse bin, grows
        self.mel_count: list[int] = []

    def push(self, chunk: np.ndarray) -> None:
        self.n_samples += chunk.size
        self.buf = np.concatenate([self.buf, chunk])
        self._drain()

    def finish(self) -> None:
        self.buf = np.concatenate([self.buf, np.zeros(N_FFT // 2, dtype=np.float32)])
        self._drain(final=True)

    def _drain(self, final: bool = False) -> None:
        while True:
            total_frames = -(-self.n_samples // HOP) if final else None  # frames with centre inside the audio
            k = (self.buf.size - N_FFT) // HOP + 1 if self.buf.size >= N_FFT else 0
            if total_frames is not None:
                k = min(k, total_frames - self.n_frames)
            if k <= 0:
                return
            k = min(k, _BLOCK_FRAMES)
            frames = np.lib.stride_tricks.sliding_window_view(self.buf, N_FFT)[::HOP][:k]
            self._analyse(frames)
            self.buf = self.buf[k * HOP:]
            self.n_frames += k

    def _analyse(self, frames: np.ndarray) -> None:
        k = frames.shape[0]
        centre = frames[:, N_FFT // 2 - HOP // 2: N_FFT // 2 + HOP // 2]
        peak = np.abs(centre).max(axis=1)
        mag = np.abs(np.fft.rfft(frames * self.window, axis=1)).astype(np.float32)  # (k, 1025)
        power = mag**2
        kms = (power @ self.kw) * self.ms_scale
        msum = mag.sum(axis=1)
        centroid = (mag @ self.freqs) / np.maximum(msum, 1e-9)
        cum = np.cumsum(power, axis=1)
        rolloff = self.freqs[np.minimum((cum < 0.85 * cum[:, -1:]).sum(axis=1), self.freqs.size - 1)]
        # floor each band about 85 dB below a full-scale sine (and 80 dB below the frame's loudest
        # band), so 16-bit dither, codec noise and silence give no flux
        logmel = 10.0 * np.log10(power @ self.mel + 1e-3)
        logmel = np.maximum(logmel, logmel.max(axis=1, keepdims=True) - 80.0)
        prev = self.prev_logmel if self.prev_logmel is not None else logmel[:1]
        onset = np.maximum(0.0, np.diff(np.vstack([prev, logmel]), axis=0)).mean(axis=1)
        self.prev_logmel = logmel[-1:]
        chroma = mag @ self.chroma_m
        rough = np.full(k, np.nan, dtype=np.float32)
        for j in range(k):  # roughness at 20 Hz is enough for a 2 s window
            if (self.n_frames + j) % 5 == 0:
                rough[j] = _frame_roughness(mag[j], self.freqs)
        for name, val in (("kms", kms), ("centroid", centroid), ("rolloff", rolloff), ("onset", onset),
                          ("peak", peak), ("rough", rough), ("chroma", chroma), ("energy", msum)):
            self.cols[name].append(val.astype(np.float32))
        # log-mel sums per coarse bin (for MFCC), accumulated here so nothing per-frame x 40 is kept
        bins = ((self.n_frames + np.arange(k)) * HOP / self.sr * self.rate_hz).astype(int)
        need = int(bins.max()) + 1
        while len(self.mel_sum) < need:
            self.mel_sum.append(np.zeros(N_MELS, dtype=np.float64))
            self.mel_count.append(0)
        for b in np.unique(bins):
            sel = bins == b
            self.mel_sum[b] += logmel[sel].sum(axis=0)
            self.mel_count[b] += int(sel.sum())

    def column(self, name: str) -> np.ndarray:
        parts = self.cols[name]
        if not parts:
            return np.zeros((0, 12) if name == "chroma" else 0, dtype=np.float32)
        return np.concatenate(parts)


# --------------------------------------------------------------------------- helpers on the fine grid
def _window_mean(values: np.ndarray, centres: np.ndarray, half: float, hop: float, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` (fine grid, NaN ignored) over ``centres +- half`` seconds, optionally weighted."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(v)
    w = np.where(ok, w, 0.0)
    cv = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0) * w)])
    cw = np.concatenate([[0.0], np.cumsum(w)])
    lo = np.clip(np.round((centres - half) / hop).astype(int), 0, v.size)
    hi = np.clip(np.round((centres + half) / hop).astype(int) + 1, 0, v.size)
    den = cw[hi] - cw[lo]
    return np.where(den > 0, (cv[hi] - cv[lo]) / np.where(den > 0, den, 1), np.nan)


def pick_peaks(envelope: np.ndarray, hop: float, *, min_gap: float = 0.05, median_window: float = 1.0, delta: float = 0.5) -> np.ndarray:
    """Times (s) of peaks of an envelope: local maxima ``min_gap`` apart that rise above a moving
    median by ``delta`` times the envelope's median absolute deviation (and above a small floor)."""
    env = np.asarray(envelope, dtype=np.float64)
    if env.size < 3:
        return np.zeros(0)
    from scipy.ndimage import median_filter

    w = max(3, int(round(median_window / hop)) | 1)
    base = median_filter(env, size=w, mode="nearest")
    mad = float(np.median(np.abs(env - np.median(env)))) + 1e-9
    thresh = base + delta * mad + 0.05 * float(env.max())
    peaks, _ = find_peaks(env, distance=max(1, int(round(min_gap / hop))))
    peaks = peaks[env[peaks] > thresh[peaks]]
    return peaks * hop


def _local_tempo(onset: np.ndarray, hop: float, centres: np.ndarray, half: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Tempo (BPM) and pulse clarity (0..1) from the autocorrelation of the onset envelope around each centre.

    Lags 40..200 BPM, weighted by a log-normal preference around 120 BPM (as in Ellis 2007) so
    octave errors lean towards the tempo listeners tap.
    """
    n = int(round(2 * half / hop))
    lags = np.arange(int(60.0 / 200.0 / hop), int(60.0 / 40.0 / hop) + 1)
    bpm = 60.0 / (lags * hop)
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0) / 1.0) ** 2)
    tempo = np.zeros(centres.size)
    clarity = np.zeros(centres.size)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    for i, c in enumerate(centres):
        lo = max(0, int(round((c - half) / hop)))
        seg = onset[lo: lo + n].astype(np.float64)
        if seg.size < lags[-1] + 2:
            continue
        seg = seg - seg.mean()
        energy = float((seg**2).sum())
        if energy <= 1e-9:
            continue
        spec = np.fft.rfft(seg, nfft)
        ac = np.fft.irfft(np.abs(spec) ** 2, nfft)[: lags[-1] + 1]
        ac = ac / energy  # 1 at lag 0
        # unbiased: compensate for the shrinking overlap at long lags
        ac_l = ac[lags] * seg.size / (seg.size - lags)
        j = int(np.argmax(ac_l * prior))
        tempo[i] = bpm[j]
        clarity[i] = float(np.clip(ac_l[j], 0.0, 1.0))
    return tempo, clarity


# --------------------------------------------------------------------------- public
def analyze(source: AudioSource, *, rate_hz: float = 2.0, sample_rate: int = SAMPLE_RATE) -> Analysis:
    """Measure ``source`` (a file path, or an iterable of 1-D float chunks at ``sample_rate``) in one pass."""
    if not 0.1 <= rate_hz <= 20.0:
        raise OptionError(f"rate_hz must lie within 0.1..20, got {rate_hz}")
    fp = _FramePass(sample_rate, rate_hz)
    for chunk in _chunks(source, sample_rate):
        fp.push(chunk)
    fp.finish()
    where = str(source) if isinstance(source, (str, os.PathLike)) else "audio chunks"
    if fp.n_samples < N_FFT:
        raise MediaError(f"{where}: too short to analyse ({fp.n_samples} samples at {sample_rate} Hz)")
    hop = HOP / sample_rate
    duration = fp.n_samples / sample_rate
    onset, kms, peak = fp.column("onset"), fp.column("kms"), fp.column("peak")
    energy = fp.column("energy")
    chroma = fp.column("chroma")

    n_bins = max(1, int(np.ceil(duration * rate_hz - 1e-9)))
    times = (np.arange(n_bins) + 0.5) / rate_hz

    onset_times = pick_peaks(onset, hop)
    # chroma novelty at the fine grid: cosine distance of mean chroma 0.25 s before vs after
    chord_times = _chord_changes(chroma, hop)

    d: dict[str, np.ndarray] = {}
    ms = _window_mean(kms, times, 1.5, hop)
    d["loudness_lufs"] = np.maximum(-0.691 + 10.0 * np.log10(np.maximum(ms, 1e-12)), -70.0)
    half = 1.5
    lo_t, hi_t = np.maximum(times - half, 0.0), np.minimum(times + half, duration)
    counts = np.searchsorted(onset_times, hi_t) - np.searchsorted(onset_times, lo_t)
    d["onset_rate"] = counts / np.maximum(hi_t - lo_t, 1e-3)
    d["tempo_bpm"], d["pulse_clarity"] = _local_tempo(onset, hop, times)
    audible = (peak > 10 ** (-60 / 20)).astype(np.float64)  # frames above -60 dBFS
    w = energy * audible
    d["centroid_hz"] = np.nan_to_num(_window_mean(fp.column("centroid"), times, 1.0, hop, w), nan=0.0)
    d["rolloff_hz"] = np.nan_to_num(_window_mean(fp.column("rolloff"), times, 1.0, hop, w), nan=0.0)
    d["flux"] = np.nan_to_num(_window_mean(onset, times, 1.0, hop, audible), nan=0.0)
    d["roughness"] = np.nan_to_num(_window_mean(fp.column("rough"), times, 1.0, hop, audible), nan=0.0)
    d["mode"], d["key_index"] = _mode(chroma, times, hop)
    d["harmonic_change"] = _harmonic_change(chroma, times, hop)

    mel = np.array([s / max(c, 1) for s, c in zip(fp.mel_sum, fp.mel_count)]) if fp.mel_sum else np.zeros((0, N_MELS))
    mel = np.vstack([mel, np.full((max(0, n_bins - mel.shape[0]), N_MELS), -30.0)])[:n_bins]
    mfcc = dct(mel, type=2, norm="ortho", axis=1)[:, :N_MFCC]
    return Analysis(
        sample_rate=sample_rate, frame_hop=hop, duration=duration, onset_strength=onset,
        frame_peak_db=20.0 * np.log10(np.maximum(peak, 1e-6)), onset_times=onset_times,
        chord_change_times=chord_times, rate_hz=rate_hz, times=times,
        descriptors={k: np.asarray(v, dtype=np.float64) for k, v in d.items()}, mfcc=mfcc,
    )


def _chroma_window(chroma: np.ndarray, centres: np.ndarray, half: float, hop: float) -> np.ndarray:
    c = np.concatenate([np.zeros((1, 12)), np.cumsum(chroma.astype(np.float64), axis=0)])
    lo = np.clip(np.round((centres - half) / hop).astype(int), 0, chroma.shape[0])
    hi = np.clip(np.round((centres + half) / hop).astype(int) + 1, 0, chroma.shape[0])
    return c[hi] - c[lo]


def _mode(chroma: np.ndarray, times: np.ndarray, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """Major-vs-minor clarity (Krumhansl-Kessler key finding on a 4 s chroma sum) and the best key."""
    prof = _chroma_window(chroma, times, 2.0, hop)
    prof = prof - prof.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(prof, axis=1, keepdims=True)
    tonal = norm[:, 0] > 1e-6 * max(float(norm.max()), 1e-12)
    r = (prof / np.where(norm > 0, norm, 1.0)) @ _key_templates().T  # (n, 24) Pearson r
    mode = np.where(tonal, r[:, :12].max(axis=1) - r[:, 12:].max(axis=1), 0.0)
    key = np.where(tonal, r.argmax(axis=1), -1).astype(np.float64)
    return mode, key


def _harmonic_change(chroma: np.ndarray, times: np.ndarray, hop: float) -> np.ndarray:
    before = _chroma_window(chroma, times - 0.5, 0.5, hop)
    after = _chroma_window(chroma, times + 0.5, 0.5, hop)
    return _cosine_distance(before, after)


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 1e-9) & (nb > 1e-9)
    cos = (a * b).sum(axis=1) / np.where(ok, na * nb, 1.0)
    return np.where(ok, 1.0 - cos, 0.0)


def _chord_changes(chroma: np.ndarray, hop: float, half: float = 0.25) -> np.ndarray:
    if chroma.shape[0] < 3:
        return np.zeros(0)
    t = np.arange(chroma.shape[0]) * hop
    novelty = _cosine_distance(_chroma_window(chroma, t - half / 2, half / 2, hop), _chroma_window(chroma, t + half / 2, half / 2, hop))
    peaks, _ = find_peaks(novelty, height=0.25, distance=max(1, int(round(0.2 / hop))))
    return peaks * hop
