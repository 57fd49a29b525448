"""Training the VLM affect head (``narrascore train-sensor``): labelled videos -> ``head.safetensors``.

The manifest is JSON lines, one labelled video each; relative paths are relative to the manifest::

    {"video": "clips/a.mp4", "hop": 0.5, "valence": [0.1, 0.2, ...], "arousal": [-0.3, ...]}
    {"video": "clips/b.mp4", "curve": "labels/b.csv"}      # CSV columns: time,valence,arousal

Curve values lie in [-1, 1]; inline curves start at 0 s with one value every ``hop`` seconds.
Frames are sampled on the sensor's ``vlm_hz`` grid, each frame's hidden states are pooled exactly
as ``VLMSensor`` pools them (same prompt), and the target is the label curve interpolated at the
frame's time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, MediaError, OptionError
from ..train.manifests import check_curve, read_curve_csv


@dataclass(frozen=True)
class LabelledVideo:
    video: Path
    times: np.ndarray  # (n,) s
    valence: np.ndarray  # (n,) in [-1, 1]
    arousal: np.ndarray


def read_manifest(path: str | os.PathLike[str]) -> list[LabelledVideo]:
    """The labelled videos of a JSON-lines manifest (see module docstring); errors name the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            entry = json.loads(line)
            video = path.parent / entry["video"]
            if "curve" in entry:
                times, valence, arousal = read_curve_csv(path.parent / entry["curve"], where)
            else:
                valence = np.asarray(entry["valence"], dtype=float)
                arousal = np.asarray(entry["arousal"], dtype=float)
                times = np.arange(len(valence)) * float(entry["hop"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"{where}: expected video + (hop, valence, arousal) or curve ({exc})") from None
        check_curve(times, valence, arousal, where)
        if not video.exists():
            raise MediaError(f"{video}: file not found ({where})")
        items.append(LabelledVideo(video, np.asarray(times, float), valence, arousal))
    if not items:
        raise ArtifactError(f"{path}: no labelled video in the manifest")
    return items


def frame_dataset(vlm: str, items: list[LabelledVideo], *, vlm_hz: float = 1.0) -> tuple[np.ndarray, np.ndarray, str]:
    """Pooled hidden states (N, D) of the sampled frames, their VA targets (N, 2), and the model identity."""
    from ..media import iter_frames, probe
    from .local import LocalModel
    from .vlm import VLMSensor, frame_size, sample_times

    model = LocalModel.load(vlm, kind="vlm")
    sensor = VLMSensor(client=model)
    features, targets = [], []
    for item in items:
        info = probe(item.video)
        times = sample_times(info.duration, (), vlm_hz)
        frames = list(iter_frames(item.video, times, size=frame_size(info.width, info.height)))
        requests = [sensor.request(round(float(t), 3), rgb) for t, rgb in frames]
        features.append(model.pooled_hidden(requests))
        ft = np.array([t for t, _ in frames])
        targets.append(np.stack([np.interp(ft, item.times, item.valence), np.interp(ft, item.times, item.arousal)], axis=1))
    return np.concatenate(features), np.concatenate(targets), model.identity


def train_sensor(
    *, vlm: str, data: str | os.PathLike[str], out: str | os.PathLike[str], vlm_hz: float = 1.0, hidden: int = 64,
    epochs: int = 300, lr: float = 1e-2, l1_weight: float = 0.5, seed: int = 0,
):
    """Train a head for the local VLM ``vlm`` on the manifest ``data``; save it to ``out``. Returns the ``FitReport``."""
    from ..prompts import load_prompt
    from .head import fit_head

    if vlm.startswith(("http://", "https://")):
        raise OptionError("train-sensor reads hidden states: --vlm must be a local folder, hub id or 'debug', not a URL")
    items = read_manifest(data)
    x, y, identity = frame_dataset(vlm, items, vlm_hz=vlm_hz)
    head, report = fit_head(x, y, hidden=hidden, epochs=epochs, lr=lr, l1_weight=l1_weight, seed=seed,
                            model=identity, prompt=load_prompt("vlm_frame").tag)
    head.save(out)
    return report
