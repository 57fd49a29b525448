"""The musicgen synthesizer: MusicGen under the Global Semantic Anchor, steered by the affect adapter, any length.

For each window (``longform.plan_windows``): the anchor prompt conditions the decoder (the same text for
every window, classifier-free guidance), the previous window's last ``overlap`` seconds of audio are the
prompt (``generate(..., input_values=...)`` re-encodes and continues them), and with an adapter the
narrative curve, shifted to the window's start time, is injected (``inject.inject``). Each finished
window's audio (codec rate, mono float32) is saved to ``work_dir/musicgen/<key>/window-NNNN.npy``, so an
interrupted run regenerates only what is missing; ``key`` hashes every input. The windows are then
stitched with equal-gain crossfades, resampled to 48 kHz and written as stereo float32 ``mix.wav`` of
exactly ``request.n_samples``, streaming (memory flat in the length of the video).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...artifacts import MusicConcept, NarrativePlan, Shots, validate
from ...errors import OptionError
from ...fileio import atomic_path, canonical_hash, ensure_writable_dir
from .. import SAMPLE_RATE, RenderRequest, RenderResult
from ...narrative.curve import event_arousal
from .adapter import describe, load_adapter
from .backbone import Backbone, load_backbone
from .inject import CFG_MODES, inject
from .precision import apply_precision, check_precision
from .longform import StreamResampler, Window, plan_windows, seconds_to_frames, stitch

from . import DEFAULT_MODEL
KEY_VERSION = 1


@dataclass
class MusicgenSynthesizer:
    """model: a MusicGen folder, hub id or ``debug`` (None: facebook/musicgen-small); adapter: an adapter folder
    (None: no steering, the anchor alone); window_seconds/overlap_seconds: long-form windows (s);
    guidance_scale: classifier-free guidance; top_k: sampling; cfg: the adapter's treatment of the guided
    batch (``inject.CFG_MODES``); precision: the decoder's arithmetic (``precision.PRECISIONS``, default fp32)."""

    model: str | None = None
    adapter: str | None = None
    window_seconds: float = 30.0
    overlap_seconds: float = 10.0
    guidance_scale: float = 3.0
    top_k: int = 250
    cfg: str = "both"
    precision: str = "fp32"
    name: str = "musicgen"
    last_info: dict[str, Any] = field(default_factory=dict)
    _backbone: Backbone | None = field(default=None, repr=False)
    _adapter: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.window_seconds > 2 * self.overlap_seconds >= 0:
            raise OptionError(f"overlap_seconds {self.overlap_seconds} must be at least 0 and under half of "
                              f"window_seconds {self.window_seconds}")
        if self.guidance_scale < 1:
            raise OptionError(f"guidance_scale must be at least 1, got {self.guidance_scale}")
        if self.cfg not in CFG_MODES:
            raise OptionError(f"unknown guidance treatment {self.cfg!r}; available: {', '.join(CFG_MODES)}")
        check_precision(self.precision)

    # ------------------------------------------------------------------ loading
    def load(self) -> tuple[Backbone, Any]:
        """Load (once) the backbone and the adapter, checking they fit each other."""
        if self._backbone is None:
            self._backbone = load_backbone(self.model or DEFAULT_MODEL)
            apply_precision(self._backbone.model, self.precision)
            if self.adapter is not None:
                self._adapter = load_adapter(self.adapter, self._backbone.model)
        return self._backbone, self._adapter

    # ------------------------------------------------------------------ render
    def render(self, plan: NarrativePlan, concept: MusicConcept, shots: Shots, request: RenderRequest) -> RenderResult:
        if request.n_samples <= 0:
            raise OptionError(f"n_samples must be positive, got {request.n_samples}")
        validate(plan)
        validate(concept)
        backbone, adapter = self.load()
        fr, hop = backbone.frame_rate, backbone.hop
        dec = backbone.decoder_config
        window, overlap = seconds_to_frames(self.window_seconds, fr), seconds_to_frames(self.overlap_seconds, fr)
        if window + dec.num_codebooks > dec.max_position_embeddings:
            raise OptionError(f"window_seconds {self.window_seconds} is too long for {backbone.name}: at most "
                              f"{(dec.max_position_embeddings - dec.num_codebooks) / fr:.1f} s")
        duration = request.n_samples / SAMPLE_RATE
        total = math.ceil(duration * fr)
        windows = plan_windows(total, window=window, overlap=overlap,
                               cuts=[seconds_to_frames(t, fr) for t in shots.cut_times()],
                               preferred=[seconds_to_frames(s.start, fr) for s in plan.scenes[1:]])
        work = ensure_writable_dir(request.work_dir)
        key = self._key(backbone, plan, concept, windows, request)
        folder = ensure_writable_dir(work / "musicgen" / key[:16])
        _remove_stale(folder)
        t_start = time.perf_counter()
        made = 0
        previous: np.ndarray | None = None
        for w in windows:
            path = _window_path(folder, w)
            audio = _load_window(path, w, hop)
            if audio is None:
                audio = self.generate_window(backbone, adapter, plan, concept.anchor_prompt, w, previous,
                                             seed=_window_seed(request.seed, w.index))
                with atomic_path(path) as tmp:
                    np.save(tmp, audio)
                made += 1
            previous = audio
            if request.progress is not None:
                request.progress(min(duration, w.end / fr))
        t_gen = time.perf_counter()
        mix = work / "mix.wav"
        write_mix(windows, lambda w: _load_window(_window_path(folder, w), w, hop), hop=hop,
                  rate=backbone.sample_rate, n_samples=request.n_samples, out=mix)
        self.last_info = {
            "windows": len(windows), "generated": made, "reused": len(windows) - made,
            "generate_s": t_gen - t_start, "write_s": time.perf_counter() - t_gen,
            "adapter": describe(adapter) if adapter is not None else None,
            "adapter_parameters": adapter.parameter_count() if adapter is not None else 0,
        }
        return RenderResult(mix=mix, n_samples=request.n_samples, sample_rate=SAMPLE_RATE)

    def generate_window(self, backbone: Backbone, adapter: Any, plan: NarrativePlan, anchor: str, w: Window,
                        previous: np.ndarray | None, *, seed: int) -> np.ndarray:
        """One window's audio, float32 (1, w.frames * hop) at the codec's rate."""
        import torch

        model, hop = backbone.model, backbone.hop
        device = next(model.parameters()).device
        text = backbone.tokenizer([anchor or "music"], return_tensors="pt", padding=True).to(device)
        new_tokens = w.new_frames + backbone.decoder_config.num_codebooks - 1  # the delay pattern's tail
        kwargs: dict[str, Any] = dict(text, do_sample=True, guidance_scale=self.guidance_scale, top_k=self.top_k,
                                      max_new_tokens=new_tokens)
        if w.prompt:
            assert previous is not None
            kwargs["input_values"] = torch.from_numpy(np.ascontiguousarray(previous[..., -w.prompt * hop:]))[None].to(device)
        with contextlib.ExitStack() as stack:
            if adapter is not None:
                control = adapter.control(plan.times, plan.valence, event_arousal(plan.times, plan.arousal, plan.events), t0=w.start / backbone.frame_rate,
                                          n_positions=w.frames + backbone.decoder_config.num_codebooks)
                stack.enter_context(inject(model, adapter, control, cfg=self.cfg))
            stack.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(seed)
            with torch.inference_mode():
                audio = model.generate(**kwargs)
        audio = audio[0].float().cpu().numpy()  # (1, frames * hop)
        if audio.shape[-1] != w.frames * hop:
            raise RuntimeError(f"window {w.index}: MusicGen returned {audio.shape[-1]} samples, expected {w.frames * hop}")
        return audio.astype(np.float32)

    def _key(self, backbone: Backbone, plan: NarrativePlan, concept: MusicConcept, windows: list[Window],
             request: RenderRequest) -> str:
        return canonical_hash({
            "v": KEY_VERSION, "model": backbone.identity, "adapter": _adapter_stamp(self.adapter),
            "anchor": concept.anchor_prompt, "curve": [list(plan.times), list(plan.valence), list(event_arousal(plan.times, plan.arousal, plan.events))],
            "windows": [[w.start, w.end, w.prompt] for w in windows], "seed": request.seed,
            "guidance": self.guidance_scale, "top_k": self.top_k, "cfg": self.cfg if self.adapter else None,
            **({"precision": self.precision} if self.precision != "fp32" else {}),
        })


def write_mix(windows: list[Window], load, *, hop: int, rate: int, n_samples: int, out: Path) -> None:
    """Stitch the windows, resample ``rate`` -> 48 kHz and write stereo float32 ``out`` of exactly ``n_samples``."""
    from ..procedural.render import _wav_for  # the shared float32 WAV writer (no timestamped PEAK chunk)

    resampler = StreamResampler(rate, SAMPLE_RATE)
    written = 0
    with atomic_path(out) as tmp, _wav_for(tmp, n_samples) as f:
        def emit(block: np.ndarray) -> None:
            nonlocal written
            block = block[..., :n_samples - written]
            if block.shape[-1]:
                f.write(np.repeat(block, 2, axis=0).T if block.shape[0] == 1 else block.T)
                written += block.shape[-1]

        for piece in stitch(windows, load, hop):
            for block in resampler.feed(piece):
                emit(block)
        for block in resampler.flush():
            emit(block)
        if written < n_samples:  # cannot happen with whole frames covering the video; keep the contract anyway
            f.write(np.zeros((n_samples - written, 2), np.float32))


def _window_path(folder: Path, w: Window) -> Path:
    return folder / f"window-{w.index:04d}.npy"


def _load_window(path: Path, w: Window, hop: int) -> np.ndarray | None:
    try:
        audio = np.load(path)
    except (OSError, ValueError):
        return None
    if audio.dtype != np.float32 or audio.shape != (1, w.frames * hop):
        return None
    return audio


def _window_seed(seed: int, index: int) -> int:
    return int(hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:8], 16)


def _adapter_stamp(adapter: str | None) -> str | None:
    if adapter is None:
        return None
    folder = Path(adapter).expanduser()
    digest = hashlib.sha256()
    for name in ("adapter.json", "adapter.safetensors"):
        with contextlib.suppress(OSError):
            digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def _remove_stale(folder: Path) -> None:
    """Drop other keys' windows: only the current inputs' windows are worth keeping."""
    for other in folder.parent.iterdir():
        if other != folder and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
