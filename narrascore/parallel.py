"""How NarraScore starts worker processes (the audio scan beside the video scan, the render workers)."""

from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.context import BaseContext


def process_context() -> BaseContext:
    """``fork`` on Linux, ``spawn`` elsewhere.

    Forked workers start at once and, unlike spawned ones, do not re-import the caller's main
    script, so ``narrascore.score()`` works from a script without an ``if __name__ == "__main__"``
    guard. Workers are started before any progress-bar thread of ours is running and touch no
    state of the parent besides what they are handed. Where fork is unsafe or missing (macOS,
    Windows), spawn is used and scripts need the guard, as with any multiprocessing code.
    """
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")
