"""Model surgery: add the affective control to MusicGen's decoder layers through removable hooks.

Written for transformers ==5.24.0 (``check_transformers`` refuses any other version: layer signatures,
return types and cache arguments change between releases). In 5.24:

* decoder layers are ``model.decoder.model.decoder.layers[i]`` and return a plain tensor (B', L, D);
* ``MusicgenDecoder.forward`` receives the cache as the keyword ``cache`` (None, or a fresh cache, at
  prefill; ``generate`` runs the prefill twice, each time with a fresh cache), so the absolute position of
  the first row it sees is ``cache.get_seq_length()``, read by a pre-hook; a step counter would drift;
* classifier-free guidance doubles the batch, conditional half first.

Positions and time: decoder position ``p`` holds codebook 0's frame ``p - 1`` (position 0 is the start
token) and codebook k's frame ``p - 1 - k`` (the delay pattern); its hidden state predicts codebook 0's
frame ``p``. The control at position ``p`` is therefore the curve at codebook 0's frame ``p``, i.e. at
``t0 + p / frame_rate`` (``adapter.position_times``); the other codebooks' tokens predicted there lag by
k frames (60 ms at most for 4 codebooks at 50 Hz), well inside the curve's own time resolution.

Guidance: by default (``cfg="both"``) the control goes into both halves, so the guided logits
``u + s (c - u)`` move by the control's effect once and guidance amplifies only the text anchor: the
strength of the steering does not depend on ``guidance_scale``. ``cfg="cond"`` steers the conditional half
only, which multiplies the control's effect by the guidance scale (for experiments).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import DependencyError, OptionError

PINNED_TRANSFORMERS = "5.24.0"
CFG_MODES = ("both", "cond")


def check_transformers() -> None:
    """Raise ``DependencyError`` unless the installed transformers is the pinned version."""
    import transformers

    if transformers.__version__ != PINNED_TRANSFORMERS:
        raise DependencyError(
            f"transformers {transformers.__version__} is installed, but the MusicGen adapter hooks are written for "
            f"{PINNED_TRANSFORMERS}: pip install 'narrascore[neural]'"
        )


def decoder_layers(model: Any) -> Any:
    """The ``nn.ModuleList`` of decoder layers of a ``MusicgenForConditionalGeneration``."""
    return model.decoder.model.decoder.layers


@dataclass
class PositionTracker:
    """Absolute position of the first row of the decoder call in flight."""

    offset: int = 0
    calls: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) per decoder call, for tests


@contextlib.contextmanager
def inject(model: Any, adapter: Any, control: Any, *, cfg: str = "both") -> Iterator[PositionTracker]:
    """Within the block, layer ``i`` in ``adapter.layers`` returns ``h + gamma_i * C[:, p]``.

    control: float tensor (B, P, D), the adapter's control for absolute positions ``0..P-1`` of each of the
    B (conditional) samples; a decoder call with 2B rows is a guided one (conditional half first).
    Yields the position tracker (its ``calls`` list records each decoder call). Hooks go away on exit.
    """
    check_transformers()
    if cfg not in CFG_MODES:
        raise OptionError(f"unknown guidance treatment {cfg!r}; available: {', '.join(CFG_MODES)}")
    layers = decoder_layers(model)
    width = model.config.decoder.hidden_size
    if adapter.config.num_layers != len(layers) or adapter.config.hidden_size != width:
        raise OptionError(f"adapter built for {adapter.config.num_layers} layers of width {adapter.config.hidden_size}, "
                          f"model has {len(layers)} of width {width}")
    if control.dim() != 3 or control.shape[-1] != width:
        raise ValueError(f"control must be (batch, positions, {width}), got {tuple(control.shape)}")
    position = PositionTracker()
    n_cond, n_pos = control.shape[0], control.shape[1]

    def track(module: Any, args: tuple, kwargs: dict) -> None:
        cache = kwargs.get("cache")
        position.offset = int(cache.get_seq_length()) if cache is not None else 0
        ids = kwargs.get("input_ids", args[0] if args else None)
        length = ids.shape[-1] if ids is not None else kwargs["inputs_embeds"].shape[1]
        position.calls.append((position.offset, length))

    def add(slot: int):
        def hook(module: Any, args: tuple, output: Any) -> Any:
            import torch

            if not isinstance(output, torch.Tensor):
                raise DependencyError(f"MusicGen decoder layer returned {type(output).__name__}, not a tensor: "
                                      f"the hooks are written for transformers {PINNED_TRANSFORMERS}")
            rows, length, _ = output.shape
            start = position.offset
            assert start + length <= n_pos, f"control covers {n_pos} positions, decoder reached {start + length}"
            delta = adapter.gamma[slot] * control[:, start:start + length]  # (B, L, D)
            if rows == n_cond:
                return output + delta.to(output.dtype)
            if rows != 2 * n_cond:
                raise ValueError(f"decoder batch of {rows} rows for a control of {n_cond} samples")
            guided = output.view(2, n_cond, length, -1)  # (half, B, L, D), conditional half first
            if cfg == "both":
                return (guided + delta.to(output.dtype)).view_as(output)
            return torch.cat([guided[0] + delta.to(output.dtype), guided[1]], dim=0)
        return hook

    handles = [model.decoder.model.decoder.register_forward_pre_hook(track, with_kwargs=True)]
    try:
        for slot, index in enumerate(adapter.config.layers):
            handles.append(layers[index].register_forward_hook(add(slot)))
        yield position
    finally:
        for handle in handles:
            handle.remove()
