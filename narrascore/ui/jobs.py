"""Background scoring jobs for the web page: one project folder per uploaded video, one job id per run.

A *project* is one video and its output folder (``<workdir>/projects/<id>/out``); every browser tab
that uploads a video gets its own, so two tabs never write to the same files. A *job* is one
``pipeline.run`` over a project (a first score, or a re-render after edits), run in a worker process
(``narrascore.ui.worker``) while the page polls its stage progress through :class:`JobReporter`.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..fileio import ensure_writable_dir, write_json_atomic
from ..progress import Advance
from .worker import JobFailed, JobProcess

VERSIONS = "versions"


@dataclass
class StageProgress:
    """One stage as the page shows it: ``done`` of ``total`` (seconds of video, or None: no known length)."""

    name: str
    total: float | None
    done: float = 0.0
    state: str = "running"  # running, done, failed

    def view(self) -> dict[str, Any]:
        fraction = None
        if self.state == "done":
            fraction = 1.0
        elif self.total:
            fraction = max(0.0, min(1.0, self.done / self.total))
        return {"name": self.name, "total": self.total, "done": self.done, "state": self.state, "fraction": fraction}


class JobReporter:
    """A ``progress.Reporter`` that records each stage's progress for the page to poll (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stages: list[StageProgress] = []
        self._notes: list[str] = []

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator[Advance]:
        with self._lock:
            index = len(self._stages)
        self.begin(index, name, total)
        try:
            yield lambda done: self.advance(index, done)
        except BaseException:
            self.end(index, "failed")
            raise
        self.end(index, "done")

    # the same three steps, as a job in the worker process reports them (``worker.JobProcess``)
    def begin(self, index: int, name: str, total: float | None) -> None:
        with self._lock:
            while len(self._stages) <= index:
                self._stages.append(StageProgress(name=name, total=total if total else None))

    def advance(self, index: int, done: float) -> None:
        with self._lock:
            self._stages[index].done = float(done)

    def end(self, index: int, state: str) -> None:
        with self._lock:
            record = self._stages[index]
            record.state = state
            if state == "done":
                record.done = record.total or record.done

    def note(self, message: str) -> None:
        with self._lock:
            self._notes.append(message)

    def snapshot(self) -> tuple[list[dict[str, Any]], list[str]]:
        with self._lock:
            return [s.view() for s in self._stages], list(self._notes)


@dataclass
class Job:
    """One run over a project. ``state``: queued, running, done or failed (``error`` then says why)."""

    id: str
    project_id: str
    kind: str  # "score" or "render"
    reporter: JobReporter = field(default_factory=JobReporter)
    state: str = "queued"
    error: str | None = None
    version: int | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def view(self) -> dict[str, Any]:
        stages, notes = self.reporter.snapshot()
        return {"id": self.id, "project": self.project_id, "kind": self.kind, "state": self.state, "error": self.error,
                "stages": stages, "notes": notes, "version": self.version,
                "seconds": round((self.finished or time.time()) - self.started, 1)}


@dataclass
class Project:
    """One video and the folder its outputs go to. ``video`` is the upload's copy or a file in ``--folder``."""

    id: str
    root: Path
    video: Path
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)  # concept fields the user set (key, mode, tempo_*)
    options: dict[str, Any] = field(default_factory=dict)  # style, synth, seed of the last run
    versions: int = 0  # soundtracks rendered so far (each kept in versions/<n>/)
    busy: bool = False

    @property
    def out(self) -> Path:
        return self.root / "out"

    def version_dir(self, n: int) -> Path:
        return self.root / VERSIONS / str(n)

    def save(self) -> None:
        write_json_atomic(self.root / "project.json", {"id": self.id, "video": str(self.video), "name": self.name,
                                                       "overrides": self.overrides, "options": self.options,
                                                       "versions": self.versions})

    def reload(self) -> None:
        """Take what a job in the worker process saved (versions, options, overrides)."""
        saved = _load_project(self.root / "project.json")
        if saved is not None:
            self.versions, self.options, self.overrides = saved.versions, saved.options, saved.overrides

    def public_message(self, message: str) -> str:
        """An error message with the server's copy of an upload named as the user knows it."""
        return message.replace(str(self.video), self.name) if self.video.is_relative_to(self.root) else message


class Workspace:
    """The projects and jobs of one running app, under ``workdir``.

    Jobs run in ``workers`` worker processes (``worker.JobProcess``: the SoundFont stays loaded there
    between jobs and the server keeps answering); a thread of this process waits for each.
    """

    def __init__(self, workdir: str | Path, *, workers: int = 1) -> None:
        self.root = ensure_writable_dir(workdir)
        self.projects_dir = ensure_writable_dir(self.root / "projects")
        self._lock = threading.Lock()
        self._projects: dict[str, Project] = {}
        self._jobs: dict[str, Job] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="narrascore-job")
        self._workers: queue.Queue[JobProcess] = queue.Queue()
        for _ in range(workers):
            self._workers.put(JobProcess())
        for saved in sorted(self.projects_dir.glob("*/project.json")):  # a restarted app finds its projects again
            project = _load_project(saved)
            if project is not None:
                self._projects[project.id] = project

    # ------------------------------------------------------------------ projects
    def new_project(self, name: str) -> Project:
        pid = secrets.token_hex(6)
        root = ensure_writable_dir(self.projects_dir / pid)
        project = Project(id=pid, root=root, video=root / "input" / _safe_name(name), name=_safe_name(name))
        ensure_writable_dir(project.video.parent)
        with self._lock:
            self._projects[pid] = project
        return project

    def drop_project(self, project: Project) -> None:
        with self._lock:
            self._projects.pop(project.id, None)
        shutil.rmtree(project.root, ignore_errors=True)

    def project(self, pid: str) -> Project:
        with self._lock:
            project = self._projects.get(pid)
        if project is None:
            raise KeyError(pid)
        return project

    # ------------------------------------------------------------------ jobs
    def job(self, jid: str) -> Job:
        with self._lock:
            job = self._jobs.get(jid)
        if job is None:
            raise KeyError(jid)
        return job

    def submit(self, project: Project, kind: str, work: Callable[..., None], args: tuple = ()) -> Job:
        """Queue ``work(project, *args, reporter=...)`` (a module-level function: it is sent to the worker
        process); one job per project at a time (OptionError otherwise)."""
        with self._lock:
            if project.busy:
                raise OptionError("this video is still being scored; wait for the running job to finish")
            project.busy = True
            job = Job(id=secrets.token_hex(6), project_id=project.id, kind=kind)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, project, work, args)
        return job

    def _run(self, job: Job, project: Project, work: Callable[..., None], args: tuple) -> None:
        job.state = "running"
        job.started = time.time()
        try:
            process = self._workers.get()
            try:
                process.run(work, (project, *args), job.reporter)
            finally:
                self._workers.put(process)
            project.reload()
            job.version = project.versions
            job.state = "done"
        except JobFailed as exc:
            project.reload()
            job.error = project.public_message(str(exc))
            job.state = "failed"
        finally:
            job.finished = time.time()
            with self._lock:
                project.busy = False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        while not self._workers.empty():
            self._workers.get().close()


def _load_project(path: Path) -> Project | None:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return Project(id=saved["id"], root=path.parent, video=Path(saved["video"]), name=saved["name"],
                       overrides=dict(saved.get("overrides", {})), options=dict(saved.get("options", {})),
                       versions=int(saved.get("versions", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _safe_name(name: str) -> str:
    """A file name without folders or odd characters (the upload keeps its extension)."""
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in base).lstrip(".")
    return cleaned[:120] or "video"
