"""The evaluation report (``report.json``): one pass over a soundtrack, every metric, one frozen dataclass.

``evaluate(audio, plan=..., cuts=..., cue_bounds=...)`` works for our soundtracks and for anyone's:
without a plan it still measures the music's emotion, coherence and loudness.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..artifacts import NarrativePlan, from_data, to_data
from ..errors import ArtifactError, MediaError
from ..fileio import write_json_atomic
from .descriptors import analyze
from .emotion import EmotionCurve
from .listeners import DescriptorListener, Listener, hear
from .metrics import Coherence, CutSync, DimensionAlignment, Span, align_dimension, clipped_runs, coherence, cut_sync, silent_runs

REPORT_SCHEMA = "narrascore.report"
EMOTION_SCHEMA = "narrascore.emotion"
REPORT_VERSION = 1


@dataclass(frozen=True)
class EmotionSummary:
    """The measured emotion curve (``hop`` s grid, bin or window centres) and its means, in [-1, 1],
    as ``listener`` (its name and version) heard it."""

    hop: float
    mean_valence: float
    mean_arousal: float
    times: tuple[float, ...]
    valence: tuple[float, ...]
    arousal: tuple[float, ...]
    listener: str = "descriptors"
    listener_version: str = ""


@dataclass(frozen=True)
class Alignment:
    valence: DimensionAlignment
    arousal: DimensionAlignment


@dataclass(frozen=True)
class LoudnessReport:
    """integrated_lufs / true_peak_dbtp are None for digital silence; runs are (start, end) seconds."""

    integrated_lufs: float | None
    loudness_range_lu: float
    true_peak_dbtp: float | None
    sample_peak_dbfs: float | None
    clipped_samples: int
    clipped_runs: tuple[Span, ...]
    silent_runs: tuple[Span, ...]
    silent_seconds: float


@dataclass(frozen=True)
class EvaluationReport:
    SCHEMA: ClassVar[str] = REPORT_SCHEMA
    FILENAME: ClassVar[str] = "report.json"

    audio: str
    duration: float
    emotion: EmotionSummary
    alignment: Alignment | None = None
    cut_sync: CutSync | None = None
    coherence: Coherence | None = None
    loudness: LoudnessReport | None = None

    def to_json(self) -> dict[str, Any]:
        return {"schema": REPORT_SCHEMA, "schema_version": REPORT_VERSION, "data": to_data(self)}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report atomically; ``path`` may be a folder (then ``report.json`` in it)."""
        path = Path(path)
        if path.is_dir():
            path = path / self.FILENAME
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def from_json(cls, payload: Any, where: str = "report") -> EvaluationReport:
        if not isinstance(payload, dict) or payload.get("schema") != REPORT_SCHEMA:
            raise ArtifactError(f"{where}: not a NarraScore evaluation report (schema {REPORT_SCHEMA!r} expected)")
        if payload.get("schema_version") != REPORT_VERSION:
            raise ArtifactError(f"{where}: schema_version {payload.get('schema_version')!r} is not supported (this NarraScore reads {REPORT_VERSION})")
        return from_data(cls, payload.get("data"), where=where)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvaluationReport:
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ArtifactError(f"{path}: file not found") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{path}: cannot read ({exc})") from None
        return cls.from_json(payload, where=str(path))


# --------------------------------------------------------------------------- emotion.json
def emotion_summary(curve: EmotionCurve, listener: Listener | None = None) -> EmotionSummary:
    listener = listener or DescriptorListener()
    return EmotionSummary(
        hop=curve.hop, mean_valence=curve.mean_valence, mean_arousal=curve.mean_arousal,
        times=tuple(float(x) for x in curve.times), valence=tuple(float(x) for x in curve.valence),
        arousal=tuple(float(x) for x in curve.arousal), listener=listener.name, listener_version=listener.version,
    )


def write_emotion_json(path: str | os.PathLike[str], curve: EmotionCurve, listener: Listener | None = None) -> Path:
    """Write ``emotion.json`` (times, valence, arousal, their means, the listener, and the raw descriptors
    or model outputs) atomically."""
    data = to_data(emotion_summary(curve, listener))
    data["descriptors"] = {k: [round(float(x), 6) for x in np.nan_to_num(v)] for k, v in curve.descriptors.items()}
    path = Path(path)
    if path.is_dir():
        path = path / "emotion.json"
    write_json_atomic(path, {"schema": EMOTION_SCHEMA, "schema_version": REPORT_VERSION, "data": data})
    return path


# --------------------------------------------------------------------------- loudness
def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _decode_native(path: Path) -> tuple[int, Iterator[np.ndarray]]:
    """(sample_rate, iterator of float32 (n, channels) chunks) at the file's own rate and channels."""
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot open ({exc})") from None
    if not container.streams.audio:
        container.close()
        raise MediaError(f"{path}: has no audio stream")
    stream = container.streams.audio[0]
    rate = stream.codec_context.sample_rate or 48000

    def chunks() -> Iterator[np.ndarray]:
        with container:
            resampler = av.AudioResampler(format="flt", layout=stream.codec_context.layout.name, rate=rate)
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        yield out.to_ndarray().reshape(-1, len(out.layout.channels))
                for out in resampler.resample(None):
                    yield out.to_ndarray().reshape(-1, len(out.layout.channels))
            except av.error.FFmpegError as exc:
                raise MediaError(f"{path}: decoding failed ({exc})") from None

    return rate, chunks()


def measure_loudness(path: str | os.PathLike[str], *, frame_peak_db: np.ndarray | None = None, frame_hop: float = 0.01) -> LoudnessReport:
    """Integrated loudness, LRA, true peak, clipping and silence of any file FFmpeg reads (streaming).

    Uses ``narrascore.export.loudness.measure_chunks`` (BS.1770-4 / EBU R128); silence runs are
    stretches of at least 1 s whose peak stays below -60 dBFS (from ``frame_peak_db``, peaks per
    ``frame_hop`` s, when given; otherwise from the decoded samples in 10 ms hops).
    """
    path = Path(path)
    rate, chunks = _decode_native(path)
    clipped: list[Span] = []
    peaks: list[np.ndarray] = []
    offset = 0
    hop_n = max(1, int(round(frame_hop * rate)))
    carry = np.zeros(0, dtype=np.float32)  # samples of an unfinished hop, across chunks

    def watched() -> Iterator[np.ndarray]:
        nonlocal offset
        for c in chunks:
            mono_peak = np.abs(c).max(axis=1)
            clipped.extend(Span(s.start + offset / rate, s.end + offset / rate) for s in clipped_runs(mono_peak, rate))
            if frame_peak_db is None:
                nonlocal carry
                m = np.concatenate([carry, mono_peak])
                whole = m.size // hop_n * hop_n
                carry = m[whole:]
                if whole:
                    peaks.append(m[:whole].reshape(-1, hop_n).max(axis=1))
            offset += c.shape[0]
            yield c

    try:
        from ..export.loudness import measure_chunks
    except ImportError:  # export stage absent: pyloudnorm on the whole file (not memory-flat)
        stats = _pyloudnorm_stats(list(watched()), rate)
    else:
        stats = measure_chunks(watched(), rate)
    if frame_peak_db is None:
        levels = 20 * np.log10(np.maximum(np.concatenate(peaks) if peaks else np.zeros(0), 1e-9))
        hop = hop_n / rate
    else:
        levels, hop = frame_peak_db, frame_hop
    runs = silent_runs(levels, hop)
    return LoudnessReport(
        integrated_lufs=_finite(stats.integrated_lufs), loudness_range_lu=float(stats.loudness_range_lu),
        true_peak_dbtp=_finite(stats.true_peak_dbtp), sample_peak_dbfs=_finite(stats.sample_peak_dbfs),
        clipped_samples=int(stats.clipped_samples), clipped_runs=tuple(clipped), silent_runs=runs,
        silent_seconds=float(sum(r.end - r.start for r in runs)),
    )


@dataclass(frozen=True)
class _Stats:
    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    clipped_samples: int


def _pyloudnorm_stats(chunks: list[np.ndarray], rate: int) -> _Stats:
    import pyloudnorm

    x = np.concatenate(chunks) if chunks else np.zeros((rate, 1), dtype=np.float32)
    meter = pyloudnorm.Meter(rate)
    lufs = meter.integrated_loudness(x.astype(np.float64)) if x.shape[0] > 0.4 * rate else -math.inf
    peak = float(np.abs(x).max()) if x.size else 0.0
    db = 20 * math.log10(peak) if peak > 0 else -math.inf
    return _Stats(lufs, 0.0, db, db, int(np.sum(np.abs(x) >= 1.0)))


# --------------------------------------------------------------------------- evaluate
def evaluate(
    audio: str | os.PathLike[str], *, plan: NarrativePlan | None = None, cuts: Sequence[float] = (),
    cue_bounds: Sequence[float] = (), rate_hz: float = 2.0, max_lag: float = 2.0, tolerance: float = 0.1,
    n_random: int = 1000, seed: int = 0, loudness: bool = True, listener: str | None = None,
) -> EvaluationReport:
    """Evaluate a soundtrack (any file FFmpeg reads).

    plan: the narrative curve the music should follow (alignment is skipped without it).
    cuts: scene cut times (s) for cut sync (skipped when empty). cue_bounds: times (s) where cues
    join, for coherence. max_lag: lag search range (s); tolerance: cut-to-event window (s);
    n_random, seed: the random-cut baseline. listener: who hears the emotion (``listeners``; None
    or ``auto``: the best installed, falling back to ``descriptors`` for audio shorter than its
    window). Cut sync, coherence and loudness are signal measures and do not depend on it.
    """
    audio = Path(audio)
    analysis = analyze(audio, rate_hz=rate_hz)
    curve, heard_by = hear(audio, listener=listener, analysis=analysis)
    alignment = None
    if plan is not None:
        alignment = Alignment(
            valence=align_dimension(plan.times, plan.valence, curve.times, curve.valence, max_lag=max_lag, hop=1.0 / rate_hz),
            arousal=align_dimension(plan.times, plan.arousal, curve.times, curve.arousal, max_lag=max_lag, hop=1.0 / rate_hz),
        )
    sync = None
    if len(cuts):
        events = np.union1d(analysis.onset_times, analysis.chord_change_times)
        sync = cut_sync(cuts, events, duration=analysis.duration, tolerance=tolerance, n_random=n_random, seed=seed)
    d = analysis.descriptors
    coh = coherence(analysis.times, analysis.mfcc, d["loudness_lufs"], d["tempo_bpm"], d["key_index"], d["centroid_hz"], cue_bounds)
    loud = measure_loudness(audio, frame_peak_db=analysis.frame_peak_db, frame_hop=analysis.frame_hop) if loudness else None
    return EvaluationReport(
        audio=str(audio), duration=analysis.duration, emotion=emotion_summary(curve, heard_by), alignment=alignment,
        cut_sync=sync, coherence=coh, loudness=loud,
    )


# --------------------------------------------------------------------------- comparison
_HIGHER_IS_BETTER = ("valence_r", "arousal_r", "valence_r_best_lag", "arousal_r_best_lag", "cut_sync_margin")
_LOWER_IS_BETTER = ("valence_mae_centered", "arousal_mae_centered", "join_jump_ratio")


def _headline(r: EvaluationReport) -> dict[str, float | None]:
    out: dict[str, float | None] = {k: None for k in _HIGHER_IS_BETTER + _LOWER_IS_BETTER}
    if r.alignment is not None:
        for dim in ("valence", "arousal"):
            a: DimensionAlignment = getattr(r.alignment, dim)
            out[f"{dim}_r"] = a.pearson_r
            out[f"{dim}_r_best_lag"] = a.r_at_best_lag
            out[f"{dim}_mae_centered"] = a.mae_centered
    if r.cut_sync is not None:
        out["cut_sync_margin"] = r.cut_sync.margin
    if r.coherence is not None:
        out["join_jump_ratio"] = r.coherence.join_jump_ratio
    out["mean_valence"] = r.emotion.mean_valence
    out["mean_arousal"] = r.emotion.mean_arousal
    return out


def compare(reports: dict[str, EvaluationReport], *, reference: str | None = None) -> dict[str, Any]:
    """Compare several soundtracks of the same video (ours against baselines).

    Returns ``{"reference": name, "metrics": {name: headline numbers}, "advantage": {name: {metric: d}}}``
    where ``d`` is how much better the reference does than that soundtrack on each metric
    (reference minus other for correlations and margins, other minus reference for errors and
    join jumps; positive = the reference wins; None where either is undefined). ``reference``
    defaults to the first entry.
    """
    if not reports:
        raise ArtifactError("compare needs at least one report")
    ref = reference if reference is not None else next(iter(reports))
    if ref not in reports:
        raise ArtifactError(f"reference {ref!r} is not one of {', '.join(reports)}")
    heads = {name: _headline(r) for name, r in reports.items()}
    adv: dict[str, dict[str, float | None]] = {}
    for name, h in heads.items():
        if name == ref:
            continue
        row: dict[str, float | None] = {}
        for k in _HIGHER_IS_BETTER + _LOWER_IS_BETTER:
            a, b = heads[ref][k], h[k]
            if a is None or b is None:
                row[k] = None
            else:
                row[k] = (a - b) if k in _HIGHER_IS_BETTER else (b - a)
        adv[name] = row
    return {"reference": ref, "metrics": heads, "advantage": adv}
