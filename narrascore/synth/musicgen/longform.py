"""Long-form arithmetic: windows on the token grid, joins on scene cuts, equal-gain crossfades, resampling.

Pure numpy/scipy (no torch), so every rule here has its own small test.

Time grid: a window covers whole codec frames ``[start, end)``; frame ``f`` of the video starts at
``f / frame_rate`` seconds and spans ``hop`` audio samples. Window ``w + 1`` starts ``overlap`` frames
before window ``w`` ends: those frames are its prompt (the previous window's audio, re-encoded), and
the two decodes of that stretch are crossfaded with equal gain (the audio is correlated, so linear
gains that sum to 1 keep its level; equal-power gains would bump it by up to 3 dB).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import OptionError

SNAP_FRACTION = 0.25  # a window may end up to this fraction of its length early to end on a cut


@dataclass(frozen=True)
class Window:
    """Frames ``[start, end)`` of the video's token grid; the first ``prompt`` frames continue the previous window."""

    index: int
    start: int
    end: int
    prompt: int

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def new_frames(self) -> int:
        return self.frames - self.prompt


def plan_windows(total_frames: int, *, window: int, overlap: int, cuts: Sequence[int] = (),
                 preferred: Sequence[int] = ()) -> list[Window]:
    """Cover frames ``[0, total_frames)`` with windows of at most ``window`` frames overlapping by ``overlap``.

    A window that does not reach the end ends on a cut (a frame index) when one lies within the last
    ``SNAP_FRACTION`` of it, taking a ``preferred`` cut (scene boundary) over any other (shot cut), and
    the nearest to the nominal end among equals. Each window stays at least ``2 * overlap + 1`` frames long,
    so its head (blended with the previous window) and its tail (blended with the next) never meet.
    """
    if total_frames <= 0:
        raise OptionError(f"nothing to generate: {total_frames} frames")
    if overlap < 0 or window <= 2 * overlap:
        raise OptionError(f"a window of {window} frames cannot overlap its neighbour by {overlap} frames "
                          "(the overlap must be under half the window)")
    slack = min(int(SNAP_FRACTION * window), window - 2 * overlap - 1)
    windows: list[Window] = []
    start = 0
    while True:
        end = min(start + window, total_frames)
        if end < total_frames and slack > 0:
            end = _snap(end, end - slack, preferred) or _snap(end, end - slack, cuts) or end
        windows.append(Window(index=len(windows), start=start, end=end, prompt=overlap if windows else 0))
        if end >= total_frames:
            return windows
        start = end - overlap


def _snap(nominal: int, earliest: int, cuts: Sequence[int]) -> int | None:
    near = [c for c in cuts if earliest <= c <= nominal]
    return min(near, key=lambda c: (nominal - c, c)) if near else None


def seconds_to_frames(seconds: float, frame_rate: float) -> int:
    """Whole frames in ``seconds`` (rounded to the nearest frame)."""
    return int(round(seconds * frame_rate))


def crossfade_in(n: int) -> np.ndarray:
    """Fade-in gains over ``n`` samples, float64 in (0, 1); the fade-out is ``1 - crossfade_in(n)`` (equal gain)."""
    return (np.arange(n, dtype=np.float64) + 0.5) / n


def join(previous_tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Equal-gain crossfade of two decodes of the same stretch, float32 (..., n)."""
    assert previous_tail.shape == head.shape, (previous_tail.shape, head.shape)
    fade = crossfade_in(head.shape[-1])
    return ((1.0 - fade) * previous_tail + fade * head).astype(np.float32)


def stitch(windows: Sequence[Window], load, hop: int) -> Iterator[np.ndarray]:
    """Yield the crossfaded track, float32 (channels, n) blocks, holding at most two windows' audio.

    ``load(window)`` returns that window's audio, float32 (channels, window.frames * hop).
    """
    tail: np.ndarray | None = None
    for i, w in enumerate(windows):
        audio = load(w)
        if audio.shape[-1] != w.frames * hop:
            raise ValueError(f"window {w.index}: {audio.shape[-1]} samples, expected {w.frames * hop}")
        if tail is not None:
            n = tail.shape[-1]
            audio = np.concatenate([join(tail, audio[..., :n]), audio[..., n:]], axis=-1)
        keep = windows[i + 1].prompt * hop if i + 1 < len(windows) else 0
        yield audio[..., :audio.shape[-1] - keep]
        tail = audio[..., audio.shape[-1] - keep:] if keep else None


class StreamResampler:
    """Polyphase resampling (scipy's ``resample_poly``) of a stream fed in pieces of any size.

    The output equals ``resample_poly`` of the whole signal (to float rounding): each block is resampled
    with ``margin`` input samples of context on both sides, which covers the filter, and cut at input
    indices that are multiples of ``down`` so the output grid lines up. Works on (channels, n) arrays.
    """

    def __init__(self, rate_in: int, rate_out: int, *, block: int = 1 << 15, margin: int = 256) -> None:
        g = math.gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self.block = _round_up(block, self.down)
        self.margin = _round_up(max(margin, 12 * max(self.up, self.down) // self.up + 16), self.down)
        self._buf: np.ndarray | None = None  # input from absolute index self._buf_start
        self._buf_start = 0
        self._next = 0  # next input index whose output is not yet emitted (a multiple of down)

    def feed(self, x: np.ndarray) -> Iterator[np.ndarray]:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        self._buf = x if self._buf is None else np.concatenate([self._buf, x], axis=-1)
        while self._buf_start + self._buf.shape[-1] >= self._next + self.block + self.margin:
            yield self._emit(self._next + self.block)

    def flush(self) -> Iterator[np.ndarray]:
        if self._buf is not None and self._buf_start + self._buf.shape[-1] > self._next:
            yield self._emit(self._buf_start + self._buf.shape[-1], final=True)

    def _emit(self, stop: int, final: bool = False) -> np.ndarray:
        from scipy.signal import resample_poly

        assert self._buf is not None
        lo = max(0, self._next - self.margin)
        hi = self._buf_start + self._buf.shape[-1] if final else stop + self.margin
        segment = self._buf[..., lo - self._buf_start:hi - self._buf_start]
        y = resample_poly(segment, self.up, self.down, axis=-1)
        first = (self._next - lo) * self.up // self.down
        count = -(-(stop - self._next) * self.up // self.down) if final else (stop - self._next) * self.up // self.down
        out = y[..., first:first + count]
        self._next = stop
        drop = max(0, self._next - self.margin) - self._buf_start
        if drop > 0:
            self._buf = self._buf[..., drop:]
            self._buf_start += drop
        return out.astype(np.float32)


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k
