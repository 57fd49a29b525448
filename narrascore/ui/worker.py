"""The page's job worker: a separate process that runs scoring jobs and keeps the SoundFont loaded.

Loading an sf3 SoundFont decodes its samples while holding the GIL for seconds (FACTS.md); run inside
the server, every job stalled every request. The worker process loads the default SoundFont as soon
as it starts and keeps it between jobs (``synth.procedural.render.load_synth`` caches it per process),
so a re-render skips the load and the server's own interpreter only answers requests.

Protocol over one duplex pipe: the server sends ``(function, args)`` (a module-level function, called
as ``function(*args, reporter=...)``) or ``None`` to stop; the worker answers with progress messages
``("begin", i, name, total)``, ``("advance", i, done)``, ``("end", i, state)``, ``("note", text)``, then
``("ok",)`` or ``("failed", message)``. A worker whose server has gone exits on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import NarrascoreError
from ..progress import Advance

NICE = 5  # the worker's (and its children's) scheduling priority below the server's
ADVANCE_INTERVAL = 0.1  # seconds between two progress messages of one stage


class JobFailed(Exception):
    """A job ended with an error; the message is the one line the page shows."""


class _PipeReporter:
    """The worker side of a job's progress: every stage and note goes back through the pipe."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._count = 0

    def _send(self, message: tuple) -> None:
        with self._lock:
            self._conn.send(message)

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator[Advance]:
        with self._lock:
            index = self._count
            self._count += 1
        self._send(("begin", index, name, total))
        last = [0.0]

        def advance(done: float) -> None:
            now = time.monotonic()
            if now - last[0] >= ADVANCE_INTERVAL:
                last[0] = now
                self._send(("advance", index, float(done)))

        try:
            yield advance
        except BaseException:
            self._send(("end", index, "failed"))
            raise
        self._send(("end", index, "done"))

    def note(self, message: str) -> None:
        self._send(("note", message))


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # the server is gone: stop at once, even mid-job
        time.sleep(1.0)


def _preload() -> None:
    """Load the default SoundFont now, so the first job does not wait for it (any error: the job reports it),
    and import what every job uses: the figure's process is forked from here and inherits matplotlib
    (1.6 s to import), the music's emotion estimate runs here."""
    with contextlib.suppress(Exception):
        from ..synth.procedural.render import load_synth
        from ..synth.procedural.soundfont import find_soundfont

        load_synth(find_soundfont(None))
    with contextlib.suppress(Exception):
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.figure  # noqa: F401

        from .. import evaluate, pipeline  # noqa: F401


def _worker_main(conn: Any, parent: int, preload: bool) -> None:
    with contextlib.suppress(OSError):
        os.nice(NICE)  # on a busy machine the server's requests go first
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if preload:
        _preload()
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if job is None:
            return
        function, args = job
        try:
            function(*args, reporter=_PipeReporter(conn))
            conn.send(("ok",))
        except NarrascoreError as exc:
            conn.send(("failed", str(exc)))
        except Exception as exc:  # a bug: the page still gets one line, as the CLI would print
            conn.send(("failed", f"internal error: {type(exc).__name__}: {exc}"))


class JobProcess:
    """One worker process (started at once, so its SoundFont loads while the user uploads)."""

    def __init__(self, *, preload: bool = True) -> None:
        # spawn: the server has threads (uvicorn, the job threads); forking it could copy a held lock
        self._ctx = multiprocessing.get_context("spawn")
        self._preload = preload
        self._start()

    def _start(self) -> None:
        self._conn, child = self._ctx.Pipe(duplex=True)
        # not a daemon: the pipeline starts processes of its own (the audio scan, the figure)
        self.process = self._ctx.Process(target=_worker_main, args=(child, os.getpid(), self._preload),
                                         name="narrascore-job-worker")
        self.process.start()
        child.close()

    def run(self, function: Callable[..., None], args: tuple, reporter: Any) -> None:
        """Run ``function(*args, reporter=...)`` in the worker, mirroring its progress into ``reporter``
        (a ``jobs.JobReporter``); ``JobFailed`` with the job's one-line error."""
        try:
            self._conn.send((function, args))
            while True:
                message = self._conn.recv()
                kind = message[0]
                if kind == "begin":
                    reporter.begin(message[1], message[2], message[3])
                elif kind == "advance":
                    reporter.advance(message[1], message[2])
                elif kind == "end":
                    reporter.end(message[1], message[2])
                elif kind == "note":
                    reporter.note(message[1])
                elif kind == "ok":
                    return
                else:
                    raise JobFailed(message[1])
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            self.process.join(timeout=5)
            code = self.process.exitcode
            self._conn.close()
            self._start()  # the next job gets a fresh worker
            raise JobFailed(f"internal error: the job worker stopped (exit code {code}); it was restarted") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        with contextlib.suppress(Exception):
            self._conn.close()
