"""`narrascore evaluate`: the three forms of the command, bad inputs, and ours against the baselines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

import narrascore
from narrascore.evaluate import EvaluationReport
from narrascore.evaluate.run import evaluate_folder, summary_rows
from narrascore.media.synthetic import Segment

# a 17.5 s arc for the command's forms: four scenes (calm, rising, climax of four 1 s shots, calm)
SHORT_STORY = (
    Segment(4.5, (200, 170, 120), motion=0.02, texture=0.2, audio_db=-34),
    Segment(2.5, (90, 100, 140), motion=0.15, texture=0.4, audio_db=-24, audio_pulse_hz=2),
    Segment(2.0, (70, 60, 120), motion=0.3, texture=0.5, audio_db=-18, audio_pulse_hz=4),
    Segment(1.0, (220, 40, 30), motion=0.8, texture=0.8, audio_db=-10, audio_pulse_hz=8),
    Segment(1.0, (190, 30, 50), motion=0.7, texture=0.8, audio_db=-10, audio_pulse_hz=8),
    Segment(1.0, (230, 50, 30), motion=0.8, texture=0.8, audio_db=-10, audio_pulse_hz=8),
    Segment(1.0, (200, 35, 45), motion=0.7, texture=0.8, audio_db=-10, audio_pulse_hz=8),
    Segment(4.5, (210, 200, 160), motion=0.0, texture=0.2, transition="fade", fade_seconds=1.0, audio_db=-36),
)

# a 36 s planted arc for the claim: calm (9 s) -> rising (9 s) -> climax (7 s) -> resolution (11 s)
_CALM = [Segment(3.0, c, motion=0.01, texture=0.2, audio_db=-32, audio_tone_hz=220)
         for c in ((235, 185, 135), (200, 160, 120), (245, 215, 175))]
_RISING = [Segment(d, (int((150 - 90 * p) * 0.6), int((150 - 90 * p) * 0.8), int((150 - 90 * p) * 1.2)),
                   motion=0.05 + 0.3 * p, texture=0.35, audio_db=-30 + 16 * p, audio_pulse_hz=1 + 4 * p, audio_tone_hz=110)
           for d, p in zip((2.0, 1.8, 1.6, 1.4, 1.2, 1.0), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0))]
_CLIMAX = [Segment(d, (230 - 40 * (i % 2), 20 + 15 * (i % 3), 30), motion=0.5 + 0.1 * (i % 3), texture=0.45,
                   audio_db=-10, audio_pulse_hz=7, audio_tone_hz=98)
           for i, d in enumerate((0.6, 0.8, 0.7, 0.6, 0.8, 0.7, 0.6, 0.8, 0.7, 0.7))]
_RESOLUTION = [Segment(d, (235, 230, 205) if i % 2 == 0 else (220, 235, 225), motion=0.01, texture=0.15, audio_db=-34,
                       audio_tone_hz=262, transition="fade" if i == 0 else "hard", fade_seconds=1.5)
               for i, d in enumerate((4.0, 3.5, 3.5))]
ARC_STORY = tuple(_CALM + _RISING + _CLIMAX + _RESOLUTION)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="120")
    env.pop("NARRASCORE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "narrascore.cli", *args], capture_output=True, text=True, env=env, timeout=600)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], names: str) -> None:
    assert proc.returncode not in (0, 70), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("narrascore: error: ") and names in lines[0], proc.stderr


# --------------------------------------------------------------------------- the three forms
@pytest.fixture(scope="module")
def short_story(video_factory):
    return video_factory("evaluate-short.mp4", SHORT_STORY)


@pytest.fixture(scope="module")
def scored_short(short_story, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("evaluate-scored")
    narrascore.score(short_story.path, out, seed=1)
    return out


@pytest.fixture(scope="module")
def evaluated_short(scored_short) -> tuple[Path, subprocess.CompletedProcess[str], bytes]:
    figure_before = (scored_short / "figure.png").read_bytes()
    proc = run_cli("evaluate", str(scored_short), "--quiet")
    assert proc.returncode == 0, proc.stderr
    return scored_short, proc, figure_before


def test_evaluate_folder_writes_report_with_baselines(evaluated_short):
    out, proc, _ = evaluated_short
    payload = json.loads((out / "report.json").read_text())
    assert payload["schema"] == "narrascore.report"
    report = EvaluationReport.load(out / "report.json")  # ours, readable as a plain report
    assert report.alignment is not None and report.cut_sync is not None and report.loudness is not None
    assert report.cut_sync.n_cuts == 7
    assert set(payload["baselines"]) == {"fixed-mood", "shuffled", "original"}
    for data in payload["baselines"].values():
        assert data["alignment"]["arousal"]["n"] > 10
        assert abs(data["loudness"]["integrated_lufs"] - report.loudness.integrated_lufs) < 2.0
    comparison = payload["comparison"]
    assert comparison["reference"] == "ours"
    assert set(comparison["advantage"]) == {"fixed-mood", "shuffled", "original"}
    assert "arousal_r" in comparison["advantage"]["shuffled"]
    baselines = out / ".narrascore" / "baselines"
    for name in ("fixed-mood", "shuffled", "original"):
        info = sf.info(baselines / f"{name}.wav")
        assert info.samplerate == 48000 and info.channels == 2
    for name in ("ours", "fixed-mood", "shuffled", "original"):
        assert name in proc.stdout
    assert "A r" in proc.stdout and "LUFS" in proc.stdout
    # no temporary files left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".narrascore"]


def test_evaluate_folder_figure_has_the_measured_curves(evaluated_short):
    out, _, before = evaluated_short
    figure = (out / "figure.png").read_bytes()
    assert figure[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure != before  # re-drawn with the measured curves


def test_evaluate_folder_rerun_reuses_the_baselines(evaluated_short):
    out, _, _ = evaluated_short
    baselines = out / ".narrascore" / "baselines"
    before = {p.name: p.stat().st_mtime_ns for p in baselines.glob("*.wav")}
    first = json.loads((out / "report.json").read_text())
    proc = run_cli("evaluate", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in baselines.glob("*.wav")} == before
    assert json.loads((out / "report.json").read_text())["comparison"] == first["comparison"]


def test_evaluate_folder_without_baselines(scored_short):
    proc = run_cli("evaluate", str(scored_short), "--no-baselines", "--quiet")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads((scored_short / "report.json").read_text())
    assert payload["baselines"] == {} and payload["comparison"] is None
    assert "fixed-mood" not in proc.stdout


def test_evaluate_any_soundtrack_against_a_video(scored_short, short_story, tmp_path):
    out = tmp_path / "theirs"
    proc = run_cli("evaluate", "--audio", str(scored_short / "soundtrack.wav"), "--video", str(short_story.path), "-o", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    for name in ("narrative.json", "shots.json", "report.json", "figure.png"):
        assert (out / name).is_file(), name
    assert not (out / "soundtrack.wav").exists() and not (out / "concept.json").exists()
    report = EvaluationReport.load(out / "report.json")
    ours = EvaluationReport.load(scored_short / "report.json")
    # the same soundtrack against the same story: the same numbers as in our own folder
    assert report.alignment.arousal.pearson_r == pytest.approx(ours.alignment.arousal.pearson_r, abs=1e-6)
    assert report.cut_sync.hit_rate == pytest.approx(ours.cut_sync.hit_rate)


def test_evaluate_audio_alone_writes_emotion_json(scored_short, tmp_path):
    ogg = tmp_path / "track.ogg"  # any format FFmpeg reads
    data, rate = sf.read(scored_short / "soundtrack.wav")
    sf.write(ogg, data, rate, format="OGG")
    proc = run_cli("evaluate", "--audio", str(ogg), "-o", str(tmp_path / "emo"))
    assert proc.returncode == 0, proc.stderr
    payload = json.loads((tmp_path / "emo" / "emotion.json").read_text())
    assert payload["schema"] == "narrascore.emotion"
    data = payload["data"]
    assert len(data["times"]) == len(data["valence"]) == len(data["arousal"]) > 10  # 1 s windows of the 17.5 s track
    assert -1 <= data["mean_valence"] <= 1 and -1 <= data["mean_arousal"] <= 1
    assert f"{data['mean_valence']:+.3f}" in proc.stdout and f"{data['mean_arousal']:+.3f}" in proc.stdout


# --------------------------------------------------------------------------- bad input
def test_missing_folder(tmp_path):
    assert_one_line_error(run_cli("evaluate", str(tmp_path / "nowhere")), "nowhere")


def test_folder_without_soundtrack(short_story, tmp_path):
    out = tmp_path / "analysed"
    assert run_cli("analyze", str(short_story.path), "-o", str(out), "--quiet").returncode == 0
    assert_one_line_error(run_cli("evaluate", str(out)), "soundtrack.wav")


def test_missing_audio_file(short_story, tmp_path):
    assert_one_line_error(run_cli("evaluate", "--audio", str(tmp_path / "gone.wav"), "--video", str(short_story.path)), "gone.wav")
    assert_one_line_error(run_cli("evaluate", "--audio", str(tmp_path / "gone.wav")), "gone.wav")


def test_corrupt_audio(tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(3000))
    assert_one_line_error(run_cli("evaluate", "--audio", str(bad), "-o", str(tmp_path / "o")), "corrupt.wav")


def test_audio_only_video(scored_short, tmp_path):
    track = str(scored_short / "soundtrack.wav")
    assert_one_line_error(run_cli("evaluate", "--audio", track, "--video", track, "-o", str(tmp_path / "o")), "soundtrack.wav")


def test_conflicting_arguments(scored_short):
    assert_one_line_error(run_cli("evaluate"), "--audio")
    assert_one_line_error(run_cli("evaluate", "--audio", str(scored_short / "soundtrack.wav"), "--baselines"), "--baselines")


# --------------------------------------------------------------------------- the claim
def assert_ours_follows_the_story_better(out: Path) -> None:
    """Alignment as docs/evaluation.md defines it, heard by both listeners.

    The pretrained listener (VibeNet, trained on other people's music: it shares no rule with our
    composer) must hear ours follow the arousal better than both baselines: Pearson r up and
    mean-removed MAE down. It hears our valence run against the story (docs/evaluation.md): that
    is the composer's open problem (the sound issue), so no valence claim is made with it. The
    descriptor listener, which reads the cues our composer sets, must see both dimensions.
    """
    for listener, dimensions in (("vibenet", ("arousal",)), ("descriptors", ("arousal", "valence"))):
        run = evaluate_folder(out, listener=listener)
        assert run.report.emotion.listener == listener
        rows = {row["soundtrack"]: row for row in summary_rows(run)}
        ours = rows["ours"]
        for name in ("fixed-mood", "shuffled"):
            theirs = rows[name]
            assert ours["arousal_r"] > theirs["arousal_r"] + 0.1, (listener, name, rows)
            assert ours["arousal_mae"] < theirs["arousal_mae"], (listener, name, rows)
            if "valence" in dimensions:
                assert ours["valence_r"] > theirs["valence_r"], (listener, name, rows)
        assert ours["arousal_r"] > 0.6, (listener, rows)


@pytest.fixture(scope="module")
def arc_story(video_factory):
    return video_factory("evaluate-arc.mp4", ARC_STORY)


def test_ours_beats_fixed_mood_and_shuffled_on_a_story_video(arc_story, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate-arc")
    narrascore.score(arc_story.path, out)
    assert_ours_follows_the_story_better(out)


@pytest.mark.slow
def test_ours_beats_fixed_mood_and_shuffled_on_the_demo(scored_demo):
    assert_ours_follows_the_story_better(scored_demo)
