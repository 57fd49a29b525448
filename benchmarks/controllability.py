"""Controllability of the Token-Level Affective Adapter: does generation follow a commanded VA ramp?

    python benchmarks/controllability.py                                  # debug backbone, token level
    python benchmarks/controllability.py --model PATH --adapter DIR       # real weights, audio level
    python benchmarks/controllability.py --step-times [--small]           # training step times
    ... [--json PATH] [--threads 1]

Audio level (real weights): for each ramp (arousal -1 -> +1 with valence 0; valence -1 -> +1 with arousal
0) generate ``--samples`` clips of ``--seconds`` with the adapter and with the zero adapter (gamma = 0: the
backbone alone), measure them with ``narrascore.evaluate.estimate_emotion`` and report Pearson r of the
commanded and measured curve over time and the measured rise (last third minus first third).

Token level (``--model debug``): the random debug backbone makes meaningless audio, so the measure is the
share of generated tokens in the upper half of the vocabulary, per frame, under an arousal ramp. An
adapter is first trained on synthetic clips whose tokens come from the upper half where their arousal is
positive (as in tests/test_train.py); the debug model's output heads are scaled 20x first (their
std-0.02 init makes near-uniform logits that no hidden state can move). Reported for the trained and the
zero adapter over several seeds: r(command, share) and how far the share moves from the low to the high
third of the ramp.

Step times: the median seconds per optimiser step (forward + backward + AdamW) on random tokens, for the
debug model and, with ``--small``, musicgen-small's architecture with random weights (2.4 GB, built
offline from ``backbone.small_config()``), batch 1, 10 s crops.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def synthetic_clips(n: int = 10, frames: int = 200, vocab: int = 64, k: int = 4):
    from narrascore.train import Clip

    clips = []
    for i in range(n):
        rng = np.random.default_rng(i)
        t = np.arange(frames) / 50
        arousal = np.sin(2 * np.pi * t / rng.uniform(1.5, 4.0) + rng.uniform(0, 6))
        codes = np.where((arousal > 0)[None], rng.integers(vocab // 2, vocab, (k, frames)), rng.integers(0, vocab // 2, (k, frames)))
        clips.append(Clip(key=f"synthetic-{i:02d}", codes=codes.astype(np.int16),
                          va=np.stack([np.zeros(frames), arousal], 1).astype(np.float32)))
    return clips


def token_level(args) -> dict:
    import torch

    from narrascore.synth.musicgen.adapter import config_for, load_adapter, new_adapter
    from narrascore.synth.musicgen.backbone import load_backbone
    from narrascore.train import TrainConfig, train_adapter
    from narrascore.train.control import token_controllability

    backbone = load_backbone("debug")
    with torch.no_grad():
        for head in backbone.model.decoder.lm_heads:
            head.weight.mul_(20.0)
    t0 = time.perf_counter()
    if args.adapter:
        adapter = load_adapter(args.adapter, backbone.model)
        trained_info = {"adapter": args.adapter}
    else:
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(steps=args.steps, batch_size=4, crop_seconds=2.0, lr=3e-2, warmup_steps=5, val_every=50,
                              checkpoint_every=10_000, channels=16)
            report = train_adapter(model=backbone, data=synthetic_clips(), out=out, config=cfg)
            adapter = load_adapter(out, backbone.model)
        trained_info = {"steps": args.steps, "train_s": round(time.perf_counter() - t0, 2),
                        "median_step_s": round(report.step_seconds, 4),
                        "val_loss_first": round(report.val_losses[0][1], 4), "val_loss_last": round(report.val_losses[-1][1], 4)}
    zero = new_adapter(config_for(backbone.model, "debug", channels=adapter.config.channels))
    rows = {"trained": [], "zero": []}
    for seed in range(args.seeds):
        for name, a in (("trained", adapter), ("zero", zero)):
            rows[name].append(token_controllability(backbone, a, seconds=args.seconds, samples=args.samples, seed=seed))
    summary = {name: {key: round(statistics.mean(r[key] for r in runs), 4) for key in ("corr", "low", "high", "moved")}
               for name, runs in rows.items()}
    return {"level": "token", "training": trained_info, "summary": summary, "per_seed": rows}


def audio_level(args) -> dict:
    from narrascore.synth.musicgen.adapter import config_for, load_adapter, new_adapter
    from narrascore.synth.musicgen.backbone import load_backbone
    from narrascore.train.control import audio_controllability

    backbone = load_backbone(args.model)
    adapter = load_adapter(args.adapter, backbone.model)
    zero = new_adapter(config_for(backbone.model, backbone.name)).to(next(backbone.model.parameters()).device)
    out = {}
    for name, a in (("trained", adapter), ("zero", zero)):
        out[name] = audio_controllability(backbone, a, seconds=args.seconds, samples=args.samples, seed=0)
    return {"level": "audio", "model": args.model, "adapter": args.adapter, "summary": out}


def step_times(args) -> dict:
    import torch

    from narrascore.synth.musicgen.backbone import Backbone, load_backbone, quiet_transformers, small_config
    from narrascore.train.loop import time_steps

    debug = load_backbone("debug")
    result = {"debug": [round(t, 4) for t in time_steps(debug, steps=args.timed_steps + 1, batch_size=1, crop_seconds=10.0)]}
    if args.small:
        from transformers import MusicgenForConditionalGeneration

        t0 = time.perf_counter()
        torch.manual_seed(0)
        with quiet_transformers():
            model = MusicgenForConditionalGeneration(small_config()).eval().requires_grad_(False)
        built = time.perf_counter() - t0
        small = Backbone(model=model, tokenizer=debug.tokenizer, name="musicgen-small (random)", identity="random-small",
                         frame_rate=50, hop=640, sample_rate=32_000)
        result["small"] = [round(t, 3) for t in time_steps(small, steps=args.timed_steps + 1, batch_size=1, crop_seconds=10.0)]
        result["small_build_s"] = round(built, 1)
    result["median_after_first"] = {k: statistics.median(v[1:]) for k, v in result.items() if isinstance(v, list)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="debug")
    parser.add_argument("--adapter", default=None, help="a trained adapter (debug: default trains one on synthetic clips)")
    parser.add_argument("--steps", type=int, default=150, help="training steps of the debug adapter")
    parser.add_argument("--seconds", type=float, default=None, help="length of each generated clip (debug 4, real 30)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--step-times", action="store_true", help="measure training step times instead")
    parser.add_argument("--small", action="store_true", help="with --step-times: also musicgen-small's architecture")
    parser.add_argument("--timed-steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.step_times:
        result = step_times(args)
    elif args.model == "debug":
        args.seconds = args.seconds or 4.0
        result = token_level(args)
    else:
        if not args.adapter:
            parser.error("--adapter is required with real weights")
        args.seconds = args.seconds or 30.0
        result = audio_level(args)
    result["threads"] = args.threads
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
