"""What identifies the things a stage really used: files by content, libraries by version.

Cache keys hold these, so installing a better SoundFont, replacing a file in place or upgrading a
renderer recomputes what depends on it. Hashing a file costs about 0.15 s per 40 MB; the hash is
remembered in a small JSON file by (absolute path, size, mtime), so a large SoundFont or a film is
read in full only when it changed.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

from .fileio import file_sha256, read_json_object, write_json_atomic


def library_versions(*names: str) -> dict[str, str | None]:
    """Installed distribution versions by name (None for one that is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cached_sha256(path: str | os.PathLike[str], *, cache: Path | None = None) -> str:
    """SHA-256 of a file's bytes; with ``cache`` (a JSON file) remembered by (absolute path, size, mtime)."""
    path = Path(path).resolve()
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    known = read_json_object(cache) if cache is not None else {}
    entry = known.get(str(path))
    if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp and isinstance(entry[2], str):
        return entry[2]
    digest = file_sha256(path)
    if cache is not None:
        known[str(path)] = [*stamp, digest]
        write_json_atomic(cache, known)
    return digest


def remember_sha256(path: str | os.PathLike[str], digest: str, *, cache: Path) -> None:
    """Record a hash computed elsewhere (the media probe hashes the video anyway)."""
    path = Path(path).resolve()
    stat = path.stat()
    known = read_json_object(cache)
    known[str(path)] = [stat.st_size, stat.st_mtime_ns, digest]
    write_json_atomic(cache, known)


def file_identity(path: str | os.PathLike[str], sha256: str) -> dict[str, Any]:
    """A file as a cache key holds it: absolute path, size in bytes and its content hash ``sha256``."""
    path = Path(path).resolve()
    return {"path": str(path), "size": path.stat().st_size, "sha256": sha256}
