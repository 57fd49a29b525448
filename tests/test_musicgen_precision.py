"""MusicGen at bf16 and int8 on the CPU: the conversions, the adapter's injection under them and under a
static KV cache, the agreement measure against fp32, the options and the `precision-check` command."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from narrascore.errors import OptionError
from narrascore.options import ScoreOptions

sys.path.insert(0, str(Path(__file__).parent))
from test_concept import make_plan  # noqa: E402
from test_musicgen import SPEC, generate, steered_adapter  # noqa: E402


@pytest.fixture(scope="module")
def fresh(torch_one_thread, model_cache):
    """A new debug backbone per call: ``apply_precision`` converts a model in place."""
    from narrascore.synth.musicgen.backbone import load_backbone

    return lambda: load_backbone("debug")


@pytest.fixture(scope="module")
def text(fresh):
    return fresh().tokenizer(["calm piano music", "dark epic orchestral strings and drums"], return_tensors="pt",
                             padding=True)


def test_precision_options_are_checked():
    from narrascore.synth.musicgen.synthesizer import MusicgenSynthesizer

    with pytest.raises(OptionError, match="available: fp32, bf16, int8"):
        ScoreOptions(synth="musicgen", precision="fp16")
    with pytest.raises(OptionError, match="goes with synth 'musicgen'"):
        ScoreOptions(precision="int8")
    with pytest.raises(OptionError, match="unknown precision"):
        MusicgenSynthesizer(precision="int4")
    assert "precision" not in ScoreOptions(synth="musicgen").synth_kwargs()  # fp32 keeps earlier render keys
    assert ScoreOptions(synth="musicgen", precision="int8").synth_kwargs()["precision"] == "int8"


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_converted_decoder_keeps_the_adapter_exact(fresh, text, precision):
    torch = pytest.importorskip("torch")
    from narrascore.synth.musicgen.adapter import config_for, new_adapter
    from narrascore.synth.musicgen.precision import apply_precision

    backbone = fresh()
    apply_precision(backbone.model, precision)
    layers = backbone.model.decoder.model.decoder.layers
    linear = layers[0].fc1
    if precision == "int8":
        assert "quantized" in type(linear).__module__
    else:
        assert linear.weight.dtype == torch.bfloat16
    assert backbone.model.text_encoder.shared.weight.dtype == torch.float32  # the encoders stay fp32

    untrained = new_adapter(config_for(backbone.model, "debug", channels=16))
    control = untrained.control([0.0, 5.0], [-1.0, 1.0], [1.0, -1.0], t0=0.0, n_positions=64).repeat(2, 1, 1)
    with torch.inference_mode():
        bare_audio, bare = generate(backbone, text, seed=3)
        audio, same = generate(backbone, text, seed=3, adapter=untrained, control=control)
        _, steered = generate(backbone, text, seed=3, adapter=steered_adapter(backbone), control=torch.ones_like(control))
    assert np.isfinite(bare_audio.numpy()).all() and bare_audio.shape[-1] > 0
    assert all(torch.equal(a, b) for a, b in zip(bare, same))  # gamma = 0: bit-identical at this precision too
    assert torch.equal(bare_audio, audio)
    assert not all(torch.equal(a, b) for a, b in zip(bare, steered))  # and a trained adapter still steers


def test_injection_is_exact_under_a_static_cache(fresh, text):
    """Positions come from the cache length, which a static (pre-allocated) cache reports as well."""
    torch = pytest.importorskip("torch")
    from transformers import DynamicCache, EncoderDecoderCache, StaticCache

    from narrascore.synth.musicgen.inject import inject

    backbone = fresh()
    model, K, L = backbone.model, backbone.decoder_config.num_codebooks, 20
    dec = backbone.decoder_config
    ids = torch.from_numpy(np.random.default_rng(4).integers(0, 64, (2 * K, L)))
    adapter = steered_adapter(backbone, seed=2)
    control = torch.randn(2, L, dec.hidden_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), inject(model, adapter, control) as position:
        full = model(**text, decoder_input_ids=ids, use_cache=False).logits  # (B*K, L, V)
        cache = EncoderDecoderCache(StaticCache(config=dec, max_cache_len=L), DynamicCache(config=dec))
        out = model(**text, decoder_input_ids=ids[:, :4], cache=cache, use_cache=True)
        steps = [out.logits[:, i] for i in range(4)]
        for t in range(4, L):
            out = model(**text, decoder_input_ids=ids[:, t:t + 1], cache=out.cache, use_cache=True)
            steps.append(out.logits[:, 0])
    assert isinstance(out.cache.self_attention_cache, StaticCache)
    assert position.calls[1:] == [(0, 4)] + [(t, 1) for t in range(4, L)]
    np.testing.assert_allclose(torch.stack(steps, dim=1).numpy(), full.numpy(), atol=2e-5)


def test_agreement_is_exact_for_fp32_and_measures_int8(fresh):
    from narrascore.synth.musicgen.precision import agreement, apply_precision

    reference, same, converted = fresh(), fresh(), fresh()
    exact = agreement(reference.model, same.model, precision="fp32-copy", steps=12)
    assert (exact.mean_kl, exact.max_kl, exact.top1) == (0.0, 0.0, 1.0)
    assert set(exact.steps_per_s) == {"fp32", "fp32-copy"} and min(exact.steps_per_s.values()) > 0
    apply_precision(converted.model, "int8")
    got = agreement(reference.model, converted.model, precision="int8", steps=12)
    assert 0.0 < got.mean_kl <= got.max_kl and 0.0 <= got.top1 <= 1.0


def test_int8_render_is_keyed_apart_and_deterministic(fresh, tmp_path):
    from narrascore.artifacts import Cut, Shots
    from narrascore.concept import conceive
    from narrascore.synth import SAMPLE_RATE, SYNTHESIZERS, RenderRequest

    plan = make_plan(SPEC)
    shots = Shots((Cut(2.0, 1.0),), "test", plan.duration)
    concept = conceive(plan)
    n = round(2.0 * SAMPLE_RATE)
    mixes = []
    for precision, folder in (("fp32", "a"), ("int8", "b"), ("int8", "c")):
        synth = SYNTHESIZERS.create("musicgen", model="debug", window_seconds=2.0, overlap_seconds=0.5, precision=precision)
        result = synth.render(plan, concept, shots, RenderRequest(n_samples=n, work_dir=tmp_path / folder))
        mixes.append((next((tmp_path / folder / "musicgen").iterdir()).name, result.mix.read_bytes()))
    assert mixes[0][0] != mixes[1][0] == mixes[2][0]  # the window cache key names the precision
    assert mixes[1][1] == mixes[2][1]


def test_precision_check_command_prints_the_agreement(fresh):
    from typer.testing import CliRunner

    from narrascore.cli import app

    got = CliRunner().invoke(app, ["precision-check", "--model", "debug", "--steps", "10", "--precision", "int8"])
    assert got.exit_code == 0, got.output
    assert "int8: mean KL" in got.output and "top-1 agreement" in got.output and "x fp32" in got.output
    bad = CliRunner().invoke(app, ["precision-check", "--model", "debug", "--precision", "fp8"])
    assert bad.exit_code == OptionError.exit_code and "unknown precision 'fp8'" in bad.output
