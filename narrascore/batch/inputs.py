"""What a batch scores: a folder (searched recursively), a glob, or a CSV/JSONL list with per-video options.

Every video gets a unique, deterministic output name: its path relative to the folder, the glob's
fixed part or the list file, without the extension (``trips/day1.mp4`` -> ``trips/day1``). Where two
videos would share a name, the extension goes into it (``day1-mp4``, ``day1-mkv``); a list that
names the same video twice gets ``-2``, ``-3``... in list order. A list row may also give ``name``.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import OptionError
from ..options import ScoreOptions

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                    ".wmv", ".flv", ".ogv", ".3gp")
ROW_OPTIONS = ("style", "seed", "synth")  # per-video options a CSV/JSONL row may set
ROW_FIELDS = ("video", "name", *ROW_OPTIONS)


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch: scored with ``options`` into ``OUT_DIR/name``."""

    video: Path
    name: str
    options: ScoreOptions


def collect_inputs(inputs: str | os.PathLike[str], *, options: ScoreOptions | None = None,
                   exclude: str | os.PathLike[str] | None = None) -> list[BatchItem]:
    """The videos ``inputs`` names, in a deterministic order, each with its options and output name.

    ``inputs``: a folder (every file with a video extension below it), a glob (``clips/*.mp4``,
    ``**`` allowed), or a ``.csv`` / ``.jsonl`` list with a ``video`` column (relative paths are
    relative to the list) and optionally ``name`` and the options in ``ROW_OPTIONS``.
    ``options``: the defaults of every video (a row's options override them). ``exclude``: a folder
    whose files are never inputs (the batch's output folder, when it lies inside the input folder).
    """
    base = options or ScoreOptions()
    text = os.fspath(inputs)
    path = Path(text)
    if path.is_dir():
        videos = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                        and not _inside(p, exclude))
        found = [(v, None, base) for v in videos]
        root = path
    elif path.is_file() and path.suffix.lower() in (".csv", ".jsonl"):
        found = _read_list(path, base)
        root = path.parent
    elif glob.has_magic(text):
        videos = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file() and not _inside(Path(p), exclude))
        found = [(v, None, base) for v in videos]
        root = _glob_root(text)
    elif path.is_file():
        found, root = [(path, None, base)], path.parent
    else:
        raise OptionError(f"{text}: not a folder, a glob, a video or a .csv/.jsonl list")
    if not found:
        raise OptionError(f"{text}: no videos found (extensions: {', '.join(VIDEO_EXTENSIONS)})")
    names = _unique_names([(video, name, root) for video, name, _ in found])
    return [BatchItem(video=video, name=name, options=opts) for (video, _, opts), name in zip(found, names)]


def _inside(path: Path, folder: str | os.PathLike[str] | None) -> bool:
    if folder is None:
        return False
    root = Path(folder).resolve()
    return root in path.resolve().parents


def _glob_root(pattern: str) -> Path:
    """The fixed leading folders of a glob: ``clips/2024/*.mp4`` -> ``clips/2024``."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _read_list(path: Path, base: ScoreOptions) -> list[tuple[Path, str | None, ScoreOptions]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as handle:
                rows = [(i + 2, dict(r)) for i, r in enumerate(csv.DictReader(handle))]
        else:
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise OptionError(f"{path}:{i + 1}: expected a JSON object, got {line.strip()[:60]!r}")
                    rows.append((i + 1, row))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise OptionError(f"{path}: cannot read the list ({exc})") from None
    found = []
    for line, row in rows:
        unknown = sorted(k for k in row if k not in ROW_FIELDS)
        if unknown:
            raise OptionError(f"{path}:{line}: unknown column(s) {', '.join(map(repr, unknown))}; valid: {', '.join(ROW_FIELDS)}")
        video = str(row.get("video") or "").strip()
        if not video:
            raise OptionError(f"{path}:{line}: no video given")
        changes = {k: row[k] for k in ROW_OPTIONS if row.get(k) not in (None, "")}
        if "seed" in changes:
            try:
                changes["seed"] = int(changes["seed"])
            except (TypeError, ValueError):
                raise OptionError(f"{path}:{line}: seed must be an integer, got {changes['seed']!r}") from None
        try:
            opts = base.replace(**changes)
        except OptionError as exc:
            raise OptionError(f"{path}:{line}: {exc}") from None
        name = str(row["name"]).strip() if row.get("name") not in (None, "") else None
        if name is not None:
            _check_name(name, f"{path}:{line}")
        found.append((path.parent / video, name, opts))
    return found


def _check_name(name: str, where: str) -> None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.strip("/") in ("", ".") or "\\" in name:
        raise OptionError(f"{where}: name {name!r} must be a relative folder name without '..'")


def _relative(video: Path, root: Path) -> PurePosixPath:
    try:
        rel = video.resolve().relative_to(root.resolve())
    except ValueError:
        rel = Path(video.name)
    return PurePosixPath(rel.as_posix())


def _unique_names(entries: list[tuple[Path, str | None, Path]]) -> list[str]:
    """Output names, unique and deterministic for the given order (see the module docstring)."""
    rels = [_relative(video, root) for video, _, root in entries]
    stems = [name if name is not None else str(rel.with_suffix("")) for (_, name, _), rel in zip(entries, rels)]
    files: dict[str, set[PurePosixPath]] = {}  # stem -> the different files that would take it
    for (_, name, _), rel, stem in zip(entries, rels, stems):
        if name is None:
            files.setdefault(stem, set()).add(rel)
    wanted = []
    for (_, name, _), rel, stem in zip(entries, rels, stems):
        if name is None and len(files[stem]) > 1 and rel.suffix:
            stem = f"{rel.with_suffix('')}-{rel.suffix.lstrip('.').lower()}"
        wanted.append(stem)
    taken: set[str] = set()
    names = []
    for stem in wanted:
        name, k = stem, 1
        while name in taken:
            k += 1
            name = f"{stem}-{k}"
        taken.add(name)
        names.append(name)
    return names
