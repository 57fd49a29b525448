"""Synthesizers: turn a narrative plan and a music concept into audio.

Each backend implements ``Synthesizer`` and registers under a name (``procedural``, later ``musicgen``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..artifacts import MusicConcept, NarrativePlan, Shots
from ..registry import Registry

SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class RenderRequest:
    """What a synthesizer needs besides the plan.

    n_samples: exact length of the soundtrack, round(video duration * 48000).
    work_dir: a folder the synthesizer may fill with its intermediate files (kept for resume).
    stems: also write one WAV per instrument group.
    soundfont: a SoundFont path chosen by the user (None: the best one installed).
    progress: called with the seconds of audio finished so far.
    """

    n_samples: int
    work_dir: Path
    stems: bool = False
    soundfont: str | None = None
    seed: int = 0
    progress: Callable[[float], None] | None = None


@dataclass(frozen=True)
class RenderResult:
    """Raw (not yet loudness-normalised) audio: float32 WAV files, 48 kHz stereo, exactly ``n_samples`` long.

    ``stems`` maps an instrument-group name to its WAV; the stems sum to ``mix`` sample for sample.
    ``midi`` is the composed score (procedural path only). ``integrated_lufs``: the mix's loudness when the
    synthesizer measured it while writing (it saves the export stage a pass over the audio), else None.
    """

    mix: Path
    n_samples: int
    sample_rate: int = SAMPLE_RATE
    stems: dict[str, Path] = field(default_factory=dict)
    midi: Path | None = None
    integrated_lufs: float | None = None


class Synthesizer(Protocol):
    name: str

    def render(self, plan: NarrativePlan, concept: MusicConcept, shots: Shots, request: RenderRequest) -> RenderResult:
        """Compose/generate and render the soundtrack described by ``plan`` and ``concept``."""
        ...


SYNTHESIZERS: Registry[Synthesizer] = Registry("synthesizer")

# Built-in backends register themselves on import (the neural ones import torch lazily, when used).
from . import procedural as _procedural  # noqa: E402,F401
from . import musicgen as _musicgen  # noqa: E402,F401
