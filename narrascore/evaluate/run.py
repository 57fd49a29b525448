"""The ``narrascore evaluate`` runs: our output folder, anyone's soundtrack for a video, or audio alone.

* :func:`evaluate_folder` - a folder written by ``narrascore score``: ``report.json`` (ours, the
  baselines and ``compare``'s advantages) and ``figure.png`` with the measured curves dashed.
* :func:`evaluate_soundtrack` - any soundtrack for a video: the video's narrative comes from the
  pipeline's analysis stages (cached in the output folder like ``narrascore analyze``).
* :func:`analyse_music` - audio alone: ``emotion.json`` (valence/arousal over time and means).

Baselines are rendered with the same synthesizer and loudness as ours into
``OUT/.narrascore/baselines/`` and cached by key, like the pipeline's stages:

* ``fixed-mood``: :func:`baselines.fixed_mood_plan` - affect control off;
* ``shuffled``: :func:`baselines.shuffled_plan` - the same moods in the wrong places;
* ``original``: the video's own audio (when it has any), normalised to the same loudness.

The fixed-mood and shuffled plans keep our Global Semantic Anchor (style, instruments, home key,
meter, seed); their cue plan is derived from their own curve (:func:`baselines.baseline_concept`).
Our cue plan carries the story's affect per cue (tempo, intensity, key), so rendering a baseline
curve with our cues would put the story back in at cue level.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import AffectCurve, MediaInfo, MusicConcept, NarrativePlan, Shots, fingerprint, read_artifact
from ..errors import ArtifactError, MediaError, OptionError
from ..fileio import atomic_path, canonical_hash, ensure_writable_dir, read_json_object, write_json_atomic
from ..options import ScoreOptions
from ..progress import Reporter, SilentReporter
from .baselines import baseline_concept, fixed_mood_plan, shuffled_plan
from .emotion import EmotionCurve
from .listeners import Listener, check_listener_name, get_listener, hear
from .report import EvaluationReport, compare, evaluate, write_emotion_json

BASELINES = ("fixed-mood", "shuffled", "original")
SOUNDTRACK = "soundtrack.wav"


@dataclass(frozen=True)
class EvaluationRun:
    """What an evaluation wrote: our report, each baseline's, the comparison (ours minus theirs) and the files."""

    out_dir: Path
    report: EvaluationReport
    report_path: Path
    figure: Path | None
    baselines: dict[str, EvaluationReport]
    comparison: dict[str, Any] | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Story:
    """Everything a soundtrack is measured against."""

    plan: NarrativePlan
    shots: Shots
    concept: MusicConcept | None
    media: MediaInfo | None

    @property
    def cuts(self) -> list[float]:
        return [t for t in self.shots.cut_times() if 0.0 < t < self.plan.duration]

    @property
    def scene_cuts(self) -> list[float]:
        return [s.start for s in self.plan.scenes[1:]]


# --------------------------------------------------------------------------- public
def evaluate_folder(
    out_dir: str | os.PathLike[str], *, options: ScoreOptions | None = None, baselines: bool = True, seed: int = 0,
    reporter: Reporter | None = None, listener: str | None = None,
) -> EvaluationRun:
    """Evaluate ``out_dir/soundtrack.wav`` against the folder's narrative.json, shots.json and concept.json.

    ``options``: the synthesizer, SoundFont, loudness (LUFS) and true peak (dBTP) the baselines are
    rendered with (default: the pipeline's defaults). ``seed``: the shuffled baseline's permutation.
    ``listener``: who hears the emotion, ours and the baselines alike (None: the best installed).
    """
    check_listener_name(listener)  # an unknown or uninstalled listener fails before any work
    out = Path(out_dir)
    if not out.is_dir():
        raise ArtifactError(f"{out}: not a folder; give an output folder written by `narrascore score`")
    soundtrack = out / SOUNDTRACK
    if not soundtrack.is_file():
        raise MediaError(f"{soundtrack}: not found; run `narrascore score VIDEO -o {out}` (or `render`) first")
    from ..lock import hold
    from ..pipeline import WORK_DIR

    with hold(ensure_writable_dir(out / WORK_DIR)):  # a score or render into the folder must not change it meanwhile
        story = _load_story(out)
        if story.concept is None and baselines:
            raise ArtifactError(f"{out / MusicConcept.FILENAME}: not found; run `narrascore render {out}` first")
        return _run(soundtrack, out, story, options or ScoreOptions(), baselines=baselines, seed=seed, reporter=reporter,
                    listener=listener)


def evaluate_soundtrack(
    audio: str | os.PathLike[str], video: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
    options: ScoreOptions | None = None, baselines: bool = False, seed: int = 0, reporter: Reporter | None = None,
    listener: str | None = None,
) -> EvaluationRun:
    """Evaluate any soundtrack ``audio`` (any file FFmpeg reads) against the story of ``video``.

    The narrative is computed with the pipeline's analysis stages into ``out_dir`` (reused when it
    is already there); ``report.json`` and ``figure.png`` are written there. With ``baselines`` the
    concept stage runs too, and the baselines are rendered as for :func:`evaluate_folder`.
    """
    from ..lock import hold
    from ..pipeline import WORK_DIR, Pipeline, run

    check_listener_name(listener)  # an unknown or uninstalled listener fails before any work
    audio, video = Path(audio), Path(video)
    if not audio.is_file():
        raise MediaError(f"{audio}: file not found")
    if not video.is_file():
        raise MediaError(f"{video}: file not found")
    options = options or ScoreOptions()
    result = run(video, out_dir, options, until="narrative", reporter=reporter)
    with hold(result.out_dir / WORK_DIR):  # taken again at once: the analysis above held it
        concept = Pipeline(result.out_dir, options, reporter).concept(result.plan) if baselines else None
        story = _Story(plan=result.plan, shots=result.shots, concept=concept, media=result.media)
        return _run(audio, result.out_dir, story, options, baselines=baselines, seed=seed, reporter=reporter,
                    listener=listener)


def analyse_music(
    audio: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, listener: str | None = None,
) -> tuple[EmotionCurve, Listener, Path]:
    """Hear the emotion of ``audio`` (any file FFmpeg reads) with ``listener`` (None: the best installed);
    write ``out_dir/emotion.json`` atomically. Returns the curve, the listener and the file."""
    audio = Path(audio)
    if not audio.is_file():
        raise MediaError(f"{audio}: file not found")
    curve, chosen = hear(audio, listener=listener)
    return curve, chosen, write_emotion_json(ensure_writable_dir(out_dir) / "emotion.json", curve, chosen)


# --------------------------------------------------------------------------- core
def _run(
    audio: Path, out: Path, story: _Story, options: ScoreOptions, *, baselines: bool, seed: int, reporter: Reporter | None,
    listener: str | None,
) -> EvaluationRun:
    reporter = reporter or SilentReporter()
    notes: list[str] = []
    ours_bounds = _cue_starts(story.concept)
    with reporter.stage("evaluate soundtrack"):
        ours = evaluate(audio, plan=story.plan, cuts=story.cuts, cue_bounds=ours_bounds, listener=listener)
    wanted = check_listener_name(listener)
    if ours.emotion.listener != wanted:
        notes.append(f"listener {ours.emotion.listener}: the audio is shorter than the {wanted} listener's window")
    others: dict[str, EvaluationReport] = {}
    if baselines:
        renderer = _BaselineRenderer(out, story, options, reporter, listener)
        for name in BASELINES:
            rendered = renderer.render(name, seed=seed)
            if rendered is None:
                notes.append(f"baseline {name}: skipped (the video has no audio)" if name == "original"
                             else f"baseline {name}: skipped")
                continue
            wav, key, bounds = rendered
            others[name] = renderer.evaluated(name, wav, key, bounds)
    comparison = compare({"ours": ours, **others}) if others else None
    midi = out / "score.mid"
    if midi.is_file():
        from .composition import analyse_midi

        composition = analyse_midi(midi).to_dict()
    else:
        composition = None
    report_path = _write_report(out / EvaluationReport.FILENAME, ours, others, comparison, composition)
    figure = _write_figure(out, audio, story, ours, options)
    return EvaluationRun(out_dir=out, report=ours, report_path=report_path, figure=figure, baselines=others,
                         comparison=comparison, notes=tuple(notes))


def _load_story(out: Path) -> _Story:
    from ..pipeline import refresh_curve

    def load(cls: type, required: bool = True) -> Any:
        path = out / cls.FILENAME  # type: ignore[attr-defined]
        if not path.exists():
            if required:
                raise ArtifactError(f"{path}: not found; run `narrascore score VIDEO -o {out}` first")
            return None
        return read_artifact(cls, path).artifact

    plan, shots = load(NarrativePlan), load(Shots)
    affect: AffectCurve | None = load(AffectCurve, required=False)
    if affect is not None:
        plan = refresh_curve(plan, shots, affect)
    return _Story(plan=plan, shots=shots, concept=load(MusicConcept, required=False), media=load(MediaInfo, required=False))


def _cue_starts(concept: MusicConcept | None) -> list[float]:
    return [c.start for c in concept.cues[1:]] if concept is not None else []


def _write_report(path: Path, ours: EvaluationReport, others: dict[str, EvaluationReport], comparison: dict[str, Any] | None,
                  composition: dict[str, Any] | None = None) -> Path:
    """``report.json``: ours as ``EvaluationReport.load`` reads it, plus ``baselines``, ``comparison`` and
    ``composition`` (``composition.analyse_midi`` of the folder's score.mid, when there is one)."""
    from ..artifacts import to_data

    payload = ours.to_json()
    payload["baselines"] = {name: to_data(r) for name, r in others.items()}
    payload["comparison"] = comparison
    payload["composition"] = composition
    write_json_atomic(path, payload)
    return path


def _write_figure(out: Path, audio: Path, story: _Story, report: EvaluationReport, options: ScoreOptions) -> Path:
    import numpy as np

    from ..export import write_figure

    emotion = report.emotion
    measured = (np.asarray(emotion.times), np.asarray(emotion.valence), np.asarray(emotion.arousal))
    path = out / "figure.png"
    write_figure(path, soundtrack=_readable_wav(audio, out), plan=story.plan, cuts=story.scene_cuts, measured=measured,
                 title="Soundtrack spectrogram, narrative emotion (solid) and measured emotion (dashed)")
    return path


def _readable_wav(audio: Path, out: Path) -> Path:
    """``audio`` itself when soundfile reads it, else a cached 48 kHz stereo WAV decoded by FFmpeg."""
    import soundfile as sf

    try:
        sf.info(str(audio))
        return audio
    except (RuntimeError, sf.LibsndfileError):
        pass
    stat = audio.stat()
    key = canonical_hash({"audio": str(audio.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns})
    wav = ensure_writable_dir(out / ".narrascore" / "evaluate") / f"decoded-{key[:16]}.wav"
    if not wav.exists():
        _decode_to_wav(audio, wav, duration=None)
    return wav


def _decode_to_wav(source: Path, wav: Path, *, duration: float | None) -> None:
    """Decode the first audio stream of ``source`` to a float32 48 kHz stereo WAV (streaming, atomic)."""
    import soundfile as sf

    from ..media import iter_audio

    written = 0
    with atomic_path(wav) as tmp:
        with sf.SoundFile(str(tmp), "w", samplerate=48_000, channels=2, subtype="FLOAT", format="WAV") as f:
            for chunk in iter_audio(source, sample_rate=48_000, channels=2, duration=duration):
                f.write(chunk)
                written += chunk.shape[0]
        if written == 0:
            raise MediaError(f"{source}: no audio could be decoded")


# --------------------------------------------------------------------------- baselines
class _BaselineRenderer:
    """Renders and evaluates the baselines into ``out/.narrascore/baselines``, cached by key."""

    def __init__(self, out: Path, story: _Story, options: ScoreOptions, reporter: Reporter, listener: str | None) -> None:
        from ..pipeline import WORK_DIR

        self.out, self.story, self.options, self.reporter, self.listener = out, story, options, reporter, listener
        self.dir = ensure_writable_dir(out / WORK_DIR / "baselines")
        self.manifest_path = self.dir / "manifest.json"

    def _manifest(self) -> dict[str, Any]:
        return read_json_object(self.manifest_path)

    def _record(self, name: str, entry: dict[str, Any]) -> None:
        manifest = self._manifest()
        manifest[name] = entry
        write_json_atomic(self.manifest_path, manifest)

    def _n_samples(self) -> int:
        from ..synth import SAMPLE_RATE

        return int(round(self.story.plan.duration * SAMPLE_RATE))

    def render(self, name: str, *, seed: int) -> tuple[Path, str, list[float]] | None:
        """(normalised WAV, its cache key, its cue starts), or None when the baseline does not apply."""
        from ..pipeline import stage_key, synth_identity

        story, opts = self.story, self.options
        wav = self.dir / f"{name}.wav"
        loud = {"lufs": opts.loudness, "tp": opts.true_peak, "n_samples": self._n_samples()}
        if name == "original":
            media = story.media
            video = media.located() if media is not None else None
            if video is None or not media.has_audio or not video.is_file():
                return None
            key = stage_key("baseline", name=name, media=media.content_hash, **loud)
            if not self._fresh(name, key, wav):
                with self.reporter.stage(f"baseline {name}"):
                    raw = self.dir / f"{name}-raw.wav"
                    _decode_to_wav(video, raw, duration=self._n_samples() / 48_000)
                    self._normalise(raw, wav)
                    raw.unlink()
                self._record(name, {"key": key})
            return wav, key, []
        assert story.concept is not None  # evaluate_* load or make a concept whenever baselines are on
        plan = fixed_mood_plan(story.plan) if name == "fixed-mood" else shuffled_plan(story.plan, seed)
        concept = baseline_concept(story.concept, plan)
        key = stage_key("baseline", name=name, plan=fingerprint(plan), concept=fingerprint(concept),
                        shots=fingerprint(story.shots), synth=opts.synth,
                        uses=synth_identity(opts)[0], **loud)
        if not self._fresh(name, key, wav):
            self._synthesize(name, plan, concept, wav)
            self._record(name, {"key": key})
        return wav, key, _cue_starts(concept)

    def _fresh(self, name: str, key: str, wav: Path) -> bool:
        return not self.options.force and self._manifest().get(name, {}).get("key") == key and wav.is_file()

    def _synthesize(self, name: str, plan: NarrativePlan, concept: MusicConcept, wav: Path) -> None:
        from ..synth import SYNTHESIZERS, RenderRequest

        synth = SYNTHESIZERS.create(self.options.synth)
        work = ensure_writable_dir(self.dir / f"{name}-render")
        with self.reporter.stage(f"baseline {name}: compose+render"):
            result = synth.render(plan, concept, self.story.shots,
                                  RenderRequest(n_samples=self._n_samples(), work_dir=work, soundfont=self.options.soundfont,
                                                seed=concept.seed))
            self._normalise(result.mix, wav)

    def _normalise(self, raw: Path, wav: Path) -> None:
        from ..export import write_soundtrack

        write_soundtrack(raw, wav, target_lufs=self.options.loudness, true_peak_dbtp=self.options.true_peak)

    def evaluated(self, name: str, wav: Path, key: str, cue_bounds: Sequence[float]) -> EvaluationReport:
        """The baseline's report against our story (cached beside its WAV by key)."""
        story = self.story
        report_key = canonical_hash({"sound": key, "plan": fingerprint(story.plan), "cuts": story.cuts, "cues": list(cue_bounds),
                                     "listener": get_listener(self.listener).version})
        path = self.dir / f"{name}.report.json"
        entry = self._manifest().get(name, {})
        if not self.options.force and entry.get("report") == report_key and path.is_file():
            try:
                return dataclasses.replace(EvaluationReport.load(path), audio=str(wav))
            except ArtifactError:
                pass
        with self.reporter.stage(f"evaluate baseline {name}"):
            report = evaluate(wav, plan=story.plan, cuts=story.cuts, cue_bounds=cue_bounds, listener=self.listener)
        report.save(path)
        self._record(name, {**entry, "key": key, "report": report_key})
        return EvaluationReport.load(path)  # as a cached re-run reads it (floats rounded by to_data): same report.json


# --------------------------------------------------------------------------- table
def summary_rows(run: EvaluationRun) -> list[dict[str, Any]]:
    """One row per soundtrack (ours first): alignment r and centred MAE per dimension, cut sync, loudness."""
    rows = []
    for name, r in {"ours": run.report, **run.baselines}.items():
        row: dict[str, Any] = {"soundtrack": name}
        for dim in ("valence", "arousal"):
            a = getattr(r.alignment, dim) if r.alignment is not None else None
            row[f"{dim}_r"] = a.pearson_r if a is not None else None
            row[f"{dim}_mae"] = a.mae_centered if a is not None else None
        row["cut_hit_rate"] = r.cut_sync.hit_rate if r.cut_sync is not None else None
        row["cut_margin"] = r.cut_sync.margin if r.cut_sync is not None else None
        row["lufs"] = r.loudness.integrated_lufs if r.loudness is not None else None
        rows.append(row)
    return rows


def summary_table(run: EvaluationRun):
    """A ``rich`` table of :func:`summary_rows` (MAE after removing each curve's mean)."""
    from rich.table import Table

    heard = run.report.emotion
    table = Table(title=f"evaluation of {run.out_dir} (listener: {heard.listener_version or heard.listener})", title_justify="left")
    columns = (("soundtrack", "soundtrack", "{}"), ("valence_r", "V r", "{:+.2f}"), ("valence_mae", "V MAE", "{:.3f}"),
               ("arousal_r", "A r", "{:+.2f}"), ("arousal_mae", "A MAE", "{:.3f}"), ("cut_hit_rate", "cut hits", "{:.0%}"),
               ("cut_margin", "vs random", "{:+.0%}"), ("lufs", "LUFS", "{:.1f}"))
    for _, header, _ in columns:
        table.add_column(header, justify="left" if header == "soundtrack" else "right")
    for row in summary_rows(run):
        table.add_row(*("-" if row[k] is None else fmt.format(row[k]) for k, _, fmt in columns))
    return table


def check_baselines_option(*, audio_only: bool, baselines: bool | None) -> None:
    if audio_only and baselines:
        raise OptionError("--baselines needs a video (--video V) or an output folder; audio alone has no story to render")
