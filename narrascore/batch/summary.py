"""The batch summary: ``OUT_DIR/batch-summary.csv`` (written atomically) and a rich table."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..fileio import write_text_atomic
from .item import ItemResult

SUMMARY = "batch-summary.csv"
COLUMNS = ("name", "video", "status", "video_s", "wall_s", "rtf", "arousal_r", "cut_sync", "listener", "error")


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def write_summary(path: Path, rows: Sequence[ItemResult]) -> Path:
    """One line per video in ``COLUMNS`` order; empty cells where a number does not apply."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in COLUMNS])
    write_text_atomic(path, buffer.getvalue())
    return path


def read_summary(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def summary_table(rows: Sequence[ItemResult], *, title: str = "batch") -> Any:
    """A ``rich.table.Table`` of the rows, with a count of each status in the caption."""
    from rich.table import Table

    table = Table(title=title, caption=_caption(rows))
    for name in ("video", "status", "duration", "wall", "speed", "arousal r", "cut sync"):
        table.add_column(name, justify="left" if name in ("video", "status") else "right", no_wrap=True)
    table.add_column("error (full text in the CSV)", overflow="ellipsis", no_wrap=True, max_width=60)
    style = {"done": "green", "skipped": "dim", "failed": "red"}
    for row in rows:
        table.add_row(row.name, f"[{style.get(row.status, '')}]{row.status}[/]",
                      _cell(row.video_s, 1) and f"{row.video_s:.1f} s", _cell(row.wall_s, 1) and f"{row.wall_s:.1f} s",
                      _cell(row.rtf, 1) and f"{row.rtf:.1f}×", _cell(row.arousal_r, 2), _cell(row.cut_sync, 2),
                      row.error)
    return table


def _caption(rows: Sequence[ItemResult]) -> str:
    counts = {status: sum(r.status == status for r in rows) for status in ("done", "skipped", "failed")}
    return ", ".join(f"{n} {status}" for status, n in counts.items())
