"""Confidence-weighted fusion of several sensors' curves on one grid.

At each sample, with sensor confidences ``c_k``, prior weights ``w_k`` (default 1) and readings ``x_k``::

    x = sum(w_k c_k x_k) / sum(w_k c_k)          (plain mean of the readings where all c_k = 0)
    c = 1 - prod(1 - c_k)                         (independent evidence adds up; stays in [0, 1])

so a sensor that says nothing at a sample (the subtitle sensor between lines, confidence 0) leaves
the others' reading untouched there.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..artifacts import SensorCurve
from ..errors import OptionError


def fuse(curves: Mapping[str, SensorCurve], weights: Mapping[str, float] | None = None) -> SensorCurve:
    """Fuse named sensor curves of equal length into one; valence/arousal in [-1, 1], confidence in [0, 1]."""
    if not curves:
        raise OptionError("no sensor curves to fuse")
    lengths = {name: len(c.valence) for name, c in curves.items()}
    if len(set(lengths.values())) != 1:
        raise OptionError(f"sensor curves differ in length: {lengths}")
    names = list(curves)
    prior = np.array([float((weights or {}).get(name, 1.0)) for name in names])[:, None]  # (K, 1)
    if (prior < 0).any():
        raise OptionError(f"sensor weights must be non-negative, got {dict(weights or {})}")
    v = np.array([curves[k].valence for k in names], dtype=float).reshape(len(names), -1)  # (K, T)
    a = np.array([curves[k].arousal for k in names], dtype=float).reshape(len(names), -1)
    c = np.clip(np.array([curves[k].confidence for k in names], dtype=float).reshape(len(names), -1), 0.0, 1.0)
    w = prior * c
    total = w.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    valence = np.where(total > 0, (w * v).sum(axis=0) / safe, v.mean(axis=0))
    arousal = np.where(total > 0, (w * a).sum(axis=0) / safe, a.mean(axis=0))
    confidence = 1.0 - np.prod(1.0 - c, axis=0)
    return SensorCurve(
        valence=tuple(float(x) for x in np.clip(valence, -1, 1)),
        arousal=tuple(float(x) for x in np.clip(arousal, -1, 1)),
        confidence=tuple(float(x) for x in np.clip(confidence, 0, 1)),
    )
