"""The mix bus: a room per style and gentle bus compression, streamed chunk by chunk.

A SoundFont render is dry: every instrument sits in no space at all, which is much of why a General
MIDI file sounds like one. The bus adds what a mixing engineer would: a reverb send (a synthetic
stereo impulse response, convolved by uniformly partitioned overlap-save FFT, so the cost per second
is fixed and memory is flat in the length of the video) and a slow RMS compressor that glues the
parts together. Loudness and true peak stay the job of ``export.audio``, after the bus.

The impulse response is a documented synthetic decay, not a measured room: decorrelated noise in
four bands, each decaying exponentially at its own RT60 (low frequencies ring longest, as in real
halls), after a pre-delay and a few early reflections. It is generated from a fixed seed per room,
so the same input always gives the same bytes. Rooms per style (RT60 at mid frequencies):

==========  =======  ======  ===================================================
style       room     RT60    why
==========  =======  ======  ===================================================
orchestral  hall     2.2 s   a concert hall (Beranek: 1.8 to 2.2 s for symphonic music)
piano       hall     1.7 s   a recital hall: long enough to bloom, short enough for runs
ambient     cathedral 3.2 s  washes are the style
electronic  plate    1.4 s   a bright, dense plate on a dry, punchy mix
rock        room     0.9 s   a live room: drums stay tight
==========  =======  ======  ===================================================

Stems: the bus is linear up to its compressor, so each stem gets the compressor's gain curve (taken
from the whole mix) and the reverb return is its own stem, ``reverb``; the stems still sum to the mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIX_VERSION = 2  # part of the render stage's identity: a change of the bus recomputes old renders


@dataclass(frozen=True)
class Room:
    """A reverb and bus compressor setting. Times in seconds, levels in dB, frequencies in Hz."""

    name: str
    rt60: float  # mid-band reverberation time
    predelay: float
    send_db: float  # reverb return level relative to the dry mix
    low_cut: float  # the send is high-passed here: basses and kick drums stay out of the tail
    correlation: float  # of the tail's left and right channels: 1 = mono, 0 = independent sides
    threshold_db: float  # compressor threshold, RMS dBFS of the raw mix
    ratio: float


ROOMS = {
    "orchestral": Room("hall", 2.2, 0.024, -9.0, 180.0, 0.15, -24.0, 1.6),
    "piano": Room("hall", 1.7, 0.018, -11.0, 150.0, 0.25, -24.0, 1.5),
    "ambient": Room("cathedral", 3.2, 0.040, -6.0, 200.0, 0.1, -26.0, 1.5),
    "electronic": Room("plate", 1.4, 0.008, -9.0, 300.0, 0.1, -22.0, 2.0),
    "rock": Room("room", 0.9, 0.006, -12.0, 250.0, 0.3, -22.0, 2.5),
}
BANDS_HZ = (250.0, 2000.0, 6000.0)  # band edges of the impulse response
BAND_RT_FACTOR = (1.3, 1.0, 0.7, 0.45)  # RT60 of each band relative to the mid band (air absorbs highs)
RMS_TIME = 0.05  # compressor detector time constant (s)
GAIN_TIME = 0.25  # compressor gain smoothing (s): slow, so it rides phrases, not notes


def room_for(style: str) -> Room:
    """The room of ``style``; an unknown (hand-edited) style gets the orchestral hall."""
    return ROOMS.get(style, ROOMS["orchestral"])


def impulse_response(room: Room, sample_rate: int) -> np.ndarray:
    """The room's stereo impulse response, float32 (n, 2), unit energy per channel."""
    from scipy.signal import butter, sosfilt

    longest = room.rt60 * max(BAND_RT_FACTOR)
    n = int(round((room.predelay + longest) * sample_rate))
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(20261206 + int(room.rt60 * 1000))  # fixed per room: same bytes every time
    common = rng.standard_normal(n)
    noise = [np.sqrt(room.correlation) * common + np.sqrt(1 - room.correlation) * rng.standard_normal(n)
             for _ in range(2)]  # partly shared noise: the two sides correlate by ``room.correlation``
    edges = (0.0, *BANDS_HZ, None)
    tail = np.zeros((n, 2))
    for lo, hi, factor in zip(edges[:-1], edges[1:], BAND_RT_FACTOR):
        if lo == 0.0:
            sos = butter(4, hi, "lowpass", fs=sample_rate, output="sos")
        elif hi is None:
            sos = butter(4, lo, "highpass", fs=sample_rate, output="sos")
        else:
            sos = butter(4, (lo, hi), "bandpass", fs=sample_rate, output="sos")
        decay = np.exp(-6.907755 * np.maximum(t - room.predelay, 0.0) / (room.rt60 * factor))  # 60 dB over RT60
        for c in range(2):
            tail[:, c] += sosfilt(sos, noise[c]) * decay
    tail[: int(room.predelay * sample_rate)] = 0.0
    onset = int(0.01 * sample_rate)  # the diffuse tail builds up over 10 ms after the pre-delay
    start = int(room.predelay * sample_rate)
    tail[start:start + onset] *= np.linspace(0.0, 1.0, onset)[:, None]
    for k, (delay, gain) in enumerate(((0.007, 0.5), (0.013, 0.35), (0.019, 0.3), (0.029, 0.2))):
        i = int((room.predelay * 0.5 + delay) * sample_rate)  # early reflections, alternating sides
        tail[i, k % 2] += gain * 8.0 * np.sqrt(np.mean(tail[start:start + sample_rate // 10, k % 2] ** 2) + 1e-12)
    tail /= np.sqrt((tail ** 2).sum(axis=0, keepdims=True))
    # the send's high-pass, folded into the response (the same as filtering the send, and free at run time)
    tail = sosfilt(butter(2, room.low_cut, "highpass", fs=sample_rate, output="sos"), tail, axis=0)
    return tail.astype(np.float32)


class PartitionedConvolver:
    """Stereo convolution of a stream with a long impulse response, ``block`` samples at a time.

    Uniformly partitioned overlap-save: the impulse response is cut into K blocks whose spectra are
    kept; each input block's spectrum enters a ring of the last K input spectra, and the output block
    is the inverse FFT of their sum of products. Cost per block is one FFT pair per channel plus K
    complex multiply-adds, whatever the length of the video.
    """

    def __init__(self, ir: np.ndarray, block: int) -> None:
        import scipy.fft

        self.fft = scipy.fft
        self.block = block
        k = -(-len(ir) // block)
        padded = np.zeros((k * block, 2), dtype=np.float32)
        padded[: len(ir)] = ir
        parts = padded.reshape(k, block, 2).transpose(0, 2, 1)  # (K, 2, block)
        self.spectra = scipy.fft.rfft(parts, n=2 * block, axis=-1).astype(np.complex64)  # (K, 2, block+1)
        self.ring = np.zeros_like(self.spectra)  # the last K input spectra, newest at ``self.head``
        self.head = 0
        self.previous = np.zeros((2, block), dtype=np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        """x: float32 (n, 2), n <= block -> the wet signal for the same samples, float32 (n, 2)."""
        n = len(x)
        current = np.zeros((2, self.block), dtype=np.float32)
        current[:, :n] = x.T
        frame = np.concatenate((self.previous, current), axis=1)  # (2, 2*block)
        self.previous = current
        k = len(self.spectra)
        self.head = (self.head - 1) % k
        self.ring[self.head] = self.fft.rfft(frame, axis=-1)
        acc = self.ring[self.head] * self.spectra[0]
        for j in range(1, k):  # ring[(head + j) % k] is the input spectrum of j blocks ago
            acc += self.ring[(self.head + j) % k] * self.spectra[j]
        out = self.fft.irfft(acc, n=2 * self.block, axis=-1)[:, self.block:self.block + n]
        return np.ascontiguousarray(out.T, dtype=np.float32)


class Compressor:
    """A slow, gentle feed-forward RMS compressor: a gain curve (n,) from a stereo stream, chunk by chunk.

    The detector runs on the mean power of ``HOP``-sample hops (its time constants are tens of
    milliseconds, so nothing is lost) and the gain is interpolated back to every sample.
    """

    HOP = 64

    def __init__(self, threshold_db: float, ratio: float, sample_rate: int) -> None:
        from scipy.signal import lfilter

        self.lfilter = lfilter
        self.threshold_db = threshold_db
        self.slope = 1.0 - 1.0 / ratio
        rate = sample_rate / self.HOP
        self.a_rms = np.exp(-1.0 / (RMS_TIME * rate))
        self.a_gain = np.exp(-1.0 / (GAIN_TIME * rate))
        self.rms_state = np.zeros(1)
        self.gain_state = np.zeros(1)
        self.last_db = 0.0  # the reduction at the end of the previous chunk

    def gain(self, x: np.ndarray) -> np.ndarray:
        """x: float32 (n, 2) -> linear gain (n,) float32 to multiply it by."""
        n = len(x)
        hops = -(-n // self.HOP)
        padded = np.zeros((hops * self.HOP, 2), dtype=np.float64)
        padded[:n] = x
        power = (padded ** 2).reshape(hops, self.HOP * 2).mean(axis=1)
        mean_power, self.rms_state = self.lfilter([1 - self.a_rms], [1, -self.a_rms], power, zi=self.rms_state)
        over = 10.0 * np.log10(np.maximum(mean_power, 1e-12)) - self.threshold_db
        knee = 6.0  # soft knee, dB wide
        reduction = np.where(over <= -knee / 2, 0.0,
                             np.where(over >= knee / 2, over, (over + knee / 2) ** 2 / (2 * knee))) * self.slope
        smooth, self.gain_state = self.lfilter([1 - self.a_gain], [1, -self.a_gain], reduction, zi=self.gain_state)
        ends = np.arange(1, hops + 1) * self.HOP - 1  # each hop's value holds at its last sample
        curve_db = np.interp(np.arange(n), np.concatenate(([-1], ends)), np.concatenate(([self.last_db], smooth)))
        self.last_db = float(smooth[-1])
        return (10.0 ** (-curve_db / 20.0)).astype(np.float32)


class MixBus:
    """dry + reverb send, then bus compression; ``process`` one chunk of the raw mix at a time.

    All state carries across calls, so the output depends only on the input stream and the chunk size
    (the renderer always uses its fixed ``CHUNK``).
    """

    def __init__(self, style: str, sample_rate: int, block: int) -> None:
        self.room = room_for(style)
        ir = impulse_response(self.room, sample_rate) * np.float32(10.0 ** (self.room.send_db / 20.0))
        self.convolver = PartitionedConvolver(ir, block)
        self.compressor = Compressor(self.room.threshold_db, self.room.ratio, sample_rate)

    def process(self, dry: np.ndarray) -> np.ndarray:
        """dry: float32 (n, 2), n <= block -> the mixed chunk, float32 (n, 2)."""
        mixed, gain, _wet = self._through(dry)
        return mixed * gain

    def process_stems(self, stems: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """Per-stem chunks -> (mix, stems with the bus gain, reverb return with the bus gain): the parts sum to the mix."""
        dry = stems[0].copy()
        for stem in stems[1:]:
            dry += stem
        mixed, gain, wet = self._through(dry)
        return mixed * gain, [stem * gain for stem in stems], wet * gain

    def _through(self, dry: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dry + reverb return, the compressor's gain (n, 1) for it, the reverb return)."""
        wet = self.convolver.process(dry)
        mixed = dry + wet
        return mixed, self.compressor.gain(mixed)[:, None], wet
