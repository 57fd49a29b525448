"""Per-group EQ: each instrument group gets its own corner of the spectrum before the parts are summed.

A General MIDI render puts every part at full range, so the parts pile up where they overlap: a
string pad or an organ fills the low end the bass should own, and the accompaniment sits in the
same 2-4 kHz band that makes a melody intelligible. A mixing engineer's first three moves are the
rules here (e.g. Owsinski, *The Mixing Engineer's Handbook*, ch. "Equalization"; Izhaki, *Mixing
Audio*, ch. 14-16):

* **Clean the low end.** The accompaniment (harmony, pad) is high-passed (12 dB/oct) under its lowest
  useful note, so that the bass and the kick (or the timpani) own the band under ~120 Hz. The melody
  sits far above its corner and the bass and drums are left whole, so they get no filter (each band
  costs about 0.2 ms per second of audio and group).
* **Make room for the melody.** The accompaniment (harmony, pad) is dipped by 2 to 3 dB around
  2.5 kHz and the melody lifted by 1.5 to 2 dB around 3 kHz (complementary EQ), so the melody reads
  through a dense texture without being turned up.
* **Take the mud out** where a patch is thick in the low mids (electronic's polysynth pad, rock's
  organ): a broad cut around 300 Hz.

Filters are second-order sections: Butterworth high-passes from scipy, peaking bells from the RBJ
audio-EQ cookbook (Bristow-Johnson), run with scipy's ``sosfilt`` chunk by chunk with carried state,
so the result does not depend on where the chunks fall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Band:
    """One filter. ``kind``: ``highpass`` (2nd-order Butterworth at ``freq``) or ``peak`` (a bell of
    ``gain_db`` at ``freq`` Hz, bandwidth ``q``)."""

    kind: str
    freq: float
    gain_db: float = 0.0
    q: float = 1.0


def hp(freq: float) -> Band:
    return Band("highpass", freq)


def bell(freq: float, gain_db: float, q: float = 1.0) -> Band:
    return Band("peak", freq, gain_db, q)


# group -> bands, per style. Corners sit under the group's lowest note in that style's register.
GROUP_EQ: dict[str, dict[str, tuple[Band, ...]]] = {
    "orchestral": {
        "melody": (bell(3000.0, 2.0),),  # horn
        "harmony": (hp(120.0),),  # pizzicato
        "pad": (hp(140.0), bell(2500.0, -2.5)),  # string section
    },
    "piano": {
        "melody": (bell(3000.0, 1.5),),
        "harmony": (hp(90.0), bell(2500.0, -1.5)),
        "pad": (hp(180.0), bell(2500.0, -3.0)),  # the string bed stays under the piano
    },
    "ambient": {
        "melody": (bell(3500.0, 2.0),),  # vibraphone
        "harmony": (hp(160.0), bell(3000.0, -2.0)),
        "pad": (hp(120.0), bell(2500.0, -2.0)),
    },
    "electronic": {
        "melody": (bell(3000.0, 2.0),),  # saw lead
        "harmony": (hp(180.0), bell(2500.0, -2.0)),  # square arpeggio
        "pad": (hp(200.0), bell(320.0, -4.0, 0.8), bell(2500.0, -2.0)),  # polysynth: thick low mids
    },
    "rock": {
        "melody": (bell(2500.0, 2.0),),  # lead guitar
        "harmony": (hp(90.0), bell(2500.0, -2.5)),  # rhythm guitar
        "pad": (hp(180.0), bell(300.0, -3.0, 0.8), bell(2500.0, -3.0)),  # organ: its 16' stop is the bass's
    },
}


def group_bands(style: str, group: str) -> tuple[Band, ...]:
    """The bands of ``group`` in ``style`` (an unknown, hand-edited style gets orchestral's; an unknown group none)."""
    return GROUP_EQ.get(style, GROUP_EQ["orchestral"]).get(group, ())


def sections(bands: tuple[Band, ...], sample_rate: int) -> np.ndarray:
    """``bands`` -> second-order sections, float64 (len(bands), 6); (0, 6) for a flat group."""
    from scipy.signal import butter

    rows = []
    for band in bands:
        if band.kind == "highpass":
            rows.append(butter(2, band.freq, "highpass", fs=sample_rate, output="sos")[0])
        elif band.kind == "peak":
            rows.append(_peaking(band.freq, band.gain_db, band.q, sample_rate))
        else:
            raise ValueError(f"unknown EQ band kind {band.kind!r}")
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


def _peaking(freq: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """The RBJ cookbook's peaking EQ as one normalised section (b0 b1 b2 1 a1 a2)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * freq / sample_rate
    alpha = math.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * a, -2.0 * math.cos(w0), 1.0 - alpha * a])
    den = np.array([1.0 + alpha / a, -2.0 * math.cos(w0), 1.0 - alpha / a])
    return np.concatenate((b / den[0], den / den[0]))


class GroupFilter:
    """A group's EQ on a stereo stream, chunk by chunk; state carries across calls."""

    def __init__(self, sos: np.ndarray) -> None:
        from scipy.signal import sosfilt

        self.sosfilt = sosfilt
        self.sos = sos
        self.state = np.zeros((len(sos), 2, 2))  # (sections, 2 delays, 2 channels) for axis 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """block: float32 (n, 2) -> filtered float32 (n, 2) (a new array)."""
        out, self.state = self.sosfilt(self.sos, block, axis=0, zi=self.state)
        return out.astype(np.float32)
