"""The musicgen synthesizer: the tiny random MusicGen, the affect adapter and its hooks, long-form windows, errors.

The model is ``--model debug``: built from config classes, saved with save_pretrained into a temporary
cache and loaded through ``load_backbone``, the loader the CLI uses. Torch runs on one thread here: the
tiny model is dominated by per-op overhead, which a second thread only makes worse on shared cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from narrascore.artifacts import Cut, Shots
from narrascore.concept import conceive
from narrascore.errors import DependencyError, NarrascoreError, OptionError
from narrascore.options import ScoreOptions
from narrascore.synth import SAMPLE_RATE, SYNTHESIZERS, RenderRequest
from narrascore.synth.musicgen.adapter import (config_for, curve_at, default_layers, load_adapter,
                                               new_adapter, position_times)
from narrascore.synth.musicgen.longform import (StreamResampler, Window, crossfade_in, join, plan_windows,
                                                seconds_to_frames, stitch)

sys.path.insert(0, str(Path(__file__).parent))
from test_concept import make_plan  # noqa: E402

SPEC = [(2.0, 0.4, -0.6, "setup"), (1.5, -0.6, 0.8, "climax"), (1.6, 0.3, 0.0, "resolution")]  # 5.1 s


# --------------------------------------------------------------------------- pure arithmetic (no torch)
def test_position_times_follow_the_frame_rate():
    assert position_times(10.0, 3, 50).tolist() == pytest.approx([10.0, 10.02, 10.04])
    assert position_times(0.0, 4, 25)[-1] == pytest.approx(3 / 25)  # never a hard-coded 50
    assert seconds_to_frames(30.0, 50) == 1500 and seconds_to_frames(2.5, 50) == 125 and seconds_to_frames(0.019, 50) == 1


def test_curve_is_interpolated_and_held_flat_past_its_ends():
    va = curve_at([0.0, 1.0], [0.0, 1.0], [-1.0, 1.0], np.array([-1.0, 0.25, 0.5, 2.0]))
    assert va.dtype == np.float32 and va.shape == (4, 2)
    np.testing.assert_allclose(va, [[0, -1], [0.25, -0.5], [0.5, 0], [1, 1]])


def test_default_layers_are_the_early_three_quarters():
    assert default_layers(24) == tuple(range(18))
    assert default_layers(4) == (0, 1, 2)
    assert default_layers(1) == (0,)


def test_windows_cover_the_video_overlap_and_end_on_cuts():
    windows = plan_windows(1000, window=300, overlap=100, cuts=[280, 290], preferred=[240])
    assert windows[0] == Window(0, 0, 240, 0)  # the scene boundary beats the nearer shot cut
    assert windows[0].end - windows[0].start >= 2 * 100 + 1
    for a, b in zip(windows, windows[1:]):
        assert b.start == a.end - 100 and b.prompt == 100
        assert b.frames <= 300
    assert windows[-1].end == 1000
    nocut = plan_windows(1000, window=300, overlap=100, cuts=[50])  # a cut outside the snap range is ignored
    assert nocut[0].end == 300
    assert plan_windows(10, window=300, overlap=100) == [Window(0, 0, 10, 0)]
    with pytest.raises(OptionError, match="under half"):
        plan_windows(1000, window=200, overlap=100)


def test_crossfade_is_equal_gain():
    fade = crossfade_in(640)
    np.testing.assert_allclose(fade + (1 - fade), 1.0)
    assert np.all(np.diff(fade) > 0) and 0 < fade[0] < fade[-1] < 1
    same = np.random.default_rng(0).standard_normal((1, 640)).astype(np.float32)
    np.testing.assert_allclose(join(same, same), same, atol=1e-6)  # correlated audio keeps its level


def test_stitch_keeps_length_and_level_across_seams():
    hop = 10
    windows = plan_windows(57, window=20, overlap=5)
    pieces = list(stitch(windows, lambda w: np.ones((1, w.frames * hop), np.float32), hop))
    track = np.concatenate(pieces, axis=-1)
    assert track.shape == (1, 57 * hop)
    np.testing.assert_allclose(track, 1.0, atol=1e-6)  # the seams' gains sum to 1
    ramp = np.concatenate(list(stitch(windows, lambda w: np.arange(w.start * hop, w.end * hop, dtype=np.float32)[None], hop)), axis=-1)
    np.testing.assert_allclose(ramp[0], np.arange(57 * hop), atol=1e-3)  # each sample lands at its own time


def test_stream_resampler_equals_whole_signal_resampling():
    from scipy.signal import resample_poly

    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 20_011))
    r = StreamResampler(32_000, 48_000, block=2048)
    out, i = [], 0
    while i < x.shape[-1]:
        k = int(rng.integers(1, 3000))
        out += list(r.feed(x[:, i:i + k]))
        i += k
    out += list(r.flush())
    y = np.concatenate(out, axis=-1)
    ref = resample_poly(x, 3, 2, axis=-1)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_writing_the_mix_holds_memory_flat_in_length(tmp_path):
    import tracemalloc

    from narrascore.synth.musicgen.synthesizer import write_mix

    peaks = []
    for seconds in (30, 120):
        windows = plan_windows(seconds * 50, window=500, overlap=100)
        tracemalloc.start()
        write_mix(windows, lambda w: np.full((1, w.frames * 640), 0.1, np.float32), hop=640, rate=32_000,
                  n_samples=seconds * SAMPLE_RATE, out=tmp_path / f"{seconds}.wav")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert sf.info(str(tmp_path / f"{seconds}.wav")).frames == seconds * SAMPLE_RATE
    assert peaks[1] < 1.2 * peaks[0], peaks  # 4x the length, not 4x the memory


def test_options_are_validated():
    with pytest.raises(OptionError, match="synth 'musicgen'"):
        ScoreOptions(model="debug")
    with pytest.raises(OptionError, match="overlap_seconds"):
        ScoreOptions(synth="musicgen", window_seconds=10, overlap_seconds=5)
    with pytest.raises(OptionError, match="window_seconds"):
        ScoreOptions(synth="musicgen", window_seconds=0.5)
    opts = ScoreOptions(synth="musicgen", model="debug", window_seconds=20, overlap_seconds=5)
    assert opts.synth_kwargs() == {"model": "debug", "adapter": None, "window_seconds": 20, "overlap_seconds": 5}
    assert ScoreOptions().synth_kwargs() == {}


def test_default_path_imports_no_torch():
    code = ("import sys, narrascore, narrascore.synth, narrascore.pipeline, narrascore.cli; "
            "from narrascore.synth.musicgen import longform, adapter, inject, backbone; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_extra_gives_the_install_line(monkeypatch):
    for name in ("torch", "transformers", "safetensors"):  # each import now raises ImportError
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(DependencyError, match=r"pip install 'narrascore\[neural\]'"):
        SYNTHESIZERS.create("musicgen", model="debug")


# --------------------------------------------------------------------------- the tiny model
@pytest.fixture(scope="module")
def backbone(torch_one_thread, model_cache):
    from narrascore.synth.musicgen.backbone import load_backbone

    return load_backbone("debug")


@pytest.fixture(scope="module")
def text(backbone):
    return backbone.tokenizer(["calm piano music", "dark epic orchestral strings and drums"], return_tensors="pt",
                              padding=True)


def steered_adapter(backbone, seed=0, **shape):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    adapter = new_adapter(config_for(backbone.model, "debug", channels=16, **shape))
    with torch.no_grad():
        adapter.gamma.normal_(0.0, 1.0)
    return adapter


def record_decoder_inputs(model):
    """Collect the token ids of every decoder call (what generate fed back: the sampled tokens)."""
    seen = []
    handle = model.decoder.model.decoder.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["input_ids"].clone()), with_kwargs=True)
    return seen, handle


def generate(backbone, text, *, seed=0, adapter=None, control=None, cfg="both", new=40):
    from narrascore.synth.musicgen.inject import inject

    torch = pytest.importorskip("torch")
    seen, handle = record_decoder_inputs(backbone.model)
    try:
        torch.manual_seed(seed)
        if adapter is None:
            audio = backbone.model.generate(**text, do_sample=True, guidance_scale=3.0, max_new_tokens=new)
        else:
            with inject(backbone.model, adapter, control, cfg=cfg):
                audio = backbone.model.generate(**text, do_sample=True, guidance_scale=3.0, max_new_tokens=new)
    finally:
        handle.remove()
    return audio, seen


def test_debug_model_runs_at_the_codec_frame_rate(backbone):
    assert (backbone.frame_rate, backbone.hop, backbone.sample_rate) == (50, 640, 32_000)
    assert backbone.identity == "debug:v1"
    assert not any(p.requires_grad for p in backbone.model.parameters())
    codes = np.random.default_rng(0).integers(0, 64, (2, 1, 1, 4, 20))
    torch = pytest.importorskip("torch")
    a, b = (backbone.model.audio_encoder.decode(torch.from_numpy(c), [None]).audio_values for c in codes)
    assert not torch.equal(a, b)  # re-initialised codebooks: the audio depends on the codes


def test_untrained_adapter_leaves_generation_bit_identical(backbone, text):
    adapter = new_adapter(config_for(backbone.model, "debug", channels=16))
    assert adapter.parameter_count() > 0 and float(adapter.gamma.detach().abs().sum()) == 0.0
    control = adapter.control([0.0, 5.0], [-1.0, 1.0], [1.0, -1.0], t0=0.0, n_positions=64).repeat(2, 1, 1)
    bare_audio, bare = generate(backbone, text, seed=3)
    audio, steered = generate(backbone, text, seed=3, adapter=adapter, control=control)
    assert len(bare) == len(steered)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(bare, steered))  # every token, batch of 2
    assert np.array_equal(bare_audio.numpy(), audio.numpy())


def test_adapter_under_generate_tracks_absolute_positions(backbone, text):
    torch = pytest.importorskip("torch")
    adapter = steered_adapter(backbone)
    k = 20
    control = torch.ones(2, 64, backbone.decoder_config.hidden_size)
    control[:, :k] = 0  # steer from position k on
    _, bare = generate(backbone, text, seed=5)
    from narrascore.synth.musicgen.inject import inject

    with inject(backbone.model, adapter, control) as position:
        _, steered = generate(backbone, text, seed=5)
    # the prefill (the start token at position 0) runs twice, each with a fresh cache; then one position per step
    assert position.calls[:2] == [(0, 1), (0, 1)]
    assert position.calls[2:] == [(p, 1) for p in range(1, len(position.calls) - 1)]
    # call j >= 2 feeds back the tokens sampled at position j - 2: identical up to position k - 1, steered from k
    same = [torch.equal(a, b) for a, b in zip(bare, steered)]
    assert len(same) == len(position.calls)
    assert all(same[:k + 2])
    assert not all(same[k + 2:])


def test_control_changes_logits_only_from_its_positions_and_cache_equals_full_forward(backbone, text):
    torch = pytest.importorskip("torch")
    from narrascore.synth.musicgen.inject import inject

    model, K, L, k = backbone.model, backbone.decoder_config.num_codebooks, 24, 9
    ids = torch.from_numpy(np.random.default_rng(2).integers(0, 64, (2 * K, L)))
    adapter = steered_adapter(backbone, seed=1)
    control = torch.randn(2, L, backbone.decoder_config.hidden_size, generator=torch.Generator().manual_seed(0))
    control[:, :k] = 0

    def full():
        return model(**text, decoder_input_ids=ids, use_cache=False).logits  # (B*K, L, V)

    with torch.no_grad():
        bare = full()
        with inject(model, adapter, control):
            steered = full()
            out = model(**text, decoder_input_ids=ids[:, :5], use_cache=True)  # prefill of 5 positions
            cached = [out.logits[:, i] for i in range(5)]
            for t in range(5, L):
                out = model(**text, decoder_input_ids=ids[:, t:t + 1], cache=out.cache, use_cache=True)
                cached.append(out.logits[:, 0])
    assert torch.equal(bare[:, :k], steered[:, :k])  # causal: positions before k are untouched
    assert (bare[:, k:] - steered[:, k:]).abs().amax(dim=(0, 2)).min() > 1e-4  # every later position moves
    np.testing.assert_allclose(torch.stack(cached, dim=1).numpy(), steered.numpy(), atol=2e-5)


@pytest.mark.parametrize("cfg", ["both", "cond"])
def test_guided_batch_halves_are_treated_as_documented(backbone, text, cfg):
    torch = pytest.importorskip("torch")
    from narrascore.synth.musicgen.inject import inject

    model, K = backbone.model, backbone.decoder_config.num_codebooks
    ids = torch.from_numpy(np.random.default_rng(4).integers(0, 64, (2 * K, 12)))
    doubled = {k: v.repeat(2, 1) for k, v in text.items()}  # (2B) rows: conditional half, then the other half
    adapter = steered_adapter(backbone, seed=2)
    control = torch.randn(2, 12, backbone.decoder_config.hidden_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        bare = model(**doubled, decoder_input_ids=ids.repeat(2, 1), use_cache=False).logits
        with inject(model, adapter, control, cfg=cfg):
            logits = model(**doubled, decoder_input_ids=ids.repeat(2, 1), use_cache=False).logits
    first, second = logits[:2 * K], logits[2 * K:]
    assert not torch.equal(first, bare[:2 * K])  # the conditional half is always steered
    if cfg == "both":
        assert torch.equal(first, second)  # same inputs, same control in both halves
    else:
        assert torch.equal(second, bare[2 * K:])  # the unconditional half is left alone


def test_controls_agree_where_windows_overlap(backbone):
    adapter = steered_adapter(backbone)
    times, val, aro = np.arange(0, 6, 0.5), np.sin(np.arange(12)), np.cos(np.arange(12))
    a = adapter.control(times, val, aro, t0=0.0, n_positions=150)
    b = adapter.control(times, val, aro, t0=1.0, n_positions=150)  # a window starting at frame 50
    np.testing.assert_allclose(a[:, 50:].numpy(), b[:, :100].numpy(), atol=1e-6)
    assert a.shape == (1, 150, backbone.decoder_config.hidden_size)


def test_adapter_files_round_trip_and_are_checked(backbone, tmp_path):
    torch = pytest.importorskip("torch")
    adapter = steered_adapter(backbone)
    adapter.save(tmp_path / "ok")
    loaded = load_adapter(tmp_path / "ok", backbone.model)
    assert loaded.config == adapter.config and torch.equal(loaded.gamma, adapter.gamma)

    wrong = dict(json.loads((tmp_path / "ok" / "adapter.json").read_text()), hidden_size=1024, num_layers=24)
    (tmp_path / "wide").mkdir()
    (tmp_path / "wide" / "adapter.json").write_text(json.dumps(wrong))
    (tmp_path / "wide" / "adapter.safetensors").write_bytes((tmp_path / "ok" / "adapter.safetensors").read_bytes())
    with pytest.raises(OptionError) as err:
        load_adapter(tmp_path / "wide", backbone.model)
    assert "hidden_size 1024 (model: 32)" in str(err.value) and "num_layers 24 (model: 4)" in str(err.value)
    assert "\n" not in str(err.value)

    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "adapter.json").write_text(json.dumps(dict(wrong, hidden_size=32, num_layers=4, channels=8)))
    (tmp_path / "shapes" / "adapter.safetensors").write_bytes((tmp_path / "ok" / "adapter.safetensors").read_bytes())
    with pytest.raises(OptionError, match="weights do not fit"):
        load_adapter(tmp_path / "shapes", backbone.model)
    with pytest.raises(OptionError, match="not found"):
        load_adapter(tmp_path / "nothing", backbone.model)


def test_bad_model_folders_give_one_clear_error(backbone, tmp_path):
    from narrascore.synth.musicgen.backbone import load_backbone

    with pytest.raises(OptionError, match="model folder not found"):
        load_backbone(str(tmp_path / "missing"))
    (tmp_path / "config-only").mkdir()
    (tmp_path / "config-only" / "config.json").write_text(json.dumps({"model_type": "musicgen"}))
    with pytest.raises(OptionError, match="no weights"):
        load_backbone(str(tmp_path / "config-only"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(OptionError, match="model_type is 'bert'"):
        load_backbone(str(tmp_path / "other"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptionError, match="config.json is missing"):
        load_backbone(str(tmp_path / "empty"))


def test_other_transformers_versions_are_refused(monkeypatch):
    transformers = pytest.importorskip("transformers")
    from narrascore.synth.musicgen.inject import check_transformers

    monkeypatch.setattr(transformers, "__version__", "4.57.0")
    with pytest.raises(DependencyError, match="5.24.0"):
        check_transformers()


@pytest.mark.realsize
def test_real_size_architecture_untrained_adapter_is_identity(torch_one_thread):
    """musicgen-small's architecture with random weights (2.4 GB, about 1 min): hooks on 24 layers of width 1024."""
    torch = torch_one_thread
    from transformers import MusicgenForConditionalGeneration

    from narrascore.synth.musicgen.backbone import quiet_transformers, small_config
    from narrascore.synth.musicgen.inject import inject

    torch.manual_seed(0)
    with quiet_transformers():
        model = MusicgenForConditionalGeneration(small_config()).eval().requires_grad_(False)
    model.generation_config.update(pad_token_id=2048, decoder_start_token_id=2048, bos_token_id=2048)
    adapter = new_adapter(config_for(model, "musicgen-small"))
    assert adapter.config.layers == tuple(range(18)) and adapter.parameter_count() == 134_592
    text = {"input_ids": torch.randint(0, 32128, (1, 8)), "attention_mask": torch.ones(1, 8, dtype=torch.long)}
    control = adapter.control([0.0, 1.0], [0.0, 1.0], [1.0, 0.0], t0=0.0, n_positions=16)
    outputs = []
    for hooked in (False, True):
        torch.manual_seed(1)
        with inject(model, adapter, control) if hooked else contextlib.nullcontext():
            outputs.append(model.generate(**text, do_sample=True, guidance_scale=3.0, max_new_tokens=8))
    assert torch.equal(outputs[0], outputs[1])


# --------------------------------------------------------------------------- long form
@pytest.fixture(scope="module")
def story():
    plan = make_plan(SPEC)
    shots = Shots((Cut(2.0, 1.0), Cut(2.9, 0.8), Cut(3.5, 1.0)), "test", plan.duration)
    return plan, conceive(plan), shots


@pytest.fixture(scope="module")
def adapter_dir(backbone, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapter")
    steered_adapter(backbone).save(folder)
    return folder


def test_long_form_length_progress_and_resume(backbone, story, adapter_dir, tmp_path):
    plan, concept, shots = story
    n = round(plan.duration * SAMPLE_RATE)
    synth = SYNTHESIZERS.create("musicgen", model="debug", adapter=str(adapter_dir), window_seconds=2.0,
                                overlap_seconds=0.5)
    done: list[float] = []
    result = synth.render(plan, concept, shots, RenderRequest(n_samples=n, work_dir=tmp_path, progress=done.append))
    info = sf.info(str(result.mix))
    assert (info.frames, info.samplerate, info.channels, info.subtype) == (n, 48_000, 2, "FLOAT")
    audio, _ = sf.read(str(result.mix), dtype="float32")
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 0 and np.array_equal(audio[:, 0], audio[:, 1])
    assert synth.last_info["windows"] == synth.last_info["generated"] == len(done) == 4
    assert done == sorted(done) and done[-1] == pytest.approx(plan.duration)
    assert done[:2] == [2.0, 3.5]  # the first joins sit on the scene boundaries at 2.0 and 3.5 s
    assert synth.last_info["adapter_parameters"] > 0

    files = sorted(tmp_path.glob("musicgen/*/window-*.npy"))
    assert len(files) == 4
    first = result.mix.read_bytes()
    files[-1].unlink()  # an interrupted run: the last window never finished
    again = synth.render(plan, concept, shots, RenderRequest(n_samples=n, work_dir=tmp_path))
    assert (synth.last_info["generated"], synth.last_info["reused"]) == (1, 3)
    assert again.mix.read_bytes() == first  # per-window seeds: the regenerated window is the same


def test_changed_inputs_start_afresh(backbone, story, tmp_path):
    plan, concept, shots = story
    n = round(plan.duration * SAMPLE_RATE)
    synth = SYNTHESIZERS.create("musicgen", model="debug", window_seconds=2.0, overlap_seconds=0.5)
    synth.render(plan, concept, shots, RenderRequest(n_samples=n, work_dir=tmp_path, seed=1))
    synth.render(plan, concept, shots, RenderRequest(n_samples=n, work_dir=tmp_path, seed=2))
    assert synth.last_info["generated"] == synth.last_info["windows"]
    assert len(list(tmp_path.glob("musicgen/*"))) == 1  # the stale windows were dropped


def test_too_long_window_is_refused(backbone, story, tmp_path):
    plan, concept, shots = story
    synth = SYNTHESIZERS.create("musicgen", model="debug", window_seconds=60.0, overlap_seconds=1.0)
    with pytest.raises(OptionError, match="too long"):
        synth.render(plan, concept, shots, RenderRequest(n_samples=48_000, work_dir=tmp_path))


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_score_with_musicgen_end_to_end(backbone, video_factory, tmp_path, model_cache):
    import narrascore
    from narrascore.media.synthetic import Segment

    video = video_factory("six.mp4", (Segment(2.0, (200, 60, 50), motion=0.1), Segment(2.0, (40, 60, 200), motion=0.3),
                                      Segment(2.0, (230, 220, 200))))
    out = tmp_path / "out"
    result = narrascore.score(video.path, out, synth="musicgen", model="debug", window_seconds=2.5, overlap_seconds=0.5)
    n = round(result.media.duration * SAMPLE_RATE)
    assert sf.info(str(result.soundtrack)).frames == n
    assert result.video.exists() and result.figure.exists() and result.midi is None
    again = narrascore.score(video.path, out, synth="musicgen", model="debug", window_seconds=2.5, overlap_seconds=0.5)
    assert "render" in again.reused

    cli = subprocess.run([sys.executable, "-m", "narrascore.cli", "render", str(out), "--synth", "musicgen",
                          "--model", str(tmp_path / "no-such-model"), "--quiet"],
                         capture_output=True, text=True, env={**os.environ, "NARRASCORE_CACHE": str(model_cache)})
    assert cli.returncode == OptionError.exit_code
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and "model folder not found" in lines[0], cli.stderr
    assert issubclass(OptionError, NarrascoreError)
