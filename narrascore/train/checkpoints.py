"""Training checkpoints: the adapter's own files plus everything needed to continue exactly.

``<out>/checkpoint/`` holds ``adapter.safetensors`` + ``adapter.json`` (the same files ``AffectAdapter.save``
writes, loadable by ``--adapter``), ``trainer.pt`` (optimizer, scheduler and RNG states, the step) and
``state.json`` (the step, the config, the model identity and the data fingerprint, for checks and people).
A checkpoint is written into a temporary folder and swapped in, so an interruption leaves the previous
one whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import OptionError

FOLDER = "checkpoint"
TRAINER = "trainer.pt"
STATE = "state.json"
# options that may change on --resume without changing the loss curve
RESUMABLE = ("steps", "val_every", "checkpoint_every", "cache_dir")


def save_checkpoint(out: Path, *, adapter: Any, optimizer: Any, scheduler: Any, step: int, meta: dict[str, Any]) -> Path:
    import torch

    final = out / FOLDER
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.", dir=out))
    try:
        adapter.save(tmp)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, tmp / TRAINER)
        (tmp / STATE).write_text(json.dumps(dict(meta, step=step), indent=2) + "\n")
        old = out / ".checkpoint.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_state(out: Path) -> dict[str, Any]:
    """The checkpoint's ``state.json``; ``OptionError`` when there is nothing to resume."""
    path = out / FOLDER / STATE
    if not path.exists():
        raise OptionError(f"{out}: nothing to resume (no {FOLDER}/{STATE}); run without --resume to start")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OptionError(f"{path}: unreadable checkpoint state ({exc})") from None


def check_resumable(state: dict[str, Any], meta: dict[str, Any]) -> None:
    """Refuse to resume with another model, other data or other hyperparameters (naming each difference)."""
    differs = []
    for key in ("model", "data"):
        if state.get(key) != meta[key]:
            differs.append(f"{key} {state.get(key)!r} (now {meta[key]!r})")
    old, new = state.get("config", {}), meta["config"]
    for key in sorted(set(old) | set(new)):
        if key not in RESUMABLE and old.get(key) != new.get(key):
            differs.append(f"{key} {old.get(key)!r} (now {new.get(key)!r})")
    if differs:
        raise OptionError("cannot resume: the checkpoint was trained with " + ", ".join(differs))


def load_checkpoint(out: Path, *, adapter: Any, optimizer: Any, scheduler: Any) -> int:
    """Restore the adapter, optimizer, scheduler and RNG states; return the step reached."""
    import torch
    from safetensors.torch import load_file

    folder = out / FOLDER
    state = load_file(str(folder / "adapter.safetensors"))
    adapter.load_state_dict({k: v.to(next(adapter.parameters()).device) for k, v in state.items()}, strict=True)
    trainer = torch.load(folder / TRAINER, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(trainer["torch_rng"])
    if trainer.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(trainer["cuda_rng"])
    return int(trainer["step"])
