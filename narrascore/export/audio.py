"""The delivered soundtrack: loudness-normalised, true-peak-limited 24-bit WAV (and stems), and the
streaming mix of the music under a video's original audio with automatic ducking under speech.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from typing import Protocol
from pathlib import Path

import numpy as np

from ..errors import MediaError, OptionError, OutputError
from ..fileio import atomic_path, ensure_writable_dir
from .loudness import TRUE_PEAK_DELAY, TRUE_PEAK_TAPS, LoudnessMeter, LoudnessStats, TruePeakDetector, iter_wav, measure_chunks

log = logging.getLogger(__name__)

CHUNK_SECONDS = 10.0
MAX_PASSES = 5  # measuring passes in search of the gain that meets the loudness target
TOLERANCE_LU = 0.1  # the target is hit when within this (promise to callers: 0.5 LU)
PCM24_SCALE = 2.0 ** 23
SOUNDTRACK_VERSION = 2  # 2: the 24-bit samples rounded by ``quantise`` (1: by the WAV writer); in the cache key


def write_soundtrack(
    raw: Path,
    out: Path,
    *,
    target_lufs: float = -16.0,
    true_peak_dbtp: float = -1.0,
    sample_rate: int = 48_000,
    stems: dict[str, Path] | None = None,
    stems_dir: Path | None = None,
    raw_lufs: float | None = None,
    tap: SoundtrackTap | None = None,
) -> LoudnessStats:
    """Normalise the raw mix ``raw`` to ``target_lufs`` (LUFS) under ``true_peak_dbtp`` (dBTP) and write ``out``.

    One gain is applied to the whole mix, then a true-peak look-ahead limiter (5 ms attack, 100 ms release)
    keeps the ceiling. Limiting lowers the loudness a little: when the first write misses the target by more
    than 0.1 LU, the gain is searched with measuring-only passes and the file written once more.
    ``out``: 48 kHz stereo PCM 24-bit WAV with exactly as many samples as ``raw``, written atomically.
    ``stems`` (name -> raw float WAV) get the same gain, without limiting, so they still sum to the gained mix;
    they are written as 32-bit float WAV (the gain may take a stem past 0 dBFS) to ``stems_dir/<name>.wav``.
    ``raw_lufs``: the raw mix's integrated loudness when the caller already measured it (saves a pass).
    ``tap`` gets each block as it is written (``tap.write``, the 24-bit samples as int32, see
    ``quantise``), and ``tap.restart()`` before a second write (the rare gain search).
    Returns the loudness of the written file.
    """
    raw, out = Path(raw), Path(out)
    if not -70.0 < target_lufs < 0.0:
        raise OptionError(f"target loudness {target_lufs} LUFS is outside -70..0")
    if true_peak_dbtp > 0.0:
        raise OptionError(f"true-peak ceiling {true_peak_dbtp} dBTP must not exceed 0")
    rate, channels, chunks = iter_wav(raw, chunk_seconds=CHUNK_SECONDS)
    _check_format(raw, rate, channels, sample_rate)
    raw_loudness = raw_lufs if raw_lufs is not None else measure_chunks(chunks, rate, true_peak=False).integrated_lufs
    if not math.isfinite(raw_loudness):
        log.warning("%s is silent: written without gain", raw)
        gain_db = 0.0
    else:
        gain_db = target_lufs - raw_loudness

    ensure_writable_dir(out.parent)
    # Write with the plain estimate first: where the limiter barely lowers the loudness (the usual case
    # for music) that pass is final. Otherwise search the gain with measuring-only passes (no file, no
    # true-peak meter) and write once more.
    stats = _write_limited(raw, out, gain_db, true_peak_dbtp, rate, tap)
    if math.isfinite(stats.integrated_lufs) and abs(target_lufs - stats.integrated_lufs) > TOLERANCE_LU:
        tried: list[tuple[float, float]] = [(gain_db, stats.integrated_lufs)]  # (gain dB, loudness after limiting)
        log.debug("soundtrack written at %.2f LUFS, target %.1f: searching the gain", stats.integrated_lufs, target_lufs)
        for attempt in range(MAX_PASSES):
            gain_db = _next_gain(tried, target_lufs)
            loudness = _limited_loudness(raw, gain_db, true_peak_dbtp, rate)
            if not math.isfinite(loudness):
                break
            tried.append((gain_db, loudness))
            if abs(target_lufs - loudness) <= TOLERANCE_LU:
                break
            log.debug("soundtrack pass %d: %.2f LUFS, target %.1f", attempt + 1, loudness, target_lufs)
        else:  # never within tolerance: keep the closest
            gain_db = min(tried, key=lambda p: abs(target_lufs - p[1]))[0]
        if gain_db != tried[0][0]:
            if tap is not None:
                tap.restart()
            stats = _write_limited(raw, out, gain_db, true_peak_dbtp, rate, tap)
    if math.isfinite(stats.integrated_lufs) and abs(target_lufs - stats.integrated_lufs) > 0.5:
        log.warning("%s: loudness %.2f LUFS misses the target %.1f LUFS (the limiter cannot reach it)",
                    out, stats.integrated_lufs, target_lufs)
    if stems:
        write_stems(stems, stems_dir if stems_dir is not None else out.parent / "stems", gain_db=gain_db,
                    sample_rate=sample_rate)
    return stats


def _check_format(path: Path, rate: int, channels: int, sample_rate: int) -> None:
    if rate != sample_rate:
        raise MediaError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    if channels != 2:
        raise MediaError(f"{path}: {channels} channel(s), expected stereo")


def _next_gain(tried: list[tuple[float, float]], target: float) -> float:
    """Secant step on loudness(gain); a unit-slope step while only one point is known."""
    gain, loud = tried[-1]
    if len(tried) >= 2:
        g0, l0 = tried[-2]
        slope = (loud - l0) / (gain - g0) if gain != g0 else 1.0
        if 0.05 < slope <= 1.5:
            return gain + (target - loud) / slope
    return gain + (target - loud)


def _limited(raw: Path, gain_db: float, ceiling_dbtp: float, rate: int) -> Iterator[np.ndarray]:
    _rate, channels, chunks = iter_wav(raw, chunk_seconds=CHUNK_SECONDS)
    gain = np.float32(10.0 ** (gain_db / 20.0))
    return limit_stream((c * gain for c in chunks), rate, channels, ceiling_dbtp=ceiling_dbtp)


def _limited_loudness(raw: Path, gain_db: float, ceiling_dbtp: float, rate: int) -> float:
    """Integrated loudness (LUFS) that ``gain_db`` then limiting would give, without writing anything."""
    return measure_chunks(_limited(raw, gain_db, ceiling_dbtp, rate), rate, true_peak=False).integrated_lufs


class SoundtrackTap(Protocol):
    def write(self, samples: np.ndarray) -> None:
        """One block of the soundtrack as written: (n, 2) int32, the 24-bit samples shifted up 8 bits."""
        ...

    def restart(self) -> None:
        """The blocks so far are void: the soundtrack is written once more, from the start."""
        ...


def quantise(block: np.ndarray) -> np.ndarray:
    """The 24-bit PCM samples of a float block, as int32 shifted up 8 bits (what a 24-bit WAV reader returns).

    Rounded here rather than by the WAV writer, so that a reader of the file gets exactly
    ``samples / 2**31``: what the mux is handed while the file is written is what it would read back.
    """
    scaled = np.rint(block.astype(np.float64) * PCM24_SCALE)
    return np.left_shift(np.clip(scaled, -PCM24_SCALE, PCM24_SCALE - 1).astype(np.int32), 8)


def dequantise(samples: np.ndarray) -> np.ndarray:
    """The float32 samples a reader of the 24-bit WAV gets for ``quantise``'s output (exact: a power-of-two scale)."""
    return samples.astype(np.float32) * np.float32(2.0 ** -31)


def _write_limited(raw: Path, out: Path, gain_db: float, ceiling_dbtp: float, rate: int,
                   tap: SoundtrackTap | None = None) -> LoudnessStats:
    """One pass: gain, limit, measure and write ``out`` (PCM 24-bit) atomically."""
    import soundfile as sf

    meter = LoudnessMeter(rate, 2)
    limited = _limited(raw, gain_db, ceiling_dbtp, rate)
    try:
        with atomic_path(out) as tmp:
            with sf.SoundFile(str(tmp), "w", samplerate=rate, channels=2, subtype="PCM_24", format="WAV") as f:
                for block in limited:
                    meter.add(block)
                    samples = quantise(block)
                    f.write(samples)
                    if tap is not None:
                        tap.write(samples)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the soundtrack ({exc.strerror or exc})") from None
    return meter.stats()


def write_stems(stems: dict[str, Path], stems_dir: Path, *, gain_db: float, sample_rate: int = 48_000) -> dict[str, Path]:
    """Write each stem times ``gain_db`` (dB) as float WAV ``stems_dir/<name>.wav``, atomically, in chunks."""
    import soundfile as sf

    gain = np.float32(10.0 ** (gain_db / 20.0))
    written: dict[str, Path] = {}
    for name, path in stems.items():
        rate, channels, chunks = iter_wav(path, chunk_seconds=CHUNK_SECONDS)
        _check_format(Path(path), rate, channels, sample_rate)
        target = Path(stems_dir) / f"{name}.wav"
        try:
            with atomic_path(target) as tmp:
                with sf.SoundFile(str(tmp), "w", samplerate=rate, channels=channels, subtype="FLOAT", format="WAV") as f:
                    for chunk in chunks:
                        f.write(chunk * gain)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write the stem ({exc.strerror or exc})") from None
        written[name] = target
    return written


# --------------------------------------------------------------------------- true-peak limiter
# A streaming true-peak look-ahead limiter.
#
# Gain reduction is computed in dB per sample from the 4x-oversampled (true-peak) envelope, linked across
# channels so the stereo image does not wander:
#
# 1. required[n]: dB the sample must come down so its true peak sits at the ceiling (0 where it already does);
# 2. hold: the largest requirement over the next ``attack`` samples (plus the oversampler's reach),
# 3. release: the reduction decays exponentially (time constant ``release``) but never below the hold,
# 4. attack: a causal moving average over ``attack`` samples of the released curve.
#
# Every value that enters the average at sample n covers sample n, so the smoothed reduction is never
# less than what n requires: the ceiling holds, and the gain moves in ramps of at least ``attack``.
# The output lags the input by ``delay`` samples; ``process`` keeps the look-ahead internally and
# ``flush`` returns the tail, so the caller gets back exactly as many samples as it put in.


class TruePeakLimiter:
    """Streaming limiter; ``ceiling_dbtp`` in dBTP, ``attack``/``release`` in seconds."""

    def __init__(
        self,
        sample_rate: int,
        channels: int = 2,
        *,
        ceiling_dbtp: float = -1.0,
        attack: float = 0.005,
        release: float = 0.1,
        margin_db: float = 0.05,
    ) -> None:
        self.channels = channels
        self._ceiling = 10.0 ** ((ceiling_dbtp - margin_db) / 20.0)
        self._attack = max(1, int(round(attack * sample_rate)))
        # The oversampler reports the peak near input sample n at its outputs n+5..n+6; widen both ways.
        self._back = TRUE_PEAK_DELAY + 2
        self._ahead = self._attack + 2
        self.delay = self._ahead + TRUE_PEAK_TAPS  # output lags input by this many samples
        self._log_decay = -1.0 / (release * sample_rate)  # ln of the per-sample release factor
        self._tp = TruePeakDetector(channels)
        self._x = np.zeros((self.delay, channels), dtype=np.float32)  # input not yet output
        self._req = np.zeros(self.delay + self._back, dtype=np.float64)  # required reduction (dB), with look-back
        self._released_last = 0.0
        self._hold_tail = np.zeros(self._attack - 1, dtype=np.float64)  # released curve, for the average
        self.max_reduction_db = 0.0

    def _required_db(self, x: np.ndarray) -> np.ndarray:
        # below the ceiling the reduction is 0 whatever the exact value: only the rest is computed
        env = np.maximum(self._tp.envelope(x, above=self._ceiling), np.abs(x))  # (n, channels)
        env = _channel_max(env)
        with np.errstate(divide="ignore"):
            req = 20.0 * np.log10(np.maximum(env, 1e-12) / self._ceiling)
        return np.maximum(req, 0.0)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Limit ``chunk`` (n, channels) float32; returns n samples, ``delay`` samples behind the input."""
        x = np.asarray(chunk, dtype=np.float32)
        n = x.shape[0]
        if n == 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        xb = np.concatenate([self._x, x])  # (delay + n): the first n go out now
        rb = np.concatenate([self._req, self._required_db(x)])  # (back + delay + n)
        # hold[i] = max of rb over [i - back + ..., i + ahead + TRUE_PEAK_DELAY] in output coordinates:
        # output sample j (xb[j]) is rb[j + back]; the oversampler reports it up to TRUE_PEAK_DELAY + 1 later.
        width = self._back + self._ahead + TRUE_PEAK_DELAY + 1
        from scipy.ndimage import maximum_filter1d

        hold = maximum_filter1d(rb, size=width, origin=-(width // 2), mode="nearest")[:n]
        # hold[j] = max(rb[j : j + width]) = requirements of output samples j - back .. j + ahead (+ tp reach).
        released = self._release(hold)
        padded = np.concatenate([self._hold_tail, released])
        cumsum = np.concatenate([[0.0], np.cumsum(padded)])
        smooth = (cumsum[self._attack:] - cumsum[: -self._attack]) / self._attack  # (n,)
        self._hold_tail = padded[len(padded) - (self._attack - 1):] if self._attack > 1 else self._hold_tail
        gain = (10.0 ** (-smooth / 20.0)).astype(np.float32)
        if smooth.size:
            self.max_reduction_db = max(self.max_reduction_db, float(smooth.max()))
        out = xb[:n] * gain[:, None]
        self._x = xb[n:]
        self._req = rb[n:]
        return out

    def _release(self, hold: np.ndarray) -> np.ndarray:
        """r[i] = max(hold[i], r[i-1] * decay), vectorised in the log domain as a running maximum."""
        if not np.any(hold > 0) and self._released_last < 1e-6:
            self._released_last = 0.0
            return np.zeros_like(hold)
        idx = np.arange(1, hold.shape[0] + 1, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_hold = np.log(hold) - idx * self._log_decay
            start = math.log(self._released_last) if self._released_last > 0 else -math.inf
        running = np.maximum.accumulate(np.maximum(log_hold, start))
        released = np.exp(running + idx * self._log_decay)
        self._released_last = float(released[-1])
        return released

    def flush(self) -> np.ndarray:
        """The last ``delay`` samples (feeding silence through the look-ahead)."""
        return self.process(np.zeros((self.delay, self.channels), dtype=np.float32))


def _channel_max(a: np.ndarray) -> np.ndarray:
    """Largest value across channels, (n, c) -> (n,): pairwise, far faster than ``max(axis=1)`` for c = 2."""
    out = a[:, 0].copy()
    for c in range(1, a.shape[1]):
        np.maximum(out, a[:, c], out=out)
    return out


def limit_stream(chunks: Iterable[np.ndarray], sample_rate: int, channels: int, **options: float) -> Iterator[np.ndarray]:
    """Limit an iterator of (n, channels) chunks; yields chunks summing to the same length, aligned."""
    limiter = TruePeakLimiter(sample_rate, channels, **options)
    to_skip = limiter.delay
    for chunk in chunks:
        out = limiter.process(chunk)
        if to_skip:
            dropped = min(to_skip, out.shape[0])
            out = out[dropped:]
            to_skip -= dropped
        if out.shape[0]:
            yield out
    tail = limiter.flush()[to_skip:]
    if tail.shape[0]:
        yield tail


# --------------------------------------------------------------------------- mixing under the original
def rechunk(chunks: Iterable[np.ndarray], size: int, channels: int = 2) -> Iterator[np.ndarray]:
    """Regroup (n, channels) chunks of any sizes into chunks of exactly ``size`` samples (the last may be shorter)."""
    buffer: list[np.ndarray] = []
    held = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 1:
            chunk = chunk[:, None]
        if chunk.shape[1] != channels:  # mono -> stereo, or more channels -> first two
            chunk = np.repeat(chunk, channels, axis=1) if chunk.shape[1] == 1 else chunk[:, :channels]
        buffer.append(chunk)
        held += chunk.shape[0]
        if held < size:
            continue
        joined = np.concatenate(buffer) if len(buffer) > 1 else buffer[0]
        whole = held - held % size
        for at in range(0, whole, size):
            yield joined[at : at + size]
        buffer, held = [joined[whole:]], held - whole
    if held:
        yield np.concatenate(buffer)


def duck_curve_db(speech: np.ndarray, hop: float, *, duck_db: float = -8.0, ramp: float = 0.2,
                  threshold: tuple[float, float] = (0.35, 0.65), resolution: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Music gain (dB, <= 0) on a fine grid from a per-hop speech likelihood.

    ``speech[i]`` in [0, 1] describes the hop centred at ``(i + 0.5) * hop`` seconds; the ducking depth grows
    from 0 at ``threshold[0]`` to ``duck_db`` at ``threshold[1]``, and every change is spread into a ramp of
    ``ramp`` seconds (a moving average), centred on the change. Returns (times s, gain dB).
    """
    speech = np.clip(np.asarray(speech, dtype=np.float64), 0.0, 1.0)
    lo, hi = threshold
    depth = np.clip((speech - lo) / (hi - lo), 0.0, 1.0) * duck_db  # per hop
    n = int(math.ceil(len(speech) * hop / resolution)) + 1
    times = np.arange(n) * resolution
    index = np.minimum((times / hop).astype(np.int64), len(speech) - 1)
    steps = depth[index] if len(speech) else np.zeros(n)
    width = max(1, int(round(ramp / resolution)))
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width, steps[0] if n else 0.0), steps, np.full(width, steps[-1] if n else 0.0)])
    smooth = np.convolve(padded, kernel, mode="same")[width:-width]
    return times, smooth


def mix_under_original(
    music_chunks: Iterable[np.ndarray],
    original_chunks: Iterable[np.ndarray] | None,
    *,
    original_db_below: float,
    speech: np.ndarray | None = None,
    hop: float = 0.5,
    music_lufs: float | None = None,
    original_lufs: float | None = None,
    duck_db: float = -8.0,
    ramp: float = 0.2,
    true_peak_dbtp: float = -1.0,
    sample_rate: int = 48_000,
) -> Iterator[np.ndarray]:
    """Mix music (n, 2) chunks over the original audio, streaming; yields exactly as many samples as the music.

    The original sits ``original_db_below`` dB under the music: measured loudness to loudness when both
    ``music_lufs`` and ``original_lufs`` are given (LUFS), otherwise as a plain gain of -``original_db_below`` dB.
    The original is cut or padded with silence to the music's length. Where ``speech`` (likelihood per hop of
    ``hop`` seconds, as in ``AudioStats``) says the original carries dialogue, the music drops by ``duck_db``
    with ``ramp``-second ramps. The sum goes through the true-peak limiter (ceiling ``true_peak_dbtp``).
    """
    if original_db_below < 0:
        raise OptionError(f"original_db_below must be >= 0 dB, got {original_db_below}")
    if music_lufs is not None and original_lufs is not None and math.isfinite(original_lufs) and math.isfinite(music_lufs):
        original_gain_db = music_lufs - original_db_below - original_lufs
    else:
        original_gain_db = -original_db_below
    original_gain = np.float32(10.0 ** (original_gain_db / 20.0))
    curve = duck_curve_db(speech, hop, duck_db=duck_db, ramp=ramp) if speech is not None and len(speech) else None
    original = rechunk(original_chunks, 1 << 16) if original_chunks is not None else iter(())

    def mixed() -> Iterator[np.ndarray]:
        pending = np.zeros((0, 2), dtype=np.float32)
        position = 0  # samples of music already mixed
        for music in music_chunks:
            music = np.asarray(music, dtype=np.float32)
            n = music.shape[0]
            while pending.shape[0] < n:
                more = next(original, None)
                if more is None:
                    pending = np.concatenate([pending, np.zeros((n - pending.shape[0], 2), np.float32)])
                    break
                pending = np.concatenate([pending, more])
            orig, pending = pending[:n], pending[n:]
            if curve is not None:
                t = (position + np.arange(n)) / sample_rate
                duck = (10.0 ** (np.interp(t, curve[0], curve[1]) / 20.0)).astype(np.float32)
                music = music * duck[:, None]
            position += n
            yield music + orig * original_gain

    return limit_stream(mixed(), sample_rate, 2, ceiling_dbtp=true_peak_dbtp)
