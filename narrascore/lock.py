"""One run at a time per output folder, and what a killed run left behind.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
``OUT/.narrascore/lock``, which also holds the holder's PID for the message a second run gives.
The operating system releases it when the holder dies, however it dies, so a lock left by a
killed run is simply taken over. Worker processes inherit the lock and keep it until they end.

Holding the lock, a run removes the temporary files an earlier, killed run left: only names that
``fileio.atomic_path`` makes (``.<stem>.<8 random characters><suffix>``) and the renderer's scratch
files, only for NarraScore's own outputs and inside its own folders.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputError

LOCK_NAME = "lock"
# the names fileio.atomic_path gives: "." + final stem + "." + mkstemp's 8 characters + final suffix
TEMP_NAME = re.compile(r"^\.(?P<stem>.+)\.[a-z0-9_]{8}(?P<suffix>\.[A-Za-z0-9]+)?$")
SCRATCH_NAME = re.compile(r"^\.[A-Za-z0-9_-]+\.render\.wav$")  # the renderer's per-unit spill files
# outputs written straight into OUT (everything under OUT/.narrascore and OUT/stems is ours)
OUTPUT_STEMS = frozenset({"soundtrack", "scored", "figure", "score", "media", "shots", "affect", "narrative",
                          "concept", "report", "emotion", "vlm_frames", "batch-summary"})
OWN_FOLDERS = ("stems", "prompts")

_held: dict[tuple[str, int], int] = {}  # (lock file, thread) -> nesting depth: a run inside a run, same thread


def _lock(fd: int, *, block: bool) -> bool:
    """Take the OS lock on ``fd``; False when another process holds it and ``block`` is off."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if block else msvcrt.LK_NBLCK, 1)
        except OSError:
            if block:
                raise
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def hold(work: Path, *, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock of the output folder whose work folder is ``work`` for the block.

    Raises ``OutputError`` naming the holder's PID when another run holds it, unless ``wait``:
    then ``on_wait(pid)`` is called and the lock is awaited.
    """
    path = work / LOCK_NAME
    name = (str(path.resolve()), threading.get_ident())
    if name in _held:
        _held[name] += 1
        try:
            yield
        finally:
            _held[name] -= 1
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the lock file ({exc.strerror or exc})") from None
    try:
        if not _lock(fd, block=False):
            pid = _holder(path)
            if not wait:
                raise OutputError(f"{work.parent}: another narrascore run (PID {pid}) is writing to this folder; "
                                  f"wait for it or pass --wait")
            if on_wait is not None:
                on_wait(pid)
            _lock(fd, block=True)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        _held[name] = 1
        try:
            yield
        finally:
            del _held[name]
    finally:
        os.close(fd)  # releases the lock


def remove_litter(out: Path, work: Path) -> list[Path]:
    """Delete the temporary files a killed run left in ``out`` (call it holding the lock); returns them."""
    removed: list[Path] = []
    for folder, ours in _folders(out, work):
        removed += remove_temporary_files(folder, ours=ours)
    return removed


def remove_temporary_files(folder: Path, *, ours: bool) -> list[Path]:
    """Delete the temporary files in ``folder`` alone (every such name when ``ours``, else only those of
    NarraScore's outputs); call it holding the lock of the folder's run. Returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.is_file(follow_symlinks=False):
            continue
        match = TEMP_NAME.match(entry.name)
        litter = (match is not None and (ours or match["stem"] in OUTPUT_STEMS)) or (
            ours and SCRATCH_NAME.match(entry.name) is not None)
        if litter:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _folders(out: Path, work: Path) -> Iterator[tuple[Path, bool]]:
    """(folder, whether every temporary name in it is ours): OUT itself, then our own folders, recursively."""
    yield out, False
    roots = [work] + [out / name for name in OWN_FOLDERS]
    for root in roots:
        if root.is_dir():
            yield root, True
            for dirpath, dirnames, _files in os.walk(root):
                for d in dirnames:
                    yield Path(dirpath) / d, True
