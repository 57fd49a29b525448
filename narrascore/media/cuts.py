"""Shot-cut detection: hard cuts located to the frame, and cross-dissolves/fades.

The detector sees each decoded frame once, as low-resolution Y/U/V planes (see ``scan``), and keeps
a few numbers per frame plus a one-second ring of tiny signatures, so memory stays flat.

Hard cuts: a content-difference score between consecutive decoded frames (distance between the
cumulative Y/U/V histograms, which ignores motion, plus the change of a coarse grid of block
means, which sees a new layout in the same colours), compared with an absolute floor and with the
median score of the surrounding second (adaptive, like PySceneDetect's AdaptiveDetector).

A flash (a change that is undone within ``min_shot``: lightning, a muzzle flash, a camera flash) is
not a cut: the picture after it matches the one before it.

Fades and dissolves: over a sliding window of ``fade_window`` seconds, a dissolve makes the grid of
block means change a lot between the window's ends while the middle frame stays the average of the
two ends (pixel values blend linearly); camera motion and action do not keep that linearity.

When decoding skipped frames (``skip_frame = NONREF``), a hard cut between two decoded frames that
are not neighbours is refined afterwards by decoding just that gap in full (``refine_cuts``).
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass

import numpy as np

from ..artifacts import Cut

DETECTOR_NAME = "content-adaptive"
GRID = (6, 8)  # rows, columns of block means
BINS = (32, 16, 16)  # histogram bins for Y, U, V
SPAN = 3  # decoded frames either side when judging whether a change is sudden
FLASH_MARGIN = 0.05  # s beyond ``min_shot`` at which a flash must have returned to the picture before it
FLASH_RETURN = 0.35  # a flash returns to within this share of its own change score


@dataclass(frozen=True)
class CutOptions:
    """Thresholds of the detector (scores are in [0, ~1])."""

    threshold: float = 0.10  # absolute floor of the hard-cut score
    adaptive_ratio: float = 3.0  # score must exceed this multiple of the local median
    min_shot: float = 0.3  # seconds; shorter shots (flashes) are merged
    fade_window: float = 1.0  # seconds
    fade_min_change: float = 0.07  # grid change between the window's ends
    fade_linearity: float = 0.25  # max residual of the middle frame, relative to the change


@dataclass(frozen=True)
class Signature:
    """A frame reduced to what cut detection compares: cumulative histograms and block means."""

    cdf: np.ndarray  # concatenated cumulative histograms of Y, U, V, each in [0, 1]
    grid: np.ndarray  # (3 * rows * cols,) block means of Y, U, V


def signature(planes: np.ndarray) -> Signature:
    """``planes``: uint8 (3, h, w) stack of small Y, U, V planes (raw code values)."""
    _, h, w = planes.shape
    codes = np.empty((3, h * w), np.int32)  # one bincount: Y in bins 0..31, U in 32..47, V in 48..63
    np.right_shift(planes[0].ravel(), 3, out=codes[0], casting="unsafe")
    np.right_shift(planes[1:].reshape(2, -1), 4, out=codes[1:], casting="unsafe")
    codes[1] += BINS[0]
    codes[2] += BINS[0] + BINS[1]
    hist = np.bincount(codes.ravel(), minlength=sum(BINS)).astype(np.float32) / (h * w)
    cdf = np.concatenate([np.cumsum(hist[:32]), np.cumsum(hist[32:48]), np.cumsum(hist[48:])])
    rows, cols = GRID
    bh, bw = max(1, h // rows), max(1, w // cols)
    block = planes[:, : bh * rows, : bw * cols].reshape(3, rows, bh, cols, bw)
    grid = block.sum(axis=(2, 4), dtype=np.float32).ravel() * np.float32(1 / (255 * bh * bw))
    return Signature(cdf=cdf, grid=grid)


def _hist_distance(a: Signature, b: Signature) -> float:
    # earth mover's distance of each channel (mean |CDF difference|); Y counts double
    d = np.abs(a.cdf - b.cdf)
    ny, nu = BINS[0], BINS[1]
    return float(2 * d[:ny].mean() + d[ny : ny + nu].mean() + d[ny + nu :].mean()) / 2


def _grid_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def content_score(a: Signature, b: Signature) -> float:
    """Difference between two frames, about 0 for the same shot and 0.1..1 across a cut."""
    return 2.0 * _hist_distance(a, b) + 2.0 * _grid_distance(a.grid, b.grid)


class CutDetector:
    """Streaming detector: feed every decoded frame with :meth:`add`, then call :meth:`finish`."""

    def __init__(self, options: CutOptions | None = None) -> None:
        self.options = options or CutOptions()
        self.times: list[float] = []
        self.scores: list[float] = []
        self.fade_change: list[float] = []
        self.fade_residual: list[float] = []
        self.fade_mid: list[float] = []
        self.concentration: list[float] = []
        self._ring: collections.deque[tuple[float, Signature]] = collections.deque()
        self._recent: collections.deque[Signature] = collections.deque(maxlen=2 * SPAN + 1)
        self._previous: Signature | None = None
        self.undone: dict[int, float] = {}  # candidate -> least score of a later frame against the frame before it
        self.returning: set[int] = set()  # frames back at the picture of before a recent candidate
        self._pending: list[tuple[int, float, Signature]] = []  # (candidate index, time, frame before it)

    def add(self, t: float, sig: Signature) -> None:
        """Record a decoded frame at time ``t`` (s, increasing)."""
        self.times.append(t)
        self.scores.append(content_score(sig, self._previous) if self._previous is not None else 0.0)
        self._watch_flashes(t, sig)
        self._previous = sig
        self._recent.append(sig)
        self._concentrate()
        ring, window = self._ring, self.options.fade_window
        ring.append((t, sig))
        while len(ring) > 2 and ring[1][0] <= t - window:
            ring.popleft()
        t0, first = ring[0]
        if t - t0 < 0.6 * window or len(ring) < 3:
            self.fade_change.append(0.0)
            self.fade_residual.append(1.0)
            self.fade_mid.append(t)
            return
        tm, mid = min(ring, key=lambda item: abs(item[0] - (t + t0) / 2))
        change = _grid_distance(sig.grid, first.grid)
        expected = first.grid + (sig.grid - first.grid) * ((tm - t0) / (t - t0))
        self.fade_change.append(change)
        self.fade_residual.append(_grid_distance(mid.grid, expected) / max(change, 1e-6))
        self.fade_mid.append(tm)

    def _watch_flashes(self, t: float, sig: Signature) -> None:
        """Compare each frame with the frames before the big changes of the last ``min_shot + FLASH_MARGIN`` s."""
        n = len(self.scores) - 1
        window = self.options.min_shot + FLASH_MARGIN
        self._pending = [p for p in self._pending if t - p[1] <= window]
        for c, _, before in self._pending:
            d = content_score(sig, before)
            self.undone[c] = min(self.undone.get(c, np.inf), d)
            if d < FLASH_RETURN * self.scores[c]:
                self.returning.add(n)
        if self._previous is not None and self.scores[n] >= self.options.threshold:
            self._pending.append((n, t, self._previous))

    def _is_flash(self, times: np.ndarray, scores: np.ndarray, i: int) -> bool:
        """A change undone within ``min_shot`` (the picture after it matches the one before), or the undoing itself."""
        return i in self.returning or self.undone.get(i, np.inf) < FLASH_RETURN * scores[i]

    def _concentrate(self, final: bool = False) -> None:
        """Share of the change over +-SPAN decoded frames that happens in one step: about 1 for a
        hard cut, small for a step inside a dissolve (computed SPAN frames late)."""
        n = len(self.scores)
        last = n - 1 if final else n - 1 - SPAN
        recent = list(self._recent)  # frames n - len(recent) .. n - 1
        first_index = n - len(recent)
        while len(self.concentration) <= last:
            c = len(self.concentration)
            lo, hi = max(first_index, c - SPAN), min(n - 1, c + SPAN)
            total = content_score(recent[lo - first_index], recent[hi - first_index]) if hi > lo else 0.0
            self.concentration.append(self.scores[c] / max(total, 1e-6) if c else 0.0)

    def finish(self) -> list[Cut]:
        """Cuts found so far (hard cuts at the first decoded frame of the new shot, fades at their middle)."""
        self._concentrate(final=True)
        times = np.asarray(self.times)
        scores = np.asarray(self.scores)
        hard = self._hard_cuts(times, scores)
        fades = self._fades(times, scores, [c.time for c in hard])
        return sorted(hard + fades, key=lambda c: c.time)

    def _hard_cuts(self, times: np.ndarray, scores: np.ndarray) -> list[Cut]:
        opt = self.options
        found: list[Cut] = []
        candidates = np.flatnonzero(scores >= opt.threshold)
        for i in candidates:
            if i == 0:
                continue
            lo, hi = np.searchsorted(times, times[i] - 1.0), np.searchsorted(times, times[i] + 1.0, side="right")
            near = np.concatenate([scores[lo : max(lo, i - 1)], scores[min(hi, i + 2) : hi]])
            local = float(np.median(near)) if near.size else 0.0
            if scores[i] < opt.adaptive_ratio * (local + 0.01):
                continue
            if self.concentration[i] < 0.6:  # a step inside a dissolve, not a cut
                continue
            if self._is_flash(times, scores, i):  # a flash (or a frame of glitch) inside one shot
                continue
            confidence = float(min(1.0, scores[i] / (opt.adaptive_ratio * (local + 0.01) * 2)))
            cut = Cut(time=float(times[i]), confidence=round(max(confidence, 0.5), 3), kind="hard")
            if found and cut.time - found[-1].time < opt.min_shot:
                if scores[i] > scores[int(np.searchsorted(times, found[-1].time))]:
                    found[-1] = cut
                continue
            if cut.time < opt.min_shot:
                continue
            found.append(cut)
        return found

    def _fades(self, times: np.ndarray, scores: np.ndarray, hard_times: list[float]) -> list[Cut]:
        opt = self.options
        change = np.asarray(self.fade_change)
        residual = np.asarray(self.fade_residual)
        mids = np.asarray(self.fade_mid)
        ok = (change >= opt.fade_min_change) & (residual <= opt.fade_linearity)
        hard = np.asarray(hard_times)
        for i in np.flatnonzero(ok):  # a hard cut inside the window explains the change
            if hard.size and np.any((hard > times[i] - opt.fade_window - 0.05) & (hard <= times[i] + 0.05)):
                ok[i] = False
        cuts: list[Cut] = []
        i = 0
        while i < ok.size:
            if not ok[i]:
                i += 1
                continue
            j = i
            while j + 1 < ok.size and ok[j + 1]:
                j += 1
            if times[j] - times[i] >= 0.1 * opt.fade_window or j - i >= 2:
                weights = change[i : j + 1]
                centre = float(np.sum(mids[i : j + 1] * weights) / np.sum(weights))
                if opt.min_shot <= centre <= times[-1] - opt.min_shot and all(abs(centre - c.time) >= opt.min_shot for c in cuts):
                    quality = 1.0 - float(np.min(residual[i : j + 1])) / opt.fade_linearity
                    cuts.append(Cut(time=centre, confidence=round(0.5 + 0.4 * quality, 3), kind="fade"))
            i = j + 1
        return cuts


# --------------------------------------------------------------------------- refinement to the frame
def refine_cuts(
    path: str | os.PathLike[str],
    cuts: list[Cut],
    previous_times: dict[float, float],
    reduce_frame,
    origin: float,
) -> tuple[list[Cut], int]:
    """Locate hard cuts exactly when the frames before them were skipped during the scan.

    ``previous_times`` maps a cut's time to the time of the decoded frame before it; the frames in
    between are decoded in full from the keyframe before (only reference frames are decoded up to
    the gap) and the cut moves to the largest content change in the gap. Returns the cuts and the
    number of frames decoded for refinement.
    """
    import av  # local: cuts stays importable for pure tests

    if not previous_times:
        return cuts, 0
    decoded = 0
    refined: list[Cut] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for s in container.streams.video:
            if not s.disposition & av.stream.Disposition.attached_pic:
                stream = s
                break
        tb = float(stream.time_base)
        ctx = stream.codec_context
        for cut in cuts:
            if cut.kind != "hard" or cut.time not in previous_times:
                refined.append(cut)
                continue
            t_prev = previous_times[cut.time]
            lo, hi = int(round((t_prev + origin) / tb)), int(round((cut.time + origin) / tb))
            container.seek(lo, stream=stream, backward=True, any_frame=False)
            ctx.flush_buffers()
            frames: list[tuple[float, Signature]] = []
            done = False
            for packet in container.demux(stream):
                pts = packet.pts
                ctx.skip_frame = "DEFAULT" if pts is None or lo <= pts <= hi else "NONREF"
                for frame in packet.decode():
                    decoded += 1
                    if frame.pts is None or frame.pts < lo:
                        continue
                    frames.append((frame.pts * tb - origin, reduce_frame(frame)))
                    if frame.pts >= hi:
                        done = True
                        break
                if done:
                    break
            ctx.skip_frame = "DEFAULT"
            if len(frames) < 2:
                refined.append(cut)
                continue
            diffs = [content_score(frames[k][1], frames[k - 1][1]) for k in range(1, len(frames))]
            best = int(np.argmax(diffs)) + 1
            refined.append(Cut(time=float(frames[best][0]), confidence=cut.confidence, kind="hard"))
    return refined, decoded
