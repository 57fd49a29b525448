"""The web UI (``narrascore ui``): the edit helpers, the JSON API over plain HTTP, and the whole page
driven in a real browser (Debian's chromium, headless, through Playwright; no browser download)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from narrascore.artifacts import Cue, MusicConcept, NarrativePlan, read_artifact
from narrascore.errors import MediaError, OptionError

pytest.importorskip("starlette", reason="the web UI needs the 'ui' extra (starlette)")
pytest.importorskip("uvicorn", reason="the web UI needs the 'ui' extra (uvicorn)")

from narrascore.ui.edits import apply_overrides, parse_concept_overrides, parse_scene_edits  # noqa: E402
from narrascore.ui.jobs import JobReporter  # noqa: E402

CHROMIUM = os.environ.get("NARRASCORE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# --------------------------------------------------------------------------- pure helpers
def _concept(**changes) -> MusicConcept:
    cues = (Cue(0.0, 4.0, 80.0, "C", "major", 0.3), Cue(4.0, 8.0, 120.0, "G", "major", 0.9),
            Cue(8.0, 10.0, 100.0, "A", "minor", 0.2))
    base = dict(anchor_prompt="", style="piano", genre="solo piano", instruments=("melody:Acoustic Grand Piano",),
                key="C", mode="major", tempo_min=80.0, tempo_max=120.0, beats_per_bar=4, seed=0, cues=cues)
    return MusicConcept(**{**base, **changes})


def test_key_override_transposes_every_cue_by_the_same_interval():
    edited = apply_overrides(_concept(), {"key": "D"})
    assert edited.key == "D"
    assert [c.key for c in edited.cues] == ["D", "A", "B"]
    assert [c.mode for c in edited.cues] == ["major", "major", "minor"]


def test_mode_override_changes_the_home_key_cues_only():
    edited = apply_overrides(_concept(), {"mode": "minor"})
    assert [(c.key, c.mode) for c in edited.cues] == [("C", "minor"), ("G", "major"), ("A", "minor")]


def test_tempo_override_maps_cue_tempi_linearly_onto_the_new_range():
    edited = apply_overrides(_concept(), {"tempo_min": 60, "tempo_max": 160})
    assert (edited.tempo_min, edited.tempo_max) == (60.0, 160.0)
    assert [c.tempo for c in edited.cues] == [60.0, 160.0, 110.0]
    with pytest.raises(OptionError, match="minimum is above the maximum"):
        apply_overrides(_concept(), {"tempo_min": 150, "tempo_max": 90})


def test_edits_from_the_page_are_checked():
    assert parse_scene_edits([{"valence": 0.5, "arousal": -1, "arc_role": "climax"}])[0].arousal == -1.0
    with pytest.raises(OptionError, match=r"scene 1: arousal must be a number in \[-1, 1\], got 1.5"):
        parse_scene_edits([{"valence": 0, "arousal": 1.5, "arc_role": "setup"}])
    with pytest.raises(OptionError, match="arc role 'finale' is not one of"):
        parse_scene_edits([{"valence": 0, "arousal": 0, "arc_role": "finale"}])
    with pytest.raises(OptionError, match="key 'H' is not one of"):
        parse_concept_overrides({"key": "H"})
    with pytest.raises(OptionError, match="unknown field"):
        parse_concept_overrides({"tempo": 100})


def _plan() -> NarrativePlan:
    from narrascore.artifacts import Scene

    scenes = (Scene(0.0, 2.0, "calm street", 0.2, -0.3, "calm", "setup"), Scene(2.0, 5.0, "the chase", -0.4, 0.8, "tense", "climax"))
    times = tuple(0.5 * i for i in range(10))
    return NarrativePlan(s_global="s", scenes=scenes, hop=0.5, times=times, valence=(0.0,) * 10, arousal=(0.0,) * 10,
                         climax_time=3.0, duration=5.0)


def test_plan_edits_move_boundaries_split_merge_and_set_events():
    from narrascore.ui.edits import edited_plan, parse_events

    plan = _plan()
    split = parse_scene_edits([{"start": 0, "end": 1.25, "valence": 0.2, "arousal": -0.3, "arc_role": "setup"},
                               {"start": 1.25, "end": 3.5, "valence": 0.1, "arousal": 0.5, "arc_role": "rising"},
                               {"start": 3.5, "end": 5.0, "valence": -0.4, "arousal": 0.8, "arc_role": "climax"}])
    events = parse_events([{"time": 4.2, "kind": "flash", "strength": 0.5}, {"time": 1.0, "kind": "impact", "strength": 1}])
    new = edited_plan(plan, split, events)
    assert [(s.start, s.end, s.arc_role) for s in new.scenes] == [(0.0, 1.25, "setup"), (1.25, 3.5, "rising"), (3.5, 5.0, "climax")]
    assert [s.caption for s in new.scenes] == ["calm street", "calm street", "the chase"]  # from the scene each starts in
    assert [(e.time, e.kind) for e in new.events] == [(1.0, "impact"), (4.2, "flash")]
    merged = edited_plan(plan, parse_scene_edits([{"start": 0, "end": 5, "valence": 0, "arousal": 0, "arc_role": "climax"}]), None)
    assert len(merged.scenes) == 1 and merged.events == plan.events
    kept = edited_plan(plan, parse_scene_edits([{"valence": 0.5, "arousal": 0.5, "arc_role": "setup"}] * 2), None)
    assert [(s.start, s.end) for s in kept.scenes] == [(0.0, 2.0), (2.0, 5.0)]  # no times: the plan's own
    with pytest.raises(OptionError, match="the edited plan is not valid: scenes.1.: starts at 2.5 but the previous scene ends at 2.0"):
        edited_plan(plan, parse_scene_edits([{"start": 0, "end": 2, "valence": 0, "arousal": 0, "arc_role": "setup"},
                                             {"start": 2.5, "end": 5, "valence": 0, "arousal": 0, "arc_role": "climax"}]), None)
    with pytest.raises(OptionError, match="events.0..time 9.0 is outside the video"):
        edited_plan(plan, None, parse_events([{"time": 9, "kind": "cut", "strength": 0.5}]))
    with pytest.raises(OptionError, match="event 1: kind 'boom' is not one of impact, motion, flash, blackout, cut"):
        parse_events([{"time": 1, "kind": "boom", "strength": 0.5}])
    with pytest.raises(OptionError, match=r"event 1: strength must lie in \(0, 1\], got 0.0"):
        parse_events([{"time": 1, "kind": "cut", "strength": 0}])


def test_job_reporter_records_each_stage():
    reporter = JobReporter()
    with reporter.stage("scan video", total=4.0) as advance:
        advance(1.0)
        assert reporter.snapshot()[0][0] == {"name": "scan video", "total": 4.0, "done": 1.0, "state": "running", "fraction": 0.25}
    with pytest.raises(RuntimeError):
        with reporter.stage("figure"):
            raise RuntimeError("boom")
    reporter.note("reused shots.json")
    stages, notes = reporter.snapshot()
    assert [(s["name"], s["state"], s["fraction"]) for s in stages] == [("scan video", "done", 1.0), ("figure", "failed", None)]
    assert notes == ["reused shots.json"]


def test_a_restarted_workspace_finds_its_projects(tmp_path):
    from narrascore.ui.jobs import Workspace

    first = Workspace(tmp_path)
    project = first.new_project("../my film.mp4")
    assert project.name == "my_film.mp4" and project.video.parent == project.root / "input"
    project.overrides = {"key": "D"}
    project.save()
    first.close()
    again = Workspace(tmp_path).project(project.id)
    assert (again.name, again.video, again.overrides) == (project.name, project.video, {"key": "D"})


def _job_with_stages(text: str, *, reporter) -> None:  # runs in the worker process
    with reporter.stage("first", total=2.0) as advance:
        advance(2.0)
    reporter.note(f"note {os.getpid()}")
    with reporter.stage("second"):
        raise OptionError(f"bad value {text!r}")


def _job_that_dies(*, reporter) -> None:
    os._exit(3)


def test_jobs_run_in_a_worker_process_that_reports_back_and_is_restarted():
    from narrascore.ui.jobs import JobReporter
    from narrascore.ui.worker import JobFailed, JobProcess

    process = JobProcess(preload=False)
    try:
        reporter = JobReporter()
        with pytest.raises(JobFailed, match="^bad value 'x'$"):
            process.run(_job_with_stages, ("x",), reporter)
        stages, notes = reporter.snapshot()
        assert [(s["name"], s["state"], s["fraction"]) for s in stages] == [("first", "done", 1.0), ("second", "failed", None)]
        assert notes == [f"note {process.process.pid}"] and process.process.pid != os.getpid()
        first = process.process.pid
        with pytest.raises(JobFailed, match="the job worker stopped .exit code 3.; it was restarted"):
            process.run(_job_that_dies, (), JobReporter())
        assert process.process.pid != first and process.process.is_alive()
        with pytest.raises(JobFailed, match="bad value 'y'"):  # the new worker takes jobs
            process.run(_job_with_stages, ("y",), JobReporter())
    finally:
        process.close()
    assert not process.process.is_alive()


# --------------------------------------------------------------------------- the running app
@dataclass(frozen=True)
class Server:
    url: str
    workdir: Path
    folder: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, short_video):
    """``narrascore ui`` in a subprocess on a free port, with a folder holding one video."""
    workdir = tmp_path_factory.mktemp("ui-work")
    folder = tmp_path_factory.mktemp("ui-folder")
    shutil.copy(short_video.path, folder / "clip.mp4")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "narrascore.cli", "ui", "--host", "127.0.0.1", "--port", str(port),
         "--workdir", str(workdir), "--folder", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/api/config", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"narrascore ui did not start: {process.communicate()[0]}")
            time.sleep(0.2)
    yield Server(url=url, workdir=workdir, folder=folder)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def _call(server: Server, method: str, path: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/octet-stream" if raw is not None else "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait(server: Server, job: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, state = _call(server, "GET", f"/api/jobs/{job}")
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    pytest.fail(f"job {job} did not finish in {timeout} s")


def test_config_lists_the_choices_and_the_folder(server):
    status, config = _call(server, "GET", "/api/config")
    assert status == 200
    assert "auto" in config["styles"] and "procedural" in config["synths"]
    assert config["arc_roles"] == ["setup", "rising", "climax", "falling", "resolution"]
    assert config["folder_videos"] == ["clip.mp4"]


def test_bad_upload_gets_the_same_message_as_the_cli(server, tmp_path):
    from narrascore.media import probe

    bad = tmp_path / "holiday.mp4"
    bad.write_bytes(b"this is not a video at all" * 50)
    with pytest.raises(MediaError) as cli_error:  # what `narrascore score holiday.mp4` prints after "error: "
        probe(bad)
    projects = server.workdir / "projects"
    before = sorted(projects.iterdir())
    status, answer = _call(server, "POST", "/api/upload?name=holiday.mp4", raw=bad.read_bytes())
    assert status == 400
    assert answer["error"] == str(cli_error.value).replace(str(bad), "holiday.mp4")
    assert "holiday.mp4: " in answer["error"]
    status, answer = _call(server, "POST", "/api/upload?name=empty.mp4", raw=b"")
    assert status == 400 and answer["error"].startswith("empty.mp4: ")
    assert sorted(projects.iterdir()) == before  # a refused upload leaves nothing behind


def test_bad_requests_are_refused_with_a_message(server):
    status, answer = _call(server, "POST", "/api/folder/open", {"name": "../../etc/passwd"})
    assert status == 400 and "is not a video in" in answer["error"]
    status, opened = _call(server, "POST", "/api/folder/open", {"name": "clip.mp4"})
    assert status == 201
    pid = opened["project"]
    status, answer = _call(server, "POST", f"/api/projects/{pid}/score", {"style": "jazz"})
    assert status == 400 and answer["error"].startswith("unknown style 'jazz'; available: auto, orchestral")
    status, answer = _call(server, "POST", f"/api/projects/{pid}/render", {})
    assert status == 400 and "score the video first" in answer["error"]
    assert _call(server, "GET", "/api/projects/nope")[0] == 404
    assert _call(server, "GET", f"/api/projects/{pid}/files/project.json")[0] == 404


def test_two_sessions_write_to_their_own_folders(server, short_video):
    """A folder pick and an upload of the same video, scored at once: separate projects, separate outputs."""
    _, first = _call(server, "POST", "/api/folder/open", {"name": "clip.mp4"})
    _, second = _call(server, "POST", "/api/upload?name=short.mp4", raw=short_video.path.read_bytes())
    jobs = [_call(server, "POST", f"/api/projects/{first['project']}/score", {"style": "piano", "seed": 1})[1]["job"],
            _call(server, "POST", f"/api/projects/{second['project']}/score", {"style": "rock", "seed": 2})[1]["job"]]
    status, busy = _call(server, "POST", f"/api/projects/{first['project']}/score", {})
    assert status == 400 and "still being scored" in busy["error"]
    latencies = []  # the jobs run in the worker process: the server answers at once meanwhile
    while _call(server, "GET", f"/api/jobs/{jobs[1]}")[1]["state"] in ("queued", "running") and len(latencies) < 40:
        t0 = time.perf_counter()
        assert _call(server, "GET", "/api/config")[0] == 200
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.05)
    assert len(latencies) >= 5 and sorted(latencies)[len(latencies) // 2] < 0.1 and max(latencies) < 1.0, latencies
    for job in jobs:
        state = _wait(server, job)
        assert state["state"] == "done", state["error"]
        assert {"probe", "scan video", "compose+render", "measure music"} <= {s["name"] for s in state["stages"]}
    views = [_call(server, "GET", f"/api/projects/{p['project']}")[1] for p in (first, second)]
    assert [v["concept"]["style"] for v in views] == ["piano", "rock"]
    outs = [server.workdir / "projects" / p["project"] / "out" for p in (first, second)]
    assert outs[0] != outs[1]
    assert (outs[0] / "soundtrack.wav").read_bytes() != (outs[1] / "soundtrack.wav").read_bytes()
    assert len(views[0]["measured"]["times"]) > 0

    # a concept edit is written as a hand edit and kept; resetting lets the concept follow the story again
    pid, out = first["project"], outs[0]
    key = "F#" if views[0]["concept"]["key"] != "F#" else "Bb"
    job = _call(server, "POST", f"/api/projects/{pid}/render", {"style": "piano", "seed": 1, "concept": {"key": key}})[1]["job"]
    state = _wait(server, job)
    assert state["state"] == "done", state["error"]
    stored = read_artifact(MusicConcept, out / "concept.json")
    assert stored.hand_edited and stored.artifact.key == key and key in stored.artifact.anchor_prompt
    job = _call(server, "POST", f"/api/projects/{pid}/render", {"style": "piano", "seed": 1, "reset_concept": True})[1]["job"]
    assert _wait(server, job)["state"] == "done"
    stored = read_artifact(MusicConcept, out / "concept.json")
    assert not stored.hand_edited and stored.artifact.key == views[0]["concept"]["key"]
    view = _call(server, "GET", f"/api/projects/{pid}")[1]
    assert view["versions"] == 3 and sorted(view["version_curves"]) == ["1", "2", "3"] and view["fps"] == 25.0
    assert {t["format"]: t["ok"] for t in view["timelines"]} == {"fcp7": True, "edl": True, "otio": True, "fcpx": True}

    # the live curve for edited scenes, before any re-render (nothing written)
    scenes = view["plan"]["scenes"]
    edit = [{**{k: sc[k] for k in ("start", "end", "valence", "arc_role")}, "arousal": -sc["arousal"] or 0.7} for sc in scenes]
    status, curve = _call(server, "POST", f"/api/projects/{pid}/preview", {"scenes": edit})
    assert status == 200 and len(curve["times"]) == len(view["plan"]["times"]) and curve["arousal"] != view["plan"]["arousal"]
    assert not read_artifact(NarrativePlan, out / "narrative.json").hand_edited
    status, answer = _call(server, "POST", f"/api/projects/{pid}/preview", {"scenes": [{**edit[0], "end": 1.0}]})
    assert status == 400 and answer["error"].startswith("the edited plan is not valid")

    # the CLI's options, checked as the CLI checks them
    for body, message in (({"stems": "yes"}, "stems must be true or false, got 'yes'"),
                          ({"loudness": -3}, "loudness must lie within -40.0..-5.0 LUFS, got -3.0"),
                          ({"soundfont": "/etc/passwd"}, "soundfont '/etc/passwd' is not one of the installed SoundFonts")):
        status, answer = _call(server, "POST", f"/api/projects/{pid}/render", body)
        assert (status, answer["error"]) == (400, message)

    # the timeline of the current version, as a download
    with urllib.request.urlopen(f"{server.url}/api/projects/{pid}/timeline?format=otio&download=1", timeout=30) as response:
        assert "attachment" in response.headers["Content-Disposition"] and b'"OTIO_SCHEMA"' in response.read()
    assert (out / "timeline.otio").is_file()
    status, answer = _call(server, "GET", f"/api/projects/{pid}/timeline?format=aaf")
    assert status == 400 and answer["error"].startswith("unknown timeline format 'aaf'")


# --------------------------------------------------------------------------- the page in a real browser
def _browser(playwright):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set NARRASCORE_CHROMIUM)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def _download(page, name: str) -> bytes:
    with page.expect_download() as info:
        page.click(f'.downloads a[data-file="{name}"]')
    return Path(info.value.path()).read_bytes()


def _save_shot(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot))
    if os.environ.get("NARRASCORE_ARTIFACTS"):
        target_dir = Path(os.environ["NARRASCORE_ARTIFACTS"])
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target_dir / name)
    assert shot.stat().st_size > 10_000
    return shot


def _drag(page, selector: str, dx: float, dy: float, *, during=None) -> None:
    """Press on ``selector``'s centre, move by (dx, dy) in steps, call ``during()`` before letting go."""
    page.wait_for_function("document.body.dataset.previewing !== '1'")  # no redraw replaces the node meanwhile
    box = page.locator(selector).first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=6)
    if during is not None:
        during()
    page.mouse.up()


@pytest.mark.slow
def test_page_scores_edits_and_rerenders_in_chromium(server, short_video, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip install playwright)")
    video = short_video
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(server.url)
            page.wait_for_function("document.body.dataset.ready === '1'")
            _, config = _call(server, "GET", "/api/config")
            for synth in config["synth_status"]:  # a backend that is not installed is offered disabled, with its install line
                option = page.locator(f"#synth-select option[value='{synth['name']}']")
                assert option.is_disabled() == (not synth["available"])
                if not synth["available"]:
                    assert synth["install"] in page.locator("#synth-note").inner_text()
            page.set_input_files("#file-input", str(video.path))
            page.click("#score-btn")
            page.wait_for_selector("#stages li[data-stage]", timeout=30_000)  # a progress bar per stage
            latencies = []  # the job runs in the worker process: the page's server answers at once
            while page.evaluate("document.body.dataset.jobState") == "running" and len(latencies) < 15:
                t0 = time.perf_counter()
                urllib.request.urlopen(server.url + "/api/config", timeout=10).read()
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.1)
            assert len(latencies) >= 3 and sorted(latencies)[len(latencies) // 2] < 0.1 and max(latencies) < 1.0, latencies
            page.wait_for_function("document.body.dataset.version === '1'", timeout=60_000)
            assert page.locator("#error").is_hidden()

            # the editor: numbered scenes, curves, cuts, climax, measured music (toggleable), inside the plot
            page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=15_000)
            n_scenes = page.locator("#scene-rows tr").count()
            assert n_scenes >= 1 and page.locator("#chart .scene-number").count() == n_scenes
            assert page.locator("#chart .scene-number").first.text_content().startswith("1")
            assert page.locator("#chart path.curve-valence").count() == page.locator("#chart path.curve-arousal").count() == 1
            assert page.locator("#chart path.curve-measured").count() == 2
            page.uncheck("#show-measured")
            assert page.locator("#chart path.curve-measured").count() == 0
            page.check("#show-measured")
            assert page.locator("#chart .shot-cut").count() == len(video.cuts)
            assert page.locator("#chart .climax").count() == 1
            assert page.locator("#chart .handle-arousal").count() == n_scenes
            assert page.evaluate("document.querySelector('#chart g.plot').getAttribute('clip-path')") == "url(#plot-clip)"

            # the layout: the curve under the video, both on one screen, at 1440x900 and 1920x1080
            for width, height in ((1440, 900), (1920, 1080)):
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(200)
                player, chart = page.locator("#player").bounding_box(), page.locator("#chart").bounding_box()
                assert player["y"] + player["height"] <= chart["y"] and chart["y"] + chart["height"] <= height, (width, player, chart)
                assert chart["width"] > 0.9 * width
                _save_shot(page, tmp_path, f"ui-{width}x{height}.png")
            page.set_viewport_size({"width": 1440, "height": 900})

            # play: the playhead advances over the curve, the timecode counts frames, the soundtrack decodes
            x0 = float(page.locator("#playhead").get_attribute("x1"))
            page.click("#play-btn")
            page.wait_for_function("Number(document.body.dataset.playhead) > 0.6", timeout=15_000)
            page.wait_for_function("document.getElementById('track').currentTime > 0.3", timeout=15_000)
            page.click("#play-btn")
            assert float(page.locator("#playhead").get_attribute("x1")) > x0
            page.wait_for_function("document.getElementById('track').readyState >= 2")  # decoded audio at the playhead
            assert page.evaluate("document.getElementById('track').duration") > 3.5
            tc = page.locator("#timecode").inner_text()
            assert len(tc) == 11 and tc[2] == tc[5] == tc[8] == ":" and tc != "00:00:00:00"
            page.locator("#chart").hover(position={"x": 300, "y": 120})
            assert page.locator("#hover").is_visible() and "valence" in page.locator("#hover").inner_text()

            # drag a boundary (or split first, when there is one scene) and an arousal dot: the curve redraws before any re-render
            if n_scenes == 1:
                page.evaluate("document.getElementById('player').currentTime = 2.0")
                page.click("#split-btn")
                n_scenes = 2
            first = float(page.locator(".scene-arousal[data-index='0']").input_value())
            page.locator(".scene-arousal[data-index='1']").fill("-0.8" if first > 0 else "0.8")  # two scenes that differ
            page.wait_for_function("document.body.dataset.previewing !== '1'")
            before = page.locator("#chart path.curve-arousal").get_attribute("d")
            previews = int(page.evaluate("document.body.dataset.previews || '0'"))

            def redrawn() -> None:  # still holding the mouse: the curve has followed the boundary
                page.wait_for_function("(before) => document.querySelector('#chart path.curve-arousal').getAttribute('d') !== before",
                                       arg=before, timeout=10_000)
                assert int(page.evaluate("document.body.dataset.previews")) > previews

            start_before = page.evaluate("document.querySelectorAll('#scene-rows tr')[1].children[1].textContent")
            _drag(page, "#chart .boundary[data-index='1']", -250, 0, during=redrawn)
            assert page.evaluate("document.querySelectorAll('#scene-rows tr')[1].children[1].textContent") != start_before
            dot = "#chart .handle-arousal[data-index='0']"
            arousal_before = page.locator(".scene-arousal[data-index='0']").input_value()
            _drag(page, dot, 0, 70 if float(arousal_before) > 0 else -70)
            assert page.locator(".scene-arousal[data-index='0']").input_value() != arousal_before
            assert page.evaluate("document.body.dataset.version") == "1"
            page.click("#undo-btn")  # the dot goes back, the boundary stays
            assert page.locator(".scene-arousal[data-index='0']").input_value() == arousal_before
            page.click("#redo-btn")
            assert page.locator(".scene-arousal[data-index='0']").input_value() != arousal_before
            page.click("#undo-btn")

            # add an event at the playhead, drag it
            page.evaluate("document.getElementById('player').currentTime = 1.0")
            page.select_option("#event-kind", "impact")
            page.click("#add-event-btn")
            assert page.locator("#chart path.event").count() == 1
            _drag(page, "#chart path.event", 30, 0)

            # re-render with stems and ducking under the original audio; its progress shows beside the button
            page.click("#options-btn")
            page.check("#opt-stems")
            page.check("#opt-mix")
            page.click("#render-btn")
            page.wait_for_function("document.getElementById('render-label').textContent.length > 0")
            assert page.locator("#render-bar").is_visible()
            page.wait_for_function("document.body.dataset.version === '2'", timeout=90_000)
            assert page.locator("#error").is_hidden()
            pid = page.evaluate("document.body.dataset.project")
            out = server.workdir / "projects" / pid / "out"
            stored = read_artifact(NarrativePlan, out / "narrative.json")
            assert stored.hand_edited and len(stored.artifact.scenes) == n_scenes
            assert [e.kind for e in stored.artifact.events] == ["impact"] and stored.artifact.events[0].time > 1.0
            assert sorted(p.name for p in (out / "stems").glob("*.wav")) and page.locator("#downloads a[data-file^='stem:']").count() >= 1
            options = json.loads((server.workdir / "projects" / pid / "project.json").read_text())["options"]
            assert options["stems"] is True and options["mix_original"] == 12.0

            # A/B locked to the picture: the other version at the same playhead position, the other curve under the live one
            page.wait_for_function("document.getElementById('player').readyState >= 1 && document.getElementById('track').readyState >= 1 "
                                   "&& document.getElementById('track').currentSrc.endsWith('/versions/2')")  # the new version loaded
            page.evaluate("document.getElementById('player').currentTime = 1.5")
            page.wait_for_function("Math.abs(document.getElementById('track').currentTime - 1.5) < 0.05")
            assert page.evaluate("document.body.dataset.listen") == "v2"
            assert page.locator("#chart path.curve-other").count() == 2
            page.click("#ab-toggle")
            page.wait_for_function("document.body.dataset.listen === 'v1' && document.getElementById('track').currentSrc.endsWith('/versions/1')")
            page.wait_for_function("document.getElementById('track').readyState >= 1 && "
                                   "Math.abs(document.getElementById('track').currentTime - 1.5) < 0.05")
            assert abs(page.evaluate("document.getElementById('player').currentTime") - 1.5) < 1e-6

            # split and merge, move the climax to another scene, delete the event; undo brings the event back
            page.evaluate("document.getElementById('player').currentTime = 3.2")
            page.click("#split-btn")
            assert page.locator("#scene-rows tr").count() == n_scenes + 1
            page.locator("#scene-rows tr").nth(n_scenes - 1).locator("td").first.click()
            page.click("#merge-btn")
            assert page.locator("#scene-rows tr").count() == n_scenes
            roles = lambda: [page.locator(f".scene-role[data-index='{i}']").input_value() for i in range(n_scenes)]  # noqa: E731
            climax = roles().index("climax")
            target = 0 if climax != 0 else 1
            other = page.locator(f"#chart .band[data-index='{target}']").bounding_box()
            star = page.locator("#chart .climax").bounding_box()
            _drag(page, "#chart .climax", other["x"] + other["width"] / 2 - (star["x"] + star["width"] / 2), 0)
            assert roles().index("climax") == target and roles().count("climax") == 1
            page.click("#chart path.event")
            page.click("#delete-event-btn")
            assert page.locator("#chart path.event").count() == 0
            page.click("#undo-btn")
            assert page.locator("#chart path.event").count() == 1

            # downloads: every version, the original, the timeline for an editor
            for name in ("v1", "v2", "original", "soundtrack.wav", "score.mid"):
                assert len(_download(page, name)) > 0
            timeline = _download(page, "timeline:fcp7")
            assert timeline.startswith(b"<?xml") and b"<xmeml" in timeline and b"stems/" in timeline

            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(200)
            _save_shot(page, tmp_path, "ui-edited-1440x900.png")
            page.reload()  # the project id is in the address: a reload comes back to it
            page.wait_for_function("document.body.dataset.ready === '1' && document.body.dataset.version === '2'")
            assert page.locator("#chart path.curve-arousal").count() == 1
        finally:
            browser.close()
    assert errors == []
