"""Training hyperparameters: one frozen dataclass, read from ``train.toml`` and overridden by CLI flags.

``train.toml`` holds the fields below at top level or under a ``[train]`` table; an unknown key or a
value of the wrong type is an ``OptionError`` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OptionError

DEFAULT_TEXT = "cinematic instrumental music"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes a training run.

    steps: optimiser steps in all (a resumed run continues up to this); batch_size: crops per
    micro-batch; accumulate: micro-batches per step; crop_seconds: length of each random crop (s);
    lr, weight_decay: AdamW; warmup_steps: linear warm-up from 0 to ``lr``, then constant;
    max_grad_norm: gradient clipping (0: off); val_fraction: clips held out for validation;
    val_every: steps between validation losses; val_crops: fixed crops per held-out clip;
    checkpoint_every: steps between checkpoints; text: the anchor for clips without a description;
    use_clip_text: use each clip's own description when it has one; layers (None: the early 75%),
    channels, kernel_size, dilations: the adapter's shape; bf16: autocast to bfloat16 where the GPU
    supports it (fp32 on the CPU always); cache_dir: token cache (None: ``$NARRASCORE_CACHE/train-tokens``).
    """

    seed: int = 0
    steps: int = 2000
    batch_size: int = 8
    accumulate: int = 1
    crop_seconds: float = 10.0
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    val_fraction: float = 0.1
    val_every: int = 100
    val_crops: int = 2
    checkpoint_every: int = 100
    text: str = DEFAULT_TEXT
    use_clip_text: bool = True
    layers: tuple[int, ...] | None = None
    channels: int = 64
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    bf16: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 1, "steps must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.accumulate >= 1, "accumulate must be at least 1"),
            (self.crop_seconds > 0, "crop_seconds must be positive"),
            (self.lr > 0, "lr must be positive"),
            (self.weight_decay >= 0, "weight_decay must be at least 0"),
            (self.warmup_steps >= 0, "warmup_steps must be at least 0"),
            (self.max_grad_norm >= 0, "max_grad_norm must be at least 0 (0: no clipping)"),
            (0 <= self.val_fraction < 1, "val_fraction must lie in [0, 1)"),
            (self.val_every >= 1 and self.checkpoint_every >= 1, "val_every and checkpoint_every must be at least 1"),
            (self.val_crops >= 1, "val_crops must be at least 1"),
            (self.channels >= 1 and self.kernel_size >= 1, "channels and kernel_size must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise OptionError(f"{message}: {self._summary()}")

    def _summary(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(self).items())

    def adapter_shape(self) -> dict[str, Any]:
        return {"channels": self.channels, "kernel_size": self.kernel_size, "dilations": tuple(self.dilations)}

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` (None values are ignored: an unset CLI flag keeps the file's value)."""
        return build_config(self.to_dict() | {k: v for k, v in changes.items() if v is not None}, "options")


def build_config(values: dict[str, Any], where: str) -> TrainConfig:
    """A ``TrainConfig`` from plain values (a TOML table, a JSON dict); errors name ``where`` and the key."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise OptionError(f"{where}: unknown training option(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    clean: dict[str, Any] = {}
    for key, value in values.items():
        default = fields[key].default
        if key in ("layers", "dilations"):
            if value is not None and not (isinstance(value, (list, tuple)) and all(isinstance(i, int) for i in value)):
                raise OptionError(f"{where}: {key} must be a list of integers, got {value!r}")
            value = tuple(value) if value is not None else None
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise OptionError(f"{where}: {key} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise OptionError(f"{where}: {key} must be an integer, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OptionError(f"{where}: {key} must be a number, got {value!r}")
            value = float(value)
        elif key in ("text", "cache_dir") and value is not None and not isinstance(value, str):
            raise OptionError(f"{where}: {key} must be a string, got {value!r}")
        clean[key] = value
    return TrainConfig(**clean)


def load_config(path: str | os.PathLike[str] | None) -> TrainConfig:
    """Read ``train.toml`` (None: the defaults)."""
    if path is None:
        return TrainConfig()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OptionError(f"{path}: cannot read the training config ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise OptionError(f"{path}: not valid TOML ({exc})") from None
    table = raw.get("train", raw)
    if not isinstance(table, dict):
        raise OptionError(f"{path}: [train] must be a table")
    return build_config(dict(table), str(path))
