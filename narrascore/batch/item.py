"""Scoring one video of a batch: the run, its evaluation, the done marker and the summary row.

The done marker (``OUT/<name>/.narrascore/batch-done.json``) records the video (path, size,
modification time, content hash), the options' hash and the package version with the row's
numbers. A video whose marker matches and whose outputs exist is skipped without starting a
worker; anything else runs the pipeline, which itself reuses every stage that still matches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..artifacts import to_data
from ..fileio import canonical_hash, write_json_atomic
from ..options import ScoreOptions
from ..pipeline import WORK_DIR, SenseHook, synth_identity
from .inputs import BatchItem

MARKER = "batch-done.json"
MARKER_SCHEMA = "narrascore.batch-done"
STATUSES = ("done", "skipped", "failed")
# The evaluation compares the measured curve (2 Hz, centred windows) with the narrative one (0.5 s hop)
# over the span both cover: a video under a second leaves none. Such a video is scored, not evaluated.
EVALUATE_MIN_SECONDS = 1.0
TOO_SHORT = "too short to evaluate"


@dataclass(frozen=True)
class ItemResult:
    """One row of the batch summary.

    status: done (scored now), skipped (its marker matched) or failed (``error``: one line).
    video_s: video duration (s); wall_s: time this batch spent on it (s); rtf: real-time factor,
    video seconds per wall second (None when skipped or failed). arousal_r: Pearson r between the
    soundtrack's measured arousal and the narrative curve (``narrascore.evaluate``, None when flat);
    cut_sync: share of cuts that land on a musical event (``CutSync.hit_rate``). listener: who
    heard the soundtrack's emotion (``narrascore.evaluate.listeners``: the best installed).
    note: why a done video has no numbers (``TOO_SHORT``: shorter than ``EVALUATE_MIN_SECONDS``).
    """

    name: str
    video: str
    status: str
    video_s: float | None = None
    wall_s: float | None = None
    rtf: float | None = None
    arousal_r: float | None = None
    cut_sync: float | None = None
    listener: str = ""
    note: str = ""
    error: str = ""
    outputs: tuple[str, ...] = field(default=(), compare=False)


def options_hash(options: ScoreOptions) -> str:
    """What identifies the options of a run (``force`` aside: it changes how, not what)."""
    return canonical_hash(to_data(options.replace(force=False)))


def _stamp(video: Path) -> dict[str, Any]:
    stat = video.stat()
    return {"path": str(video.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _uses(item: BatchItem) -> Any:
    """What the synthesizer renders with (``pipeline.synth_identity``), as JSON; None if it cannot be found."""
    from ..errors import NarrascoreError

    try:
        return to_data(synth_identity(item.options)[0])
    except NarrascoreError:
        return None


def marker_path(out_root: Path, item: BatchItem) -> Path:
    return out_root / item.name / WORK_DIR / MARKER


def finished(item: BatchItem, out_root: Path) -> ItemResult | None:
    """The recorded row of ``item`` if its marker matches the video and options and its outputs exist."""
    import json

    if item.options.force:
        return None
    try:
        marker = json.loads(marker_path(out_root, item).read_text())
        stamp = _stamp(item.video)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("schema") != MARKER_SCHEMA or marker.get("version") != __version__:
        return None
    recorded = marker.get("input", {})
    if {k: recorded.get(k) for k in stamp} != stamp or marker.get("options") != options_hash(item.options):
        return None
    if marker.get("uses") != _uses(item):  # another SoundFont or synthesizer library: score again
        return None
    outputs = tuple(marker.get("outputs", ()))
    if not outputs or not all((out_root / item.name / name).exists() for name in outputs):
        return None
    row = marker.get("row", {})
    return ItemResult(name=item.name, video=str(item.video), status="skipped", video_s=row.get("video_s"),
                      arousal_r=row.get("arousal_r"), cut_sync=row.get("cut_sync"), listener=row.get("listener", ""),
                      note=str(row.get("note", "")),
                      outputs=outputs)


def score_one(item: BatchItem, out_root: Path, *, sense_hook: SenseHook | None = None) -> ItemResult:
    """Score ``item`` into ``out_root/item.name``, evaluate it (no baselines) and write its done marker.

    Any error becomes a ``failed`` row with a one-line message; ``KeyboardInterrupt`` (and the
    worker's SIGTERM, which raises it) propagates, so atomic writes clean up after themselves.
    """
    from ..errors import NarrascoreError
    from ..evaluate.run import evaluate_folder
    from ..pipeline import run

    out = out_root / item.name
    start = time.perf_counter()
    try:
        stamp = _stamp(item.video)
        result = run(item.video, out, item.options, sense_hook=sense_hook)
        evaluation = None
        if result.media.duration >= EVALUATE_MIN_SECONDS:
            evaluation = evaluate_folder(out, options=item.options, baselines=False)
    except Exception as exc:  # one failed video must not stop the batch
        message = str(exc) if isinstance(exc, NarrascoreError) else f"{type(exc).__name__}: {exc}"
        return ItemResult(name=item.name, video=str(item.video), status="failed", wall_s=time.perf_counter() - start,
                          error=" ".join(message.split()) or type(exc).__name__)
    wall = time.perf_counter() - start
    report = evaluation.report if evaluation is not None else None
    arousal = report.alignment.arousal.pearson_r if report is not None and report.alignment is not None else None
    sync = report.cut_sync.hit_rate if report is not None and report.cut_sync is not None and report.cut_sync.n_cuts else None
    note = "" if evaluation is not None else TOO_SHORT
    paths = [result.soundtrack, result.video, result.midi, result.figure,
             evaluation.report_path if evaluation is not None else None, *result.stems]
    outputs = tuple(str(Path(p).relative_to(out)) for p in paths if p is not None)
    row = ItemResult(name=item.name, video=str(item.video), status="done", video_s=result.media.duration, wall_s=wall,
                     rtf=result.media.duration / wall if wall > 0 else None, arousal_r=arousal, cut_sync=sync,
                     listener=report.emotion.listener if report is not None else "", note=note, outputs=outputs)
    write_json_atomic(marker_path(out_root, item), {
        "schema": MARKER_SCHEMA, "version": __version__,
        "input": {**stamp, "content_hash": result.media.content_hash},
        "options": options_hash(item.options), "uses": _uses(item), "outputs": list(outputs),
        "row": {"video_s": row.video_s, "arousal_r": arousal, "cut_sync": sync, "listener": row.listener, "note": note},
    })
    return row
