"""The web app: a Starlette application over ``pipeline.run``, one hand-written page, a JSON API.

Routes (all JSON unless said otherwise; errors are ``{"error": message}`` with a 4xx status and the
same ``NarrascoreError`` message the CLI prints):

=======================================  ==========================================================
``GET  /``                               the page (``static/index.html``; its JS and CSS beside it)
``GET  /api/config``                     styles, synthesizers, keys, modes, arc roles, ``--folder`` videos
``POST /api/upload?name=F``              the request body is the video; probed at once -> a project
``POST /api/folder/open``                ``{"name": path in --folder}`` -> a project
``POST /api/projects/{p}/score``         ``{"style", "synth", "seed"}`` -> a job (the whole pipeline)
``POST /api/projects/{p}/render``        the same plus ``scenes`` and ``concept`` edits -> a job
                                         (music only, ``run(None, out, options, from_artifacts=True)``)
``GET  /api/jobs/{j}``                   state, per-stage progress, notes, error
``GET  /api/projects/{p}``               everything the page draws: plan, cuts, concept, measured curve
``GET  /api/projects/{p}/files/{name}``  an output or artifact (``?download=1``: as an attachment)
``GET  /api/projects/{p}/versions/{n}``  the n-th rendered soundtrack (before/after comparison)
``GET  /api/projects/{p}/original``      the video as uploaded (its original audio)
=======================================  ==========================================================
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..artifacts import ARC_ROLES, EVENT_KINDS, KEYS, MODES, AffectCurve, MusicConcept, NarrativePlan, Shots, read_artifact, to_data
from ..errors import ArtifactError, NarrascoreError, OptionError
from ..fileio import ensure_writable_dir, write_json_atomic
from ..options import LOUDNESS_RANGE, STYLES, ScoreOptions
from ..progress import Reporter
from .edits import SceneEdit, edited_plan, parse_concept_overrides, parse_events, parse_scene_edits
from .jobs import Project, Workspace

STATIC = Path(__file__).with_name("static")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv")
BROWSER_PLAYABLE = (".mp4", ".m4v", ".mov", ".webm", ".ogv")
OUTPUTS = ("soundtrack.wav", "scored.mp4", "scored.mkv", "score.mid", "figure.png", "report.json")
ARTIFACTS = ("media.json", "shots.json", "affect.json", "narrative.json", "concept.json")
MEASURED = "measured.json"
NARRATIVE = "narrative-curve.json"  # each version's narrative curve (the A/B overlay)
TIMELINES = {"fcp7": ".xml", "edl": ".edl", "otio": ".otio", "fcpx": ".fcpxml"}
CHUNK = 1 << 20


def create_app(workdir: str | Path, *, folder: str | Path | None = None, workers: int = 1) -> Starlette:
    """The app; projects go to ``workdir/projects/<id>``, ``folder`` offers its videos to pick from.
    Jobs run in ``workers`` worker processes (``narrascore.ui.worker``)."""
    space = Workspace(workdir, workers=workers)
    library = Path(folder).resolve() if folder is not None else None
    routes = [
        Route("/", lambda request: FileResponse(STATIC / "index.html")),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/config", lambda request: JSONResponse(_config(library))),
        Route("/api/upload", _guard(lambda request: _upload(space, request)), methods=["POST"]),
        Route("/api/folder/open", _guard(lambda request: _open_from_folder(space, library, request)), methods=["POST"]),
        Route("/api/projects/{pid}/score", _guard(lambda request: _start(space, request, "score")), methods=["POST"]),
        Route("/api/projects/{pid}/render", _guard(lambda request: _start(space, request, "render")), methods=["POST"]),
        Route("/api/jobs/{jid}", _guard(lambda request: _job(space, request))),
        Route("/api/projects/{pid}", _guard(lambda request: _project(space, request))),
        Route("/api/projects/{pid}/files/{name}", _guard(lambda request: _file(space, request))),
        Route("/api/projects/{pid}/versions/{n:int}", _guard(lambda request: _version(space, request))),
        Route("/api/projects/{pid}/original", _guard(lambda request: _original(space, request))),
        Route("/api/projects/{pid}/preview", _guard(lambda request: _preview(space, request)), methods=["POST"]),
        Route("/api/projects/{pid}/timeline", _guard(lambda request: _timeline(space, request))),
        Route("/api/projects/{pid}/stems/{name}", _guard(lambda request: _stem(space, request))),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        space.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.workspace = space
    return app


def _guard(handler):
    """A route that answers a user's mistake with its message (400) and an unknown id with 404."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except NarrascoreError as exc:
            return _error(str(exc), 400)
        except KeyError as exc:
            return _error(f"not found: {exc.args[0]}", 404)

    return endpoint


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _config(library: Path | None) -> dict[str, Any]:
    from ..synth import SYNTHESIZERS

    videos = None
    if library is not None:
        videos = sorted(str(p.relative_to(library)) for p in library.rglob("*")
                        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    return {"styles": list(STYLES), "synths": SYNTHESIZERS.names(), "synth_status": _synths(), "keys": list(KEYS),
            "modes": list(MODES), "arc_roles": list(ARC_ROLES), "event_kinds": list(EVENT_KINDS),
            "soundfonts": _soundfonts(), "loudness_range": list(LOUDNESS_RANGE), "timeline_formats": list(TIMELINES),
            "folder": str(library) if library else None, "folder_videos": videos}


# ---------------------------------------------------------------------- new projects
async def _upload(space: Workspace, request: Request) -> Response:
    name = request.query_params.get("name") or "video.mp4"
    project = space.new_project(name)
    try:
        with open(project.video, "wb") as handle:
            async for chunk in request.stream():
                handle.write(chunk)
        return await _opened(space, project)
    except BaseException:
        space.drop_project(project)
        raise


async def _open_from_folder(space: Workspace, library: Path | None, request: Request) -> Response:
    if library is None:
        raise OptionError("no video folder: start the app with --folder DIR to pick videos from one")
    body = await _json(request)
    name = body.get("name")
    video = (library / str(name)).resolve() if isinstance(name, str) else None
    if video is None or not video.is_relative_to(library) or not video.is_file():
        raise OptionError(f"{name!r} is not a video in {library}")
    project = space.new_project(video.name)
    project.video = video
    try:
        return await _opened(space, project)
    except BaseException:
        space.drop_project(project)
        raise


async def _opened(space: Workspace, project: Project) -> Response:
    """Probe the video now, so a bad file is refused at once with the CLI's message."""
    from ..media import probe

    try:
        info = await run_in_threadpool(probe, project.video, content_hash=False)
    except NarrascoreError as exc:
        raise type(exc)(project.public_message(str(exc))) from None
    project.save()
    return JSONResponse({"project": project.id, "name": project.name, "duration": info.duration,
                         "has_audio": info.has_audio, "width": info.width, "height": info.height}, status_code=201)


# ---------------------------------------------------------------------- jobs
async def _start(space: Workspace, request: Request, kind: str) -> Response:
    project = space.project(request.path_params["pid"])
    body = await _json(request)
    options = _options(body)
    if kind == "score":
        job = space.submit(project, kind, _score, (options,))
    else:
        if not (project.out / NarrativePlan.FILENAME).exists():
            raise ArtifactError("score the video first: there is no plan to edit yet")
        scenes = parse_scene_edits(body["scenes"]) if "scenes" in body else None
        events = parse_events(body["events"]) if "events" in body else None
        plan = read_artifact(NarrativePlan, project.out / NarrativePlan.FILENAME).artifact
        edited_plan(plan, scenes, events)  # refused now, not after the job started
        overrides = parse_concept_overrides(body.get("concept"))
        reset = bool(body.get("reset_concept"))
        job = space.submit(project, kind, _render, (options, scenes, events, overrides, reset))
    return JSONResponse({"job": job.id, "project": project.id}, status_code=202)


OPTION_TYPES = (("style", str), ("synth", str), ("seed", int), ("stems", bool), ("mix_original", float),
                ("loudness", float), ("soundfont", str))


def _options(body: dict[str, Any]) -> ScoreOptions:
    """The CLI's options from the page's JSON (same names, same checks); ``soundfont`` must be one the
    config lists, ``mix_original`` null means music only."""
    fields: dict[str, Any] = {}
    for name, kind in OPTION_TYPES:
        if name in body and body[name] is not None:
            value = body[name]
            if kind is int and isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                what = {int: "an integer", float: "a number", bool: "true or false", str: "text"}[kind]
                raise OptionError(f"{name} must be {what}, got {value!r}")
            fields[name] = value
    if "soundfont" in fields and fields["soundfont"] not in [f["path"] for f in _soundfonts()]:
        raise OptionError(f"soundfont {fields['soundfont']!r} is not one of the installed SoundFonts")
    if fields.get("synth") is not None:
        status = {s["name"]: s for s in _synths()}
        if fields["synth"] in status and not status[fields["synth"]]["available"]:
            raise OptionError(f"synth {fields['synth']!r} is not installed: {status[fields['synth']]['install']}")
    return ScoreOptions(**fields)


def _soundfonts() -> list[dict[str, Any]]:
    """The SoundFonts installed on this machine, best first (``--soundfont`` choices)."""
    from ..synth.procedural.soundfont import SYSTEM_SOUNDFONTS, bundled_soundfont

    found, seen = [], set()
    for candidate in (*SYSTEM_SOUNDFONTS, str(bundled_soundfont() or "")):
        path = Path(candidate) if candidate else None
        if path is None or not path.is_file() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        found.append({"path": str(path), "name": path.resolve().name, "bytes": path.stat().st_size})
    return found


def _synths() -> list[dict[str, Any]]:
    """Each synthesizer with whether its extra is installed (the page shows missing ones disabled)."""
    import importlib.util

    from ..errors import DependencyError
    from ..synth import SYNTHESIZERS
    from ..synth.procedural.soundfont import require_tinysoundfont

    def renderer_built() -> bool:
        try:
            return require_tinysoundfont() is not None
        except DependencyError:
            return False

    needs = {"musicgen": (lambda: all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers")),
                          "pip install 'narrascore[neural]'"),
             "procedural": (renderer_built, "reinstall NarraScore with a C++ compiler present")}
    status = []
    for name in SYNTHESIZERS.names():
        available, install = needs.get(name, (lambda: True, ""))
        status.append({"name": name, "available": available(), "install": install})
    return status


def _score(project: Project, options: ScoreOptions, *, reporter: Reporter) -> None:
    from ..pipeline import run

    project.options = _remembered(options)
    result = run(project.video, project.out, options, reporter=reporter)
    _finish(project, result, reporter)


def _remembered(options: ScoreOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name, _ in OPTION_TYPES}


def _render(project: Project, options: ScoreOptions, scenes: list[SceneEdit] | None, events: list[Any] | None,
            overrides: dict[str, Any], reset: bool, *, reporter: Reporter) -> None:
    from ..pipeline import run
    from .edits import edit_plan, write_concept

    if (scenes is not None or events is not None) and edit_plan(project.out, scenes, events):
        reporter.note("plan edits written to narrative.json")
    project.overrides = {} if reset else {**project.overrides, **overrides}
    if write_concept(project.out, style=options.style, seed=options.seed, overrides=project.overrides) is not None:
        reporter.note("concept edits written to concept.json")
    project.options = _remembered(options)
    result = run(None, project.out, options, reporter=reporter, from_artifacts=True)
    _finish(project, result, reporter)


def _finish(project: Project, result: Any, reporter: Reporter) -> None:
    """Keep this soundtrack as a numbered version with its measured emotion curve (narrascore.evaluate)."""
    from ..evaluate.listeners import hear

    n = project.versions + 1
    folder = ensure_writable_dir(project.version_dir(n))
    shutil.copyfile(result.soundtrack, folder / "soundtrack.wav")
    with reporter.stage("measure music"):
        curve, listener = hear(result.soundtrack)  # the best installed listener
    write_json_atomic(folder / MEASURED, {"times": to_data(curve.times.tolist()), "valence": to_data(curve.valence.tolist()),
                                          "arousal": to_data(curve.arousal.tolist()), "listener": listener.name})
    write_json_atomic(folder / NARRATIVE, {k: to_data(getattr(result.plan, k)) for k in ("times", "valence", "arousal", "climax_time")})
    if result.reused:
        reporter.note(f"reused: {', '.join(result.reused)}")
    project.versions = n
    project.save()


async def _job(space: Workspace, request: Request) -> Response:
    return JSONResponse(space.job(request.path_params["jid"]).view())


# ---------------------------------------------------------------------- what the page shows
async def _project(space: Workspace, request: Request) -> Response:
    project = space.project(request.path_params["pid"])
    return JSONResponse(await run_in_threadpool(project_view, project))


def project_view(project: Project) -> dict[str, Any]:
    """The plan (curve re-derived from edited scenes), cuts, concept, measured curve, files and versions."""
    from ..pipeline import refresh_curve

    out = project.out
    view: dict[str, Any] = {"id": project.id, "name": project.name, "versions": project.versions,
                            "options": project.options, "overrides": project.overrides,
                            "original_playable": project.video.suffix.lower() in BROWSER_PLAYABLE}
    try:
        plan = read_artifact(NarrativePlan, out / NarrativePlan.FILENAME).artifact
        shots = read_artifact(Shots, out / Shots.FILENAME).artifact
        affect = read_artifact(AffectCurve, out / AffectCurve.FILENAME).artifact
    except ArtifactError:
        return view
    plan = refresh_curve(plan, shots, affect)
    view["plan"] = {k: to_data(getattr(plan, k)) for k in ("s_global", "scenes", "times", "valence", "arousal", "climax_time",
                                                           "duration", "events")}
    view["shot_cuts"] = shots.cut_times()
    media = json.loads((out / "media.json").read_text())["data"]
    view["has_audio"] = media["has_audio"]
    view["fps"] = media["fps"]
    view["timelines"] = _timeline_choices(media["fps"])
    view["version_curves"] = {}
    for n in range(1, project.versions + 1):
        path = project.version_dir(n) / NARRATIVE
        if path.exists():
            view["version_curves"][str(n)] = json.loads(path.read_text())
    if (out / MusicConcept.FILENAME).exists():
        concept = read_artifact(MusicConcept, out / MusicConcept.FILENAME)
        view["concept"] = to_data(concept.artifact)
        view["concept_edited"] = concept.hand_edited
    measured = project.version_dir(project.versions) / MEASURED
    if project.versions and measured.exists():
        view["measured"] = json.loads(measured.read_text())
    view["files"] = [{"name": name, "bytes": (out / name).stat().st_size} for name in OUTPUTS + ARTIFACTS if (out / name).exists()]
    stems = sorted((out / "stems").glob("*.wav")) if project.options.get("stems") else []  # not those of an older run
    view["stems"] = [{"name": p.name, "bytes": p.stat().st_size} for p in stems]
    return view


async def _file(space: Workspace, request: Request) -> Response:
    project = space.project(request.path_params["pid"])
    name = request.path_params["name"]
    if name not in OUTPUTS + ARTIFACTS or not (project.out / name).exists():
        raise KeyError(name)
    return _send(project.out / name, request, download_name=f"{Path(project.name).stem}.{name}")


async def _version(space: Workspace, request: Request) -> Response:
    project = space.project(request.path_params["pid"])
    n = request.path_params["n"]
    path = project.version_dir(n) / "soundtrack.wav"
    if not 1 <= n <= project.versions or not path.exists():
        raise KeyError(f"version {n}")
    return _send(path, request, download_name=f"{Path(project.name).stem}.v{n}.soundtrack.wav")


def _timeline_choices(fps: float) -> list[dict[str, Any]]:
    """Each timeline format with whether it can carry this video's rate (and why not)."""
    try:
        from ..export.timeline import check_format, require_otio

        require_otio()
    except NarrascoreError as exc:
        return [{"format": fmt, "ok": False, "reason": str(exc)} for fmt in TIMELINES]
    choices = []
    for fmt in TIMELINES:
        try:
            check_format(fmt, fps)
            choices.append({"format": fmt, "ok": True, "reason": ""})
        except NarrascoreError as exc:
            choices.append({"format": fmt, "ok": False, "reason": str(exc)})
    return choices


async def _stem(space: Workspace, request: Request) -> Response:
    project = space.project(request.path_params["pid"])
    name = request.path_params["name"]
    path = project.out / "stems" / name
    if "/" in name or not name.endswith(".wav") or not path.is_file():
        raise KeyError(name)
    return _send(path, request, download_name=f"{Path(project.name).stem}.stem.{name}")


async def _preview(space: Workspace, request: Request) -> Response:
    """The narrative curve the edited scenes would give (nothing is written): the page redraws with it while dragging."""
    from ..pipeline import refresh_curve

    project = space.project(request.path_params["pid"])
    body = await _json(request)
    scenes = parse_scene_edits(body.get("scenes"))

    def derive() -> dict[str, Any]:
        out = project.out
        plan = edited_plan(read_artifact(NarrativePlan, out / NarrativePlan.FILENAME).artifact, scenes, None)
        plan = refresh_curve(plan, read_artifact(Shots, out / Shots.FILENAME).artifact,
                             read_artifact(AffectCurve, out / AffectCurve.FILENAME).artifact)
        return {k: to_data(getattr(plan, k)) for k in ("times", "valence", "arousal", "climax_time")}

    return JSONResponse(await run_in_threadpool(derive))


async def _timeline(space: Workspace, request: Request) -> Response:
    """The editor's timeline of the current version (``?format=fcp7|edl|otio|fcpx``), as an attachment."""
    from ..export.timeline import export_timeline

    project = space.project(request.path_params["pid"])
    fmt = request.query_params.get("format", "fcp7")
    if fmt not in TIMELINES:
        raise OptionError(f"unknown timeline format {fmt!r}; available: {', '.join(TIMELINES)}")
    if project.busy:
        raise OptionError("a job is running on this video; export the timeline when it has finished")
    path = await run_in_threadpool(lambda: export_timeline(project.out, fmt, stems=bool(project.options.get("stems"))))
    return _send(path, request, download_name=f"{Path(project.name).stem}.timeline{TIMELINES[fmt]}")


async def _original(space: Workspace, request: Request) -> Response:
    project = space.project(request.path_params["pid"])
    return _send(project.video, request, download_name=project.name)


def _send(path: Path, request: Request, *, download_name: str) -> Response:
    attachment = request.query_params.get("download") == "1"
    return FileResponse(path, filename=download_name if attachment else None,
                        content_disposition_type="attachment" if attachment else "inline",
                        headers={"Cache-Control": "no-store"})


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise OptionError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise OptionError("the request body must be a JSON object")
    return body
