"""The ``narrascore`` command: a thin layer over the Python API.

Every ``NarrascoreError`` becomes one line on stderr and a non-zero exit code; no traceback.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from . import __version__
from .errors import NarrascoreError
from .options import STYLES

app = typer.Typer(
    name="narrascore",
    help="Score long-form video with music that follows its story.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"narrascore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Score long-form video with music that follows its story."""


def _fail(message: str, code: int) -> None:
    typer.echo(f"narrascore: error: {message}", err=True)
    raise typer.Exit(code)


def _guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; turn user-facing errors into one line and an exit code.

    SIGTERM and SIGHUP stop a run like Ctrl-C: temporary files are removed, and the exit code is
    128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), as a shell reports it.
    """
    from .parallel import Terminated, interrupt_on_stop_signals

    try:
        with interrupt_on_stop_signals():
            return action()
    except NarrascoreError as exc:
        _fail(str(exc), exc.exit_code)
    except Terminated as exc:
        _fail(f"stopped by {exc}; finished stages are kept and a re-run resumes from them", 128 + exc.signum)
    except KeyboardInterrupt:
        _fail("interrupted; finished stages are kept and a re-run resumes from them", 130)
    except MemoryError:
        _fail("out of memory", 1)
    except Exception as exc:  # a bug: still one line unless the user asks for the traceback
        if os.environ.get("NARRASCORE_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set NARRASCORE_DEBUG=1 for the traceback)", 70)


def _options(**fields: Any):
    from .options import ScoreOptions

    return ScoreOptions(**{k: v for k, v in fields.items() if v is not None})


OUT = typer.Option(None, "-o", "--out", help="Output folder (default: <video name>.narrascore beside the video).")
STYLE = typer.Option("auto", "--style", help=f"Musical style: {', '.join(STYLES)}.")
SEED = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical files.")
SYNTH = typer.Option("procedural", "--synth", help="Synthesizer backend.")
SENSOR = typer.Option("heuristic", "--sensor", help="Affect sensor backend.")
REASONER = typer.Option("rules", "--reasoner", help="Narrative reasoner backend.")
LOUDNESS = typer.Option(-16.0, "--loudness", help="Integrated loudness target in LUFS (e.g. -14, -16, -23).")
TRUE_PEAK = typer.Option(-1.0, "--true-peak", help="True-peak ceiling in dBTP.")
MIX = typer.Option(None, "--mix-original", metavar="DB", help="Keep the original audio DB below the music, ducking the music under speech.")
COPY = typer.Option(False, "--copy-video", help="Keep the video stream untouched (any codec) in scored.mkv.")
STEMS = typer.Option(False, "--stems", help="Also write one WAV per instrument group in stems/.")
TIMELINE = typer.Option(None, "--timeline", metavar="FORMAT",
                        help="Also write an editor's timeline: fcp7 (Premiere, Resolve), edl, otio or fcpx (needs the timeline extra).")
SOUNDFONT = typer.Option(None, "--soundfont", help="SoundFont (.sf2/.sf3) to render with (default: the best one installed).")
HOP = typer.Option(0.5, "--hop", help="Time step of the emotion curves in seconds.")
SAMPLE_HZ = typer.Option(4.0, "--sample-hz", help="Frames per second the sensors look at.")
FORCE = typer.Option(False, "--force", help="Recompute every stage, even those whose artifacts match (hand edits are kept).")
STRICT = typer.Option(False, "--strict", help="Refuse a video that holds over a second less than its container declares (truncated), instead of warning.")
PROGRESS = typer.Option(True, "--progress/--quiet", help="Show progress bars.")
WAIT = typer.Option(False, "--wait", help="If another run is writing to the output folder, wait for it instead of failing.")
MODEL = typer.Option(None, "--model", help="MusicGen for --synth musicgen: a folder, a hub id, or 'debug' (tiny, random; default: facebook/musicgen-small).")
ADAPTER = typer.Option(None, "--adapter", help="Folder of a Token-Level Affective Adapter for --synth musicgen (adapter.json + adapter.safetensors).")
WINDOW = typer.Option(30.0, "--window-seconds", help="Length of each MusicGen generation window in seconds (--synth musicgen).")
OVERLAP = typer.Option(10.0, "--overlap-seconds", help="Overlap of consecutive windows in seconds: the prompt and the crossfade (--synth musicgen).")
PRECISION = typer.Option("fp32", "--precision", help="MusicGen decoder arithmetic on the CPU: fp32, bf16 or int8 (--synth musicgen; check with `narrascore precision-check`).")
VLM = typer.Option(None, "--vlm", help="Local vision-language model for --sensor vlm: a folder, a hub id, or 'debug' (tiny, random).")
ENDPOINT = typer.Option(None, "--endpoint", help="OpenAI-compatible server for --sensor vlm (e.g. http://localhost:11434/v1); key from NARRASCORE_API_KEY.")
VLM_MODEL = typer.Option(None, "--vlm-model", help="Model name the --endpoint server knows.")
VLM_HEAD = typer.Option(None, "--vlm-head", help="Folder of a head trained with `narrascore train-sensor` (local --vlm only).")
VLM_HZ = typer.Option(1.0, "--vlm-hz", help="Frames per second the VLM sees (plus one keyframe per shot).")
VLM_CONTEXT = typer.Option(1, "--vlm-context", help="Consecutive frames per VLM request, each after its 'Time: t s' marker (windows overlap by one frame).")
VLM_MAX_LEN = typer.Option(None, "--vlm-max-len", help="Context length (tokens) of the --endpoint model, to check --vlm-context against before any request.")
ANCHOR = typer.Option(None, "--anchor", help="Who writes the music's Global Semantic Anchor: vlm, llm or rules (default: the model when one is configured, else the rules).")
ANCHOR_FRAMES = typer.Option(8, "--anchor-frames", help="Keyframes (one per scene) the VLM sees to write the anchor.")
LLM = typer.Option(None, "--llm", help="Local language model for --reasoner llm: a folder, a hub id, or 'debug' (default: the VLM).")
LLM_ENDPOINT = typer.Option(None, "--llm-endpoint", help="OpenAI-compatible server for --reasoner llm (default: --endpoint).")
LLM_MODEL = typer.Option(None, "--llm-model", help="Model name the --llm-endpoint server knows (default: --vlm-model).")


def _default_out(video: Path) -> Path:
    return video.with_name(video.stem + ".narrascore")


def _summary(result: Any) -> None:
    seconds = result.media.duration
    typer.echo(f"scored {result.media.path} ({seconds:.1f} s) into {result.out_dir}" if seconds >= 1 else
               f"scored {result.media.path} ({seconds:.2f} s) into {result.out_dir}")
    for label, path in (("soundtrack", result.soundtrack), ("video", result.video), ("score", result.midi), ("figure", result.figure),
                        ("timeline", result.timeline)):
        if path is not None:
            typer.echo(f"  {label:<10} {path}")
    if result.loudness is not None:
        ls = result.loudness
        if math.isfinite(ls.integrated_lufs):
            typer.echo(f"  loudness   {ls.integrated_lufs:.1f} LUFS, true peak {ls.true_peak_dbtp:.1f} dBTP")
        else:
            typer.echo("  loudness   silent (no sound above -70 LUFS to measure)")
    if result.reused:
        typer.echo(f"  reused     {', '.join(result.reused)}")


@app.command()
def score(
    video: Path = typer.Argument(..., help="The video to score (any format FFmpeg reads)."),
    out: Optional[Path] = OUT, style: str = STYLE, seed: int = SEED, synth: str = SYNTH, sensor: str = SENSOR,
    reasoner: str = REASONER, loudness: float = LOUDNESS, true_peak: float = TRUE_PEAK,
    mix_original: Optional[float] = MIX, copy_video: bool = COPY, stems: bool = STEMS,
    soundfont: Optional[str] = SOUNDFONT, hop: float = HOP, sample_hz: float = SAMPLE_HZ,
    force: bool = FORCE, strict: bool = STRICT, progress: bool = PROGRESS, wait: bool = WAIT, timeline: Optional[str] = TIMELINE,
    vlm: Optional[str] = VLM, endpoint: Optional[str] = ENDPOINT, vlm_model: Optional[str] = VLM_MODEL,
    vlm_head: Optional[str] = VLM_HEAD, vlm_hz: float = VLM_HZ, llm: Optional[str] = LLM,
    llm_endpoint: Optional[str] = LLM_ENDPOINT, llm_model: Optional[str] = LLM_MODEL,
    model: Optional[str] = MODEL, adapter: Optional[str] = ADAPTER, window_seconds: float = WINDOW,
    overlap_seconds: float = OVERLAP, precision: str = PRECISION, vlm_context: int = VLM_CONTEXT,
    vlm_max_len: Optional[int] = VLM_MAX_LEN, anchor: Optional[str] = ANCHOR, anchor_frames: int = ANCHOR_FRAMES,
) -> None:
    """Write soundtrack.wav, scored.mp4, score.mid, figure.png and the artifacts for VIDEO."""
    from .pipeline import run
    from .progress import default_reporter

    def action() -> None:
        options = _options(style=style, seed=seed, synth=synth, sensor=sensor, reasoner=reasoner, loudness=loudness,
                           true_peak=true_peak, mix_original=mix_original, copy_video=copy_video, stems=stems,
                           timeline=timeline, soundfont=soundfont, hop=hop, sample_hz=sample_hz, force=force, strict=strict,
                           vlm=vlm, endpoint=endpoint,
                           vlm_model=vlm_model, vlm_head=vlm_head, vlm_hz=vlm_hz, llm=llm, llm_endpoint=llm_endpoint,
                           llm_model=llm_model, model=model, adapter=adapter, window_seconds=window_seconds,
                           overlap_seconds=overlap_seconds, precision=precision, vlm_context=vlm_context, vlm_max_len=vlm_max_len, anchor=anchor,
                           anchor_frames=anchor_frames)
        result = run(video, out or _default_out(video), options, reporter=default_reporter(progress and sys.stderr.isatty()),
                     wait=wait)
        _summary(result)

    _guarded(action)


@app.command()
def analyze(
    video: Path = typer.Argument(..., help="The video to analyse."),
    out: Optional[Path] = OUT, sensor: str = SENSOR, reasoner: str = REASONER, hop: float = HOP,
    sample_hz: float = SAMPLE_HZ, force: bool = FORCE, strict: bool = STRICT, progress: bool = PROGRESS, wait: bool = WAIT,
    vlm: Optional[str] = VLM, endpoint: Optional[str] = ENDPOINT, vlm_model: Optional[str] = VLM_MODEL,
    vlm_head: Optional[str] = VLM_HEAD, vlm_hz: float = VLM_HZ, llm: Optional[str] = LLM,
    llm_endpoint: Optional[str] = LLM_ENDPOINT, llm_model: Optional[str] = LLM_MODEL, vlm_context: int = VLM_CONTEXT,
    vlm_max_len: Optional[int] = VLM_MAX_LEN,
) -> None:
    """Stop after the narrative: write media.json, shots.json, affect.json and narrative.json to edit."""
    from .pipeline import run
    from .progress import default_reporter

    def action() -> None:
        options = _options(sensor=sensor, reasoner=reasoner, hop=hop, sample_hz=sample_hz, force=force, strict=strict, vlm=vlm,
                           endpoint=endpoint, vlm_model=vlm_model, vlm_head=vlm_head, vlm_hz=vlm_hz, llm=llm,
                           llm_endpoint=llm_endpoint, llm_model=llm_model, vlm_context=vlm_context,
                           vlm_max_len=vlm_max_len)
        result = run(video, out or _default_out(video), options, until="narrative",
                     reporter=default_reporter(progress and sys.stderr.isatty()), wait=wait)
        plan = result.plan
        typer.echo(f"analysed {result.media.path} ({result.media.duration:.1f} s) into {result.out_dir}")
        typer.echo(f"  {len(result.shots.cuts)} cuts, {len(plan.scenes)} scenes, climax at {plan.climax_time:.1f} s")
        typer.echo(f"  {plan.s_global}")

    _guarded(action)


@app.command()
def render(
    out: Path = typer.Argument(..., help="An output folder written by `score` or `analyze`."),
    video: Optional[Path] = typer.Option(None, "--video", help="Re-bind OUT to this file: the analysed video, moved "
                                                               "or re-encoded (it must last as long)."),
    wait: bool = WAIT, style: str = STYLE, seed: int = SEED, synth: str = SYNTH, loudness: float = LOUDNESS, true_peak: float = TRUE_PEAK,
    mix_original: Optional[float] = MIX, copy_video: bool = COPY, stems: bool = STEMS,
    soundfont: Optional[str] = SOUNDFONT, progress: bool = PROGRESS,
    model: Optional[str] = MODEL, adapter: Optional[str] = ADAPTER, window_seconds: float = WINDOW,
    overlap_seconds: float = OVERLAP, precision: str = PRECISION,
) -> None:
    """Re-make the music from the artifacts in OUT, after editing narrative.json or concept.json."""
    from .pipeline import run
    from .progress import default_reporter

    def action() -> None:
        options = _options(style=style, seed=seed, synth=synth, loudness=loudness, true_peak=true_peak,
                           mix_original=mix_original, copy_video=copy_video, stems=stems, soundfont=soundfont,
                           model=model, adapter=adapter, window_seconds=window_seconds, overlap_seconds=overlap_seconds,
                           precision=precision)
        result = run(video, out, options, from_artifacts=True, reporter=default_reporter(progress and sys.stderr.isatty()),
                     wait=wait)
        _summary(result)

    _guarded(action)


@app.command("export-timeline")
def export_timeline_cmd(
    out: Path = typer.Argument(..., help="An output folder written by `score` (or `render`)."),
    format: str = typer.Option("fcp7", "--format", help="fcp7 (FCP 7 XML: Premiere, Resolve), edl (CMX 3600), otio or fcpx."),
    path: Optional[Path] = typer.Option(None, "-o", "--output", help="The timeline file (default: OUT/timeline.<ext>)."),
    stems: Optional[bool] = typer.Option(None, "--stems/--mix", help="One audio track per stem, or the mixed soundtrack (default: stems when OUT has them)."),
) -> None:
    """Write an editor's timeline of OUT: the video, the soundtrack or stems, markers for scenes, climax, events and cues."""
    from .export.timeline import export_timeline

    def action() -> None:
        written = export_timeline(out, format, path=path, stems=stems)
        typer.echo(f"  timeline   {written}")

    _guarded(action)


@app.command("train-sensor")
def train_sensor(
    vlm: str = typer.Option(..., "--vlm", help="Local vision-language model (folder, hub id, or 'debug') whose hidden states the head reads."),
    data: Path = typer.Option(..., "--data", help="JSON-lines manifest: video + VA curve (inline with hop, or a CSV path) per line."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for head.safetensors and head.json."),
    vlm_hz: float = VLM_HZ,
    hidden: int = typer.Option(64, "--hidden", help="Hidden width of the head (0: linear)."),
    epochs: int = typer.Option(300, "--epochs", help="Full-batch training steps."),
    lr: float = typer.Option(1e-2, "--lr", help="AdamW learning rate."),
    l1_weight: float = typer.Option(0.5, "--l1-weight", help="Weight of the L1 term beside the MSE."),
    seed: int = SEED,
) -> None:
    """Train the VLM affect head on labelled videos; use it with `score --sensor vlm --vlm PATH --vlm-head OUT`."""
    from .errors import OptionError
    from .sense.train import train_sensor as train

    def action() -> None:
        if hidden < 0 or epochs < 1 or not lr > 0 or l1_weight < 0 or not 0.05 <= vlm_hz <= 4:
            raise OptionError(f"need hidden >= 0, epochs >= 1, lr > 0, l1_weight >= 0, vlm_hz in 0.05..4; got "
                              f"{hidden}, {epochs}, {lr}, {l1_weight}, {vlm_hz}")
        report = train(vlm=vlm, data=data, out=out, vlm_hz=vlm_hz, hidden=hidden, epochs=epochs, lr=lr,
                       l1_weight=l1_weight, seed=seed)
        typer.echo(f"trained on {report.samples} frames: loss {report.loss:.4f}, "
                   f"MAE valence {report.mae[0]:.3f} arousal {report.mae[1]:.3f}, "
                   f"R^2 valence {report.r2[0]:.3f} arousal {report.r2[1]:.3f}")
        typer.echo(f"  head       {out}")

    _guarded(action)


@app.command("precision-check")
def precision_check(
    model: str = typer.Option("facebook/musicgen-small", "--model", help="MusicGen to check: a folder, a hub id, or 'debug'."),
    precision: str = typer.Option("bf16,int8", "--precision", help="Precisions to compare with fp32, comma-separated."),
    steps: int = typer.Option(500, "--steps", help="Decoding steps (50 a second of music)."),
    prompt: str = typer.Option("cinematic orchestral score, strings and horns", "--prompt", help="The text condition."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampled token trajectory."),
) -> None:
    """Print how closely bf16/int8 follow fp32 on YOUR weights: mean KL and top-1 agreement of next-token distributions."""

    def action() -> None:
        from .errors import OptionError
        from .synth.musicgen.backbone import load_backbone, require_neural

        require_neural()
        from .synth.musicgen.precision import agreement, apply_precision, check_precision

        wanted = [check_precision(p.strip()) for p in precision.split(",") if p.strip() and p.strip() != "fp32"]
        if not wanted or not 1 <= steps <= 2000:
            raise OptionError(f"need at least one of bf16, int8 and steps in 1..2000; got {precision!r}, {steps}")
        reference = load_backbone(model)
        text = reference.tokenizer([prompt], return_tensors="pt")
        typer.echo(f"{model}: {steps} decoding steps, guidance 3, tokens sampled from fp32 (seed {seed})")
        for name in wanted:
            candidate = load_backbone(model)
            apply_precision(candidate.model, name)
            got = agreement(reference.model, candidate.model, precision=name, steps=steps, text=dict(text), seed=seed)
            speed = got.steps_per_s[name] / got.steps_per_s["fp32"]
            typer.echo(f"  {name}: mean KL {got.mean_kl:.2e} nats (max {got.max_kl:.2e}), top-1 agreement {got.top1:.1%}, "
                       f"{got.steps_per_s[name]:.1f} steps/s = {speed:.2f}x fp32 ({got.steps_per_s['fp32']:.1f} steps/s)")
            del candidate

    _guarded(action)


@app.command("train")
def train_cmd(
    model: str = typer.Option(..., "--model", help="MusicGen to train on (kept frozen): a folder, a hub id, or 'debug' (tiny, random)."),
    data: Path = typer.Option(..., "--data", help="A JSONL manifest (audio + VA curve per line), a DEAM folder, or a folder of music to self-label."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for adapter.safetensors + adapter.json (use with `score --adapter OUT`), the log and checkpoints."),
    config: Optional[Path] = typer.Option(None, "--config", help="train.toml with the hyperparameters (see docs/training.md)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimiser steps in all (overrides the config)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Crops per micro-batch (overrides the config)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate (overrides the config)."),
    crop_seconds: Optional[float] = typer.Option(None, "--crop-seconds", help="Length of each random crop in seconds (overrides the config)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the adapter's initialisation, crops and split (overrides the config)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint exactly, up to --steps."),
    progress: bool = PROGRESS,
) -> None:
    """Train the Token-Level Affective Adapter on a frozen MusicGen; use it with `score --synth musicgen --adapter OUT`."""
    from .progress import default_reporter

    def action() -> None:
        from .synth.musicgen.backbone import require_neural
        from .train import load_config, train_adapter

        require_neural()
        cfg = load_config(config).replace(steps=steps, batch_size=batch_size, lr=lr, crop_seconds=crop_seconds, seed=seed)
        report = train_adapter(model=model, data=data, out=out, config=cfg, resume=resume,
                               reporter=default_reporter(progress and sys.stderr.isatty()))
        val = f", val_loss {report.val_losses[-1][1]:.4f}" if report.val_losses else " (no held-out clips)"
        last = f"{report.last_loss:.4f}" if report.last_loss is not None else "n/a (already at --steps)"
        typer.echo(f"trained {report.step} steps on {report.clips} clips: loss {last}{val}")
        if report.skipped:
            typer.echo(f"  skipped    {len(report.skipped)} unreadable file(s), listed in {out / 'train.json'}")
        typer.echo(f"  adapter    {out}")

    _guarded(action)


@app.command()
def demo(
    out: Path = typer.Option(Path("narrascore-demo"), "-o", "--out", help="Folder for the demo video and its score."),
    seconds: float = typer.Option(120.0, "--seconds", help="Length of the demo video."),
    style: str = STYLE, seed: int = SEED, progress: bool = PROGRESS,
) -> None:
    """Make a two-minute video with a planted story (calm, rising tension, climax, resolution) and score it."""
    from .fileio import ensure_writable_dir
    from .media import make_demo_video
    from .pipeline import run
    from .progress import default_reporter

    def action() -> None:
        options = _options(style=style, seed=seed)
        options.check_resources()  # a missing renderer fails before the demo video is made
        folder = ensure_writable_dir(out)
        video = folder / "demo.mp4"
        if not video.exists():
            typer.echo(f"making the demo video {video} ({seconds:.0f} s)")
            make_demo_video(video, seconds=seconds)
        result = run(video, folder, options, reporter=default_reporter(progress and sys.stderr.isatty()))
        _summary(result)

    _guarded(action)


@app.command()
def evaluate(
    folder: Optional[Path] = typer.Argument(None, help="An output folder written by `score` (evaluates its soundtrack.wav)."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Any soundtrack (any format FFmpeg reads) to evaluate instead."),
    video: Optional[Path] = typer.Option(None, "--video", help="The video --audio was made for (its story is analysed if needed)."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output folder for --audio (default: <video or audio name>.narrascore)."),
    baselines: Optional[bool] = typer.Option(None, "--baselines/--no-baselines",
                                             help="Also render and evaluate the fixed-mood, shuffled and original-audio baselines "
                                                  "(default: on for an output folder, off for --audio)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the shuffled baseline."),
    listener: str = typer.Option("auto", "--listener", metavar="auto|vibenet|descriptors",
                                 help="Who hears the music's emotion: the pretrained VibeNet model (the listen extra) or the "
                                      "descriptor estimate (no extra); auto: the best installed."),
    synth: str = SYNTH, soundfont: Optional[str] = SOUNDFONT, loudness: float = LOUDNESS, true_peak: float = TRUE_PEAK,
    force: bool = FORCE, progress: bool = PROGRESS,
) -> None:
    """Measure how well a soundtrack follows its story: report.json, figure.png and baselines; or emotion.json for audio alone."""
    from .errors import OptionError
    from .evaluate import run as ev
    from .progress import default_reporter

    def action() -> None:
        if (folder is None) == (audio is None):
            raise OptionError("give either an output folder or --audio FILE (with --video V to compare with its story)")
        if video is not None and audio is None:
            raise OptionError("--video needs --audio FILE (the soundtrack to evaluate)")
        if out is not None and folder is not None:
            raise OptionError("-o/--out goes with --audio; an output folder is evaluated in place")
        from .evaluate.listeners import check_listener_name

        check_listener_name(listener)
        reporter = default_reporter(progress and sys.stderr.isatty())
        options = _options(synth=synth, soundfont=soundfont, loudness=loudness, true_peak=true_peak, force=force)
        options.check_resources(analysis=False, synthesis=False)  # a given SoundFont, before any analysis
        if audio is not None and video is None:
            ev.check_baselines_option(audio_only=True, baselines=baselines)
            curve, heard_by, path = ev.analyse_music(audio, out or _default_out(audio), listener=listener)
            typer.echo(f"mean valence {curve.mean_valence:+.3f}, mean arousal {curve.mean_arousal:+.3f} (listener: {heard_by.version})")
            typer.echo(f"  emotion    {path}")
            return
        if audio is not None:
            result = ev.evaluate_soundtrack(audio, video, out or _default_out(video), options=options,
                                            baselines=bool(baselines), seed=seed, reporter=reporter, listener=listener)
        else:
            result = ev.evaluate_folder(folder, options=options, baselines=baselines is not False, seed=seed, reporter=reporter,
                                        listener=listener)
        from rich.console import Console

        Console(soft_wrap=True).print(ev.summary_table(result))
        for note in result.notes:
            typer.echo(f"  {note}")
        typer.echo(f"  report     {result.report_path}")
        if result.figure is not None:
            typer.echo(f"  figure     {result.figure}")

    _guarded(action)


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (127.0.0.1: this machine only)."),
    port: int = typer.Option(7860, "--port", help="Port to serve on."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="A folder of videos to pick from in the page."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where each video's outputs go (default: a new temporary folder)."),
) -> None:
    """Open a local web page to score videos, edit their emotion curve and hear the result (needs the ui extra)."""
    from .ui import serve

    _guarded(lambda: serve(host=host, port=port, folder=folder, workdir=workdir, announce=typer.echo))


@app.command()
def batch(
    inputs: str = typer.Argument(..., help="A folder (searched recursively for videos), a glob ('clips/*.mp4'), or a "
                                            ".csv/.jsonl list: video, and optionally name, style, seed, synth per video."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: each video scores into OUT/<relative name>/."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes (default: min(2, CPUs))."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="auto|ADDRESS",
                                      help="Run on Ray: 'auto' (a running cluster, else a local instance) or a cluster address."),
    range_seconds: float = typer.Option(600.0, "--range-seconds",
                                        help="With --ray, sense videos longer than this many seconds in parallel ranges."),
    style: str = STYLE, seed: int = SEED, synth: str = SYNTH, sensor: str = SENSOR, reasoner: str = REASONER,
    loudness: float = LOUDNESS, true_peak: float = TRUE_PEAK, mix_original: Optional[float] = MIX,
    copy_video: bool = COPY, stems: bool = STEMS, soundfont: Optional[str] = SOUNDFONT, hop: float = HOP,
    sample_hz: float = SAMPLE_HZ, force: bool = FORCE, strict: bool = STRICT, progress: bool = PROGRESS,
) -> None:
    """Score many videos; finished ones are skipped on a re-run; OUT/batch-summary.csv lists every video."""
    from rich.console import Console

    from .batch import BatchInterrupted, run_batch, summary_table

    def action() -> tuple[Any, bool]:
        options = _options(style=style, seed=seed, synth=synth, sensor=sensor, reasoner=reasoner, loudness=loudness,
                           true_peak=true_peak, mix_original=mix_original, copy_video=copy_video, stems=stems,
                           soundfont=soundfont, hop=hop, sample_hz=sample_hz, force=force, strict=strict)

        def on_row(row: Any) -> None:
            if progress:
                typer.echo(f"{row.status:<8} {row.name}" + (f": {row.error}" if row.error else ""), err=True)

        try:
            return run_batch(inputs, out, options=options, workers=workers, ray=ray, range_seconds=range_seconds,
                             on_row=on_row), 0
        except BatchInterrupted as exc:
            return exc.result, exc.signum

    result, signum = _guarded(action)
    console = Console(soft_wrap=True)
    console.print(summary_table(result.rows, title=f"batch {out}", width=console.width))
    typer.echo(f"  summary    {result.summary}")
    if signum:  # 128 + the signal, as for a single run: 130 for Ctrl-C, 143 for SIGTERM
        _fail(f"interrupted; {len(result.unfinished)} video(s) not finished; a re-run resumes", 128 + signum)
    if result.failed:
        _fail(f"{len(result.failed)} of {len(result.rows)} video(s) failed; see {result.summary}", 1)


def run() -> None:
    """The ``narrascore`` command: the app, then an exit without the interpreter's teardown.

    When a command returns, its outputs are written and closed and its workers joined; what a normal
    exit still does is free some 1300 imported modules (scipy, PyAV, matplotlib) one by one: 0.2 s of a
    2 s short clip. The exit handlers (``atexit``, ``weakref.finalize``) still run, and the output is flushed.
    """
    try:
        app()
        code: Any = 0
    except SystemExit as done:  # how a standalone Click app always ends
        code = done.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"), as the interpreter would print it
        print(code, file=sys.stderr)
        code = 1
    import atexit

    atexit._run_exitfuncs()  # logging's shutdown among them
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``), a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
