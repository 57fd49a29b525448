"""MusicGen decoding on the CPU at fp32, bf16 and int8 (musicgen-small's architecture, random weights).

    python benchmarks/bench_precision.py [--steps 500] [--size small|mid] [--generate-seconds 3] [--threads 1]
                                         [--cache-steps N [--compile]] [--json PATH] [--quick]

For each of bf16 and int8: a second copy of the same random model (same seed, so the same weights) is
converted (``narrascore.synth.musicgen.precision.apply_precision``) and both decoders run ``--steps``
cached decoding steps under classifier-free guidance (batch 2) on the same tokens, sampled from the
fp32 model's guided distribution; each step is timed alone, alternating fp32 and the candidate, and
the guided next-token distributions are compared (mean KL(fp32 || candidate), top-1 agreement).
Memory: RSS growth of building each converted copy (after ``malloc_trim``) and the process's peak.
With ``--generate-seconds``: wall time of ``generate`` (guidance 3, top-k 250) of that much audio at
each precision, the real time factor end to end. The CPU's AVX-512 / AMX / BF16 flags are printed.
With ``--cache-steps N``: fp32 steps with a pre-allocated static KV cache against the dynamic one (and,
with ``--compile``, after ``torch.compile`` of each decoder layer), to see whether either helps here.
``--size mid`` is a half-size decoder (12 layers of width 768) for a quicker run.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_adapter import real_size_model, rss_mib  # noqa: E402

MID_DECODER = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "ffn_dim": 3072}
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")


def cpu_flags() -> dict[str, bool]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    have = set(line.split(":", 1)[-1].split())
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    return {"model": model, **{f: f in have for f in FLAGS}}  # type: ignore[dict-item]


def build(size: str):
    import torch
    from transformers import MusicgenConfig, MusicgenForConditionalGeneration

    from narrascore.synth.musicgen.backbone import quiet_transformers, small_config

    if size == "small":
        return real_size_model("small")
    torch.manual_seed(0)
    with quiet_transformers():
        parts = small_config().to_dict()
        parts["decoder"].update(MID_DECODER)
        config = MusicgenConfig(text_encoder=parts["text_encoder"], audio_encoder=parts["audio_encoder"], decoder=parts["decoder"])
        model = MusicgenForConditionalGeneration(config).eval().requires_grad_(False)
    model.generation_config.update(pad_token_id=2048, decoder_start_token_id=2048, bos_token_id=2048)
    return model


def trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def generate_rtf(model, seconds: float) -> dict:
    import torch

    fr = model.config.audio_encoder.frame_rate
    new = int(round(seconds * fr)) + model.config.decoder.num_codebooks - 1
    text = {"input_ids": torch.randint(0, 32128, (1, 12), generator=torch.Generator().manual_seed(0)),
            "attention_mask": torch.ones(1, 12, dtype=torch.long)}
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.inference_mode():
        audio = model.generate(**text, do_sample=True, guidance_scale=3.0, top_k=250, max_new_tokens=new)
    wall = time.perf_counter() - t0
    got = audio.shape[-1] / model.config.audio_encoder.sampling_rate
    return {"audio_s": got, "wall_s": wall, "rtf": got / wall}


def step_times(model, steps: int, *, static: bool = False, decoder=None) -> tuple[float, object, float]:
    """Median time (s) of cached fp32 decoding steps (CFG batch 2, random tokens), the logits, and the total time."""
    import statistics

    import torch
    from transformers import DynamicCache, EncoderDecoderCache, StaticCache

    dec = model.config.decoder
    k = dec.num_codebooks
    ids = torch.randint(0, dec.vocab_size, (2 * k, steps), generator=torch.Generator().manual_seed(0))
    states = torch.randn(2, 12, dec.hidden_size, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 12, dtype=torch.long)
    cache = EncoderDecoderCache(StaticCache(config=dec, max_cache_len=1504), DynamicCache(config=dec)) if static else None
    run = decoder or model.decoder
    times, logits = [], []
    with torch.inference_mode():
        for i in range(steps):
            t0 = time.perf_counter()
            out = run(input_ids=ids[:, i:i + 1], encoder_hidden_states=states, encoder_attention_mask=mask, cache=cache, use_cache=True)
            times.append(time.perf_counter() - t0)
            cache = out.cache
            logits.append(out.logits[:, -1].float())
    return statistics.median(times[min(10, steps // 4):]), torch.stack(logits), sum(times)


def cache_and_compile(model, steps: int, say, compile_layers: bool) -> dict:
    """A static (pre-allocated 1,504-position) KV cache against the dynamic one, and per-layer torch.compile."""
    out: dict = {}
    for round_ in range(2):
        dyn, ref, _ = step_times(model, steps)
        sta, got, _ = step_times(model, steps, static=True)
        out[f"round{round_}"] = {"dynamic_ms": dyn * 1e3, "static_ms": sta * 1e3, "max_diff": float((ref - got).abs().max())}
        say(f"fp32 step, dynamic cache {dyn * 1e3:.1f} ms, static cache (1504) {sta * 1e3:.1f} ms, logits differ by {out[f'round{round_}']['max_diff']:.1e}")
    if compile_layers:
        eager, ref, _ = step_times(model, steps)
        for layer in model.decoder.model.decoder.layers:  # hooks (the adapter's) stay outside the compiled code
            layer.compile(dynamic=True)
        first, got, total = step_times(model, steps)
        again, _, _ = step_times(model, steps)
        out["compile"] = {"eager_ms": eager * 1e3, "first_pass_s": total, "compiled_ms": again * 1e3,
                          "max_diff": float((ref - got).abs().max())}
        say(f"per-layer torch.compile: first pass {total:.0f} s (compiling), then {again * 1e3:.1f} ms per step against "
            f"eager {eager * 1e3:.1f} ms; logits differ by {out['compile']['max_diff']:.1e}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--size", choices=("small", "mid"), default="small")
    p.add_argument("--precisions", default="bf16,int8")
    p.add_argument("--generate-seconds", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    p.add_argument("--cache-steps", type=int, default=0, help="also time a static KV cache against the dynamic one (steps; 0: skip)")
    p.add_argument("--compile", action="store_true", help="with --cache-steps: also per-layer torch.compile (slow to compile)")
    p.add_argument("--quick", action="store_true", help="smoke test: the mid-size decoder, 30 steps, no generate")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.generate_seconds = "mid", 30, 0.0
    import torch

    from narrascore.synth.musicgen.precision import agreement, apply_precision

    torch.set_num_threads(args.threads)
    printed: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        printed.append(line)

    flags = cpu_flags()
    say(f"CPU {flags.get('model')}: " + ", ".join(f"{f} {'yes' if flags.get(f) else 'no'}" for f in FLAGS))
    say(f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), {args.threads} thread(s), "
        f"{os.cpu_count()} CPUs, size {args.size}, {args.steps} steps")
    rss0 = rss_mib()
    reference = build(args.size)
    trim()
    result: dict = {"name": "precision", "title": "MusicGen decoding at fp32, bf16 and int8 (CPU)", "cpu": flags, "threads": args.threads, "size": args.size, "steps": args.steps,
                    "torch": torch.__version__, "rss_fp32_mib": rss_mib() - rss0, "variants": {}}
    say(f"fp32 model: {sum(p.numel() for p in reference.parameters()) / 1e6:.0f} M parameters, RSS +{result['rss_fp32_mib']:.0f} MiB")
    if args.generate_seconds > 0:
        result["generate_fp32"] = generate_rtf(reference, args.generate_seconds)
        say(f"fp32 generate {result['generate_fp32']['audio_s']:.2f} s of audio: {result['generate_fp32']['rtf']:.3f}x real time")
    if args.cache_steps > 0:
        result["cache_and_compile"] = cache_and_compile(reference, args.cache_steps, say, args.compile)
    fr = reference.config.audio_encoder.frame_rate
    for name in [x.strip() for x in args.precisions.split(",") if x.strip()]:
        before = rss_mib()
        candidate = build(args.size)
        apply_precision(candidate, name)
        trim()
        grown = rss_mib() - before
        got = agreement(reference, candidate, precision=name, steps=args.steps)
        ratio = got.steps_per_s[name] / got.steps_per_s["fp32"]
        row = {"mean_kl": got.mean_kl, "max_kl": got.max_kl, "top1": got.top1, "steps_per_s": got.steps_per_s,
               "speedup": ratio, "rtf_decoder": got.steps_per_s[name] / fr, "rtf_decoder_fp32": got.steps_per_s["fp32"] / fr,
               "rss_model_mib": grown}
        say(f"{name}: {got.steps_per_s[name]:.2f} steps/s vs fp32 {got.steps_per_s['fp32']:.2f} ({ratio:.2f}x; decoder-only "
            f"{row['rtf_decoder']:.3f}x real time vs {row['rtf_decoder_fp32']:.3f}x); mean KL {got.mean_kl:.2e} nats "
            f"(max {got.max_kl:.2e}), top-1 agreement {got.top1:.1%}; model RSS +{grown:.0f} MiB")
        if args.generate_seconds > 0:
            row["generate"] = generate_rtf(candidate, args.generate_seconds)
            say(f"{name} generate {row['generate']['audio_s']:.2f} s of audio: {row['generate']['rtf']:.3f}x real time")
        result["variants"][name] = row
        del candidate
        trim()
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"peak RSS of the whole run {result['peak_rss_mib']:.0f} MiB")
    best = max(result["variants"].items(), key=lambda kv: kv[1]["speedup"]) if result["variants"] else None
    result["summary"] = {
        "baseline": f"fp32 decoding step ({args.size})",
        "ours": ", ".join(f"{n} {r['speedup']:.2f}x (KL {r['mean_kl']:.1e}, top-1 {r['top1']:.1%})" for n, r in result["variants"].items()),
        "ratio": f"{best[0]} {best[1]['speedup']:.2f}x" if best else "",
        "target": ">= 0.25x real time with the fastest option",
    }
    result["headline"] = "decoding steps/s against fp32 (interleaved, median): " + result["summary"]["ours"]
    result["printed"] = "\n".join(printed)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
