"""Where the labelled music comes from: a JSONL manifest, the DEAM layout, or a folder labelled by our estimator.

All three give ``LabelledAudio`` items: an audio file, its valence/arousal curve (values in [-1, 1] at
``times`` seconds from the start of the file) and an optional text description.

1. JSON lines, one clip per line; relative paths are relative to the manifest::

       {"audio": "clips/a.mp3", "hop": 0.5, "valence": [...], "arousal": [...], "text": "sad piano"}
       {"audio": "clips/b.wav", "hop": 0.5, "start": 15.0, "valence": [...], "arousal": [...]}
       {"audio": "clips/c.flac", "curve": "labels/c.csv"}      # CSV columns: time,valence,arousal

   Inline curves have one value every ``hop`` seconds from ``start`` (default 0).
2. DEAM (Aljanaki, Yang & Soleymani 2017) read in place: ``MEMD_audio/<song_id>.mp3`` and the averaged
   dynamic annotations ``arousal.csv`` / ``valence.csv`` (one row per ``song_id``, columns
   ``sample_15000ms``, ``sample_15500ms``, ... every 0.5 s from 15 s, in [-1, 1]). Songs without dynamic
   rows use the static per-song means (``static_annotations_averaged*.csv``: ``valence_mean``, ``arousal_mean``
   on DEAM's 1..9 scale) as flat curves. Each file's scale is checked: values in [-1, 1] are kept,
   values in [1, 9] are rescaled by (v - 5) / 4, anything else is an error naming the file.
3. Self-labelled: any folder of music; each file's curve is ``narrascore.evaluate.estimate_emotion``
   (cached). This teaches the adapter our own estimator's descriptors, nothing more (docs/training.md).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, OptionError

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma")
DEAM_SAMPLE = re.compile(r"^sample_(\d+)ms$")


@dataclass(frozen=True)
class LabelledAudio:
    """audio: the file; times (s, from the file's start), valence, arousal: the curve, (n,) in [-1, 1];
    text: its description or ''; source: where the labels came from (for messages)."""

    audio: Path
    times: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    text: str = ""
    source: str = ""


# --------------------------------------------------------------------------- dispatch
def read_source(data: str | os.PathLike[str]) -> tuple[str, list[LabelledAudio] | list[Path]]:
    """Which kind of data ``data`` is: ('manifest', items), ('deam', items) or ('folder', audio files).

    A file is a JSONL manifest; a folder holding ``MEMD_audio`` somewhere is DEAM; any other folder is
    music to self-label (its curves are estimated later, when the tokens are made).
    """
    path = Path(data).expanduser()
    if not path.exists():
        raise OptionError(f"{path}: training data not found (give a JSONL manifest, a DEAM folder or a folder of music)")
    if path.is_file():
        return "manifest", read_manifest(path)
    if find_deam(path) is not None:
        return "deam", read_deam(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise OptionError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in the folder")
    return "folder", files


# --------------------------------------------------------------------------- 1. JSONL manifest
def read_manifest(path: str | os.PathLike[str]) -> list[LabelledAudio]:
    """The clips of a JSONL manifest (module docstring); any bad line raises ``ArtifactError`` naming it.

    A missing audio file is not an error here: it is reported and skipped when the tokens are made.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read the manifest ({getattr(exc, 'strerror', None) or exc})") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            items.append(_manifest_line(line, path, number))
    if not items:
        raise ArtifactError(f"{path}: no clip in the manifest")
    return items


def _manifest_line(line: str, path: Path, number: int) -> LabelledAudio:
    where = f"{path} line {number}"
    try:
        entry = json.loads(line)
    except ValueError as exc:
        raise ArtifactError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(entry, dict):
        raise ArtifactError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    if not isinstance(entry.get("audio"), str) or not entry["audio"]:
        raise ArtifactError(f"{where}: missing \"audio\" (the path of the clip)")
    text = entry.get("text", "")
    if not isinstance(text, str):
        raise ArtifactError(f"{where}: \"text\" must be a string, got {text!r}")
    if "curve" in entry:
        if not isinstance(entry["curve"], str):
            raise ArtifactError(f"{where}: \"curve\" must be the path of a CSV file")
        times, valence, arousal = read_curve_csv(path.parent / entry["curve"], where)
    else:
        missing = [k for k in ("hop", "valence", "arousal") if k not in entry]
        if missing:
            raise ArtifactError(f"{where}: missing {', '.join(repr(k) for k in missing)} "
                                "(give hop + valence + arousal, or curve: a CSV path)")
        try:
            hop, start = float(entry["hop"]), float(entry.get("start", 0.0))
            valence = np.asarray(entry["valence"], dtype=float)
            arousal = np.asarray(entry["arousal"], dtype=float)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: hop, start, valence and arousal must be numbers ({exc})") from None
        if not hop > 0 or not math.isfinite(start):
            raise ArtifactError(f"{where}: hop must be positive and start finite, got hop {entry['hop']!r}")
        if valence.ndim != 1 or arousal.ndim != 1:
            raise ArtifactError(f"{where}: valence and arousal must be flat lists of numbers")
        times = start + hop * np.arange(len(valence))
    check_curve(times, valence, arousal, where)
    return LabelledAudio(path.parent / entry["audio"], times, valence, arousal, text.strip(), where)


def read_curve_csv(path: Path, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CSV with columns time,valence,arousal (seconds, [-1, 1])."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [(float(r["time"]), float(r["valence"]), float(r["arousal"])) for r in csv.DictReader(handle)]
    except OSError as exc:
        raise ArtifactError(f"{where}: cannot read the curve {path} ({exc.strerror or exc})") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise ArtifactError(f"{where}: {path}: expected CSV columns time,valence,arousal ({exc})") from None
    a = np.asarray(rows, dtype=float).reshape(-1, 3)
    return a[:, 0], a[:, 1], a[:, 2]


def check_curve(times: np.ndarray, valence: np.ndarray, arousal: np.ndarray, where: str) -> None:
    if not (len(times) == len(valence) == len(arousal) >= 1):
        raise ArtifactError(f"{where}: valence and arousal differ in length ({len(valence)}, {len(arousal)}) or are empty")
    values = np.concatenate([times, valence, arousal])
    if not np.all(np.isfinite(values)):
        raise ArtifactError(f"{where}: the curve holds a non-finite value (NaN or inf)")
    if np.abs(np.concatenate([valence, arousal])).max() > 1 + 1e-9:
        raise ArtifactError(f"{where}: valence and arousal must lie within [-1, 1] (largest |value| "
                            f"{np.abs(np.concatenate([valence, arousal])).max():.3g})")
    if np.any(np.diff(times) <= 0):
        raise ArtifactError(f"{where}: curve times must increase")


# --------------------------------------------------------------------------- 2. DEAM
def find_deam(root: Path) -> Path | None:
    """The ``MEMD_audio`` folder under ``root`` (itself included), or None."""
    if root.name == "MEMD_audio":
        return root
    for candidate in sorted(root.rglob("MEMD_audio")):
        if candidate.is_dir():
            return candidate
    return None


def read_deam(root: str | os.PathLike[str]) -> list[LabelledAudio]:
    """DEAM's songs with their curves: dynamic annotations where a song has them, else static means."""
    root = Path(root)
    audio_dir = find_deam(root)
    if audio_dir is None:
        raise OptionError(f"{root}: not a DEAM folder (no MEMD_audio folder inside)")
    search = audio_dir.parent if root == audio_dir else root
    dynamic: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for dim in ("valence", "arousal"):
        files = sorted(search.rglob(f"{dim}.csv"))
        if files:
            dynamic[dim] = read_deam_dynamic(files[0])
    static: dict[str, tuple[float, float]] = {}
    for path in sorted(search.rglob("static_annotations_averaged*.csv")):
        static.update(read_deam_static(path))
    if not dynamic and not static:
        raise OptionError(f"{root}: DEAM folder without annotations (no arousal.csv / valence.csv / "
                          "static_annotations_averaged*.csv)")
    if dynamic and set(dynamic) != {"valence", "arousal"}:
        raise OptionError(f"{root}: DEAM dynamic annotations need both valence.csv and arousal.csv "
                          f"(found only {', '.join(dynamic)}.csv)")
    items = []
    for song in sorted((p for p in audio_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES), key=_song_order):
        sid = song.stem
        if dynamic and sid in dynamic["valence"] and sid in dynamic["arousal"]:
            (tv, v), (ta, a) = dynamic["valence"][sid], dynamic["arousal"][sid]
            n = min(len(tv), len(ta))
            if n and np.array_equal(tv[:n], ta[:n]):
                items.append(LabelledAudio(song, tv[:n], v[:n], a[:n], "", f"DEAM dynamic, song {sid}"))
                continue
        if sid in static:
            v, a = static[sid]
            items.append(LabelledAudio(song, np.array([0.0]), np.array([v]), np.array([a]), "", f"DEAM static, song {sid}"))
    if not items:
        raise OptionError(f"{audio_dir}: no song has annotations (song ids are the audio files' names)")
    return items


def _song_order(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 62, path.stem)


def read_deam_dynamic(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """song_id -> (times s, values in [-1, 1]) from a DEAM dynamic file (``sample_<ms>ms`` columns)."""
    header, rows = _read_table(path)
    columns = [(i, int(m.group(1)) / 1000.0) for i, name in enumerate(header) if (m := DEAM_SAMPLE.match(name))]
    if "song_id" not in header or not columns:
        raise ArtifactError(f"{path}: expected DEAM dynamic columns song_id, sample_15000ms, sample_15500ms, ...")
    sid = header.index("song_id")
    table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for number, row in rows:
        values = np.array([_number(row, i, path, number) for i, _ in columns])
        times = np.array([t for _, t in columns])
        keep = np.isfinite(values)  # songs differ in length: trailing cells are empty
        table[_song_id(row[sid])] = (times[keep], values[keep])
    scale = _scale_of(np.concatenate([v for _, v in table.values()]) if table else np.zeros(0), path)
    return {k: (t, scale(v)) for k, (t, v) in table.items() if len(t)}


def read_deam_static(path: Path) -> dict[str, tuple[float, float]]:
    """song_id -> (valence, arousal) in [-1, 1] from a DEAM static file (``valence_mean``, ``arousal_mean``)."""
    header, rows = _read_table(path)
    needed = ("song_id", "valence_mean", "arousal_mean")
    if any(name not in header for name in needed):
        raise ArtifactError(f"{path}: expected DEAM static columns {', '.join(needed)}")
    i, iv, ia = (header.index(n) for n in needed)
    raw = {_song_id(row[i]): (_number(row, iv, path, n), _number(row, ia, path, n)) for n, row in rows}
    raw = {k: v for k, v in raw.items() if all(map(math.isfinite, v))}
    scale = _scale_of(np.array([x for pair in raw.values() for x in pair]), path)
    return {k: (float(scale(np.array(v[0]))), float(scale(np.array(v[1])))) for k, v in raw.items()}


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not lines:
        raise ArtifactError(f"{path}: empty annotation file")
    header = [name.strip() for name in lines[0]]
    return header, [(n, row) for n, row in enumerate(lines[1:], start=2) if any(cell.strip() for cell in row)]


def _number(row: list[str], index: int, path: Path, line: int) -> float:
    cell = row[index].strip() if index < len(row) else ""
    if not cell or cell.lower() == "nan":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise ArtifactError(f"{path} line {line}: {cell!r} is not a number") from None


def _song_id(cell: str) -> str:
    cell = cell.strip()
    try:
        return str(int(float(cell)))
    except ValueError:
        return cell


def _scale_of(values: np.ndarray, path: Path):
    """Values already in [-1, 1] are kept; DEAM's 1..9 ratings become (v - 5) / 4; anything else is refused."""
    if values.size == 0 or (values.min() >= -1 - 1e-9 and values.max() <= 1 + 1e-9):
        return lambda v: np.asarray(v, dtype=float)
    if values.min() >= 1 - 1e-9 and values.max() <= 9 + 1e-9:
        return lambda v: (np.asarray(v, dtype=float) - 5.0) / 4.0
    raise ArtifactError(f"{path}: values span {values.min():.3g}..{values.max():.3g}: neither [-1, 1] nor DEAM's 1..9 scale")
