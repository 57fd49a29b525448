"""Options of a scoring run: one frozen dataclass, validated in one place; CLI flags mirror the fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .errors import OptionError

STYLES = ("auto", "orchestral", "piano", "ambient", "electronic", "rock")
ANCHORS = ("vlm", "llm", "rules")  # who writes the Global Semantic Anchor (None: a model when one is configured)
PRECISIONS = ("fp32", "bf16", "int8")  # MusicGen decoder arithmetic (synth/musicgen/precision.py)
LOUDNESS_RANGE = (-40.0, -5.0)
TIMELINE_FORMATS = ("fcp7", "edl", "otio", "fcpx")  # narrascore.export.timeline.FORMATS


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that changes what ``score`` writes.

    sample_hz: frames per second the sensors look at (Hz). hop: affect/narrative curve grid (s).
    loudness: integrated loudness target (LUFS). true_peak: ceiling (dBTP).
    mix_original: keep the original audio this many dB below the music (None: music only).
    timeline: also write an editor's timeline in this format (fcp7, edl, otio, fcpx; docs/timeline.md).
    fast_decode: skip non-reference frames in the first decoding pass (cuts are refined exactly).
    Neural path (docs/neural-sensing.md): vlm: local VLM folder, hub id or "debug"; or endpoint
    (OpenAI-compatible URL) + vlm_model; vlm_head: trained head folder; vlm_hz: frames per second
    the VLM sees (Hz); vlm_context: consecutive frames per VLM request; vlm_max_len: a served VLM's context (tokens). llm / llm_endpoint + llm_model:
    the reasoner's model (default: the VLM's). anchor: who writes the Global Semantic Anchor ("vlm",
    "llm", "rules"; None: the VLM when one is configured, else the LLM when one is, else the rules); anchor_frames:
    keyframes (one per scene) the VLM sees for the anchor. precision: MusicGen's decoder
    arithmetic ("fp32", "bf16", "int8").
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
    timeline: str | None = None
    soundfont: str | None = None
    fast_decode: bool = True
    force: bool = False
    model: str | None = None
    adapter: str | None = None
    window_seconds: float = 30.0
    overlap_seconds: float = 10.0
    precision: str = "fp32"
    vlm: str | None = None
    endpoint: str | None = None
    vlm_model: str | None = None
    vlm_head: str | None = None
    vlm_hz: float = 1.0
    vlm_context: int = 1
    vlm_max_len: int | None = None
    llm: str | None = None
    llm_endpoint: str | None = None
    llm_model: str | None = None
    strict: bool = False
    anchor: str | None = None
    anchor_frames: int = 8

    def __post_init__(self) -> None:
        self._check_names()
        self._check_neural()
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
        if self.timeline is not None and self.timeline not in TIMELINE_FORMATS:
            raise OptionError(f"unknown timeline format {self.timeline!r}; available: {', '.join(TIMELINE_FORMATS)}")
        if (self.model is not None or self.adapter is not None) and self.synth != "musicgen":
            raise OptionError(f"model and adapter go with synth 'musicgen', not {self.synth!r}")
        if self.precision not in PRECISIONS:
            raise OptionError(f"unknown precision {self.precision!r}; available: {', '.join(PRECISIONS)}")
        if self.precision != "fp32" and self.synth != "musicgen":
            raise OptionError(f"precision {self.precision} goes with synth 'musicgen', not {self.synth!r}")
        if not 1 <= self.window_seconds <= 300:
            raise OptionError(f"window_seconds must lie within 1..300 seconds, got {self.window_seconds}")
        if not 0 <= self.overlap_seconds < self.window_seconds / 2:
            raise OptionError(f"overlap_seconds must lie within 0..{self.window_seconds / 2:g} (under half of "
                              f"window_seconds), got {self.overlap_seconds}")
        if not 0 <= self.seed < 2**32:
            raise OptionError(f"seed must lie within 0..2**32-1, got {self.seed}")

    def _check_names(self) -> None:
        """Backend names against their registries (an unknown name lists the valid ones)."""
        from .narrative import REASONERS
        from .sense import SENSORS
        from .synth import SYNTHESIZERS

        for sensor in self.sensor.split("+"):
            SENSORS.check(sensor)
        REASONERS.check(self.reasoner)
        SYNTHESIZERS.check(self.synth)

    def check_resources(self, *, analysis: bool = True, synthesis: bool = True) -> None:
        """Check, before any work starts, the files and extras the chosen backends will load.

        ``analysis``: the sensors' and reasoner's model folders; ``synthesis``: the synthesizer's
        SoundFont or model, adapter and extra. Raises the one-line error the stage itself would
        raise later, after the scan. Hub ids and ``debug`` are not checked (they load on use).
        """
        if self.soundfont is not None:
            from .synth.procedural.soundfont import check_soundfont

            check_soundfont(self.soundfont)
        if synthesis and self.synth == "procedural":
            from .synth.procedural.soundfont import find_soundfont

            find_soundfont(self.soundfont)
        elif synthesis and self.synth == "musicgen":
            from .synth.musicgen import DEFAULT_MODEL
            from .synth.musicgen.adapter import CONFIG, WEIGHTS
            from .synth.musicgen.backbone import require_neural, resolve

            require_neural()
            if self.model != "debug":  # built on first use
                resolve(self.model or DEFAULT_MODEL)
            if self.adapter is not None:
                _check_folder(self.adapter, "adapter", (CONFIG, WEIGHTS))
        if analysis:
            from .sense import head

            if "vlm" in self.sensor.split("+") and self.vlm is not None and _is_local(self.vlm):
                _check_folder(self.vlm, "vlm", ("config.json",))
            if self.vlm_head is not None:
                _check_folder(self.vlm_head, "vlm_head", (head.CONFIG, head.WEIGHTS))
            if self.reasoner == "llm" and self.llm is not None and _is_local(self.llm):
                _check_folder(self.llm, "llm", ("config.json",))

    def _check_neural(self) -> None:
        if not 0.05 <= self.vlm_hz <= 4:
            raise OptionError(f"vlm_hz must lie within 0.05..4 frames per second, got {self.vlm_hz}")
        if not 1 <= self.vlm_context <= 64:
            raise OptionError(f"vlm_context must lie within 1..64 frames per request, got {self.vlm_context}")
        if not 1 <= self.anchor_frames <= 32:
            raise OptionError(f"anchor_frames must lie within 1..32 keyframes, got {self.anchor_frames}")
        if self.vlm_max_len is not None and not 256 <= self.vlm_max_len <= 10_000_000:
            raise OptionError(f"vlm_max_len must lie within 256..10000000 tokens, got {self.vlm_max_len}")
        if self.anchor is not None and self.anchor not in ANCHORS:
            raise OptionError(f"unknown anchor {self.anchor!r}; available: {', '.join(ANCHORS)}")
        if self.anchor == "vlm" and self.vlm is None and self.endpoint is None:
            raise OptionError("anchor 'vlm' needs a vision-language model: vlm (a folder, hub id or 'debug') or endpoint + vlm_model")
        if self.anchor == "llm" and self.llm_source() is None:
            raise OptionError("anchor 'llm' needs a model: llm, llm_endpoint + llm_model, or a vlm/endpoint to share")
        for name in ("endpoint", "llm_endpoint"):
            url = getattr(self, name)
            if url is not None and not url.startswith(("http://", "https://")):
                raise OptionError(f"{name} must be an http:// or https:// URL, got {url!r}")
        if self.vlm is not None and self.endpoint is not None:
            raise OptionError("give either vlm (a local model) or endpoint (a served one), not both")
        if self.llm is not None and self.llm_endpoint is not None:
            raise OptionError("give either llm (a local model) or llm_endpoint (a served one), not both")
        if self.endpoint is not None and not self.vlm_model:
            raise OptionError(f"endpoint {self.endpoint} needs vlm_model, the model name the server knows")
        if self.llm_endpoint is not None and not (self.llm_model or self.vlm_model):
            raise OptionError(f"llm_endpoint {self.llm_endpoint} needs llm_model, the model name the server knows")
        if self.vlm_head is not None and self.vlm is None:
            raise OptionError("vlm_head reads a local model's hidden states: it needs vlm (a folder, hub id or 'debug')")
        if "vlm" in self.sensor.split("+") and self.vlm is None and self.endpoint is None:
            raise OptionError("sensor 'vlm' needs a model: vlm (a folder, hub id or 'debug') or endpoint + vlm_model")
        if self.reasoner == "llm" and self.llm_source() is None:
            raise OptionError("reasoner 'llm' needs a model: llm, llm_endpoint + llm_model, or a vlm/endpoint to share")

    def llm_source(self) -> dict[str, str | None] | None:
        """The reasoner's model: its own (llm / llm_endpoint), else the VLM's; None if neither is given."""
        if self.llm is not None or self.llm_endpoint is not None:
            return {"llm": self.llm, "llm_endpoint": self.llm_endpoint, "llm_model": self.llm_model or self.vlm_model}
        if self.vlm is not None or self.endpoint is not None:
            return {"llm": self.vlm, "llm_endpoint": self.endpoint, "llm_model": self.llm_model or self.vlm_model}
        return None

    def synth_kwargs(self) -> dict[str, object]:
        """What the chosen synthesizer's factory takes beyond its name."""
        if self.synth != "musicgen":
            return {}
        kwargs: dict[str, object] = {"model": self.model, "adapter": self.adapter, "window_seconds": self.window_seconds,
                                     "overlap_seconds": self.overlap_seconds}
        if self.precision != "fp32":  # fp32 keeps the render keys of earlier runs
            kwargs["precision"] = self.precision
        return kwargs

    def anchor_source(self) -> str:
        """Who writes the anchor: ``anchor`` if given, else the VLM when one is configured, else the rules."""
        if self.anchor is not None:
            return self.anchor
        if self.vlm is not None or self.endpoint is not None:
            return "vlm"
        return "llm" if (self.llm is not None or self.llm_endpoint is not None) else "rules"

    def replace(self, **changes: object) -> "ScoreOptions":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _is_local(model: str) -> bool:
    """A model option names a local folder (not ``debug`` or a hub id such as ``org/name``)."""
    return model != "debug" and (Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or model.count("/") > 1)


def _check_folder(folder: str, option: str, files: tuple[str, ...]) -> None:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise OptionError(f"{path}: {option} folder not found" if not path.exists() else f"{path}: {option} is not a folder")
    missing = [name for name in files if not (path / name).is_file()]
    if missing:
        raise OptionError(f"{path}: not a usable {option} folder: {', '.join(missing)} missing")
