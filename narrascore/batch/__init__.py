"""Batch scoring of many videos: a local process pool, or a Ray cluster.

``run_batch(inputs, out_dir)`` scores every video that ``inputs`` names (a folder, a glob, or a
CSV/JSONL list with per-video options; see ``collect_inputs``) into ``out_dir/<name>/``, skips
the videos whose done marker matches (without starting a worker), records a failed video with its
error and goes on, and writes ``out_dir/batch-summary.csv``. ``narrascore batch`` is its command.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError
from ..fileio import ensure_writable_dir
from ..lock import hold, remove_temporary_files
from ..options import ScoreOptions
from ..pipeline import WORK_DIR
from .inputs import ROW_OPTIONS, VIDEO_EXTENSIONS, BatchItem, collect_inputs
from .item import ItemResult, finished, score_one
from .ranges import range_hook, sense_in_ranges, split_ranges
from .summary import SUMMARY, summary_table, write_summary

__all__ = [
    "ROW_OPTIONS", "VIDEO_EXTENSIONS", "BatchInterrupted", "BatchItem", "BatchResult", "ItemResult",
    "collect_inputs", "default_workers", "range_hook", "run_batch", "score_one", "sense_in_ranges",
    "split_ranges", "summary_table",
]
RANGE_SECONDS = 600.0  # s: videos longer than this have their sensing split into ranges (Ray only)


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: one row per finished video (in input order) and where the summary is.

    ``unfinished``: names of the videos an interrupt stopped before they finished.
    """

    out_dir: Path
    rows: tuple[ItemResult, ...]
    summary: Path
    unfinished: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[ItemResult, ...]:
        return tuple(r for r in self.rows if r.status == "failed")


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, SIGHUP: ``signum``) during a batch: the workers are stopped; ``result`` holds what had finished."""

    def __init__(self, result: BatchResult, signum: int = signal.SIGINT) -> None:
        super().__init__(f"batch interrupted: {len(result.rows)} finished, {len(result.unfinished)} not")
        self.result = result
        self.signum = int(signum)


def default_workers() -> int:
    """min(2, CPUs available to this process)."""
    from ..parallel import usable_cores

    return max(1, min(2, usable_cores()))


def run_batch(
    inputs: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    options: ScoreOptions | None = None,
    workers: int | None = None,
    ray: str | None = None,
    range_seconds: float = RANGE_SECONDS,
    cpus_per_video: float = 1.0,
    on_row: Callable[[ItemResult], None] | None = None,
) -> BatchResult:
    """Score every video of ``inputs`` into ``out_dir/<name>/``; see the module docstring.

    ``options``: defaults for every video (a list's rows override style, seed, synth).
    ``workers``: local worker processes (default ``default_workers()``); not with ``ray``.
    ``ray``: ``"auto"`` or a cluster address to run one Ray task per video (``cpus_per_video`` CPUs
    each) and to split the sensing of videos longer than ``range_seconds`` (s) into parallel ranges.
    ``on_row``: called with each row as it is known (skipped ones first).
    Raises ``BatchInterrupted`` (a ``KeyboardInterrupt``) on Ctrl-C, after stopping the workers and
    writing the summary of what finished.
    """
    if workers is not None and workers < 1:
        raise OptionError(f"workers must be at least 1, got {workers}")
    if workers is not None and ray is not None:
        raise OptionError(f"workers ({workers}) is for the local pool; with ray ({ray}) Ray places one task per video")
    if not range_seconds > 0:
        raise OptionError(f"range_seconds must be positive, got {range_seconds}")
    if not cpus_per_video > 0:
        raise OptionError(f"cpus_per_video must be positive, got {cpus_per_video}")
    items = collect_inputs(inputs, options=options, exclude=out_dir)
    for checked in {item.options for item in items}:  # a bad SoundFont or model fails the batch before any video
        checked.check_resources()
    out = ensure_writable_dir(out_dir)
    with hold(ensure_writable_dir(out / WORK_DIR)):  # one batch per output folder; its videos have their own locks
        remove_temporary_files(out, ours=False)  # e.g. the half-written summary of a killed batch
        return _run_items(items, out, workers=workers, ray=ray, range_seconds=range_seconds,
                          cpus_per_video=cpus_per_video, on_row=on_row)


def _run_items(items: list[BatchItem], out: Path, *, workers: int | None, ray: str | None, range_seconds: float,
               cpus_per_video: float, on_row: Callable[[ItemResult], None] | None) -> BatchResult:
    rows: dict[int, ItemResult] = {}

    def record(index: int, row: ItemResult) -> None:
        rows[index] = row
        if on_row is not None:
            on_row(row)

    jobs = []
    for index, item in enumerate(items):
        row = finished(item, out)
        if row is not None:
            record(index, row)
        else:
            jobs.append((index, item))
    try:
        if ray is not None:
            from .cluster import run_ray

            run_ray(jobs, out, address=ray, range_seconds=range_seconds, cpus_per_video=cpus_per_video, on_row=record)
        else:
            from .local import run_local

            run_local(jobs, out, workers=workers or default_workers(), on_row=record)
    except KeyboardInterrupt as exc:
        raise BatchInterrupted(_finish(out, items, rows), getattr(exc, "signum", signal.SIGINT)) from None
    return _finish(out, items, rows)


def _finish(out: Path, items: list[BatchItem], rows: dict[int, ItemResult]) -> BatchResult:
    ordered = tuple(rows[i] for i in sorted(rows))
    unfinished = tuple(item.name for i, item in enumerate(items) if i not in rows)
    return BatchResult(out_dir=out, rows=ordered, summary=write_summary(out / SUMMARY, ordered), unfinished=unfinished)

