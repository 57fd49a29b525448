"""Options of a scoring run: one frozen dataclass, validated in one place; CLI flags mirror the fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import OptionError

STYLES = ("auto", "orchestral", "piano", "ambient", "electronic", "rock")
LOUDNESS_RANGE = (-40.0, -5.0)


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that changes what ``score`` writes.

    sample_hz: frames per second the sensors look at (Hz). hop: affect/narrative curve grid (s).
    loudness: integrated loudness target (LUFS). true_peak: ceiling (dBTP).
    mix_original: keep the original audio this many dB below the music (None: music only).
    fast_decode: skip non-reference frames in the first decoding pass (cuts are refined exactly).
    """

    sensor: str = "heuristic"
    reasoner: str = "rules"
    synth: str = "procedural"
    style: str = "auto"
    seed: int = 0
    sample_hz: float = 4.0
    hop: float = 0.5
    loudness: float = -16.0
    true_peak: float = -1.0
    mix_original: float | None = None
    copy_video: bool = False
    stems: bool = False
    soundfont: str | None = None
    fast_decode: bool = True
    force: bool = False

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise OptionError(f"unknown style {self.style!r}; available: {', '.join(STYLES)}")
        if not 0.25 <= self.sample_hz <= 30:
            raise OptionError(f"sample_hz must lie within 0.25..30 frames per second, got {self.sample_hz}")
        if not 0.1 <= self.hop <= 5:
            raise OptionError(f"hop must lie within 0.1..5 seconds, got {self.hop}")
        if not LOUDNESS_RANGE[0] <= self.loudness <= LOUDNESS_RANGE[1]:
            raise OptionError(f"loudness must lie within {LOUDNESS_RANGE[0]}..{LOUDNESS_RANGE[1]} LUFS, got {self.loudness}")
        if not -20 <= self.true_peak <= 0:
            raise OptionError(f"true_peak must lie within -20..0 dBTP, got {self.true_peak}")
        if self.mix_original is not None and not 0 <= self.mix_original <= 60:
            raise OptionError(f"mix_original must lie within 0..60 dB below the music, got {self.mix_original}")
        if not 0 <= self.seed < 2**32:
            raise OptionError(f"seed must lie within 0..2**32-1, got {self.seed}")

    def replace(self, **changes: object) -> "ScoreOptions":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
