"""How NarraScore starts worker processes (the audio scan beside the video scan, the figure, the render
workers) and makes them end with the run: never an orphan, never a half-written file.

A worker dies with its parent, even when the parent is killed with SIGKILL or by the out-of-memory
killer: on Linux the kernel sends it SIGTERM when the parent goes (``prctl(PR_SET_PDEATHSIG)``);
a thread watches the parent's PID as well (elsewhere it sends the SIGTERM), and a worker still there
``STOP_SECONDS`` later is killed. Workers turn SIGTERM and SIGHUP into
``KeyboardInterrupt``, so their atomic writes remove their temporary files on the way out.

Forked workers are started by ``start_process``: a stop that comes while one is being forked is answered
after the fork, in the parent and in the new worker alike, never lost inside the fork.

A forked worker never garbage-collects what it inherited (``gc.freeze`` at the fork): the parent's
uncollected cycles can hold FFmpeg objects whose threads live only in the parent (PyAV 18.1.1's
resampler graph), and freeing one in the child waits on those threads for ever.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from typing import Any

from .errors import NarrascoreError

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_SECONDS = 0.5
YIELDING_NICENESS = 10  # a yielding worker's nice value: the cores go to the others first
STOP_SECONDS = 5.0  # a worker told to stop gets this long before it is killed

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=gc.freeze)  # the parent's garbage stays the parent's (module docstring)


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


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


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's ``KeyboardInterrupt`` so the same clean-up runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Forking:
    """Set while the main thread forks a worker (``start_process``), and in the new worker until it is
    one (``become_worker``): a stop signal or Ctrl-C is then noted in ``pending`` (with the process it
    reached) and raised once the fork is done, not inside the fork's after-fork handlers."""

    active = False
    pending: tuple[int, int] | None = None  # (PID, signal)


def _note_or_raise(signum: int, stop: BaseException) -> None:
    if _Forking.active:
        _Forking.pending = (os.getpid(), signum)
        return
    raise stop


def _raise_terminated(signum: int, frame: Any) -> None:
    _note_or_raise(signum, Terminated(signum))


def _raise_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C as Python's own handler answers it (``KeyboardInterrupt``), noted while forking."""
    _note_or_raise(signum, KeyboardInterrupt())


def _forked_child() -> None:
    """In a new worker, whose memory is the parent's at the fork: a signal noted before the fork was the
    parent's (the parent raises it). One that reaches the worker from here on waits for ``become_worker``."""
    if _Forking.pending is not None and _Forking.pending[0] != os.getpid():
        _Forking.pending = None


def _take_pending() -> int | None:
    """The signal noted in this process while forking, if any; forking is over."""
    pending, _Forking.pending, _Forking.active = _Forking.pending, None, False
    return pending[1] if pending is not None and pending[0] == os.getpid() else None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked_child)


def stop_signals() -> tuple[int, ...]:
    """The signals handled like SIGINT: SIGTERM, and SIGHUP where it exists."""
    return tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


@contextlib.contextmanager
def interrupt_on_stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``Terminated`` (in the main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_terminated) for s in stop_signals()}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def held_signals() -> tuple[int, ...]:
    """Ctrl-C's SIGINT and the stop signals: what ``start_process`` holds back while it forks."""
    return (signal.SIGINT, *stop_signals())


def start_process(process: Any) -> None:
    """``process.start()``, with SIGINT, SIGTERM and SIGHUP answered only once the fork is done.

    A signal whose handler ran while ``os.fork`` ran its after-fork handlers (logging's lock release, for
    one) raised there, where Python prints "Exception ignored" and goes on: the run then finished as if it
    had never been stopped. So the forking thread blocks those signals, and a handler that runs meanwhile
    (the signal reached another thread; handlers run in the main thread) only notes it: the stop
    (``Terminated``, or ``KeyboardInterrupt`` for Ctrl-C) is raised here, after the new worker is stopped.
    The worker starts with them blocked too, so one sent to it at once waits in the kernel (Python drops
    signals that arrive during a fork) until ``become_worker`` lets it through.
    """
    if threading.current_thread() is not threading.main_thread():
        process.start()  # the handlers run in the main thread, never inside this thread's fork
        return
    sigint = signal.getsignal(signal.SIGINT)
    swapped = sigint is signal.default_int_handler
    if swapped:
        signal.signal(signal.SIGINT, _raise_interrupt)
    _Forking.active, _Forking.pending = True, None
    masked = hasattr(signal, "pthread_sigmask")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held_signals()) if masked else None
    try:
        process.start()
    finally:
        if masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a held signal's handler runs now, and notes it
        pending = _take_pending()
        if swapped:
            signal.signal(signal.SIGINT, sigint)
    if pending is not None:
        if process.pid is not None:  # the caller never gets the worker: it must not outlive this
            stop_process(process)
        if pending == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(pending)


def become_worker(parent: int) -> None:
    """Call first in a worker process: it ends when ``parent`` (a PID) ends, and stops cleanly on SIGTERM/SIGHUP."""
    for s in stop_signals():
        signal.signal(s, _raise_terminated)
    pending = _take_pending()  # a stop that reached this worker while it was being forked
    if pending is not None:
        raise KeyboardInterrupt if pending == signal.SIGINT else Terminated(pending)
    if hasattr(signal, "pthread_sigmask"):  # blocked by ``start_process``: one sent meanwhile is raised here
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held_signals())
    if sys.platform.startswith("linux") and _set_parent_death_signal(signal.SIGTERM):
        if os.getppid() != parent:  # the parent was gone before the kernel was told
            raise Terminated(signal.SIGTERM)
    # Also watched from a thread, everywhere but Windows (which does not re-parent: the pipes break
    # instead): it sends SIGTERM where the kernel cannot, and SIGKILL to a worker still there
    # ``STOP_SECONDS`` after its parent went (one that swallowed the SIGTERM, in a C library say).
    if hasattr(os, "getppid") and sys.platform != "win32":
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="narrascore-parent-watch").start()


def _set_parent_death_signal(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


def stop_process(process: Any) -> None:
    """SIGTERM a worker, then SIGKILL it if it is still there after ``STOP_SECONDS``."""
    if process.exitcode is None:
        with contextlib.suppress(Exception):
            process.terminate()
        process.join(STOP_SECONDS)
    if process.exitcode is None:
        with contextlib.suppress(Exception):
            process.kill()
        process.join()


def _background_main(conn: Any, parent: int, prepare: Callable[[], Any] | None,
                     job: tuple[Callable[..., Any], tuple, dict] | None, yields: bool = False) -> None:
    try:
        become_worker(parent)
        if yields and hasattr(os, "nice"):
            with contextlib.suppress(OSError):
                os.nice(YIELDING_NICENESS)
        if prepare is not None:
            prepare()
        if job is None:  # a standby worker: the call comes once its inputs exist
            job = conn.recv()
            if job is None:
                return
        fn, args, kwargs = job
        progress = _LatestSender(conn) if kwargs.pop(_PROGRESS, False) else None
        if progress is not None:
            kwargs["progress"] = progress.report
        try:
            value = fn(*args, **kwargs)
        finally:
            if progress is not None:
                progress.close()
        conn.send(("ok", value))
    except (KeyboardInterrupt, EOFError):
        return
    except BaseException as exc:  # handed to the parent, which raises it
        try:
            conn.send(("error", exc))
        except Exception:
            with contextlib.suppress(Exception):
                conn.send(("error", NarrascoreError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


class _LatestSender:
    """A worker's progress, sent to the parent by a thread of its own, only the latest value waiting.

    The parent reads progress only while it waits in ``result()``; busy elsewhere (say, feeding this
    worker through another pipe), it would let the pipe fill up and the worker block on a report.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._cond = threading.Condition()
        self._value: float | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="narrascore-progress")
        self._thread.start()

    def report(self, done: float) -> None:
        with self._cond:
            self._value = done
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._value is None and not self._closed:
                    self._cond.wait()
                if self._value is None:
                    return
                value, self._value = self._value, None
            try:
                self._conn.send(("progress", value))
            except OSError:
                return

    def close(self) -> None:
        """Send what is left, then stop (before the result goes down the same pipe)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()


_PROGRESS = "_narrascore_progress"  # in a job's kwargs: hand ``fn`` a ``progress`` that reports to the parent


class Background:
    """``fn(*args, **kwargs)`` run in one worker process while this one goes on; ``result()`` waits for it.

    With ``reports_progress``, ``fn`` is called with a ``progress`` argument of its own, whose calls in
    the worker reach ``result(progress=...)`` here while it waits.

    ``yields``: the worker runs at a lower priority (``YIELDING_NICENESS``), for side work such as the
    figure that must not slow the stages it runs beside. ``Background.standby(prepare)`` starts the worker before the call is known: it runs ``prepare()``
    (imports, say) at once and then waits for ``submit(fn, ...)``, so its set-up overlaps with the work
    that makes the call's inputs. As a context manager the worker is stopped if the block is left before
    its result was taken (an error, Ctrl-C, SIGTERM), so nothing outlives the run.
    """

    def __init__(self, fn: Callable[..., Any] | None, *args: Any, _prepare: Callable[[], Any] | None = None,
                 reports_progress: bool = False, yields: bool = False, **kwargs: Any) -> None:
        ctx = process_context()
        self._conn, child = ctx.Pipe(duplex=True)
        job = None if fn is None else (fn, args, {**kwargs, _PROGRESS: reports_progress})
        self.submitted = job is not None
        self.process = ctx.Process(target=_background_main, args=(child, os.getpid(), _prepare, job, yields),
                                   daemon=True)
        start_process(self.process)
        child.close()  # the worker's end: our reads see EOF when it dies

    @classmethod
    def standby(cls, prepare: Callable[[], Any] | None = None, *, yields: bool = False) -> "Background":
        return cls(None, _prepare=prepare, yields=yields)

    def submit(self, fn: Callable[..., Any], *args: Any, reports_progress: bool = False, **kwargs: Any) -> None:
        """Hand a standby worker its call (its arguments are pickled)."""
        if self.submitted:
            raise RuntimeError("this worker already has its call")
        self.submitted = True
        try:
            self._conn.send((fn, args, {**kwargs, _PROGRESS: reports_progress}))
        except (BrokenPipeError, EOFError):
            pass  # it died getting ready: ``result`` says so

    def result(self, progress: Callable[[float], None] | None = None) -> Any:
        """Wait for the worker's value (or raise its error); ``progress`` gets what it reports meanwhile."""
        return gather([self], progress)[0]

    def _receive(self) -> tuple[str, Any]:
        try:
            return self._conn.recv()
        except EOFError:
            self.process.join()
            raise NarrascoreError(f"worker process died (exit code {self.process.exitcode})") from None

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc: Any) -> None:
        stop_process(self.process)
        self._conn.close()


def gather(workers: list[Background], progress: Callable[[float], None] | None = None) -> list[Any]:
    """Every worker's value, in order, or the first error one raises; ``progress`` gets the sum of the
    latest values they report (each worker counts its own share of the work)."""
    values: dict[int, Any] = {}
    latest = [0.0] * len(workers)
    waiting = {id(w._conn): i for i, w in enumerate(workers)}
    while waiting:
        ready = multiprocessing.connection.wait([workers[i]._conn for i in waiting.values()])
        for conn in ready:
            i = waiting[id(conn)]
            kind, value = workers[i]._receive()
            if kind == "progress":
                latest[i] = value
                if progress is not None:
                    progress(sum(latest))
                continue
            del waiting[id(conn)]
            workers[i].process.join()
            if kind == "error":
                raise value
            values[i] = value
    return [values[i] for i in range(len(workers))]
