"""Tests for narrascore.evaluate.listeners: the pretrained VibeNet listener (real ONNX model from its wheel)
and the descriptor listener behind one protocol. All audio is synthesised here."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from narrascore.errors import DependencyError, MediaError, OptionError
from narrascore.evaluate import evaluate
from narrascore.evaluate import listeners as L
from narrascore.evaluate.run import analyse_music

from test_evaluate import SR, calm, energetic, make_plan

VR = L.VIBENET_RATE


def resample(x: np.ndarray, to: int = VR) -> np.ndarray:
    from scipy.signal import resample_poly

    return resample_poly(x, to, SR).astype(np.float32)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::DeprecationWarning")  # vibenet.core imports pydub
def test_front_end_is_vibenets_own_mel_for_every_window_whatever_the_chunks():
    from vibenet.core import extract_mel

    rng = np.random.default_rng(3)
    y = (rng.standard_normal(VR * 9) * np.linspace(0.01, 0.5, VR * 9)).astype(np.float32)
    frames = np.concatenate(list(L.mel_power_frames(iter(np.array_split(y, 11)))))
    listener = L.VibeNetListener()
    for k in (0, 2, 4):
        window = y[VR * k: VR * (k + 3)]
        ours = L.mel_db(frames[50 * k: 50 * k + listener._window_frames])
        np.testing.assert_allclose(ours, extract_mel(window, VR), atol=1e-4)


def test_pretrained_listener_hears_more_energy_in_a_loud_dense_fast_passage_than_in_a_soft_sustained_one():
    listener = L.get_listener("vibenet")
    loud, soft = listener.hear(resample(energetic(12.0))), listener.hear(resample(calm(12.0)))
    assert loud.times[0] == pytest.approx(1.5) and loud.hop == pytest.approx(1.0)
    assert loud.times.size == 10  # windows of 3 s every 1 s over 12 s
    assert np.all(np.abs(loud.arousal) <= 1) and np.all(np.abs(loud.valence) <= 1)
    assert loud.mean_arousal > soft.mean_arousal + 0.3
    assert set(loud.descriptors) == set(L.VIBENET_LABELS)


def test_curve_from_a_file_equals_the_curve_from_chunks_and_follows_a_step(tmp_path):
    x = np.concatenate([resample(calm(10.0)), resample(energetic(10.0))])
    path = tmp_path / "step.wav"
    sf.write(path, x, VR, subtype="FLOAT")
    listener = L.VibeNetListener()
    a, b = listener.hear(path), listener.hear(np.array_split(x, 13))
    np.testing.assert_allclose(a.arousal, b.arousal, atol=1e-5)
    before, after = a.arousal[a.times < 8].mean(), a.arousal[a.times > 12].mean()
    assert after > before + 0.3  # time-resolved: the curve rises after the step at 10 s


def test_errors_name_the_file_and_the_minimum_length(tmp_path):
    listener = L.VibeNetListener()
    with pytest.raises(MediaError, match="missing.wav: file not found"):
        listener.hear(tmp_path / "missing.wav")
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    with pytest.raises(MediaError, match="notes.wav"):
        listener.hear(text)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.wav"):
        listener.hear(empty)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(VR * 4, dtype=np.float32), VR)
    with pytest.raises(L.TooShortError, match=r"short.wav: 4.00 s of audio is too short .* at least 5 s \(3 windows of 3 s"):
        listener.hear(short)


def test_missing_extra_and_unknown_names_are_one_line(monkeypatch):
    with pytest.raises(OptionError, match="unknown listener 'vibe'; available: auto, descriptors, vibenet"):
        L.check_listener_name("vibe")
    monkeypatch.setattr(L, "vibenet_installed", lambda: False)
    L._vibenet_session.cache_clear()
    try:
        assert L.best_listener() == "descriptors" and L.check_listener_name("auto") == "descriptors"
        with pytest.raises(DependencyError, match=r"listen extra: pip install '.\[listen\]'"):
            L.get_listener("vibenet")
    finally:
        L._vibenet_session.cache_clear()


def test_best_installed_listener_is_the_pretrained_one_and_the_report_names_it(tmp_path):
    assert L.installed_listeners() == ["vibenet", "descriptors"]
    path = tmp_path / "music.wav"
    x = np.concatenate([calm(10.0), energetic(10.0)])
    sf.write(path, x, SR)
    times = np.arange(0, 20.0, 0.5)
    plan = make_plan(times, np.zeros_like(times), np.where(times < 10, -0.6, 0.6), 20.0)
    report = evaluate(path, plan=plan)
    assert report.emotion.listener == "vibenet" and report.emotion.listener_version.startswith("vibenet 0.1.0")
    assert report.alignment.arousal.pearson_r > 0.7
    saved = json.loads(open(report.save(tmp_path)).read())
    assert saved["data"]["emotion"]["listener"] == "vibenet"
    desc = evaluate(path, plan=plan, listener="descriptors")
    assert desc.emotion.listener == "descriptors" and desc.emotion.hop == pytest.approx(0.5)


def test_auto_falls_back_to_descriptors_for_audio_shorter_than_the_window_but_a_named_listener_does_not(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, energetic(4.0), SR)
    assert evaluate(path).emotion.listener == "descriptors"
    with pytest.raises(L.TooShortError, match="at least 5 s"):
        evaluate(path, listener="vibenet")


def test_cli_evaluate_audio_alone_with_each_listener(tmp_path):
    path = tmp_path / "music.wav"
    sf.write(path, energetic(8.0), SR)
    for name in ("vibenet", "descriptors"):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "narrascore.cli", "evaluate", "--audio", str(path), "-o", str(out),
                               "--listener", name], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        data = json.loads((out / "emotion.json").read_text())["data"]
        assert data["listener"] == name and len(data["times"]) == len(data["arousal"]) > 0
    bad = subprocess.run([sys.executable, "-m", "narrascore.cli", "evaluate", "--audio", str(path), "--listener", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "unknown listener 'nope'" in bad.stderr


def test_analyse_music_writes_the_model_outputs(tmp_path):
    path = tmp_path / "music.wav"
    sf.write(path, energetic(8.0), SR)
    curve, listener, written = analyse_music(path, tmp_path / "out", listener="vibenet")
    data = json.loads(written.read_text())["data"]
    assert listener.name == "vibenet" and set(data["descriptors"]) == set(L.VIBENET_LABELS)
    assert data["mean_arousal"] == pytest.approx(curve.mean_arousal, abs=1e-6)
