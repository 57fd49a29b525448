"""Training the Token-Level Affective Adapter on a frozen MusicGen (``narrascore train``).

>>> from narrascore.train import TrainConfig, train_adapter
>>> report = train_adapter(model="debug", data="clips.jsonl", out="adapter", config=TrainConfig(steps=50))
>>> narrascore.score("film.mp4", "out", synth="musicgen", model="debug", adapter="adapter")

Modules: ``config`` (``TrainConfig``, ``train.toml``), ``manifests`` (JSONL manifests, the DEAM layout,
folders to self-label), ``data`` (EnCodec token cache, curves on the token grid, crops, delay-pattern
labels), ``loop`` (the trainer), ``checkpoints`` (exact resume), ``control`` (controllability measures).
Importing this package needs no torch; training does. See docs/training.md.
"""

from __future__ import annotations

from .config import DEFAULT_TEXT, TrainConfig, load_config
from .data import Clip
from .loop import TrainReport, train_adapter

__all__ = ["DEFAULT_TEXT", "Clip", "TrainConfig", "TrainReport", "load_config", "train_adapter"]
