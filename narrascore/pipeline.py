"""Runs the stages in order, reusing every artifact whose inputs have not changed.

Each stage has a cache key: the hash of the package version, the options that stage reads and
the fingerprints of the artifacts it reads. An artifact on disk whose key matches is reused; one
that was edited by hand (its data no longer matches its recorded fingerprint) is always kept, and
everything after it is recomputed because their keys include its new fingerprint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from . import __version__
from .artifacts import (AffectCurve, Event, MediaInfo, MusicConcept, NarrativePlan, Shots, canonical, fingerprint,
                        read_artifact, save_artifact, to_data)
from .errors import ArtifactError, MediaError
from .fileio import atomic_path, canonical_hash, ensure_writable_dir, read_json_object, write_json_atomic
from .identity import cached_sha256, file_identity, library_versions, remember_sha256
from .lock import LOCK_NAME, hold, remove_litter
from .media.events import EVENTS_VERSION
from .media.features import AudioStats, VideoStats
from .options import ScoreOptions
from .parallel import Background, gather, usable_cores
from .progress import Reporter, SilentReporter

A = TypeVar("A")
WORK_DIR = ".narrascore"
VLM_FRAMES = "vlm_frames.json"  # the VLM sensor's per-frame readings and captions
PROMPT_DIR = "prompts"  # the exact prompts sent to the models, and their answers
HASHES = "hashes.json"  # content hashes of the files used (video, SoundFont) by path, size and mtime
SenseHook = Callable[..., AffectCurve]
"""Replaces ``sense.sense(inputs, sensors=..., options=...)`` in the affect stage; it must return the
same curve (the cache key does not change): ``narrascore.batch`` senses time ranges in parallel with it."""


@dataclass(frozen=True)
class Result:
    """What a scoring run produced. Paths are None for outputs a run stopped before."""

    out_dir: Path
    media: MediaInfo
    shots: Shots
    affect: AffectCurve
    plan: NarrativePlan
    concept: MusicConcept | None = None
    soundtrack: Path | None = None
    video: Path | None = None
    midi: Path | None = None
    figure: Path | None = None
    stems: tuple[Path, ...] = ()
    loudness: Any = None
    reused: tuple[str, ...] = ()
    timeline: Path | None = None


def stage_key(stage: str, **inputs: Any) -> str:
    """Cache key of a stage run: its name, the package version and everything it reads."""
    return canonical_hash({"stage": stage, "version": __version__, **to_data(inputs)})


class Pipeline:
    """One scoring run over one output folder."""

    def __init__(self, out_dir: str | os.PathLike[str], options: ScoreOptions, reporter: Reporter | None = None,
                 sense_hook: SenseHook | None = None) -> None:
        self.out = ensure_writable_dir(out_dir)
        self.sense_hook = sense_hook
        self.work = ensure_writable_dir(self.out / WORK_DIR)
        self.options = options
        self.reporter = reporter or SilentReporter()
        self.reused: list[str] = []
        self.written: set[str] = set()
        self.will_render = False  # set by ``run``: the scan may then start loading the synthesizer
        self.helpers = contextlib.ExitStack()  # worker processes started ahead of their call, stopped with the run
        self.drawing: Background | None = None  # the figure's worker, readied while the render runs

    # ------------------------------------------------------------------ cache helpers
    def _cached(self, cls: type[A], key: str) -> A | None:
        path = self.out / cls.FILENAME  # type: ignore[attr-defined]
        if not path.exists():
            return None
        stored = read_artifact(cls, path)
        if path.name in self.written:
            return stored.artifact
        if stored.hand_edited:
            if path.name not in self.reused:
                self.reporter.note(f"keeping hand-edited {path.name}")
            self._reuse(path.name)
            return stored.artifact
        if not self.options.force and stored.key == key:
            self._reuse(path.name)
            return stored.artifact
        return None

    def _save(self, artifact: A, key: str) -> A:
        """Write ``artifact`` and go on with its on-disk form (see ``artifacts.canonical``)."""
        artifact = canonical(artifact)
        save_artifact(artifact, self.out, key=key)
        return artifact

    def _reuse(self, name: str) -> None:
        if name not in self.reused:
            self.reused.append(name)

    def _manifest(self) -> dict[str, str]:
        import json

        path = self.work / "outputs.json"
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    def _output_fresh(self, name: str, key: str, *paths: Path) -> bool:
        if self.options.force or self._manifest().get(name) != key:
            return False
        if all(p.exists() for p in paths):
            self._reuse(name)
            return True
        return False

    def _record_output(self, name: str, key: str) -> None:
        manifest = self._manifest()
        manifest[name] = key
        write_json_atomic(self.work / "outputs.json", manifest)

    # ------------------------------------------------------------------ stages
    def media(self, video: Path, *, analysed: MediaInfo | None = None) -> MediaInfo:
        """Probe ``video`` (or reuse media.json); with ``analysed``, refuse one of another length before saving.
        A file that holds less than its container declares warns on every run (``--strict``: refuses)."""
        from .media import check_complete, probe

        if not video.exists():
            raise MediaError(f"{video}: file not found")
        stat = video.stat()
        key = stage_key("media", path=str(video.resolve()), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        cached = self._cached(MediaInfo, key)
        if cached is not None and Path(cached.absolute_path or cached.path).resolve() == video.resolve():
            check_complete(cached, strict=self.options.strict)  # on every run: a reused media.json warns again
            return cached
        with self.reporter.stage("probe"):
            info = probe(video)
        check_complete(info, strict=self.options.strict)
        if analysed is not None:
            tolerance = max(0.1, 2.0 / info.fps if info.fps > 0 else 0.1)
            if abs(info.duration - analysed.duration) > tolerance:
                raise MediaError(f"{video}: lasts {info.duration:.2f} s but the analysis in {self.out} is of a "
                                 f"{analysed.duration:.2f} s video; score it with `narrascore score` instead")
        remember_sha256(video, info.content_hash, cache=self.work / HASHES)
        return self._save(info, key)

    def bind_video(self, info: MediaInfo, video: Path | None) -> tuple[MediaInfo, Path]:
        """The video the analysis in this folder was made from, and its path.

        Without ``video``: the file ``media.json`` names (its absolute path, else the path as typed),
        refused with one line unless its content hash is the recorded one. With ``video``: that file,
        re-bound on purpose (a moved or re-encoded copy): ``media.json`` is rewritten for it, and it
        must last as long as the analysed video.
        """
        media_json = self.out / MediaInfo.FILENAME
        if video is not None:
            return self.media(video, analysed=info), video
        found = info.located()
        if not found.is_file():
            raise MediaError(f"{found}: the video named in {media_json} is missing; "
                             f"pass --video PATH to re-bind the folder to it")
        if cached_sha256(found, cache=self.work / HASHES) != info.content_hash:
            raise MediaError(f"{found}: is not the video analysed in {self.out} (its content differs from "
                             f"{media_json}); pass --video PATH to re-bind the folder to it")
        return info, found

    def _stats_cache(self, name: str, key: str) -> Path:
        return self.work / f"{name}-{key[:16]}.npz"

    def _scan_key(self, info: MediaInfo) -> str:
        return stage_key("scan", media=info.content_hash, fast=self.options.fast_decode, decoder=library_versions("av"))

    def signals(self, video: Path, info: MediaInfo, *, need_stats: bool) -> tuple[Shots, VideoStats | None, AudioStats | None]:
        """Shots, and the per-frame and per-hop measurements the sensors read (cached as .npz).

        When both the video and the audio must be scanned, the audio is scanned in a second process
        while this one decodes the video: each uses its own core.
        """
        from .media import audio_stats, scan_video
        from .media.audio import ANALYSIS_BLOCK
        from .media.scan import join_parts, scan_part, scan_parts, split_ranges

        scan_key = self._scan_key(info)
        shots = self._cached(Shots, scan_key)
        video_npz = self._stats_cache("video", stage_key("stats", scan=scan_key, sample_hz=self.options.sample_hz))
        stats = _load_stats(VideoStats, video_npz) if need_stats else None
        audio_npz = self._stats_cache("audio", stage_key("audio", media=info.content_hash, hop=self.options.hop,
                                                           block=ANALYSIS_BLOCK, decoder=library_versions("av")))
        audio = _load_stats(AudioStats, audio_npz) if need_stats and info.has_audio else None
        need_video = shots is None or (need_stats and stats is None)
        need_audio = need_stats and info.has_audio and audio is None

        with contextlib.ExitStack() as stack:
            pending = None
            if need_video:
                # The scan runs in a worker, so that this process readies the stages after it meanwhile
                # without taking the scan's turn at the interpreter. Workers are forked before a stage's
                # progress bar (a thread) starts.
                spans = split_ranges(video, scan_parts(info.duration, usable_cores()))
                if len(spans) == 1:
                    scanning = [stack.enter_context(Background(
                        scan_video, video, info, fast=self.options.fast_decode, sample_hz=self.options.sample_hz,
                        reports_progress=True))]
                else:  # one single-threaded decoder per core, each on its own range
                    scanning = [stack.enter_context(Background(scan_part, video, info, span, fast=self.options.fast_decode,
                                                               reports_progress=True)) for span in spans]
                self.import_later_stages()
                if need_audio:  # forked after the imports, which it needs too
                    pending = stack.enter_context(Background(audio_stats, video, info, hop=self.options.hop))
                if self.will_render:
                    self.warm_synth()  # a thread: after the forks above, so each worker starts with one
                with self.reporter.stage("scan video", total=info.duration) as advance:
                    found = gather(scanning, advance)
                    if len(spans) == 1:
                        stats, scanned = found[0]
                    else:  # joined in a worker too: its per-frame objects would stay in this process's heap
                        with Background(join_parts, video, info, found, sample_hz=self.options.sample_hz) as joining:
                            stats, scanned = joining.result()
                        del found, joining
                _save_stats(stats, video_npz)
                if shots is None:
                    shots = self._save(scanned, scan_key)
                    self.written.add(Shots.FILENAME)
            if need_audio:
                with self.reporter.stage("scan audio", total=info.duration) as advance:
                    if pending is not None:
                        audio = pending.result()
                        advance(info.duration)
                    else:
                        audio = audio_stats(video, info, hop=self.options.hop, progress=advance)
                if audio is not None:
                    _save_stats(audio, audio_npz)
        assert shots is not None
        return shots, stats, audio

    def import_later_stages(self) -> None:
        """Import what the audio scan, the sensors, the narrative's change points and the render use, while
        the scan runs: scipy's ndimage filters, and ruptures with the scipy.signal and scipy.stats it
        imports, 0.65 s in all (the stage modules themselves were imported when the options were checked)."""
        import ruptures  # noqa: F401
        import scipy.ndimage  # noqa: F401
        import scipy.signal  # noqa: F401

    def warm_synth(self) -> None:
        """Start loading the SoundFont the render will play. Only the procedural synthesizer has something
        to load early."""
        if self.options.synth == "procedural":
            from .synth.procedural import find_soundfont, preload_synth

            preload_synth(find_soundfont(self.options.soundfont))

    def affect_key(self, info: MediaInfo, shots: Shots) -> str:
        neural = {}
        if "vlm" in self.options.sensor.split("+"):
            neural = {"vlm": _neural_stamp(self.options, "vlm", "endpoint", "vlm_model", "vlm_head", "vlm_hz"),
                      "prompts": _prompt_versions("vlm_frame", "json_retry")}
            if self.options.vlm_context > 1:  # one frame per request keeps the keys of earlier runs
                neural.update(vlm_context=self.options.vlm_context, clip=_prompt_versions("vlm_clip"))
        return stage_key(
            "affect", media=info.content_hash, shots=fingerprint(shots), sensor=self.options.sensor,
            hop=self.options.hop, sample_hz=self.options.sample_hz, subtitles=_subtitle_stamp(info), **neural,
        )

    def sensor_options(self) -> dict[str, dict[str, Any]]:
        """Constructor options of the sensors that take any (the VLM: its model, cache and logs)."""
        o = self.options
        return {"vlm": dict(vlm=o.vlm, endpoint=o.endpoint, vlm_model=o.vlm_model, vlm_head=o.vlm_head, vlm_hz=o.vlm_hz,
                            vlm_context=o.vlm_context, vlm_max_len=o.vlm_max_len,
                            cache_dir=self.work, frames_path=self.out / VLM_FRAMES, prompt_dir=self.out / PROMPT_DIR)}

    def reasoner_options(self, info: MediaInfo) -> dict[str, Any]:
        """Constructor options of the reasoner: for ``llm``, its model, the VLM's captions and the dialogue."""
        if self.options.reasoner != "llm":
            return {}
        from .media import read_subtitles
        from .sense.vlm import load_readings

        captions = []
        if "vlm" in self.options.sensor.split("+"):
            captions = [(r.time, r.caption) for r in load_readings(self.out / VLM_FRAMES) if r.ok and r.caption]
        subtitles = tuple(read_subtitles(info.path, info.sidecar_subtitles)) if Path(info.path).exists() else ()
        return dict(**(self.options.llm_source() or {}), frame_captions=captions, subtitles=subtitles,
                    prompt_dir=self.out / PROMPT_DIR)

    def affect(self, video: Path, info: MediaInfo) -> tuple[Shots, AffectCurve]:
        from .media import read_subtitles
        from .sense import SensingInput, grid, sense

        shots = self._cached(Shots, self._scan_key(info))
        if shots is not None:
            cached = self._cached(AffectCurve, self.affect_key(info, shots))
            if cached is not None:
                return shots, cached
        shots, stats, audio = self.signals(video, info, need_stats=True)
        key = self.affect_key(info, shots)
        cached = self._cached(AffectCurve, key)
        if cached is not None:
            return shots, cached
        assert stats is not None
        with self.reporter.stage("sense"):
            times = grid(info.duration, self.options.hop)
            inputs = SensingInput(
                media=info, shots=shots, video=stats, audio=audio,
                subtitles=tuple(read_subtitles(video, info.sidecar_subtitles)), times=times, hop=self.options.hop,
            )
            curve = (self.sense_hook or sense)(inputs, sensors=tuple(self.options.sensor.split("+")), options=self.sensor_options())
        return shots, self._save(curve, key)

    def narrative(self, info: MediaInfo, shots: Shots, affect: AffectCurve) -> NarrativePlan:
        from .narrative import reason

        options = self.reasoner_options(info)
        neural = {}
        if options:
            neural = {"llm": _neural_stamp(self.options.llm_source() or {}, "llm", "llm_endpoint", "llm_model"),
                      "captions": canonical_hash(options["frame_captions"]), "subtitles": _subtitle_stamp(info),
                      "prompts": _prompt_versions("llm_global", "llm_scene", "json_retry")}
        key = stage_key("narrative", affect=fingerprint(affect), shots=fingerprint(shots), reasoner=self.options.reasoner,
                        events=EVENTS_VERSION, **neural)
        plan = self._cached(NarrativePlan, key)
        if plan is None:
            with self.reporter.stage("narrative"):
                plan = reason(info, shots, affect, reasoner=self.options.reasoner, **options)
                plan = dataclasses.replace(plan, events=self.events(info, shots, plan))
            plan = self._save(plan, key)
        return refresh_curve(plan, shots, affect)

    def events(self, info: MediaInfo, shots: Shots, plan: NarrativePlan) -> tuple[Event, ...]:
        """The sudden moments inside scenes, from the scanned statistics (cached), refined to the frame."""
        from .media.events import detect_events

        video = Path(info.absolute_path or info.path)
        _, stats, audio = self.signals(video, info, need_stats=True)
        assert stats is not None
        return detect_events(video, info, stats, audio, shots, scene_starts=tuple(s.start for s in plan.scenes[1:]))

    def concept(self, plan: NarrativePlan, info: MediaInfo | None = None) -> MusicConcept:
        """The concept; with a model configured (``options.anchor_source()``), the model writes the anchor fields.

        ``info`` (default: this folder's media.json) is where the VLM's keyframes come from.
        """
        from .concept import conceive
        from .concept.anchor import refresh

        source, neural = self.options.anchor_source(), {}
        if source == "vlm" and info is None:
            info = read_artifact(MediaInfo, self.out / MediaInfo.FILENAME).artifact
        if source != "rules":
            model = self.anchor_model(source)
            neural = {"anchor": source, "anchor_model": _neural_stamp(model, *model),
                      "prompts": _prompt_versions(f"anchor_{source}", "json_retry")}
            if source == "vlm":
                assert info is not None
                neural.update(media=info.content_hash, anchor_frames=self.options.anchor_frames)
        key = stage_key("concept", plan=fingerprint(plan), style=self.options.style, seed=self.options.seed, **neural)
        concept = self._cached(MusicConcept, key)
        if concept is None:
            fields, writer = {}, ""
            if source != "rules":
                from .concept.ask import AnchorWriter

                with self.reporter.stage("anchor"):
                    answer = AnchorWriter(source, source=self.anchor_model(source), max_frames=self.options.anchor_frames,
                                          prompt_dir=self.out / PROMPT_DIR).ask(plan, info)
                for note in answer.notes:
                    self.reporter.note(f"anchor: {note}")
                fields, writer = answer.fields, answer.model
            concept = conceive(plan, style=self.options.style, seed=self.options.seed, fields=fields, model=writer)
            concept = self._save(concept, key)
        return refresh(concept)

    def anchor_model(self, source: str) -> dict[str, Any]:
        """``open_client`` arguments of the model that writes the anchor (the VLM's, or the reasoner's)."""
        o = self.options
        if source == "vlm":
            return {"local": o.vlm, "endpoint": o.endpoint, "model": o.vlm_model}
        llm = o.llm_source() or {}
        return {"local": llm.get("llm"), "endpoint": llm.get("llm_endpoint"), "model": llm.get("llm_model")}

    def render(self, info: MediaInfo, shots: Shots, plan: NarrativePlan, concept: MusicConcept) -> dict[str, Any]:
        """Synthesize the raw mix, stems and MIDI into the work folder; returns the render record."""
        from .synth import SYNTHESIZERS, RenderRequest, SAMPLE_RATE

        n_samples = int(round(info.duration * SAMPLE_RATE))
        identity, soundfont = synth_identity(self.options)
        key = stage_key(
            "render", plan=fingerprint(plan), concept=fingerprint(concept), shots=fingerprint(shots),
            synth=self.options.synth, uses=identity, stems=self.options.stems, n_samples=n_samples,
            **self.options.synth_kwargs(),
        )
        record_path = self.work / "render.json"
        record = read_json_object(record_path)
        if not self.options.force and record.get("key") == key and all(Path(p).exists() for p in _record_files(record)):
            self._reuse("render")
            return record
        synth = SYNTHESIZERS.create(self.options.synth, **self.options.synth_kwargs())
        render_dir = ensure_writable_dir(self.work / "render")
        self.ready_drawing()
        with self.reporter.stage("compose+render", total=info.duration) as advance:
            result = synth.render(
                plan, concept, shots,
                RenderRequest(n_samples=n_samples, work_dir=render_dir, stems=self.options.stems,
                              soundfont=soundfont, seed=concept.seed, progress=advance),
            )
        record = {
            "key": key, "mix": str(result.mix), "n_samples": result.n_samples,
            "stems": {k: str(v) for k, v in result.stems.items()}, "midi": str(result.midi) if result.midi else None,
            "lufs": result.integrated_lufs, "soundfont": soundfont,
        }
        write_json_atomic(record_path, record)
        return record

    def ready_drawing(self) -> None:
        """Start the figure's worker now, so that it imports matplotlib while the render runs (a new render
        means a new figure). Forked once the SoundFont is loaded: no thread of ours is running then."""
        if self.drawing is None:
            if self.options.synth == "procedural":
                from .synth.procedural import wait_for_preload

                wait_for_preload()
            from .export.figure import prepare_drawing

            self.drawing = self.helpers.enter_context(Background.standby(prepare_drawing, yields=True))

    def export(self, video: Path, info: MediaInfo, shots: Shots, plan: NarrativePlan, record: dict[str, Any]) -> dict[str, Any]:
        """Loudness-normalised soundtrack, stems, MIDI copy, the scored video and the figure."""
        from .export import mux_video, write_figure, write_soundtrack
        from .export.audio import SOUNDTRACK_VERSION
        from .export.mux import MuxWhileWriting

        opts = self.options
        produced: dict[str, Any] = {}
        soundtrack = self.out / "soundtrack.wav"
        stems_dir = self.out / "stems"
        stem_paths = tuple(stems_dir / f"{name}.wav" for name in record["stems"])
        sound_key = canonical_hash({"render": record["key"], "lufs": opts.loudness, "tp": opts.true_peak,
                                    "writer": library_versions("soundfile"), "pcm": SOUNDTRACK_VERSION})
        figure = self.out / "figure.png"
        # the spectrogram is in dB re its loudest cell, so the raw mix draws the same picture as the soundtrack
        figure_key = canonical_hash({"render": record["key"], "plan": fingerprint(plan), "shots": fingerprint(shots),
                                     "plotter": library_versions("matplotlib")})
        scored = self.out / ("scored.mkv" if opts.copy_video else "scored.mp4")
        video_key = canonical_hash({"sound": sound_key, "media": info.content_hash, "copy": opts.copy_video,
                                    "mix": opts.mix_original, "muxer": library_versions("av")})
        with contextlib.ExitStack() as stack:
            drawing = None
            if not self._output_fresh("figure", figure_key, figure):
                # The figure is drawn in a second process while this one normalises the soundtrack and muxes the video.
                drawing, self.drawing = self.drawing, None
                if drawing is None:
                    drawing = stack.enter_context(Background.standby())
                drawing.submit(write_figure, figure, soundtrack=Path(record["mix"]), plan=plan,
                               cuts=[s.start for s in plan.scenes[1:]], shot_cuts=shots.cut_times())
            sound_fresh = self._output_fresh("soundtrack", sound_key, soundtrack, *stem_paths)
            video_fresh = self._output_fresh("video", video_key, scored)
            muxing = None
            if not sound_fresh and not video_fresh and opts.mix_original is None:
                # The mux encodes the soundtrack in a worker as it is written, not after.
                muxing = stack.enter_context(MuxWhileWriting(video, info, self.out, copy_video=opts.copy_video))
            if not sound_fresh:
                with self.reporter.stage("loudness"):
                    produced["loudness"] = write_soundtrack(
                        Path(record["mix"]), soundtrack, target_lufs=opts.loudness, true_peak_dbtp=opts.true_peak,
                        stems={k: Path(v) for k, v in record["stems"].items()} or None,
                        stems_dir=stems_dir if record["stems"] else None, raw_lufs=record.get("lufs"), tap=muxing,
                    )
                self._record_output("soundtrack", sound_key)
            produced["soundtrack"] = soundtrack
            produced["stems"] = stem_paths

            if record.get("midi"):
                midi = self.out / "score.mid"
                if not self._output_fresh("midi", record["key"], midi):
                    with atomic_path(midi) as tmp:
                        tmp.write_bytes(Path(record["midi"]).read_bytes())
                    self._record_output("midi", record["key"])
                produced["midi"] = midi

            if not video_fresh:
                speech = None
                if opts.mix_original is not None and info.has_audio:
                    _, _, audio = self.signals(video, info, need_stats=True)
                    speech = audio
                with self.reporter.stage("mux video", total=info.duration) as advance:
                    muxed = muxing.result(advance) if muxing is not None else None
                    scored = muxed or mux_video(video, info, soundtrack, self.out, copy_video=opts.copy_video,
                                                mix_original_db=opts.mix_original, speech=speech,
                                                true_peak_dbtp=opts.true_peak, progress=advance)
                self._record_output("video", video_key)
            if drawing is not None:
                with self.reporter.stage("figure"):
                    drawing.result()
                self._record_output("figure", figure_key)
        produced["video"] = scored
        produced["figure"] = figure
        return produced


def refresh_curve(plan: NarrativePlan, shots: Shots, affect: AffectCurve) -> NarrativePlan:
    """Derive the narrative curve again when a user edited the scenes (their fingerprint changed)."""
    from .narrative import refresh, scenes_fingerprint

    if scenes_fingerprint(plan.scenes) == plan.scenes_fingerprint:
        return plan
    return refresh(plan, shots.cut_times(), affect=affect)


def synth_identity(options: ScoreOptions) -> tuple[dict[str, Any], str | None]:
    """What the chosen synthesizer really renders with (for its cache key) and the SoundFont it is to use.

    procedural: the SoundFont found (path, size, content hash), the composer's and the mix bus's versions,
    the tinysoundfont build and mido's version;
    musicgen: the model and adapter (a folder also by its files) and the torch and transformers versions.
    """
    if options.synth == "procedural":
        from .synth.procedural import find_soundfont
        from .synth.procedural.composer import COMPOSER_VERSION
        from .synth.procedural.fontcache import FONT_CACHE_VERSION, soundfont_sha256
        from .synth.procedural.mix import MIX_VERSION
        from .synth.procedural.soundfont import renderer_version

        font = find_soundfont(options.soundfont)
        libraries = {"tinysoundfont": renderer_version(), **library_versions("mido")}
        return {"soundfont": file_identity(font, soundfont_sha256(font)), "font_cache": FONT_CACHE_VERSION, "mix": MIX_VERSION,
                "composer": COMPOSER_VERSION, "libraries": libraries}, str(font)
    if options.synth == "musicgen":
        return {"model": _neural_stamp(options, "model", "adapter"),
                "libraries": library_versions("torch", "transformers")}, options.soundfont
    return {"soundfont": options.soundfont}, options.soundfont


def _neural_stamp(source: Any, *names: str) -> dict[str, Any]:
    """The model options a neural stage reads; a local model folder also by its files (retrained = new key)."""
    get = source.get if isinstance(source, dict) else (lambda name: getattr(source, name))
    stamp = {name: get(name) for name in names}
    for name in ("vlm", "llm", "vlm_head", "model", "adapter", "local"):
        value = stamp.get(name)
        if isinstance(value, str) and Path(value).is_dir():
            stamp[name] = [value] + [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(Path(value).iterdir()) if f.is_file()]
    return stamp


def _prompt_versions(*names: str) -> list[str]:
    from .prompts import load_prompt

    return [load_prompt(name).tag for name in names]


def _subtitle_stamp(info: MediaInfo) -> list[Any]:
    """What identifies the subtitles a sensor reads: the side-car file's path, size and mtime."""
    if not info.sidecar_subtitles:
        return []
    side = Path(info.sidecar_subtitles)
    stat = side.stat() if side.exists() else None
    return [str(side), stat.st_size if stat else 0, stat.st_mtime_ns if stat else 0]


def _record_files(record: dict[str, Any]) -> list[str]:
    files = [record.get("mix", "")] + list(record.get("stems", {}).values())
    if record.get("midi"):
        files.append(record["midi"])
    return files


def _save_stats(stats: Any, path: Path) -> None:
    arrays = {f.name: np.asarray(getattr(stats, f.name)) for f in dataclasses.fields(stats)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def _load_stats(cls: type[A], path: Path) -> A | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            values = {f.name: (float(data[f.name]) if data[f.name].ndim == 0 else data[f.name].copy()) for f in dataclasses.fields(cls)}
    except (OSError, KeyError, ValueError):
        return None
    return cls(**values)


def run(
    video: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    options: ScoreOptions,
    *,
    until: str = "figure",
    reporter: Reporter | None = None,
    from_artifacts: bool = False,
    sense_hook: SenseHook | None = None,
    wait: bool = False,
) -> Result:
    """Run the stages up to ``until`` ("narrative" for analyze, "figure" for everything).

    With ``from_artifacts`` the analysis artifacts (media, shots, affect, narrative) in ``out_dir``
    are taken as they are: what ``render`` does. The video is the one ``media.json`` names, checked
    by content, or ``video`` when given (re-bound on purpose, see ``Pipeline.bind_video``).
    ``sense_hook`` stands in for ``sense.sense`` in the affect stage (see ``SenseHook``).
    One run at a time writes to a folder: another one fails at once, or waits with ``wait``.
    """
    options.check_resources(analysis=not from_artifacts, synthesis=until != "narrative")
    created = [d for d in (*reversed(Path(out_dir).parents), Path(out_dir), Path(out_dir) / WORK_DIR) if not d.exists()]
    try:
        return _run_locked(video, out_dir, options, until=until, reporter=reporter, from_artifacts=from_artifacts,
                           sense_hook=sense_hook, wait=wait)
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders this run created if they hold nothing but the run's own lock and hash cache
    (a failed input leaves no litter)."""
    for folder in reversed(folders):
        if folder.name == WORK_DIR:
            for name in (LOCK_NAME, HASHES):
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


def _run_locked(video: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str], options: ScoreOptions, *,
                until: str, reporter: Reporter | None, from_artifacts: bool, sense_hook: SenseHook | None,
                wait: bool) -> Result:
    pipe = Pipeline(out_dir, options, reporter, sense_hook=sense_hook)
    pipe.will_render = until != "narrative"
    on_wait = lambda pid: pipe.reporter.note(f"waiting for narrascore run {pid} to finish with {pipe.out}")  # noqa: E731
    with hold(pipe.work, wait=wait, on_wait=on_wait), pipe.helpers:
        remove_litter(pipe.out, pipe.work)
        return _run(pipe, None if video is None else Path(video), until=until, from_artifacts=from_artifacts)


def _run(pipe: Pipeline, video: Path | None, *, until: str, from_artifacts: bool) -> Result:
    if from_artifacts:
        info, shots, affect, plan = _load_analysis(pipe.out)
        _check_timeline(pipe.options, info, until)
        plan = refresh_curve(plan, shots, affect)
        info, video_path = pipe.bind_video(info, video)
    else:
        if video is None:
            raise MediaError("no video given")
        video_path = video
        info = pipe.media(video_path)
        _check_timeline(pipe.options, info, until)
        shots, affect = pipe.affect(video_path, info)
        plan = pipe.narrative(info, shots, affect)
    result = Result(out_dir=pipe.out, media=info, shots=shots, affect=affect, plan=plan)
    if until == "narrative":
        return dataclasses.replace(result, reused=tuple(pipe.reused))
    concept = pipe.concept(plan, info)
    record = pipe.render(info, shots, plan, concept)
    produced = pipe.export(video_path, info, shots, plan, record)
    timeline = None
    if pipe.options.timeline is not None:
        from .export.timeline import export_timeline

        with pipe.reporter.stage("timeline"):
            timeline = export_timeline(pipe.out, pipe.options.timeline, stems=pipe.options.stems)
    return dataclasses.replace(
        result, concept=concept, soundtrack=produced["soundtrack"], video=produced["video"], midi=produced.get("midi"),
        figure=produced["figure"], stems=produced["stems"], loudness=produced.get("loudness"), reused=tuple(pipe.reused),
        timeline=timeline,
    )


def _check_timeline(options: ScoreOptions, info: MediaInfo, until: str) -> None:
    """Refuse a timeline format the video's rate cannot carry before the long stages start."""
    if options.timeline is not None and until != "narrative":
        from .export.timeline import check_format, require_otio

        require_otio()
        check_format(options.timeline, info.fps)


def _load_analysis(out: Path) -> tuple[MediaInfo, Shots, AffectCurve, NarrativePlan]:
    loaded = []
    for cls in (MediaInfo, Shots, AffectCurve, NarrativePlan):
        path = out / cls.FILENAME  # type: ignore[attr-defined]
        if not path.exists():
            raise ArtifactError(f"{path}: not found; run `narrascore analyze VIDEO -o {out}` first")
        loaded.append(read_artifact(cls, path).artifact)
    return tuple(loaded)  # type: ignore[return-value]
