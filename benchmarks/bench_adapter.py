"""Benchmark the Token-Level Affective Adapter and long-form MusicGen generation on this machine.

    python benchmarks/bench_adapter.py [--sizes small,medium] [--steps 150] [--real-seconds 30] [--video-seconds 20]
                                       [--threads N] [--json PATH]

1. Decoding-step overhead at musicgen-small's (or, with ``--size medium``, musicgen-medium's) real size (``MusicgenDecoderConfig()`` defaults, t5-base text
   encoder, EnCodec 32 kHz; random weights, nothing downloaded): one sequence of cached decoding steps
   under classifier-free guidance (batch 2), each step timed alone, alternating with and without the
   adapter hooks in an ABBA pattern so both see the same cache lengths and the same machine load;
   the median per step of each is compared. The adapter has the defaults: 18 of 24 layers, gamma != 0.
2. Memory: the adapter's parameters, one 30 s window's control tensor, and the process's RSS growth.
3. Real time factor of ``--real-seconds`` (default: one 30 s window) of generation at musicgen-small's real
   size with the adapter and classifier-free guidance.
4. Real time factor of long-form generation of a ``--video-seconds`` video with the ``debug`` model
   (several windows: 8 s windows, 2 s overlap), crossfades, resampling and mix.wav included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# musicgen-medium's decoder (its text encoder and codec are musicgen-small's): width 1536, 48 layers, 24 heads
MEDIUM_DECODER = {"hidden_size": 1536, "num_hidden_layers": 48, "num_attention_heads": 24, "ffn_dim": 6144}


def real_size_model(size: str = "small"):
    import torch
    from transformers import MusicgenConfig, MusicgenForConditionalGeneration

    from narrascore.synth.musicgen.backbone import quiet_transformers, small_config

    torch.manual_seed(0)
    with quiet_transformers():
        config = small_config()
        if size == "medium":
            parts = config.to_dict()
            parts["decoder"].update(MEDIUM_DECODER)
            config = MusicgenConfig(text_encoder=parts["text_encoder"], audio_encoder=parts["audio_encoder"],
                                    decoder=parts["decoder"])
        model = MusicgenForConditionalGeneration(config).eval().requires_grad_(False)
    model.generation_config.update(pad_token_id=2048, decoder_start_token_id=2048, bos_token_id=2048)
    return model


def steered(model, torch):
    from narrascore.synth.musicgen.adapter import config_for, new_adapter

    adapter = new_adapter(config_for(model, "musicgen real-size architecture (random)"))
    with torch.no_grad():
        adapter.gamma.normal_(0.0, 0.02)
    return adapter.eval().requires_grad_(False)


def step_overhead(model, adapter, torch, steps: int) -> dict:
    """Median time of one cached decoding step (CFG batch 2) with and without the adapter, interleaved ABBA."""
    from narrascore.synth.musicgen.inject import inject

    dec = model.config.decoder
    K = dec.num_codebooks
    n_pos = 1 + 2 * steps + 8
    control = adapter.control([0.0, 60.0], [-1.0, 1.0], [1.0, -1.0], t0=0.0, n_positions=n_pos)
    enc = torch.randn(2, 12, model.config.text_encoder.d_model)
    enc_h = model.enc_to_dec_proj(enc) if hasattr(model, "enc_to_dec_proj") else enc
    mask = torch.ones(2, 12, dtype=torch.long)
    ids = torch.randint(0, dec.vocab_size, (2 * K, n_pos))
    timings = {"adapter": [], "bare": []}
    with torch.inference_mode():
        out = model.decoder(input_ids=ids[:, :1], encoder_hidden_states=enc_h, encoder_attention_mask=mask, use_cache=True)
        cache = out.cache
        for i in range(1, 2 * steps + 1):
            mode = "adapter" if (i % 4) in (1, 0) else "bare"  # A B B A ...
            hooks = inject(model, adapter, control) if mode == "adapter" else None
            if hooks is not None:
                hooks.__enter__()
            t0 = time.perf_counter()
            out = model.decoder(input_ids=ids[:, i:i + 1], encoder_hidden_states=enc_h, encoder_attention_mask=mask,
                                cache=cache, use_cache=True)
            timings[mode].append(time.perf_counter() - t0)
            if hooks is not None:
                hooks.__exit__(None, None, None)
            cache = out.cache
    med = {k: statistics.median(v) for k, v in timings.items()}
    q = {k: (np.percentile(v, 25), np.percentile(v, 75)) for k, v in timings.items()}
    return {"steps_each": steps, "median_s": med, "iqr_s": q, "overhead": med["adapter"] / med["bare"] - 1,
            "control_mib": control.numel() * control.element_size() / 2**20}


def real_window(model, adapter, torch, seconds: float) -> dict:
    from narrascore.synth.musicgen.inject import inject

    fr = model.config.audio_encoder.frame_rate
    frames = int(round(seconds * fr))
    new = frames + model.config.decoder.num_codebooks - 1
    control = adapter.control([0.0, seconds], [-0.5, 0.5], [0.5, -0.5], t0=0.0, n_positions=new + 1)
    text = {"input_ids": torch.randint(0, 32128, (1, 12)), "attention_mask": torch.ones(1, 12, dtype=torch.long)}
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.inference_mode(), inject(model, adapter, control):
        audio = model.generate(**text, do_sample=True, guidance_scale=3.0, top_k=250, max_new_tokens=new)
    wall = time.perf_counter() - t0
    got = audio.shape[-1] / model.config.audio_encoder.sampling_rate
    return {"audio_s": got, "wall_s": wall, "rtf": got / wall, "tokens_per_s": new / wall,
            "window30_extrapolated_s": wall * 30.0 / got}


def debug_longform(seconds: float, torch) -> dict:
    from narrascore.artifacts import Cut, NarrativePlan, Scene, Shots
    from narrascore.concept import conceive
    from narrascore.synth import SAMPLE_RATE, SYNTHESIZERS, RenderRequest

    bounds = np.linspace(0, seconds, 5)
    roles = ("setup", "rising", "climax", "resolution")
    scenes = tuple(Scene(float(a), float(b), f"s{i}", float(np.sin(i)), float(np.cos(i)), "x", roles[i])
                   for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])))
    times = np.arange(0, seconds + 1e-9, 0.5)
    plan = NarrativePlan("bench", scenes, 0.5, tuple(times.tolist()), tuple(np.sin(times / 3).tolist()),
                         tuple(np.cos(times / 4).tolist()), seconds / 2, seconds)
    shots = Shots(tuple(Cut(float(t), 1.0) for t in bounds[1:-1]), "bench", seconds)
    concept = conceive(plan)
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as work:
        os.environ["NARRASCORE_CACHE"] = cache
        synth = SYNTHESIZERS.create("musicgen", model="debug", window_seconds=8.0, overlap_seconds=2.0)
        t0 = time.perf_counter()
        synth.load()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        synth.render(plan, concept, shots, RenderRequest(n_samples=round(seconds * SAMPLE_RATE), work_dir=Path(work)))
        wall = time.perf_counter() - t0
    return {"video_s": seconds, "windows": synth.last_info["windows"], "load_s": load_s, "wall_s": wall,
            "rtf": seconds / wall, "generate_s": synth.last_info["generate_s"], "write_s": synth.last_info["write_s"]}


def measure_size(size: str, args, torch, say) -> dict:
    """Build one real-size architecture, time the adapter's step overhead, and (small) one real window."""
    from narrascore.synth.musicgen.adapter import describe

    rss0 = rss_mib()
    t0 = time.perf_counter()
    model = real_size_model(size)
    out: dict = {"build_s": time.perf_counter() - t0}
    n_model = sum(p.numel() for p in model.parameters())
    rss1 = rss_mib()
    adapter = steered(model, torch)
    rss2 = rss_mib()
    n_adapter = adapter.parameter_count()
    say(f"musicgen-{size} architecture: {n_model / 1e6:.0f} M parameters, built in {out['build_s']:.0f} s, "
        f"RSS +{rss1 - rss0:.0f} MiB")
    say(describe(adapter))
    say(f"adapter: {n_adapter:,} parameters = {n_adapter / n_model:.3%} of the backbone, "
        f"{n_adapter * 4 / 2**20:.2f} MiB fp32; RSS +{rss2 - rss1:.1f} MiB")
    out.update(model_parameters=n_model, adapter_parameters=n_adapter, adapter_mib=n_adapter * 4 / 2**20,
               rss_model_mib=rss1 - rss0, rss_adapter_mib=rss2 - rss1)
    over = step_overhead(model, adapter, torch, args.steps)
    out["step"] = over
    out["control_30s_mib"] = (30 * 50 + 4) * model.config.decoder.hidden_size * 4 / 2**20
    m = over["median_s"]
    say(f"decoding step (CFG batch 2), median of {args.steps} each, interleaved ABBA: "
        f"bare {m['bare'] * 1e3:.1f} ms, adapter {m['adapter'] * 1e3:.1f} ms -> overhead {over['overhead']:+.2%}")
    say(f"control tensor for one 30 s window: {out['control_30s_mib']:.2f} MiB")
    if size == "small" and args.real_seconds > 0:
        real = real_window(model, adapter, torch, args.real_seconds)
        out["real_window"] = real
        say(f"real size, {real['audio_s']:.2f} s generated in one window with adapter + CFG in {real['wall_s']:.1f} s: "
            f"{real['rtf']:.3f}x real time ({real['tokens_per_s']:.1f} steps/s)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150, help="timed decoding steps per condition")
    p.add_argument("--real-seconds", type=float, default=30.0, help="seconds generated at small's real size (0: skip)")
    p.add_argument("--video-seconds", type=float, default=20.0, help="video length for the debug long-form run (0: skip)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--sizes", default="small,medium", help="real-size architectures to measure: small, medium")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import torch

    printed: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        printed.append(line)

    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict = {"name": "adapter", "title": "Token-Level Affective Adapter and long-form MusicGen (CPU)",
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "sizes": {}}
    say(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    for size in [x.strip() for x in args.sizes.split(",") if x.strip()]:
        result["sizes"][size] = measure_size(size, args, torch, say)

    if args.video_seconds > 0:
        debug = debug_longform(args.video_seconds, torch)
        result["debug_longform"] = debug
        say(f"debug model, {debug['video_s']:.0f} s video in {debug['windows']} windows: {debug['wall_s']:.2f} s "
            f"({debug['rtf']:.1f}x real time; generation {debug['generate_s']:.2f} s, stitch+resample+write "
            f"{debug['write_s']:.2f} s; model load {debug['load_s']:.1f} s not counted)")
    overheads = ", ".join(f"{size} {r['step']['overhead']:+.2%}" for size, r in result["sizes"].items())
    real = result["sizes"].get("small", {}).get("real_window")
    result["headline"] = f"adapter overhead per decoding step (median, interleaved): {overheads}; target <= 2%"
    result["summary"] = {
        "baseline": "the same decoding step without the adapter",
        "ours": overheads + (f"; small, one {real['audio_s']:.0f} s window: {real['rtf']:.3f}x real time" if real else ""),
        "ratio": overheads, "target": "overhead <= 2%",
    }
    result["printed"] = "\n".join(printed)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
