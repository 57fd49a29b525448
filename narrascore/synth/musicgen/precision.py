"""CPU speed for the frozen MusicGen decoder: run it in fp32 (default), bf16 or int8.

The decoder (its layers and the codebook heads) does all the per-step work: the text encoder runs once
per window and the codec once per window, so both stay fp32.

* ``fp32``: as loaded. The default: our benchmarks use random weights, which cannot show what a lower
  precision costs real ones (``narrascore precision-check`` measures that on the user's weights).
* ``bf16``: the decoder's weights cast to bfloat16; a pre-hook casts the (projected) text-encoder
  states entering it, a hook casts the logits back to fp32 for sampling.
* ``int8``: ``torch.ao.quantization.quantize_dynamic`` of the decoder's ``nn.Linear`` layers (weights
  int8 per tensor, activations quantized on the fly per call). Embeddings and layer norms stay fp32.

The adapter's hooks sit on the decoder layers' outputs, which every precision keeps as modules; the
control is cast to the layer's output dtype, so the injection is the same arithmetic at each precision.
The model is changed in place (it is the synthesizer's own, frozen copy); ``apply_precision`` returns
a handle whose ``remove()`` drops the bf16 casting hooks (the weights stay converted).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from ...errors import OptionError
from ...options import PRECISIONS


@dataclass
class PrecisionHandle:
    """What ``apply_precision`` did: the precision and the hooks it installed."""

    precision: str
    hooks: list[Any] = field(default_factory=list)

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks.clear()


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; available: {', '.join(PRECISIONS)}")
    return precision


def apply_precision(model: Any, precision: str) -> PrecisionHandle:
    """Convert ``model.decoder`` (a ``MusicgenForConditionalGeneration``'s) to ``precision``, in place."""
    import torch

    check_precision(precision)
    handle = PrecisionHandle(precision)
    decoder = model.decoder
    if precision == "int8":
        with warnings.catch_warnings():  # torch 2.13 flags the eager quantization API as deprecated
            warnings.simplefilter("ignore")
            torch.ao.quantization.quantize_dynamic(decoder, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    elif precision == "bf16":
        decoder.to(torch.bfloat16)

        def cast_inputs(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
            for name in ("encoder_hidden_states", "inputs_embeds"):
                value = kwargs.get(name)
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    kwargs[name] = value.to(torch.bfloat16)
            return args, kwargs

        def cast_logits(module: Any, args: tuple, kwargs: dict, output: Any) -> Any:
            output.logits = output.logits.float()
            return output

        handle.hooks.append(decoder.register_forward_pre_hook(cast_inputs, with_kwargs=True))
        handle.hooks.append(decoder.register_forward_hook(cast_logits, with_kwargs=True))
    return handle


# --------------------------------------------------------------------------- agreement with fp32
@dataclass
class Agreement:
    """How closely a converted decoder follows fp32 over ``steps`` cached decoding steps.

    mean_kl: mean KL(fp32 || candidate) of the guided next-token distributions, nats, averaged over
    steps and codebooks; top1: fraction of (step, codebook) whose most likely token agrees;
    steps_per_s: decoding steps per second of each (classifier-free guidance, batch 2, interleaved).
    """

    precision: str
    steps: int
    mean_kl: float
    max_kl: float
    top1: float
    steps_per_s: dict[str, float]


def agreement(reference: Any, candidate: Any, *, precision: str, steps: int = 500, text: Any = None,
              guidance_scale: float = 3.0, top_k: int = 250, seed: int = 0) -> Agreement:
    """Run both models' decoders step by step on the same tokens and compare their next-token distributions.

    reference / candidate: ``MusicgenForConditionalGeneration`` (fp32, and converted by ``apply_precision``).
    The tokens fed are sampled (top-k) from the reference's guided distribution, so both follow a
    trajectory the fp32 model would produce. text: tokenizer output for the anchor (default: 12 random ids).
    Each step is timed alone, alternating the two models, so both see the same machine load.
    """
    import statistics
    import time

    import torch

    dec = reference.config.decoder
    k, pad = dec.num_codebooks, dec.pad_token_id
    generator = torch.Generator().manual_seed(seed)
    if text is None:
        vocab = reference.config.text_encoder.vocab_size
        text = {"input_ids": torch.randint(0, vocab, (1, 12), generator=generator),
                "attention_mask": torch.ones(1, 12, dtype=torch.long)}
    times: dict[str, list[float]] = {"fp32": [], precision: []}
    kls, agree = [], []
    with torch.inference_mode():
        encoded = reference.text_encoder(**text).last_hidden_state
        if getattr(reference, "enc_to_dec_proj", None) is not None:
            encoded = reference.enc_to_dec_proj(encoded)
        states = torch.cat([encoded, torch.zeros_like(encoded)])  # (2, T, D): conditional, then unconditional
        mask = torch.cat([text["attention_mask"], torch.zeros_like(text["attention_mask"])])
        caches: dict[str, Any] = {"fp32": None, precision: None}
        ids = torch.full((2 * k, 1), pad, dtype=torch.long)  # (B * K, 1): the start token
        for _ in range(steps):
            logits = {}
            for name, model in (("fp32", reference), (precision, candidate)):
                t0 = time.perf_counter()
                out = model.decoder(input_ids=ids, encoder_hidden_states=states, encoder_attention_mask=mask,
                                    cache=caches[name], use_cache=True)
                times[name].append(time.perf_counter() - t0)
                caches[name] = out.cache
                step = out.logits[:, -1].float().view(2, k, -1)  # (cond/uncond, K, V)
                logits[name] = torch.log_softmax(step[1] + guidance_scale * (step[0] - step[1]), dim=-1)  # (K, V)
            ref, got = logits["fp32"], logits[precision]
            kls.append((ref.exp() * (ref - got)).sum(-1))  # (K,)
            agree.append(ref.argmax(-1) == got.argmax(-1))
            top = ref.topk(min(top_k, ref.shape[-1]), dim=-1)
            pick = torch.multinomial(top.values.exp(), 1, generator=generator)  # (K, 1)
            codes = top.indices.gather(-1, pick)  # (K, 1)
            ids = codes.repeat(2, 1)  # the same codes for both halves
    kl = torch.stack(kls)
    return Agreement(precision=precision, steps=steps, mean_kl=float(kl.mean()), max_kl=float(kl.max()),
                     top1=float(torch.stack(agree).float().mean()),
                     steps_per_s={name: 1.0 / statistics.median(t) for name, t in times.items()})
