"""The Ray runner: one Ray task per video, and a long video's sensing split into parallel range tasks.

Each video task declares its resources: ``num_cpus`` (``cpus_per_video``) and, for the neural
paths (``--synth musicgen``, a local ``--vlm`` or ``--llm``), one GPU when the cluster has any
(on a cluster without GPUs such a task would never be scheduled, so it asks for none and runs on
CPU). Inside a video task, videos longer than ``range_seconds`` with the heuristic sensor have
their sensing split into ranges, one Ray task each (``ranges.py``: the scan stays one sequential
pass; the merged curve is exactly the single-process one). Output folders must be on a file
system every node sees.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DependencyError
from ..options import ScoreOptions
from ..sense import SensingInput
from .inputs import BatchItem
from .item import ItemResult, score_one
from .ranges import Range, range_hook

GRACE_SECONDS = 10.0


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DependencyError("--ray needs Ray: pip install 'narrascore[batch]'") from None
    return ray


def needs_gpu(options: ScoreOptions) -> bool:
    """Whether a video's run uses a neural model that wants a GPU."""
    return options.synth == "musicgen" or options.vlm is not None or options.llm is not None


def _raw_features(inputs: SensingInput, start: float | None, end: float | None) -> dict[str, Any]:
    from ..sense.heuristic import raw_features

    return raw_features(inputs, start, end)


@functools.lru_cache(maxsize=None)
def _remote_features() -> Any:
    return import_ray().remote(num_cpus=1)(_raw_features)


def ray_map(inputs: SensingInput, ranges: Sequence[Range]) -> list[dict[str, Any]]:
    """``raw_features`` of every range as parallel Ray tasks, in range order (a ``RangeMap``)."""
    ray = import_ray()
    shared = ray.put(inputs)  # the frame statistics go into the object store once, not once per range
    return ray.get([_remote_features().remote(shared, start, end) for start, end in ranges])


def _score_task(item: BatchItem, out_root: str, range_seconds: float) -> ItemResult:
    return score_one(item, Path(out_root), sense_hook=range_hook(range_seconds, ray_map))


def run_ray(jobs: Sequence[tuple[int, BatchItem]], out_root: Path, *, address: str, range_seconds: float,
            cpus_per_video: float, on_row: Callable[[int, ItemResult], None]) -> None:
    """Score ``jobs`` as Ray tasks; ``on_row(index, row)`` as each finishes.

    ``address``: ``auto`` (the cluster in RAY_ADDRESS or one started on this machine with ``ray
    start``, else a new local instance) or a cluster address. A Ray instance already initialised
    in this process (``ray.init`` by the caller) is used as it is and left running.
    On ``KeyboardInterrupt`` the tasks are cancelled (``KeyboardInterrupt`` inside them, so atomic
    writes clean up; forced after the grace period) and the interrupt is raised again.
    """
    if not jobs:
        return
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "auto" else address, include_dashboard=False, log_to_driver=False)
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        task = ray.remote(_score_task)
        refs = {}
        for index, item in jobs:
            gpus = 1 if has_gpu and needs_gpu(item.options) else 0
            ref = task.options(num_cpus=cpus_per_video, num_gpus=gpus, max_retries=0).remote(item, str(out_root), range_seconds)
            refs[ref] = (index, item)
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                for ref in ready:
                    index, item = refs[ref]
                    on_row(index, _get(ray, ref, item))
        except BaseException:
            _cancel(ray, pending)
            for ref in ray.wait(list(refs), num_returns=len(refs), timeout=0)[0]:
                if ref not in pending:
                    continue
                index, item = refs[ref]
                row = _get(ray, ref, item)
                if row.status == "done":
                    on_row(index, row)
            raise
    finally:
        if started:
            ray.shutdown()


def _get(ray: Any, ref: Any, item: BatchItem) -> ItemResult:
    try:
        return ray.get(ref)
    except Exception as exc:  # the task's process died, or Ray could not run it
        message = " ".join(str(exc).split())[:300]
        return ItemResult(name=item.name, video=str(item.video), status="failed", error=f"{type(exc).__name__}: {message}")


def _cancel(ray: Any, refs: Sequence[Any]) -> None:
    for ref in refs:
        ray.cancel(ref)
    deadline = time.monotonic() + GRACE_SECONDS
    left = list(refs)
    while left and time.monotonic() < deadline:
        _, left = ray.wait(left, num_returns=len(left), timeout=0.5)
    for ref in left:
        ray.cancel(ref, force=True)
