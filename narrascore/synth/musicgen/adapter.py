"""The Token-Level Affective Adapter: the narrative valence/arousal curve as a control on MusicGen's decoder.

    curve (valence, arousal on the plan's grid)
      -> sampled at each decoder position's time, t0 + p / frame_rate        (position_times, curve_at)
      -> temporal encoder: 1x1 conv 2 -> C, then dilated 1-D conv blocks (centred, residual, GELU),
         then a linear map C -> D (the decoder's width)                      (AffectAdapter.control)
      -> added to the output of each chosen decoder layer: h <- h + gamma_i * C   (inject.inject)

The encoder is *centred*, not causal: the whole curve is known before generation (it is the plan, not
something generated), so the music may anticipate a change by the encoder's reach (``receptive_radius``
frames each side: 0.3 s for the defaults at 50 Hz). The control for a window is computed with that much
real curve beyond both of its ends ("valid" convolutions), so a position's control depends only on its
absolute time, never on the window it falls in: overlapping windows see identical controls.

``gamma`` is one learned vector of width D per injected layer, initialised to 0, so an untrained adapter
leaves the backbone's output bit-identical. The backbone is never copied: the adapter only holds its own
parameters and is attached by hooks. Files: ``adapter.safetensors`` (weights) and ``adapter.json``
(``AdapterConfig``): loading checks them against the backbone and names what differs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import OptionError

FORMAT = "narrascore.affect-adapter"
FORMAT_VERSION = 1
WEIGHTS = "adapter.safetensors"
CONFIG = "adapter.json"
DEFAULT_FRACTION = 0.75  # the paper: injecting into the early 75% of layers beat 50% and 100%


# --------------------------------------------------------------------------- time -> position (pure)
def position_times(t0: float, n_positions: int, frame_rate: float) -> np.ndarray:
    """Time (s) each decoder position stands for: ``t0 + p / frame_rate`` for p in 0..n-1.

    Position p's hidden state predicts codebook 0's frame p of a window whose first frame starts at t0.
    """
    return t0 + np.arange(n_positions, dtype=np.float64) / frame_rate


def curve_at(times: Sequence[float], valence: Sequence[float], arousal: Sequence[float],
             query: np.ndarray) -> np.ndarray:
    """The (valence, arousal) curve linearly interpolated at ``query`` times (s), held flat past its ends.

    Returns float32 (len(query), 2) in [-1, 1].
    """
    t = np.asarray(times, dtype=np.float64)
    return np.stack([np.interp(query, t, np.asarray(valence, dtype=np.float64)),
                     np.interp(query, t, np.asarray(arousal, dtype=np.float64))], axis=-1).astype(np.float32)


def default_layers(num_layers: int, fraction: float = DEFAULT_FRACTION) -> tuple[int, ...]:
    """The early ``fraction`` of the decoder's layers (at least one): 24 layers -> 0..17."""
    return tuple(range(max(1, int(round(num_layers * fraction)))))


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class AdapterConfig:
    """What an adapter file must agree on with its backbone, and the shape of its encoder.

    backbone: the model it was trained on (informative); hidden_size, num_layers, num_codebooks: the
    backbone's decoder, checked on load; layers: injected layer indices; channels, kernel_size,
    dilations: the temporal encoder; frame_rate: token rate (Hz) it was trained at.
    """

    backbone: str
    hidden_size: int
    num_layers: int
    num_codebooks: int
    layers: tuple[int, ...]
    frame_rate: float
    channels: int = 64
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    format: str = FORMAT
    version: int = FORMAT_VERSION

    @property
    def receptive_radius(self) -> int:
        """Frames of curve each side of a position that its control depends on."""
        return sum(d * (self.kernel_size // 2) for d in self.dilations)

    def mismatch(self, other: "AdapterConfig") -> list[str]:
        """What differs between this adapter's backbone and ``other``'s (a config built from the model)."""
        names = ("hidden_size", "num_layers", "num_codebooks", "frame_rate")
        return [f"{n} {getattr(self, n)} (model: {getattr(other, n)})" for n in names if getattr(self, n) != getattr(other, n)]


def config_for(backbone: Any, name: str = "", *, layers: Sequence[int] | None = None, **shape: Any) -> AdapterConfig:
    """An ``AdapterConfig`` matching a loaded ``MusicgenForConditionalGeneration``."""
    dec = backbone.config.decoder
    layers = tuple(layers) if layers is not None else default_layers(dec.num_hidden_layers)
    return AdapterConfig(backbone=name or str(getattr(backbone.config, "_name_or_path", "")), hidden_size=dec.hidden_size,
                         num_layers=dec.num_hidden_layers, num_codebooks=dec.num_codebooks, layers=layers,
                         frame_rate=float(backbone.config.audio_encoder.frame_rate), **shape)


# --------------------------------------------------------------------------- module
def _module_class():
    import torch
    from torch import nn

    class AffectAdapter(nn.Module):
        """Temporal encoder (dilated, centred 1-D convolutions) plus one gamma vector per injected layer."""

        def __init__(self, config: AdapterConfig) -> None:
            super().__init__()
            if config.kernel_size % 2 != 1:
                raise OptionError(f"adapter kernel_size must be odd (centred convolutions), got {config.kernel_size}")
            bad = [i for i in config.layers if not 0 <= i < config.num_layers]
            if bad or not config.layers or len(set(config.layers)) != len(config.layers):
                raise OptionError(f"adapter layers {list(config.layers)} must be distinct indices in 0..{config.num_layers - 1}")
            self.config = config
            c = config.channels
            self.inp = nn.Conv1d(2, c, 1)
            self.blocks = nn.ModuleList([nn.Conv1d(c, c, config.kernel_size, dilation=d) for d in config.dilations])
            self.out = nn.Linear(c, config.hidden_size)
            self.gamma = nn.Parameter(torch.zeros(len(config.layers), config.hidden_size))

        def encode(self, va: "torch.Tensor") -> "torch.Tensor":
            """va: (B, T + 2R, 2) curve samples with R = receptive_radius extra on each side -> C: (B, T, D)."""
            x = self.inp(va.transpose(1, 2))  # (B, C, T + 2R)
            for conv in self.blocks:
                trim = conv.dilation[0] * (conv.kernel_size[0] // 2)
                x = x[..., trim:-trim] + torch.nn.functional.gelu(conv(x))  # valid conv: T shrinks by 2 * trim
            return self.out(x.transpose(1, 2))  # (B, T, D)

        def control(self, times: Sequence[float], valence: Sequence[float], arousal: Sequence[float], *,
                    t0: float, n_positions: int) -> "torch.Tensor":
            """Control C (1, n_positions, D) for positions 0..n-1 of a window whose first frame starts at t0 (s)."""
            r = self.config.receptive_radius
            query = position_times(t0 - r / self.config.frame_rate, n_positions + 2 * r, self.config.frame_rate)
            va = torch.from_numpy(curve_at(times, valence, arousal, query))[None]
            p = self.gamma
            with torch.no_grad():
                return self.encode(va.to(device=p.device, dtype=p.dtype))

        def parameter_count(self) -> int:
            return sum(p.numel() for p in self.parameters())

        def save(self, folder: str | Path) -> Path:
            """Write ``adapter.safetensors`` and ``adapter.json`` into ``folder``."""
            from safetensors.torch import save_file

            from ...fileio import atomic_path, ensure_writable_dir, write_json_atomic

            folder = ensure_writable_dir(folder)
            with atomic_path(folder / WEIGHTS) as tmp:
                save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(tmp))
            write_json_atomic(folder / CONFIG, dataclasses.asdict(self.config))
            return folder

    return AffectAdapter


_CLASS: Any = None


def adapter_class() -> Any:
    """The ``AffectAdapter`` ``nn.Module`` class (built on first use, so importing this module needs no torch)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _module_class()
    return _CLASS


def new_adapter(config: AdapterConfig) -> Any:
    """An untrained adapter (gamma = 0: the backbone's output is unchanged); its encoder starts at random."""
    return adapter_class()(config)


def load_adapter(folder: str | Path, backbone: Any) -> Any:
    """Load the adapter in ``folder`` for ``backbone``; raise one ``OptionError`` line naming what is wrong."""
    folder = Path(folder).expanduser()
    cfg_path, weights = folder / CONFIG, folder / WEIGHTS
    for path in (folder, cfg_path, weights):
        if not path.exists():
            raise OptionError(f"{path}: not found (an adapter folder holds {CONFIG} and {WEIGHTS})")
    try:
        raw = json.loads(cfg_path.read_text())
        if raw.get("format") != FORMAT or raw.get("version") != FORMAT_VERSION:
            raise ValueError(f"format {raw.get('format')!r} version {raw.get('version')!r}, expected {FORMAT!r} {FORMAT_VERSION}")
        for key in ("layers", "dilations"):
            if key in raw:
                raw[key] = tuple(raw[key])
        config = AdapterConfig(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise OptionError(f"{cfg_path}: not a valid adapter config ({exc})") from None
    differs = config.mismatch(config_for(backbone))
    if differs:
        raise OptionError(f"{folder}: adapter (trained on {config.backbone or 'an unnamed backbone'}) does not match the model: "
                          + ", ".join(differs))
    adapter = new_adapter(config)
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights))
        adapter.load_state_dict(state, strict=True)
    except Exception as exc:  # safetensors and load_state_dict raise several types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(f"{weights}: weights do not fit {CONFIG} ({first})") from None
    param = next(backbone.parameters())
    return adapter.to(device=param.device, dtype=param.dtype).eval().requires_grad_(False)


def describe(adapter: Any) -> str:
    """One line: layers, encoder shape and parameter count."""
    c = adapter.config
    return (f"affect adapter: layers {c.layers[0]}..{c.layers[-1]} of {c.num_layers}, encoder {c.channels} channels, "
            f"dilations {list(c.dilations)}, reach ±{c.receptive_radius / c.frame_rate:.2f} s, "
            f"{adapter.parameter_count():,} parameters")
