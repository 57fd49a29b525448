"""Measuring controllability: generate under a commanded curve and see whether the music follows it.

Token level (any backbone, including the random ``debug`` one): the share of generated tokens in the
upper half of the codebook vocabulary, frame by frame, against the commanded curve. This is what the
synthetic training data of the tests and the benchmark ties to arousal, so it measures whether the
adapter steers generation at all. Audio level (real weights only): decode, run
``narrascore.evaluate.estimate_emotion`` on the audio and correlate its curve with the command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


@contextlib.contextmanager
def capture_codes(model: Any) -> Iterator[list[Any]]:
    """Within the block, every ``audio_encoder.decode`` call's codes (1, B, K, T) are appended to the list.

    ``generate`` returns audio only; the codes it decodes are the exact tokens generated.
    """
    seen: list[Any] = []
    encoder = model.audio_encoder
    original = encoder.decode

    def decode(audio_codes: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(audio_codes.detach().cpu().clone())
        return original(audio_codes, *args, **kwargs)

    encoder.decode = decode
    try:
        yield seen
    finally:
        del encoder.decode  # back to the class's method


@dataclass(frozen=True)
class Generated:
    """codes: int (B, K, T); audio: float32 (B, n) at the codec's rate."""

    codes: np.ndarray
    audio: np.ndarray


def generate_under(backbone: Any, adapter: Any, *, times: Any, valence: Any, arousal: Any, seconds: float,
                   samples: int = 4, text: str = "cinematic instrumental music", seed: int = 0,
                   guidance_scale: float = 3.0, top_k: int = 250) -> Generated:
    """Generate ``samples`` clips of ``seconds`` under the commanded curve (adapter None: no steering)."""
    import torch

    from ..synth.musicgen.inject import inject

    model = backbone.model
    k = backbone.decoder_config.num_codebooks
    frames = int(round(seconds * backbone.frame_rate))
    device = next(model.parameters()).device
    enc = backbone.tokenizer([text] * samples, return_tensors="pt", padding=True)
    kwargs = dict(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device),
                  do_sample=True, guidance_scale=guidance_scale, top_k=top_k, max_new_tokens=frames + k - 1)
    with contextlib.ExitStack() as stack:
        if adapter is not None:
            control = adapter.control(times, valence, arousal, t0=0.0, n_positions=frames + k).repeat(samples, 1, 1)
            stack.enter_context(inject(model, adapter, control))
        seen = stack.enter_context(capture_codes(model))
        stack.enter_context(torch.random.fork_rng(devices=[]))
        torch.manual_seed(seed)
        with torch.inference_mode():
            audio = model.generate(**kwargs)
    return Generated(codes=seen[-1][0].numpy(), audio=audio[:, 0].float().cpu().numpy())


def upper_share(codes: np.ndarray, vocab: int) -> np.ndarray:
    """Per frame, the share of tokens (over samples and codebooks) in the upper half of the vocabulary: (T,)."""
    return (codes >= vocab // 2).mean(axis=(0, 1))


def token_controllability(backbone: Any, adapter: Any, *, seconds: float = 4.0, samples: int = 4,
                          seed: int = 0) -> dict[str, float]:
    """Arousal ramp -1 -> +1 over ``seconds``: how the upper-half share follows it.

    Returns ``corr`` (Pearson r of commanded arousal and the per-frame share), ``low``/``high`` (mean share
    in the first and last third) and ``moved`` (high - low). Valence is held at 0.
    """
    times, arousal = [0.0, seconds], [-1.0, 1.0]
    gen = generate_under(backbone, adapter, times=times, valence=[0.0, 0.0], arousal=arousal, seconds=seconds,
                         samples=samples, seed=seed)
    share = upper_share(gen.codes, backbone.decoder_config.vocab_size)
    command = np.interp(np.arange(share.size) / backbone.frame_rate, times, arousal)
    third = max(1, share.size // 3)
    low, high = float(share[:third].mean()), float(share[-third:].mean())
    return {"corr": _pearson(command, share), "low": low, "high": high, "moved": high - low}


def audio_controllability(backbone: Any, adapter: Any, *, seconds: float = 30.0, samples: int = 2,
                          seed: int = 0, text: str = "cinematic instrumental music") -> dict[str, dict[str, float]]:
    """Commanded ramps (arousal low -> high with valence 0; valence - -> + with arousal 0), measured by
    ``estimate_emotion`` on the generated audio: Pearson r of command and measurement over time (per ramp,
    the measured curves of the samples averaged), and the measured rise (last third minus first third)."""
    from ..evaluate.emotion import estimate_emotion

    results = {}
    for name, (val, aro) in {"arousal": ([0.0, 0.0], [-1.0, 1.0]), "valence": ([-1.0, 1.0], [0.0, 0.0])}.items():
        gen = generate_under(backbone, adapter, times=[0.0, seconds], valence=val, arousal=aro, seconds=seconds,
                             samples=samples, seed=seed, text=text)
        curves = [estimate_emotion(iter([clip]), rate_hz=2.0, sample_rate=backbone.sample_rate) for clip in gen.audio]
        measured = np.mean([getattr(c, name) for c in curves], axis=0)
        t = curves[0].times
        command = np.interp(t, [0.0, seconds], val if name == "valence" else aro)
        third = max(1, t.size // 3)
        results[name] = {"corr": _pearson(command, measured),
                         "rise": float(measured[-third:].mean() - measured[:third].mean())}
    return results


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
