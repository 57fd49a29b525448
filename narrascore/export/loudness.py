"""Streaming loudness measurement: ITU-R BS.1770-4 / EBU R 128 integrated loudness, EBU Tech 3342
loudness range, and BS.1770-4 Annex 2 true peak.

Memory stays flat in the length of the audio: chunks are K-weighted with filter state carried from one
chunk to the next, and only one number per 100 ms (the weighted mean square of that slice) is kept; the
400 ms momentary blocks (75 % overlap) and 3 s short-term windows are sums of consecutive slices.
A two-hour stereo track therefore keeps 72,000 floats, not 1.4 GB of samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0  # integrated loudness (BS.1770-4)
LRA_RELATIVE_GATE_LU = -20.0  # loudness range (EBU Tech 3342)
SILENCE_LUFS = -60.0  # a 400 ms block quieter than this counts as silent
CLIP_LEVEL = 1.0 - 2.0**-23  # 24-bit full scale

# BS.1770-4 Annex 2: 48-tap, 4-phase interpolation filter for 4x oversampling (12 taps per phase).
_TRUE_PEAK_PHASES = np.array(
    [
        [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
         0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
        [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
         0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
        [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000, -0.2003173828125, 0.7797851562500,
         0.4650878906250, -0.1665039062500, 0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
        [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750, -0.1022949218750, 0.9721679687500,
         0.1373291015625, -0.0594482421875, 0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
    ],
    dtype=np.float32,
)
TRUE_PEAK_TAPS = _TRUE_PEAK_PHASES.shape[1]
# Output k of the oversampler interpolates around input samples k-6..k-5 (its group delay in input samples).
TRUE_PEAK_DELAY = TRUE_PEAK_TAPS // 2
# No oversampled value exceeds its 12 input samples' largest magnitude times the largest phase's sum of
# |taps| (2.02; a little more, for float rounding): where that bound is low, the value need not be computed.
TRUE_PEAK_GAIN_BOUND = float(np.abs(_TRUE_PEAK_PHASES.astype(np.float64)).sum(axis=1).max()) * (1 + 1e-5)


@dataclass(frozen=True)
class LoudnessStats:
    """Loudness of one audio file or stream.

    integrated_lufs: gated integrated loudness (LUFS; -inf for silence; a clip under 400 ms is one block). loudness_range_lu: EBU LRA (LU).
    true_peak_dbtp: 4x-oversampled peak (dBTP). sample_peak_dbfs: largest |sample| (dBFS).
    clipped_samples: samples (per channel, counted separately) at or beyond 24-bit full scale.
    silent_seconds: total length of 400 ms blocks (100 ms steps) quieter than -60 LUFS, in seconds.
    """

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    clipped_samples: int
    silent_seconds: float
    duration: float = 0.0


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The BS.1770 K-weighting filter (head shelf then RLB high-pass) as second-order sections.

    Designed from the analogue prototypes (as libebur128 does), so that at 48 kHz it reproduces the
    coefficients printed in the recommendation and works at other rates too.
    """
    fs = float(sample_rate)
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf_b = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    shelf_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1.0 + k / q + k * k
    hp_b = [1.0, -2.0, 1.0]
    hp_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf_b + shelf_a, hp_b + hp_a], dtype=np.float64)


class TruePeakDetector:
    """4x polyphase oversampler of BS.1770-4 Annex 2, streaming (keeps the last 11 input samples)."""

    def __init__(self, channels: int) -> None:
        self._history = np.zeros((TRUE_PEAK_TAPS - 1, channels), dtype=np.float32)
        # Taps reversed so that tap t multiplies the input t samples after the oldest one in the window.
        self._reversed = [np.float32(1.0) * phase[::-1] for phase in _TRUE_PEAK_PHASES]

    def envelope(self, x: np.ndarray, above: float = 0.0) -> np.ndarray:
        """Per output sample, the largest |oversampled value| over the 4 phases: shape (n, channels).

        Output k covers the interval around input samples k-6..k-5 (``TRUE_PEAK_DELAY``). With ``above``,
        only the outputs that may exceed it are computed (bitwise as without it); the rest read 0:
        near a ceiling or a running peak that is a few per cent of them, a tenth of the work.
        """
        x = np.asarray(x, dtype=np.float32)
        ext = np.concatenate([self._history, x], axis=0)
        self._history = ext[-(TRUE_PEAK_TAPS - 1):].copy()
        n = x.shape[0]
        if above <= 0.0 or n == 0:
            return self._phases([ext[t : t + n] for t in range(TRUE_PEAK_TAPS)])
        from scipy.ndimage import maximum_filter1d

        loudest = np.abs(ext[:, 0])
        for c in range(1, ext.shape[1]):
            np.maximum(loudest, np.abs(ext[:, c]), out=loudest)
        # a centred window of 12 at k + 6 covers k .. k + 11: the inputs of output k
        window_max = maximum_filter1d(loudest, TRUE_PEAK_TAPS, mode="nearest")[TRUE_PEAK_DELAY:TRUE_PEAK_DELAY + n]
        candidates = np.flatnonzero(window_max * TRUE_PEAK_GAIN_BOUND > above)
        out = np.zeros((n, ext.shape[1]), dtype=np.float32)
        if candidates.size > n // 3:  # dense: the whole pass is cheaper than gathering
            return self._phases([ext[t : t + n] for t in range(TRUE_PEAK_TAPS)])
        if candidates.size:
            windows = ext[candidates[:, None] + np.arange(TRUE_PEAK_TAPS)]  # (m, 12, channels)
            out[candidates] = self._phases([windows[:, t] for t in range(TRUE_PEAK_TAPS)])
        return out

    def _phases(self, inputs: list[np.ndarray]) -> np.ndarray:
        """max over the phases of |sum_t taps[t] * inputs[t]|, accumulated in tap order (the same float
        operations whatever the inputs' shape, so a gathered subset gives the same bits)."""
        envelope = None
        for taps in self._reversed:  # one phase at a time: 12 multiply-adds
            y = taps[0] * inputs[0]
            for t in range(1, TRUE_PEAK_TAPS):
                y += taps[t] * inputs[t]
            np.abs(y, out=y)
            envelope = y if envelope is None else np.maximum(envelope, y, out=envelope)
        return envelope


class LoudnessMeter:
    """Feed chunks of shape (n, channels) with ``add``; read the result with ``stats``."""

    def __init__(self, sample_rate: int, channels: int = 2, *, true_peak: bool = True) -> None:
        if sample_rate < 8000:
            raise ValueError(f"sample rate {sample_rate} Hz is too low for BS.1770 loudness")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self._sos = k_weighting_sos(self.sample_rate)
        self._zi = np.zeros((self._sos.shape[0], 2, self.channels))
        self._step = int(round(0.1 * self.sample_rate))  # 100 ms slice
        self._weights = np.array([1.41 if c in (3, 4) else 1.0 for c in range(self.channels)])
        self._pending = np.zeros(0)  # weighted squares of the unfinished slice
        self._slices: list[np.ndarray] = []  # per-slice weighted sum of squares
        self._tp = TruePeakDetector(self.channels) if true_peak else None
        self._true_peak = 0.0
        self._sample_peak = 0.0
        self._clipped = 0
        self.n_samples = 0

    def add(self, chunk: np.ndarray) -> None:
        x = np.asarray(chunk, dtype=np.float32)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape[1] != self.channels:
            raise ValueError(f"chunk has {x.shape[1]} channels, the meter expects {self.channels}")
        if x.shape[0] == 0:
            return
        self.n_samples += x.shape[0]
        ax = np.abs(x)
        self._sample_peak = max(self._sample_peak, float(ax.max()))
        self._clipped += int(np.count_nonzero(ax >= CLIP_LEVEL))
        if self._tp is not None:  # the reported peak is max(true, sample): values below both cannot change it
            above = max(self._true_peak, self._sample_peak)
            self._true_peak = max(self._true_peak, float(self._tp.envelope(x, above=above).max()))
        from scipy.signal import sosfilt  # imported on first use: scipy.signal takes 0.4 s to import

        y, self._zi = sosfilt(self._sos, x, axis=0, zi=self._zi)
        power = _weighted_squares(y, self._weights)  # (n,) float64
        power = np.concatenate([self._pending, power]) if self._pending.size else power
        whole = power.shape[0] // self._step
        if whole:
            self._slices.append(power[: whole * self._step].reshape(whole, self._step).sum(axis=1))
        self._pending = power[whole * self._step:]

    def _whole_clip(self, slices: np.ndarray) -> np.ndarray:
        """A clip shorter than one 400 ms block (BS.1770 defines no loudness for it) is its own block,
        so that a one-frame video still gets a number and its music a gain."""
        if self.n_samples == 0:
            return np.zeros(0)
        mean_square = (float(slices.sum()) + float(self._pending.sum())) / self.n_samples
        with np.errstate(divide="ignore"):
            return np.array([-0.691 + 10.0 * np.log10(max(mean_square, 0.0))])

    def _window_loudness(self, slices: np.ndarray, n: int) -> np.ndarray:
        """Loudness (LUFS) of every window of ``n`` consecutive 100 ms slices (steps of 100 ms)."""
        if slices.shape[0] < n:
            return np.zeros(0)
        cumsum = np.concatenate([[0.0], np.cumsum(slices)])
        mean_square = (cumsum[n:] - cumsum[:-n]) / (n * self._step)
        with np.errstate(divide="ignore"):
            return -0.691 + 10.0 * np.log10(np.maximum(mean_square, 0.0))

    def stats(self) -> LoudnessStats:
        slices = np.concatenate(self._slices) if self._slices else np.zeros(0)
        blocks = self._window_loudness(slices, 4)  # 400 ms, 75 % overlap
        gating = blocks if blocks.size else self._whole_clip(slices)
        with np.errstate(divide="ignore"):
            tp = 20.0 * math.log10(self._true_peak) if self._true_peak > 0 else -math.inf
            sp = 20.0 * math.log10(self._sample_peak) if self._sample_peak > 0 else -math.inf
        return LoudnessStats(
            integrated_lufs=_gated_mean(gating, RELATIVE_GATE_LU),
            loudness_range_lu=_loudness_range(self._window_loudness(slices, 30)),
            true_peak_dbtp=max(tp, sp) if self._tp is not None else sp,
            sample_peak_dbfs=sp,
            clipped_samples=self._clipped,
            silent_seconds=round(float(np.count_nonzero(blocks < SILENCE_LUFS)) * 0.1, 3),
            duration=self.n_samples / self.sample_rate,
        )


def _weighted_squares(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_c weights[c] * y[:, c]**2, elementwise (a matrix product would start BLAS threads that spin
    on the cores the other stages need, and its rounding may vary with the CPU)."""
    power = weights[0] * (y[:, 0] * y[:, 0])
    for c in range(1, y.shape[1]):
        power += weights[c] * (y[:, c] * y[:, c])
    return power


def _power_mean_lufs(loudness: np.ndarray) -> float:
    return float(10.0 * np.log10(np.mean(10.0 ** (loudness / 10.0))))


def _gated_mean(blocks: np.ndarray, relative_gate: float) -> float:
    """BS.1770-4 gating: absolute -70 LUFS, then ``relative_gate`` LU below the abs-gated mean."""
    loud = blocks[blocks > ABSOLUTE_GATE_LUFS]
    if loud.size == 0:
        return -math.inf
    threshold = _power_mean_lufs(loud) + relative_gate
    gated = loud[loud > threshold]
    return _power_mean_lufs(gated) if gated.size else -math.inf


def _loudness_range(short_term: np.ndarray) -> float:
    """EBU Tech 3342: 95th minus 10th percentile of gated short-term (3 s) loudness, in LU."""
    loud = short_term[short_term > ABSOLUTE_GATE_LUFS]
    if loud.size == 0:
        return 0.0
    gated = loud[loud > _power_mean_lufs(loud) + LRA_RELATIVE_GATE_LU]
    if gated.size == 0:
        return 0.0
    low, high = np.percentile(gated, [10.0, 95.0])
    return float(high - low)


def measure_chunks(chunks: Iterable[np.ndarray], sample_rate: int, *, true_peak: bool = True) -> LoudnessStats:
    """Measure audio given as chunks of shape (n, channels) float32 in [-1, 1] (any chunk sizes)."""
    meter: LoudnessMeter | None = None
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 1:
            chunk = chunk[:, None]
        if meter is None:
            meter = LoudnessMeter(sample_rate, chunk.shape[1], true_peak=true_peak)
        meter.add(chunk)
    if meter is None:
        meter = LoudnessMeter(sample_rate, 2, true_peak=true_peak)
    return meter.stats()


def iter_wav(path: str | Path, *, chunk_seconds: float = 10.0) -> tuple[int, int, Iterable[np.ndarray]]:
    """Open a sound file and return (sample_rate, channels, iterator of float32 (n, channels) chunks)."""
    import soundfile as sf

    path = Path(path)
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise MediaError(f"{path}: cannot read audio ({exc})") from None

    def chunks() -> Iterable[np.ndarray]:
        block = max(1, int(chunk_seconds * info.samplerate))
        with sf.SoundFile(str(path)) as handle:
            for data in handle.blocks(blocksize=block, dtype="float32", always_2d=True):
                yield data

    return info.samplerate, info.channels, chunks()


def measure_file(path: str | Path, *, chunk_seconds: float = 10.0) -> LoudnessStats:
    """Measure a WAV/FLAC file chunk by chunk (memory flat in its length)."""
    sample_rate, _channels, chunks = iter_wav(path, chunk_seconds=chunk_seconds)
    return measure_chunks(chunks, sample_rate)
