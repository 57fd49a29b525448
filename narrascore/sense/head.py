"""The trained affect head: a frame's pooled hidden states (frozen VLM) -> (valence, arousal).

A small MLP (``hidden = 0``: one linear layer) trained with ``MSE + l1_weight * L1`` on labelled
videos (``narrascore train-sensor``). Saved as ``head.safetensors`` (weights) and ``head.json``
(shapes, training settings, the model and prompt it was trained with, feature normalisation).
Predictions are clipped to [-1, 1].
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, OptionError
from ..fileio import ensure_writable_dir, write_json_atomic
from .local import require_neural

WEIGHTS, CONFIG = "head.safetensors", "head.json"
HEAD_FORMAT = 1


@dataclass(frozen=True)
class HeadConfig:
    """What ``head.json`` holds. ``mean``/``std``: per-feature normalisation learnt on the training set."""

    input_dim: int
    hidden: int = 64
    model: str = ""  # identity of the VLM whose hidden states it reads
    prompt: str = ""  # prompt tag (name@version) the features were pooled under
    pooling: str = "mean-last-layer"
    confidence: float = 0.7  # confidence the sensor gives the head's readings
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    train: dict[str, Any] = field(default_factory=dict)
    format: int = HEAD_FORMAT


def _module(config: HeadConfig) -> Any:
    torch, _ = require_neural()
    nn = torch.nn
    if config.hidden == 0:
        return nn.Sequential(nn.Linear(config.input_dim, 2))
    return nn.Sequential(nn.Linear(config.input_dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, 2))


class AffectHead:
    """A head and its config; ``predict`` maps features (N, input_dim) to VA (N, 2) in [-1, 1]."""

    def __init__(self, config: HeadConfig, module: Any | None = None) -> None:
        self.config = config
        self.module = module if module is not None else _module(config)

    @property
    def identity(self) -> str:
        torch, _ = require_neural()
        digest = hashlib.sha256(json.dumps(asdict(self.config), sort_keys=True).encode())
        for tensor in self.module.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return digest.hexdigest()[:16]

    def _normalise(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.config.input_dim:
            raise OptionError(f"the head reads features of width {self.config.input_dim}, got shape {x.shape} (a different model?)")
        if self.config.mean:
            x = (x - np.asarray(self.config.mean, np.float32)) / np.asarray(self.config.std, np.float32)
        return x

    def predict(self, features: np.ndarray) -> np.ndarray:
        torch, _ = require_neural()
        with torch.inference_mode():
            y = self.module(torch.from_numpy(self._normalise(features))).numpy()
        return np.clip(y, -1.0, 1.0).astype(np.float64)  # (N, 2): valence, arousal

    def save(self, folder: str | os.PathLike[str]) -> Path:
        from safetensors.torch import save_file

        folder = ensure_writable_dir(folder)
        state = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        save_file(state, str(folder / WEIGHTS), metadata={"format": str(HEAD_FORMAT)})
        write_json_atomic(folder / CONFIG, asdict(self.config))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> "AffectHead":
        folder = Path(folder)
        if not (folder / CONFIG).exists() or not (folder / WEIGHTS).exists():
            raise ArtifactError(f"{folder}: not a trained head (expected {CONFIG} and {WEIGHTS}; make one with `narrascore train-sensor`)")
        require_neural()
        from safetensors.torch import load_file

        try:
            data = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
            if data.get("format") != HEAD_FORMAT:
                raise ArtifactError(f"{folder / CONFIG}: head format {data.get('format')!r}, this NarraScore reads {HEAD_FORMAT}")
            data["mean"], data["std"] = tuple(data.get("mean", ())), tuple(data.get("std", ()))
            config = HeadConfig(**data)
        except (ValueError, TypeError) as exc:
            raise ArtifactError(f"{folder / CONFIG}: malformed head config ({exc})") from None
        head = cls(config)
        try:
            head.module.load_state_dict(load_file(str(folder / WEIGHTS)))
        except RuntimeError as exc:
            raise ArtifactError(f"{folder / WEIGHTS}: weights do not fit {CONFIG} ({str(exc).splitlines()[0]})") from None
        head.module.eval()
        return head


@dataclass(frozen=True)
class FitReport:
    """Training outcome: final loss, and mean absolute error / R^2 per dimension (valence, arousal)."""

    loss: float
    mae: tuple[float, float]
    r2: tuple[float, float]
    samples: int


def fit_head(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    hidden: int = 64,
    epochs: int = 300,
    lr: float = 1e-2,
    l1_weight: float = 0.5,
    weight_decay: float = 1e-4,
    seed: int = 0,
    **config: Any,
) -> tuple[AffectHead, FitReport]:
    """Train a head on ``features`` (N, D) -> ``targets`` (N, 2) in [-1, 1] with MSE + ``l1_weight`` * L1.

    Full-batch AdamW (the data sets are frames, a few thousand at most, and features are small).
    ``config`` fills the remaining ``HeadConfig`` fields (model, prompt, confidence).
    """
    torch, _ = require_neural()
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(targets, dtype=np.float32)
    if x.ndim != 2 or y.shape != (x.shape[0], 2) or x.shape[0] < 2:
        raise OptionError(f"need features (N, D) and targets (N, 2) with N >= 2, got {x.shape} and {y.shape}")
    mean, std = x.mean(0), x.std(0) + 1e-6
    cfg = HeadConfig(input_dim=x.shape[1], hidden=hidden, mean=tuple(map(float, mean)), std=tuple(map(float, std)),
                     train={"epochs": epochs, "lr": lr, "l1_weight": l1_weight, "weight_decay": weight_decay, "seed": seed,
                            "samples": int(x.shape[0])}, **config)
    torch.manual_seed(seed)
    head = AffectHead(cfg)
    xt, yt = torch.from_numpy((x - mean) / std), torch.from_numpy(y)
    optimiser = torch.optim.AdamW(head.module.parameters(), lr=lr, weight_decay=weight_decay)
    loss = torch.tensor(0.0)
    for _ in range(epochs):
        optimiser.zero_grad()
        error = head.module(xt) - yt  # (N, 2)
        loss = (error**2).mean() + l1_weight * error.abs().mean()
        loss.backward()
        optimiser.step()
    head.module.eval()
    pred = head.predict(x)
    mae = np.abs(pred - y).mean(0)
    r2 = 1.0 - ((pred - y) ** 2).sum(0) / np.maximum(((y - y.mean(0)) ** 2).sum(0), 1e-12)
    report = FitReport(loss=float(loss.detach()), mae=(float(mae[0]), float(mae[1])), r2=(float(r2[0]), float(r2[1])), samples=int(x.shape[0]))
    return head, report
