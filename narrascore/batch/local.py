"""The local runner: a pool of worker processes on this machine, one video at a time each.

A small pool of our own rather than ``concurrent.futures``: the batch must know which video each
worker holds (a worker that dies takes only its video down), and must be able to stop them all on
Ctrl-C. Each worker leads its own process group, so a terminal's Ctrl-C reaches only the parent,
which then sends SIGTERM to every group (a worker and the scan/render processes it started). The
workers turn SIGTERM into ``KeyboardInterrupt``: atomic writes remove their temporary files and no
output is left half-written. Whatever is still alive after ``GRACE_SECONDS`` is killed.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from ..parallel import become_worker, process_context, start_process
from .inputs import BatchItem
from .item import ItemResult, score_one

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.5


def _worker(tasks: Any, results: Any, out_root: Path, parent: int) -> None:
    """Take (index, item) jobs until the ``None`` sentinel (or the parent is gone); report start and row.

    ``results`` is this worker's own pipe: a send is written at once (no feeder thread), so what a
    worker said before it died is never lost, and the parent knows which video it held.
    """
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        become_worker(parent)  # SIGTERM/SIGHUP interrupt; the kernel stops it if the parent is killed
        while True:
            try:
                job = tasks.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:
                    return
                continue
            if job is None:
                return
            index, item = job
            results.send(("start", index, None))
            results.send(("end", index, score_one(item, out_root)))
    except KeyboardInterrupt:
        return


def run_local(jobs: Sequence[tuple[int, BatchItem]], out_root: Path, *, workers: int,
              on_row: Callable[[int, ItemResult], None]) -> None:
    """Score ``jobs`` (index, item) with ``workers`` processes; ``on_row(index, row)`` as each finishes.

    On ``KeyboardInterrupt`` the workers are stopped (SIGTERM, then SIGKILL after the grace period),
    the rows that finished meanwhile are still reported, and the interrupt is raised again.
    """
    if not jobs:
        return
    ctx = process_context()
    tasks = ctx.Queue()
    for job in jobs:
        tasks.put(job)
    n = max(1, min(workers, len(jobs)))
    for _ in range(n):
        tasks.put(None)
    items = dict(jobs)
    live: dict[Any, Any] = {}  # the read end of a worker's pipe -> the worker
    running: dict[int, int] = {}  # worker pid -> index of the video it holds
    done: set[int] = set()

    def start() -> None:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(tasks, send, out_root, os.getpid()), daemon=False)
        start_process(proc)
        send.close()
        live[receive] = proc

    def fail(index: int, error: str) -> None:
        done.add(index)
        item = items[index]
        on_row(index, ItemResult(name=item.name, video=str(item.video), status="failed", error=error))

    def receive_from(conn: Any, *, stopping: bool = False) -> bool:
        """Handle one message of ``conn``'s worker; False once it has exited (end of its pipe).

        A worker that exits while the batch is ``stopping`` leaves its video unfinished, not failed."""
        proc = live[conn]
        try:
            kind, index, row = conn.recv()
        except (EOFError, OSError):
            conn.close()
            del live[conn]
            proc.join()
            index = running.pop(proc.pid, None)
            if index is not None and index not in done and not stopping:
                fail(index, f"worker process died (exit code {proc.exitcode})")
            return False
        if kind == "start":
            running[proc.pid] = index
        elif index not in done:
            running.pop(proc.pid, None)
            done.add(index)
            on_row(index, row)
        return True

    for _ in range(n):
        start()
    try:
        while len(done) < len(jobs):
            for conn in wait(list(live), timeout=POLL_SECONDS):
                proc = live[conn]
                if not receive_from(conn) and proc.exitcode != 0 and len(done) + len(running) < len(jobs):
                    start()  # a crashed worker did not take its sentinel: the new one will
            if not live and len(done) < len(jobs):  # a job vanished with a worker before it said so
                for index in items:
                    if index not in done:
                        fail(index, "lost with a worker process that died")
        for proc in live.values():  # each has its sentinel: let it end, so nothing outlives the batch
            proc.join()
    except BaseException:
        _stop(list(live.values()))
        for conn in list(live):
            while conn in live and conn.poll() and receive_from(conn, stopping=True):
                pass
        _sweep([items[i] for i in items if i not in done], out_root)
        tasks.cancel_join_thread()
        raise


def _sweep(unfinished: Sequence[BatchItem], out_root: Path) -> None:
    """Remove what a worker stopped mid-write left (a signal can land between creating a temporary file
    and the block that removes it); the workers are gone, so no run holds these folders."""
    from ..lock import remove_litter
    from ..pipeline import WORK_DIR

    for item in unfinished:
        folder = out_root / item.name
        if folder.is_dir():
            remove_litter(folder, folder / WORK_DIR)


def _stop(procs: Sequence[Any]) -> None:
    """SIGTERM to each worker's process group; SIGKILL to what outlives the grace period."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            _signal_group(proc, signal.SIGKILL)
            proc.join()


def _signal_group(proc: Any, sig: int) -> None:
    if proc.pid is None or proc.exitcode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):  # not yet its own group leader
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
