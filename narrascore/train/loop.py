"""The training loop: only the adapter learns; MusicGen stays frozen and bit-identical.

Per step: ``accumulate`` micro-batches of ``batch_size`` random crops (``data.sample_crops``, a pure
function of the seed and the micro-batch index), each the teacher-forced cross-entropy of the frozen
model with the adapter injected (``inject.inject``, the same hooks as generation), averaged over the
codebooks by the model's own labels handling; AdamW on the adapter's parameters, linear warm-up then a
constant rate, gradient clipping. fp32 on the CPU; bf16 autocast on a GPU that supports it. The gamma
vectors start at 0, so the first steps move gamma and the encoder follows (its gradient is gamma times
the backbone's).

Outputs in ``out``: ``adapter.safetensors`` + ``adapter.json`` (load with ``--adapter out``),
``train_log.jsonl`` (one record per step: loss, lr, grad_norm, seconds; one per validation: val_loss),
``train.json`` (a summary) and ``checkpoint/`` (``--resume`` continues from it exactly).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OptionError
from ..fileio import canonical_hash, ensure_writable_dir, write_json_atomic
from ..progress import Reporter, SilentReporter
from .checkpoints import check_resumable, load_checkpoint, read_state, save_checkpoint
from .config import TrainConfig
from .data import Batch, Clip, Crop, Prepared, fixed_crops, make_batch, prepare_clips, sample_crops

LOG = "train_log.jsonl"
SUMMARY = "train.json"


@dataclass
class TrainReport:
    """What a run did. losses: the training loss of every step run now; val_losses: (step, loss) pairs,
    step 0 being the untrained adapter; skipped: (file, reason) for every unreadable file."""

    out: Path
    step: int
    losses: list[float]
    val_losses: list[tuple[int, float]]
    clips: int
    val_clips: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    encoded: int = 0
    step_seconds: float = 0.0

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None


def train_adapter(*, model: Any, data: str | os.PathLike[str] | Sequence[Clip], out: str | os.PathLike[str],
                  config: TrainConfig = TrainConfig(), resume: bool = False,
                  reporter: Reporter | None = None) -> TrainReport:
    """Train the Token-Level Affective Adapter on a frozen MusicGen and write it into ``out``.

    model: a MusicGen folder, hub id or ``debug`` (or a loaded ``Backbone``); data: a JSONL manifest, a
    DEAM folder, a folder of music to self-label, or ready ``Clip`` objects (tokens given directly);
    resume: continue from ``out/checkpoint`` up to ``config.steps``.
    """
    from ..synth.musicgen.backbone import Backbone, load_backbone

    reporter = reporter or SilentReporter()
    backbone = model if isinstance(model, Backbone) else load_backbone(str(model))
    out = ensure_writable_dir(out)
    prepared = _prepare(data, backbone, config, reporter)
    train, val = split(prepared.clips, config)
    trainer = Trainer(backbone, train, val, config)
    meta = {"model": backbone.identity, "data": trainer.fingerprint, "config": config.to_dict()}
    log_path = out / LOG
    start = 0
    if resume:
        check_resumable(read_state(out), meta)
        start = load_checkpoint(out, adapter=trainer.adapter, optimizer=trainer.optimizer, scheduler=trainer.scheduler)
        _truncate_log(log_path, start)
        reporter.note(f"resumed at step {start} of {config.steps}")
    elif log_path.exists():
        log_path.unlink()
    report = TrainReport(out=out, step=start, losses=[], val_losses=[], clips=len(train), val_clips=len(val),
                         skipped=prepared.skipped, encoded=prepared.encoded)
    times: list[float] = []
    with open(log_path, "a", encoding="utf-8") as log, reporter.stage("train", total=config.steps) as advance:
        def record(entry: dict[str, Any]) -> None:
            log.write(json.dumps(entry) + "\n")
            log.flush()

        if start == 0 and val:
            report.val_losses.append((0, trainer.validate()))
            record({"step": 0, "val_loss": report.val_losses[-1][1]})
        advance(start)
        for step in range(start + 1, config.steps + 1):
            t0 = time.perf_counter()
            loss, norm, lr = trainer.step(step - 1)
            times.append(time.perf_counter() - t0)
            report.losses.append(loss)
            record({"step": step, "loss": loss, "lr": lr, "grad_norm": norm, "seconds": round(times[-1], 4)})
            if val and (step % config.val_every == 0 or step == config.steps):
                report.val_losses.append((step, trainer.validate()))
                record({"step": step, "val_loss": report.val_losses[-1][1]})
                reporter.note(f"step {step}: loss {loss:.4f}, val_loss {report.val_losses[-1][1]:.4f}")
            if step % config.checkpoint_every == 0 or step == config.steps:
                save_checkpoint(out, adapter=trainer.adapter, optimizer=trainer.optimizer,
                                scheduler=trainer.scheduler, step=step, meta=meta)
            report.step = step
            advance(step)
    trainer.adapter.save(out)
    report.step_seconds = statistics.median(times) if times else 0.0
    write_json_atomic(out / SUMMARY, {
        "model": backbone.name, "model_identity": backbone.identity, "step": report.step, "config": config.to_dict(),
        "data": {"kind": prepared.kind, "clips": len(train), "val_clips": len(val), "fingerprint": trainer.fingerprint,
                 "skipped": [{"file": f, "reason": r} for f, r in prepared.skipped]},
        "last_loss": report.last_loss, "val_losses": report.val_losses, "median_step_seconds": report.step_seconds,
        "adapter_parameters": trainer.adapter.parameter_count(),
    })
    return report


def _prepare(data: Any, backbone: Any, config: TrainConfig, reporter: Reporter) -> Prepared:
    from ..fileio import user_cache_dir
    from .manifests import read_source

    if isinstance(data, (str, os.PathLike)):
        kind, items = read_source(data)
        cache = Path(config.cache_dir).expanduser() if config.cache_dir else user_cache_dir() / "train-tokens"
        with reporter.stage("tokens", total=len(items)) as advance:
            prepared = prepare_clips(kind, items, backbone, cache, note=reporter.note, advance=advance)
        if prepared.skipped:
            reporter.note(f"skipped {len(prepared.skipped)} of {len(items)} files that could not be read (listed in train.json)")
    else:
        prepared = Prepared(clips=list(data), kind="clips")
    if not prepared.clips:
        raise OptionError(f"{data}: no usable clip ({len(prepared.skipped)} skipped"
                          + (f"; first: {prepared.skipped[0][1]}" if prepared.skipped else "") + ")")
    k = backbone.decoder_config.num_codebooks
    vocab = backbone.decoder_config.vocab_size
    for clip in prepared.clips:
        if clip.codes.shape[0] != k or clip.codes.min() < 0 or clip.codes.max() >= vocab:
            raise OptionError(f"clip {clip.key}: codes must be ({k}, T) in 0..{vocab - 1}, got shape "
                              f"{clip.codes.shape}, range {clip.codes.min()}..{clip.codes.max()}")
    return prepared


def split(clips: Sequence[Clip], config: TrainConfig) -> tuple[list[Clip], list[Clip]]:
    """Hold out ``val_fraction`` of the clips (at least one when the fraction is positive and there are two
    or more clips), chosen by the seed from the clips sorted by key: the split does not depend on file order."""
    ordered = sorted(clips, key=lambda c: c.key)
    n_val = 0 if config.val_fraction == 0 or len(ordered) < 2 else max(1, int(round(len(ordered) * config.val_fraction)))
    chosen = set(np.random.default_rng([config.seed, 2]).permutation(len(ordered))[:n_val].tolist())
    return [c for i, c in enumerate(ordered) if i not in chosen], [c for i, c in enumerate(ordered) if i in chosen]


class Trainer:
    """The adapter, its optimiser and the loss on the frozen backbone."""

    def __init__(self, backbone: Any, train: list[Clip], val: list[Clip], config: TrainConfig) -> None:
        import torch

        from ..synth.musicgen.adapter import config_for, new_adapter
        from ..synth.musicgen.inject import check_transformers

        check_transformers()
        self.backbone, self.train, self.val, self.config = backbone, train, val, config
        self.model = backbone.model.requires_grad_(False).eval()
        self.device = next(self.model.parameters()).device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            adapter = new_adapter(config_for(self.model, backbone.name, layers=config.layers, **config.adapter_shape()))
        self.adapter = adapter.to(self.device).train()
        self.radius = adapter.config.receptive_radius
        self.frames = max(1, int(round(config.crop_seconds * backbone.frame_rate)))
        self.optimizer = torch.optim.AdamW(self.adapter.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        warm = config.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0)
        use_bf16 = config.bf16 and self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext
        self.fingerprint = canonical_hash([[c.key, c.text, list(c.labelled), c.frames] for c in sorted(train + val, key=lambda c: c.key)])[:16]
        self.val_batches = [crops for crops in _chunks([crop for i, clip in enumerate(val) for crop in
                                                         fixed_crops(clip, i, self.frames, config.val_crops)], config.batch_size)]

    def batch(self, clips: Sequence[Clip], crops: Sequence[Crop]) -> Batch:
        return make_batch(self.model, clips, crops, radius=self.radius, default_text=self.config.text,
                          use_clip_text=self.config.use_clip_text)

    def loss(self, batch: Batch) -> Any:
        """Teacher-forced cross-entropy (mean over codebooks) with the adapter injected."""
        from ..synth.musicgen.inject import inject

        text = self.backbone.tokenizer(batch.texts, return_tensors="pt", padding=True)
        with self.autocast():
            control = self.adapter.encode(batch.va.to(self.device))  # (B, L, D), differentiable
            with inject(self.model, self.adapter, control):
                out = self.model(input_ids=text["input_ids"].to(self.device),
                                 attention_mask=text["attention_mask"].to(self.device),
                                 labels=batch.labels.to(self.device), use_cache=False)
        return out.loss.float()

    def step(self, index: int) -> tuple[float, float, float]:
        """Optimiser step ``index`` (0-based): (mean loss, gradient norm before clipping, learning rate used)."""
        import torch

        cfg = self.config
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for a in range(cfg.accumulate):
            crops = sample_crops(self.train, index * cfg.accumulate + a, cfg.batch_size, self.frames, cfg.seed)
            loss = self.loss(self.batch(self.train, crops))
            (loss / cfg.accumulate).backward()
            total += float(loss.detach()) / cfg.accumulate
        if index == 0 and any(p.grad is not None for p in self.model.parameters()):
            raise RuntimeError("the backbone received gradients: it must stay frozen")
        params = list(self.adapter.parameters())
        if cfg.max_grad_norm > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
        else:
            norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))
        if not math.isfinite(total):
            raise RuntimeError(f"step {index + 1}: the loss is {total}; lower lr (now {lr})")
        self.optimizer.step()
        self.scheduler.step()
        return total, norm, lr

    def validate(self) -> float:
        """Mean loss over the fixed crops of the held-out clips."""
        import torch

        self.adapter.eval()
        losses, weights = [], []
        with torch.no_grad():
            for crops in self.val_batches:
                losses.append(float(self.loss(self.batch(self.val, crops))))
                weights.append(len(crops))
        self.adapter.train()
        return float(np.average(losses, weights=weights))


def _chunks(items: list[Crop], size: int) -> list[list[Crop]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _truncate_log(path: Path, step: int) -> None:
    """Keep only the records up to ``step`` (a resumed run rewrites what came after the checkpoint)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def time_steps(backbone: Any, *, steps: int = 3, batch_size: int = 1, crop_seconds: float = 10.0, seed: int = 0) -> list[float]:
    """Seconds per optimiser step on random tokens (for planning: no data needed). The first step is included."""
    rng = np.random.default_rng(seed)
    k, vocab, fr = backbone.decoder_config.num_codebooks, backbone.decoder_config.vocab_size, backbone.frame_rate
    frames = int(round(crop_seconds * fr))
    clips = [Clip(key=f"random-{i}", codes=rng.integers(0, vocab, (k, frames)).astype(np.int16),
                  va=rng.uniform(-1, 1, (frames, 2)).astype(np.float32)) for i in range(batch_size)]
    trainer = Trainer(backbone, clips, [], TrainConfig(batch_size=batch_size, crop_seconds=crop_seconds, val_fraction=0,
                                                       warmup_steps=0, seed=seed))
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        trainer.step(i)
        times.append(time.perf_counter() - t0)
    return times
