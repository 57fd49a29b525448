"""The demo video: a two-minute planted story (see :func:`narrascore.media.synthetic.demo_segments`)."""

from __future__ import annotations

import os

from .synthetic import make_demo_video


def make_demo(path: str | os.PathLike[str], *, seconds: float = 120.0, width: int = 640, height: int = 360) -> list[float]:
    """Write the demo video to ``path`` and return its true cut times (s)."""
    return make_demo_video(path, seconds=seconds, width=width, height=height)
