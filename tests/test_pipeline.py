"""End to end: `score`, `analyze`, `render`, caching, hand edits, determinism, and the CLI's bad-input handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

import narrascore
from narrascore.artifacts import MusicConcept, NarrativePlan, load_artifact, read_artifact
from narrascore.media.synthetic import Segment

STORY = (
    Segment(4.0, (200, 170, 120), motion=0.02, texture=0.2, audio_db=-34),
    Segment(3.0, (90, 100, 140), motion=0.15, texture=0.4, audio_db=-24, audio_pulse_hz=2),
    Segment(1.5, (70, 60, 120), motion=0.4, texture=0.6, audio_db=-16, audio_pulse_hz=5),
    Segment(1.5, (220, 40, 30), motion=0.8, texture=0.8, audio_db=-10, audio_pulse_hz=8),
    Segment(4.0, (210, 200, 160), motion=0.0, texture=0.2, transition="fade", fade_seconds=1.0, audio_db=-36),
)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="120")
    env.pop("NARRASCORE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "narrascore.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def story_video(video_factory):
    return video_factory("story.mp4", STORY, width=320, height=180)


@pytest.fixture(scope="module")
def scored(story_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    result = narrascore.score(story_video.path, out, seed=5)
    return out, result


def test_score_writes_every_output(scored, story_video):
    out, result = scored
    for name in ("media.json", "shots.json", "affect.json", "narrative.json", "concept.json",
                 "soundtrack.wav", "scored.mp4", "score.mid", "figure.png"):
        assert (out / name).is_file(), name
    info = sf.info(out / "soundtrack.wav")
    assert info.samplerate == 48000 and info.channels == 2
    assert info.frames == round(result.media.duration * 48000)
    assert abs(result.loudness.integrated_lufs - (-16.0)) < 0.6
    assert result.loudness.true_peak_dbtp <= -1.0 + 0.05
    # no temporary files left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".narrascore"]


def test_scored_video_copies_h264_and_carries_the_soundtrack(scored, story_video):
    out, result = scored
    with av.open(str(out / "scored.mp4")) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert audio.codec_context.name == "aac"
        assert video.frames == result.media.frame_count
    with av.open(str(story_video.path)) as original, av.open(str(out / "scored.mp4")) as scored_file:
        first = [bytes(p) for p in original.demux(original.streams.video[0]) if p.size][:5]
        again = [bytes(p) for p in scored_file.demux(scored_file.streams.video[0]) if p.size][:5]
    assert first == again


def test_rerun_reuses_every_stage(scored, story_video):
    out, _ = scored
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    again = narrascore.score(story_video.path, out, seed=5)
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    assert before == after
    for name in ("media.json", "shots.json", "affect.json", "narrative.json", "concept.json", "render", "soundtrack", "video", "figure"):
        assert name in again.reused


def test_same_seed_gives_byte_identical_wav(scored, story_video, tmp_path):
    out, _ = scored
    narrascore.score(story_video.path, tmp_path, seed=5)
    assert (tmp_path / "soundtrack.wav").read_bytes() == (out / "soundtrack.wav").read_bytes()
    assert (tmp_path / "score.mid").read_bytes() == (out / "score.mid").read_bytes()


def test_editing_a_scene_rerenders_only_the_music(story_video, tmp_path):
    narrascore.analyze(story_video.path, tmp_path)
    assert not (tmp_path / "soundtrack.wav").exists()
    first = narrascore.render(tmp_path)
    wav_before = (tmp_path / "soundtrack.wav").read_bytes()
    affect_mtime = (tmp_path / "affect.json").stat().st_mtime_ns

    path = tmp_path / "narrative.json"
    envelope = json.loads(path.read_text())
    scenes = envelope["data"]["scenes"]
    scenes[0]["arousal"] = 0.95 if scenes[0]["arousal"] < 0.5 else -0.95
    path.write_text(json.dumps(envelope))

    second = narrascore.render(tmp_path)
    assert (tmp_path / "soundtrack.wav").read_bytes() != wav_before
    assert (tmp_path / "affect.json").stat().st_mtime_ns == affect_mtime
    # the hand edit is kept, the curve re-derived from it
    stored = read_artifact(NarrativePlan, path)
    assert stored.hand_edited
    assert stored.artifact.scenes[0].arousal == scenes[0]["arousal"]
    first_scene = [a for t, a in zip(second.plan.times, second.plan.arousal) if t < scenes[0]["end"] - 0.5]
    old_scene = [a for t, a in zip(first.plan.times, first.plan.arousal) if t < scenes[0]["end"] - 0.5]
    assert np.mean(first_scene) != pytest.approx(np.mean(old_scene), abs=0.1)

    # score over the same folder keeps the hand-edited plan
    narrascore.score(story_video.path, tmp_path)
    assert read_artifact(NarrativePlan, path).artifact.scenes[0].arousal == scenes[0]["arousal"]


def test_hand_edited_concept_is_kept(story_video, tmp_path):
    narrascore.score(story_video.path, tmp_path, style="piano")
    path = tmp_path / "concept.json"
    envelope = json.loads(path.read_text())
    envelope["data"]["key"] = "F#" if envelope["data"]["key"] != "F#" else "C"
    for cue in envelope["data"]["cues"]:
        cue["key"] = envelope["data"]["key"]
    path.write_text(json.dumps(envelope))
    result = narrascore.render(tmp_path)
    assert result.concept.key == envelope["data"]["key"]
    assert load_artifact(MusicConcept, path).key == envelope["data"]["key"]
    assert "concept.json" in result.reused


def test_stems_sum_to_the_soundtrack_before_limiting(story_video, tmp_path):
    result = narrascore.score(story_video.path, tmp_path, stems=True)
    stems = sorted((tmp_path / "stems").glob("*.wav"))
    assert len(stems) >= 2 and set(stems) == set(result.stems)
    for stem in stems:
        assert sf.info(stem).frames == sf.info(tmp_path / "soundtrack.wav").frames


# --------------------------------------------------------------------------- CLI
def test_cli_version_and_help():
    assert run_cli("--version").stdout.strip() == f"narrascore {narrascore.__version__}"
    for command in ("score", "analyze", "render", "demo"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout


def _assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, short_video):
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "truncated.mp4"
    data = short_video.path.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    audio_only = folder / "voice.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        stream.layout = "mono"
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return {"text": text, "empty": empty, "truncated": truncated, "audio_only": audio_only, "folder": folder}


@pytest.mark.parametrize("case", ["missing", "text", "empty", "truncated", "audio_only"])
def test_bad_video_gives_one_clear_line(case, bad_inputs, tmp_path):
    video = bad_inputs["folder"] / "absent.mp4" if case == "missing" else bad_inputs[case]
    out = tmp_path / "out"
    result = run_cli("score", str(video), "-o", str(out), "--quiet")
    _assert_one_line_error(result, video.name)
    written = [p.name for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not [n for n in written if n.endswith((".wav", ".mp4", ".mid", ".png"))], written


def test_unwritable_output_folder(short_video, tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file-not-folder"
        blocker.write_text("x")
        out = blocker / "out"
    else:
        out = tmp_path / "locked"
        out.mkdir()
        out.chmod(0o500)
    result = run_cli("score", str(short_video.path), "-o", str(out), "--quiet")
    _assert_one_line_error(result, str(out.parent if os.geteuid() == 0 else out))


def test_bad_json_plan_gives_one_clear_line(story_video, tmp_path):
    narrascore.analyze(story_video.path, tmp_path)
    (tmp_path / "narrative.json").write_text('{"schema": "narrascore.narrative", "data": {')
    result = run_cli("render", str(tmp_path), "--quiet")
    _assert_one_line_error(result, "narrative.json")
    envelope_path = tmp_path / "concept.json"
    assert not envelope_path.exists()


def test_invalid_value_in_plan_names_the_field(story_video, tmp_path):
    narrascore.analyze(story_video.path, tmp_path)
    path = tmp_path / "narrative.json"
    envelope = json.loads(path.read_text())
    envelope["data"]["scenes"][0]["arc_role"] = "finale"
    path.write_text(json.dumps(envelope))
    result = run_cli("render", str(tmp_path), "--quiet")
    _assert_one_line_error(result, "arc_role")


def test_unknown_style_lists_the_valid_ones(short_video, tmp_path):
    result = run_cli("score", str(short_video.path), "-o", str(tmp_path), "--style", "polka", "--quiet")
    _assert_one_line_error(result, "orchestral")


def test_cli_score_prints_a_summary(short_video, tmp_path):
    result = run_cli("score", str(short_video.path), "-o", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "soundtrack" in result.stdout and (tmp_path / "scored.mp4").exists()


class RecordingReporter:
    """Collects (stage, total, last amount reported) for each stage the pipeline opens."""

    def __init__(self) -> None:
        self.stages: dict[str, list[float]] = {}

    def stage(self, name, total=None):
        import contextlib

        seen = self.stages.setdefault(name, [])

        @contextlib.contextmanager
        def opened():
            yield seen.append

        return opened()

    def note(self, message):
        self.stages.setdefault("notes", []).append(message)


def test_long_stages_report_progress(story_video, tmp_path):
    from narrascore.options import ScoreOptions
    from narrascore.pipeline import run

    reporter = RecordingReporter()
    run(story_video.path, tmp_path, ScoreOptions(), reporter=reporter)
    for stage in ("scan video", "scan audio", "compose+render", "mux video"):
        assert reporter.stages.get(stage), stage
        assert reporter.stages[stage][-1] == pytest.approx(14.0, abs=1.1)


def test_the_scan_in_parallel_ranges_gives_the_one_pass_analysis(video_factory, tmp_path, monkeypatch):
    """The pipeline decodes long videos in ranges, one worker each; the analysis is byte for byte one pass's."""
    import narrascore.media.scan as scan

    video = video_factory("story_gop12.mp4", STORY, width=320, height=180, gop=12)
    narrascore.analyze(video.path, tmp_path / "one")  # 14 s: too short to split
    split = []
    real_split = scan.split_ranges
    monkeypatch.setattr(scan, "scan_parts", lambda duration, cores: 3)
    monkeypatch.setattr(scan, "split_ranges", lambda *a: split.append(real_split(*a)) or split[-1])
    narrascore.analyze(video.path, tmp_path / "ranges")
    assert [len(spans) for spans in split] == [3]  # three workers decoded, a fourth joined their ranges
    for name in ("shots.json", "affect.json", "narrative.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "ranges" / name).read_bytes(), name
    one, ranges = (np.load(next((tmp_path / d / ".narrascore").glob("video-*.npz"))) for d in ("one", "ranges"))
    assert sorted(one.files) == sorted(ranges.files)
    for key in one.files:
        assert np.array_equal(one[key], ranges[key]), key
