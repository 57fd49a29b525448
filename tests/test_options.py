"""Options naming a backend, a SoundFont or a model are checked before any work (issue 13, item 6)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from narrascore.cli import app
from narrascore.errors import MediaError, OptionError
from narrascore.options import ScoreOptions


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def assert_failed_fast(result, code: int, *needles: str, out=None) -> None:
    """Exit ``code``, exactly one line on stderr holding every needle, and no trace of work in ``out``."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("narrascore: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output
    if out is not None:  # nothing scanned or written: the folder was not even made
        assert not out.exists(), sorted(p.name for p in out.rglob("*"))


@pytest.mark.parametrize("flag, value, listed", [
    ("--synth", "procedurall", "available: musicgen, procedural"),
    ("--sensor", "heuristc", "available: heuristic, text, vlm"),
    ("--sensor", "heuristic+vlmx", "'vlmx'; available: heuristic, text, vlm"),
    ("--reasoner", "foo", "available: llm, rules"),
])
def test_unknown_backend_names_fail_before_the_scan(short_video, tmp_path, flag, value, listed):
    out = tmp_path / "out"
    assert_failed_fast(invoke("score", str(short_video.path), "-o", str(out), flag, value, "--quiet"), 2, listed, out=out)


@pytest.fixture
def not_a_soundfont(tmp_path):
    path = tmp_path / "fake.sf2"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64))  # a RIFF file, but a WAV
    return path


@pytest.mark.parametrize("case", ["missing", "folder", "not_sf2"])
def test_bad_soundfont_fails_before_the_scan_in_every_command(short_video, tmp_path, not_a_soundfont, case):
    soundfont = {"missing": tmp_path / "nope.sf2", "folder": tmp_path, "not_sf2": not_a_soundfont}[case]
    needle = {"missing": "SoundFont not found", "folder": "not a file", "not_sf2": "not a SoundFont"}[case]
    out = tmp_path / "out"
    assert_failed_fast(invoke("score", str(short_video.path), "-o", str(out), "--soundfont", str(soundfont), "--quiet"),
                       3, str(soundfont), needle, out=out)
    batch_out = tmp_path / "batch"
    assert_failed_fast(invoke("batch", str(short_video.path), "-o", str(batch_out), "--soundfont", str(soundfont)),
                       3, needle, out=batch_out)


def test_render_checks_the_soundfont_before_rendering(short_video, tmp_path):
    import narrascore

    narrascore.analyze(short_video.path, tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = invoke("render", str(tmp_path), "--soundfont", str(tmp_path / "nope.sf2"), "--quiet")
    assert_failed_fast(result, 3, "nope.sf2")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no concept, no render folder


def test_model_and_adapter_folders_are_checked_first(short_video, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    out = tmp_path / "out"
    assert_failed_fast(invoke("score", str(short_video.path), "-o", str(out), "--synth", "musicgen", "--model",
                              str(tmp_path / "no-model"), "--quiet"), 2, "no-model", "model folder not found", out=out)
    assert_failed_fast(invoke("score", str(short_video.path), "-o", str(out), "--synth", "musicgen", "--model",
                              str(tmp_path / "no-model"), "--adapter", str(tmp_path / "a"), "--quiet"), 2, out=out)
    empty = tmp_path / "adapter"
    empty.mkdir()
    options = ScoreOptions(synth="musicgen", model="facebook/musicgen-small", adapter=str(empty))
    with pytest.raises(OptionError, match="adapter.json, adapter.safetensors missing"):
        options.check_resources(analysis=False)


def test_vlm_folders_are_checked_first(short_video, tmp_path):
    out = tmp_path / "out"
    assert_failed_fast(invoke("analyze", str(short_video.path), "-o", str(out), "--sensor", "vlm", "--vlm",
                              str(tmp_path / "no-vlm"), "--quiet"), 2, "vlm folder not found", out=out)
    assert_failed_fast(invoke("analyze", str(short_video.path), "-o", str(out), "--sensor", "vlm", "--vlm", "debug",
                              "--vlm-head", str(tmp_path), "--quiet"), 2, "head.json, head.safetensors missing", out=out)


def test_names_are_checked_where_options_are_made():
    with pytest.raises(OptionError, match="unknown synthesizer 'x'; available: musicgen, procedural"):
        ScoreOptions(synth="x")
    with pytest.raises(OptionError, match="unknown sensor"):
        ScoreOptions().replace(sensor="heuristic+nope")
    with pytest.raises(MediaError, match="SoundFont not found"):
        ScoreOptions(soundfont="/nope.sf2").check_resources(analysis=False, synthesis=False)
    ScoreOptions(sensor="heuristic+text").check_resources()  # the defaults pass


def test_evaluate_checks_a_given_soundfont_first(tmp_path):
    assert_failed_fast(invoke("evaluate", str(tmp_path), "--soundfont", str(tmp_path / "nope.sf2"), "--quiet"), 3,
                       "nope.sf2", "SoundFont not found")
    assert list(tmp_path.iterdir()) == []
