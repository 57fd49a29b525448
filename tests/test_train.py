"""Training the affect adapter: labels, data sources, the loop, exact resume, the CLI.

The backbone is the tiny random ``debug`` MusicGen. Its output heads are initialised with std 0.02, so
its logits are nearly uniform whatever the hidden state and nothing could steer them; the steering tests
therefore scale the heads up (``sharp``), a tiny random model whose output depends on its hidden state.
Synthetic clips tie tokens to a synthetic arousal curve: high arousal -> codes from the upper half of
the vocabulary. Torch runs on one thread (shared cores; the tiny model is per-op overhead anyway).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from narrascore.errors import ArtifactError, OptionError
from narrascore.train.config import TrainConfig, load_config
from narrascore.train.data import Clip, fixed_crops, labelled_span, sample_crops, va_on_grid
from narrascore.train.manifests import read_deam, read_manifest, read_source

VOCAB, K, FR = 64, 4, 50


# --------------------------------------------------------------------------- helpers
def synthetic_clip(i: int, frames: int = 200) -> Clip:
    """Arousal a slow random sine; where it is positive every codebook draws from the upper half."""
    rng = np.random.default_rng(i)
    t = np.arange(frames) / FR
    arousal = np.sin(2 * np.pi * t / rng.uniform(1.5, 4.0) + rng.uniform(0, 6))
    upper = arousal > 0
    codes = np.where(upper[None], rng.integers(VOCAB // 2, VOCAB, (K, frames)), rng.integers(0, VOCAB // 2, (K, frames)))
    va = np.stack([np.zeros(frames), arousal], axis=1).astype(np.float32)
    return Clip(key=f"synthetic-{i:02d}", codes=codes.astype(np.int16), va=va)


def write_tone(path: Path, seconds: float = 1.2, freq: float = 440.0, rate: int = 32_000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


CFG = TrainConfig(steps=100, batch_size=4, crop_seconds=2.0, lr=3e-2, warmup_steps=5, val_every=50,
                  checkpoint_every=1000, channels=16, seed=0)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sharp(torch_one_thread, model_cache):
    """The debug MusicGen with its output heads scaled 20x (std 0.4): logits that hidden states can move."""
    from narrascore.synth.musicgen.backbone import load_backbone

    backbone = load_backbone("debug")
    with torch_one_thread.no_grad():
        for head in backbone.model.decoder.lm_heads:
            head.weight.mul_(20.0)
    return backbone


@pytest.fixture(scope="module")
def clips():
    return [synthetic_clip(i) for i in range(10)]


@pytest.fixture(scope="module")
def trained(sharp, clips, tmp_path_factory):
    from narrascore.train import train_adapter

    out = tmp_path_factory.mktemp("trained")
    return train_adapter(model=sharp, data=clips, out=out, config=CFG)


# --------------------------------------------------------------------------- pure arithmetic
def test_curve_goes_onto_the_token_grid_and_crops_stay_inside_the_labels():
    va = va_on_grid(np.array([15.0, 15.5, 16.0]), np.array([0.0, 1.0, 0.0]), np.array([-1.0, -1.0, 1.0]), 1000, 50)
    assert va.shape == (1000, 2) and va.dtype == np.float32
    np.testing.assert_allclose(va[[0, 750, 775, 780, 800, 999]], [[0, -1], [0, -1], [1, -1], [0.8, -0.6], [0, 1], [0, 1]], atol=1e-6)
    assert labelled_span(np.array([15.0, 15.5, 16.0]), 1000, 50) == (750, 825)  # one hop past the last label
    assert labelled_span(np.array([0.0]), 300, 50) == (0, 300)  # a static (flat) label covers the clip
    assert labelled_span(np.array([15.0, 15.5]), 500, 50) is None  # 10 s of audio, labels from 15 s
    clip = Clip("c", np.zeros((4, 1000), np.int16), va, span=(750, 825))
    crops = sample_crops([clip], 7, 3, 50, seed=1)
    assert crops == sample_crops([clip], 7, 3, 50, seed=1)  # a pure function of (seed, micro-batch)
    assert all(750 <= c.start and c.start + c.frames <= 825 and c.frames == 50 for c in crops)
    assert [c.frames for c in fixed_crops(clip, 0, 500, 3)] == [75]  # longer than the span: the whole span, once


def test_labels_follow_generates_delay_pattern_and_the_models_own_loss(sharp):
    torch = pytest.importorskip("torch")
    from narrascore.train.data import delay_labels

    model, pad = sharp.model, sharp.decoder_config.pad_token_id
    codes = torch.arange(20).reshape(4, 5) + 10  # codebook k, frame f -> 10 + 5k + f
    labels = delay_labels(model, codes)  # (5 + 4 - 1, 4)
    assert labels.shape == (8, 4)
    for p in range(8):
        for k in range(4):
            f = p - k  # position p predicts codebook k's frame p - k
            assert labels[p, k] == (codes[k, f] if 0 <= f < 5 else pad)
    # the model shifts the labels right behind the start token: position p holds codebook k's frame p - 1 - k,
    # which is how generate lays out its inputs; the loss is the mean over codebooks of the cross-entropy
    text = sharp.tokenizer(["calm piano"], return_tensors="pt")
    with torch.no_grad():
        out = model(**text, labels=labels[None], use_cache=False)
        inputs = torch.cat([torch.full((4, 1), pad), labels.T[:, :-1]], dim=1)
        logits = model(**text, decoder_input_ids=inputs, use_cache=False).logits  # (K, L, V)
    manual = torch.stack([torch.nn.functional.cross_entropy(logits[k], labels[:, k], ignore_index=pad) for k in range(4)])
    assert float(out.loss) == pytest.approx(float(manual.mean()), abs=1e-6)


# --------------------------------------------------------------------------- the loop
def test_training_lowers_the_loss_and_steers_generation(sharp, trained):
    from narrascore.synth.musicgen.adapter import config_for, load_adapter, new_adapter
    from narrascore.train.control import token_controllability

    first, last = trained.val_losses[0][1], trained.val_losses[-1][1]
    assert trained.val_losses[0][0] == 0 and trained.val_clips == 1 and trained.clips == 9
    assert last < first - 0.5, trained.val_losses  # held-out clips
    assert np.mean(trained.losses[-10:]) < np.mean(trained.losses[:10]) - 0.5
    log = [json.loads(line) for line in (trained.out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == list(range(1, 101))
    assert {"lr", "grad_norm", "seconds"} <= set(log[1])

    adapter = load_adapter(trained.out, sharp.model)  # the files `score --adapter` reads
    zero = new_adapter(config_for(sharp.model, "debug", channels=16))  # gamma = 0: the backbone alone
    steered = token_controllability(sharp, adapter, seconds=3.0, samples=4, seed=0)
    bare = token_controllability(sharp, zero, seconds=3.0, samples=4, seed=0)
    # a ramp of arousal -1 -> +1: the trained adapter moves tokens to the upper half as arousal rises
    assert steered["moved"] > bare["moved"] + 0.1, (steered, bare)
    assert steered["corr"] > 0.3 > bare["corr"], (steered, bare)


def test_backbone_stays_frozen_and_bit_identical(sharp, clips, tmp_path):
    torch = pytest.importorskip("torch")
    from narrascore.train import train_adapter

    before = {k: v.clone() for k, v in sharp.model.state_dict().items()}
    report = train_adapter(model=sharp, data=clips, out=tmp_path, config=CFG.replace(steps=5, val_fraction=0.0))
    assert report.losses and report.val_clips == 0
    assert not any(p.requires_grad for p in sharp.model.parameters())
    assert all(p.grad is None for p in sharp.model.parameters())  # no gradient ever reached it
    after = sharp.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_resume_gives_the_same_loss_curve_as_an_uninterrupted_run(sharp, clips, tmp_path):
    from safetensors.torch import load_file

    from narrascore.train import train_adapter

    cfg = CFG.replace(steps=6, accumulate=2, batch_size=2, warmup_steps=4, val_every=2, checkpoint_every=2)
    straight = train_adapter(model=sharp, data=clips, out=tmp_path / "a", config=cfg)
    train_adapter(model=sharp, data=clips, out=tmp_path / "b", config=cfg.replace(steps=3))
    resumed = train_adapter(model=sharp, data=clips, out=tmp_path / "b", config=cfg, resume=True)
    assert len(straight.losses) == 6 and len(resumed.losses) == 3
    np.testing.assert_allclose(resumed.losses, straight.losses[3:], atol=1e-6)
    logs = [[json.loads(line) for line in (tmp_path / x / "train_log.jsonl").read_text().splitlines()] for x in "ab"]
    steps = [{r["step"]: r for r in log if "loss" in r} for log in logs]
    assert list(steps[0]) == list(steps[1]) == [1, 2, 3, 4, 5, 6]  # the resumed log holds each step once
    for s in steps[0]:
        assert steps[1][s]["loss"] == pytest.approx(steps[0][s]["loss"], abs=1e-6)
        assert steps[1][s]["lr"] == pytest.approx(steps[0][s]["lr"], abs=1e-12)
    vals = [{r["step"]: r["val_loss"] for r in log if "val_loss" in r} for log in logs]
    assert set(vals[0]) <= set(vals[1])  # the 3-step run also validated at its last step, 3
    assert all(vals[1][s] == pytest.approx(v, abs=1e-6) for s, v in vals[0].items())
    wa, wb = load_file(str(tmp_path / "a" / "adapter.safetensors")), load_file(str(tmp_path / "b" / "adapter.safetensors"))
    assert all(np.allclose(wa[k].numpy(), wb[k].numpy(), atol=1e-6) for k in wa)

    with pytest.raises(OptionError, match=r"lr 0\.03 \(now 0\.1\)"):
        train_adapter(model=sharp, data=clips, out=tmp_path / "b", config=cfg.replace(lr=0.1), resume=True)
    with pytest.raises(OptionError, match="nothing to resume"):
        train_adapter(model=sharp, data=clips, out=tmp_path / "c", config=cfg, resume=True)


# --------------------------------------------------------------------------- data sources
@pytest.mark.parametrize("line, problem", [
    ('{"audio": "a.wav", "hop": 0.5, "valence": [0.1]', "not valid JSON"),
    ('{"hop": 0.5, "valence": [0.1], "arousal": [0.2]}', 'missing "audio"'),
    ('{"audio": "a.wav", "valence": [0.1], "arousal": [0.2]}', "missing 'hop'"),
    ('{"audio": "a.wav", "hop": 0.5, "valence": [0.1, 0.2], "arousal": [0.2]}', "differ in length"),
    ('{"audio": "a.wav", "hop": 0.5, "valence": [1.5], "arousal": [0.2]}', r"within \[-1, 1\]"),
    ('{"audio": "a.wav", "hop": 0, "valence": [0.1], "arousal": [0.2]}', "hop must be positive"),
    ('{"audio": "a.wav", "curve": "nope.csv"}', "cannot read the curve"),
    ('[1, 2]', "expected a JSON object"),
])
def test_a_bad_manifest_line_is_named_with_its_problem(tmp_path, line, problem):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "ok.wav", "hop": 0.5, "valence": [0.1, 0.2], "arousal": [0.3, 0.4], "text": "sad"}\n'
                        + line + "\n")
    with pytest.raises(ArtifactError, match=problem) as err:
        read_manifest(manifest)
    assert f"{manifest} line 2:" in str(err.value) and "\n" not in str(err.value)


def test_manifest_lines_inline_start_and_csv(tmp_path):
    (tmp_path / "c.csv").write_text("time,valence,arousal\n0,0.1,0.2\n1,0.3,-0.4\n")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "a.wav", "hop": 0.5, "start": 15, "valence": [0.1, 0.2], "arousal": [0.3, 0.4], "text": "sad piano"}\n'
                        '\n{"audio": "b.wav", "curve": "c.csv"}\n')
    a, b = read_manifest(manifest)
    assert a.audio == tmp_path / "a.wav" and a.times.tolist() == [15.0, 15.5] and a.text == "sad piano"
    assert b.times.tolist() == [0.0, 1.0] and b.arousal.tolist() == [0.2, -0.4] and b.text == ""
    assert read_source(manifest)[0] == "manifest"


def write_deam(root: Path, *, dynamic_scale: str = "unit") -> Path:
    audio = root / "DEAM_audio" / "MEMD_audio"
    audio.mkdir(parents=True)
    for sid in (2, 3, 5, 7):
        (audio / f"{sid}.mp3").write_bytes(b"not decoded while parsing")
    dyn = root / "annotations" / "annotations averaged per song" / "dynamic (per second annotations)"
    dyn.mkdir(parents=True)
    rows = {"arousal": {2: [-0.1, 0.2, 0.3], 3: [0.5, 0.4, ""]}, "valence": {2: [0.1, -0.2, 0.0], 3: [-0.5, -0.4, ""]}}
    for dim, table in rows.items():
        lines = ["song_id,sample_15000ms,sample_15500ms,sample_16000ms"]
        for sid, values in table.items():
            if dynamic_scale == "nine":
                values = [v if v == "" else 5 + 4 * v for v in values]
            lines.append(f"{sid}," + ",".join(str(v) for v in values))
        (dyn / f"{dim}.csv").write_text("\n".join(lines) + "\n")
    static = root / "annotations" / "annotations averaged per song" / "song_level"
    static.mkdir(parents=True)
    (static / "static_annotations_averaged_songs_1_2000.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n2,3.1,0.9,3,0.6\n5,7,1.1,4,0.8\n")
    return root


@pytest.mark.parametrize("scale", ["unit", "nine"])
def test_deam_layout_is_read_in_place_with_each_files_scale_checked(tmp_path, scale):
    root = write_deam(tmp_path / "deam", dynamic_scale=scale)
    kind, items = read_source(root)
    assert kind == "deam"
    by_song = {item.audio.stem: item for item in items}
    assert sorted(by_song, key=int) == ["2", "3", "5"]  # song 7 has no annotation at all
    song2, song3, song5 = by_song["2"], by_song["3"], by_song["5"]
    assert song2.times.tolist() == [15.0, 15.5, 16.0]  # sample_15000ms, every 0.5 s
    np.testing.assert_allclose(song2.arousal, [-0.1, 0.2, 0.3])  # dynamic (kept, or 1..9 rescaled back)
    np.testing.assert_allclose(song2.valence, [0.1, -0.2, 0.0], atol=1e-12)
    assert song3.times.tolist() == [15.0, 15.5]  # trailing empty cells: the song is shorter
    assert song5.times.tolist() == [0.0]  # static only: a flat curve, rescaled (v - 5) / 4
    assert (song5.valence[0], song5.arousal[0]) == pytest.approx(((7 - 5) / 4, (4 - 5) / 4))

    bad = root / "annotations" / "annotations averaged per song" / "song_level" / "static_annotations_averaged_songs_1_2000.csv"
    bad.write_text("song_id,valence_mean,arousal_mean\n2,30,3\n")
    with pytest.raises(ArtifactError, match=r"static_annotations_averaged_songs_1_2000.csv: values span 3..30"):
        read_deam(root)


def test_deam_folder_trains_end_to_end_from_its_labelled_span(sharp, tmp_path):
    from narrascore.train import train_adapter

    root = write_deam(tmp_path / "deam")
    audio = root / "DEAM_audio" / "MEMD_audio"
    write_tone(audio / "2.mp3", seconds=16.5)  # WAV bytes: FFmpeg probes the content, not the name
    write_tone(audio / "3.mp3", seconds=10.0)  # ends before its dynamic labels start at 15 s
    write_tone(audio / "5.mp3", seconds=1.0, freq=880)  # static label: the whole clip
    cfg = CFG.replace(steps=1, crop_seconds=1.0, val_fraction=0.0, cache_dir=str(tmp_path / "tokens"))
    report = train_adapter(model=sharp, data=root, out=tmp_path / "out", config=cfg)
    assert report.clips == 2 and [Path(f).name for f, _ in report.skipped] == ["3.mp3"]
    assert "ends before its labels start (15.0 s)" in report.skipped[0][1]


def test_self_labelled_folder_uses_the_music_emotion_estimate(sharp, tmp_path):
    from narrascore.evaluate.emotion import estimate_emotion
    from narrascore.train.data import prepare_clips

    folder = tmp_path / "music"
    folder.mkdir()
    write_tone(folder / "a.wav", seconds=2.0, freq=220)
    kind, files = read_source(folder)
    assert kind == "folder" and files == [folder / "a.wav"]
    prepared = prepare_clips(kind, files, sharp, tmp_path / "tokens")
    (clip,) = prepared.clips
    curve = estimate_emotion(folder / "a.wav", rate_hz=2.0)
    assert clip.frames == 100 and clip.text == ""
    np.testing.assert_allclose(clip.va, va_on_grid(curve.times, curve.valence, curve.arousal, 100, 50), atol=1e-6)


def test_unreadable_audio_is_reported_and_skipped_and_tokens_are_cached(sharp, tmp_path):
    from narrascore.train import train_adapter

    write_tone(tmp_path / "a.wav", freq=330)
    write_tone(tmp_path / "b.wav", freq=660)
    (tmp_path / "broken.mp3").write_bytes(b"\x00garbage, not audio" * 50)
    line = '{{"audio": "{}", "hop": 0.5, "valence": [0.1, 0.5, -0.2], "arousal": [-0.4, 0.0, 0.8]}}\n'
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(line.format(n) for n in ("a.wav", "broken.mp3", "missing.wav", "b.wav")))
    cfg = CFG.replace(steps=2, crop_seconds=1.0, cache_dir=str(tmp_path / "tokens"))
    notes: list[str] = []

    class Notes:
        def stage(self, name, total=None):
            import contextlib
            return contextlib.nullcontext(lambda done: None)

        def note(self, message):
            notes.append(message)

    report = train_adapter(model=sharp, data=manifest, out=tmp_path / "out", config=cfg, reporter=Notes())
    assert report.clips + report.val_clips == 2 and report.encoded == 2
    assert len(report.skipped) == 2
    assert {Path(f).name for f, _ in report.skipped} == {"broken.mp3", "missing.wav"}
    assert any("skipped 2 of 4 files" in n for n in notes)
    summary = json.loads((tmp_path / "out" / "train.json").read_text())
    assert len(summary["data"]["skipped"]) == 2 and "file not found" in json.dumps(summary["data"]["skipped"])
    cached = sorted((tmp_path / "tokens").rglob("*.npy"))
    assert len(cached) == 2 and np.load(cached[0]).shape == (4, 60)  # 1.2 s at 50 frames a second
    again = train_adapter(model=sharp, data=manifest, out=tmp_path / "out2", config=cfg)
    assert again.encoded == 0  # content-keyed cache: nothing re-encoded


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('[train]\nsteps = 7\nlr = 0.002\nlayers = [0, 1]\ntext = "dark ambient"\n')
    cfg = load_config(path)
    assert (cfg.steps, cfg.lr, cfg.layers, cfg.text) == (7, 0.002, (0, 1), "dark ambient")
    assert cfg.replace(steps=9, lr=None).steps == 9 and cfg.replace(steps=9).lr == 0.002
    path.write_text("stepz = 3\n")
    with pytest.raises(OptionError, match="unknown training option.*stepz"):
        load_config(path)
    path.write_text('steps = "many"\n')
    with pytest.raises(OptionError, match="steps must be an integer"):
        load_config(path)
    with pytest.raises(OptionError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)


# --------------------------------------------------------------------------- CLI and score
def test_cli_trains_an_adapter_that_score_loads(model_cache, torch_one_thread, tmp_path, short_video):
    import narrascore
    from narrascore.synth import SYNTHESIZERS
    from narrascore.synth.musicgen.adapter import CONFIG, WEIGHTS

    write_tone(tmp_path / "a.wav", seconds=1.5)
    (tmp_path / "m.jsonl").write_text('{"audio": "a.wav", "hop": 0.5, "valence": [0.1, 0.5, -0.2], "arousal": [-0.4, 0.0, 0.8]}\n')
    (tmp_path / "train.toml").write_text("batch_size = 2\ncrop_seconds = 1.0\nchannels = 8\n")
    env = {**os.environ, "NARRASCORE_CACHE": str(model_cache), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "adapter"
    cmd = [sys.executable, "-m", "narrascore.cli", "train", "--model", "debug", "--data", str(tmp_path / "m.jsonl"),
           "--out", str(out), "--config", str(tmp_path / "train.toml"), "--steps", "2", "--quiet"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "trained 2 steps on 1 clips" in run.stdout
    assert (out / WEIGHTS).exists() and (out / CONFIG).exists() and (out / "checkpoint" / "trainer.pt").exists()

    bad = subprocess.run(cmd[:-3] + ["--lr", "-1", "--quiet"], capture_output=True, text=True, env=env)
    assert bad.returncode == OptionError.exit_code and bad.stderr.count("\n") == 1 and "lr must be positive" in bad.stderr

    synth = SYNTHESIZERS.create("musicgen", model="debug", adapter=str(out))
    assert synth.load()[1].config.channels == 8  # the trained adapter, with train.toml's shape
    result = narrascore.score(short_video.path, tmp_path / "scored", synth="musicgen", model="debug", adapter=str(out),
                              window_seconds=2.5, overlap_seconds=0.5)
    assert result.soundtrack.exists()


def test_importing_the_training_package_needs_no_torch():
    code = ("import sys, narrascore.train, narrascore.train.manifests, narrascore.train.control; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
