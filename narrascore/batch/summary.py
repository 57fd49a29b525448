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
COLUMNS = ("name", "video", "status", "video_s", "wall_s", "rtf", "arousal_r", "cut_sync", "listener", "note", "error")
WIDE = 110  # console columns from which the table shows every column


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


def summary_table(rows: Sequence[ItemResult], *, title: str = "batch", width: int | None = None) -> Any:
    """A ``rich.table.Table`` of the rows, with a count of each status in the caption.

    ``width``: the console's columns. Under ``WIDE`` columns the wall time and speed are left out
    (they stay in the CSV) and the headers shortened; the numbers keep their full width and the
    video names and messages share what is left, cut with an ellipsis.
    """
    from rich import box
    from rich.table import Table

    narrow = width is not None and width < WIDE
    numbers = [("duration", "dur", lambda r: _cell(r.video_s, 1) and f"{r.video_s:.1f} s"),
               ("wall", None, lambda r: _cell(r.wall_s, 1) and f"{r.wall_s:.1f} s"),
               ("speed", None, lambda r: _cell(r.rtf, 1) and f"{r.rtf:.1f}×"),
               ("arousal r", "r", lambda r: _cell(r.arousal_r, 2)),
               ("cut sync", "sync", lambda r: _cell(r.cut_sync, 2))]
    fixed = [("status", lambda r: r.status)]
    fixed += [(short if narrow else name, cell) for name, short, cell in numbers if not (narrow and short is None)]
    widths = [max([len(name)] + [len(cell(r)) for r in rows]) for name, cell in fixed]
    names, messages = [r.name for r in rows], [r.error or r.note for r in rows]
    free = None if width is None else max(16, width - sum(widths) - 3 * (len(fixed) + 2) - 1)
    name_width = max([5] + [len(n) for n in names])
    if free is not None:
        name_width = min(name_width, max(8, free - min(free // 2, max([0] + [len(m) for m in messages]))))
    table = Table(title=title, caption=_caption(rows), box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD)
    table.add_column("video", overflow="ellipsis", no_wrap=True, max_width=name_width)
    for (name, _), w in zip(fixed, widths):
        table.add_column(name, justify="left" if name == "status" else "right", no_wrap=True, width=w)
    table.add_column("note / error" if narrow else "note or error (full text in the CSV)", overflow="ellipsis",
                     no_wrap=True, max_width=60 if free is None else max(8, free - name_width))
    style = {"done": "green", "skipped": "dim", "failed": "red"}
    for row, message in zip(rows, messages):
        cells = [cell(row) for _, cell in fixed]
        cells[0] = f"[{style.get(row.status, '')}]{row.status}[/]"
        table.add_row(row.name, *cells, message)
    return table


def _caption(rows: Sequence[ItemResult]) -> str:
    counts = {status: sum(r.status == status for r in rows) for status in ("done", "skipped", "failed")}
    return ", ".join(f"{n} {status}" for status, n in counts.items())
