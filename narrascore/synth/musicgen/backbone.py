"""Loading the frozen MusicGen backbone: a local folder, a Hugging Face hub id, or ``debug``.

Every source goes through one loader, ``load_backbone``: ``MusicgenForConditionalGeneration.from_pretrained``
plus the folder's tokenizer. ``debug`` is a tiny random MusicGen (about 0.2 M parameters) built offline
from config classes, saved with ``save_pretrained`` into the cache folder and then loaded like any other
folder. It behaves like the released models in time (EnCodec at 32 kHz, hop 640, 50 frames a second,
4 codebooks), so the long-form code runs the same arithmetic on it; it is deterministic (seed 0).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import DependencyError, OptionError
from ...fileio import canonical_hash, user_cache_dir

DEBUG = "debug"
DEBUG_VERSION = 1  # bump when build_debug_model changes: the cache folder is keyed by it
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
DEBUG_WORDS = (
    "music score soundtrack film cinematic orchestral piano ambient electronic rock strings brass woodwinds "
    "percussion drums synth pad guitar bass choir harp bells calm tense dark bright warm gentle driving "
    "epic sad happy hopeful mysterious slow fast building rising falling quiet loud major minor key bpm "
    "in a an the and with of for at to tempo mood melody harmony"
).split()


@dataclass
class Backbone:
    """A loaded MusicGen: the frozen model, its tokenizer and the numbers the long-form code needs.

    ``identity`` names exactly these weights (for cache keys); ``frame_rate`` (Hz) and ``hop`` (samples
    per frame) come from the audio encoder's config; ``sample_rate`` is its output rate (Hz).
    """

    model: Any
    tokenizer: Any
    name: str
    identity: str
    frame_rate: int
    hop: int
    sample_rate: int

    @property
    def decoder_config(self) -> Any:
        return self.model.config.decoder


def require_neural() -> None:
    """Raise ``DependencyError`` unless torch, transformers and safetensors import."""
    missing = []
    for module in ("torch", "transformers", "safetensors"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise DependencyError(f"the musicgen synthesizer needs {', '.join(missing)}: pip install 'narrascore[neural]'")


def debug_model_dir() -> Path:
    """The debug model's folder, built on first use."""
    folder = user_cache_dir() / f"musicgen-debug-v{DEBUG_VERSION}"
    if not (folder / "config.json").exists():
        build_debug_model(folder)
    return folder


def build_debug_model(folder: Path, *, seed: int = 0) -> Path:
    """Build the tiny random MusicGen and its word-level tokenizer into ``folder`` (atomically)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import (EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration,
                              PreTrainedTokenizerFast, T5Config)

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(DEBUG_WORDS)}}
    text = T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                    feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    audio = EncodecConfig(sampling_rate=32_000, audio_channels=1, num_filters=4, upsampling_ratios=[8, 5, 4, 4],
                          codebook_size=64, codebook_dim=16, hidden_size=16, num_lstm_layers=1,
                          target_bandwidths=[1.2], normalize=False, use_causal_conv=False, chunk_length_s=None,
                          overlap=None)  # 1000 * 1.2 // (50 frames/s * 6 bits) = 4 codebooks
    decoder = MusicgenDecoderConfig(vocab_size=64, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                                    ffn_dim=64, num_codebooks=4, max_position_embeddings=2048,
                                    pad_token_id=64, bos_token_id=64, decoder_start_token_id=64)
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MusicgenForConditionalGeneration(config).eval()
        # A random EnCodec's codebooks are all zero, so its audio would not depend on the codes.
        generator = torch.Generator().manual_seed(seed)
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.copy_(torch.randn(layer.codebook.embed.shape, generator=generator))
    generation = model.generation_config
    generation.update(do_sample=True, guidance_scale=3.0, top_k=50, max_length=1500,
                      pad_token_id=64, decoder_start_token_id=64, bos_token_id=64)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        fast.save_pretrained(tmp)
        if folder.exists():  # another process won the race
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings and progress bars while loading (restored afterwards).

    MusicGen configs put pad/start tokens at ``vocab_size``, which transformers 5.24 warns about on every load.
    """
    from transformers.utils import logging as tlog

    level, bars = tlog.get_verbosity(), tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()


def small_config() -> Any:
    """The ``MusicgenConfig`` of musicgen-small's architecture (for random-weight benchmarks and opt-in tests).

    Decoder: ``MusicgenDecoderConfig()`` defaults (24 layers, width 1024, 4 codebooks of 2048); text encoder
    t5-base; EnCodec 32 kHz (hop 640, 50 frames a second). 588 M parameters.
    """
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, T5Config

    with quiet_transformers():
        text = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12,
                        feed_forward_proj="relu")
        audio = EncodecConfig(sampling_rate=32_000, audio_channels=1, num_filters=64, upsampling_ratios=[8, 5, 4, 4],
                              codebook_size=2048, codebook_dim=128, hidden_size=128, num_lstm_layers=2,
                              target_bandwidths=[2.2], normalize=False, use_causal_conv=False, chunk_length_s=None,
                              overlap=None)
        decoder = MusicgenDecoderConfig(pad_token_id=2048, bos_token_id=2048, decoder_start_token_id=2048)
        return MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict())


def resolve(model: str) -> tuple[Path | None, str]:
    """Map ``--model`` to a local folder (checked) or a hub id; raise ``OptionError`` on a bad folder."""
    if model == DEBUG:
        return debug_model_dir(), model
    path = Path(model).expanduser()
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        check_model_dir(path)
        return path, model
    return None, model


def check_model_dir(path: Path) -> None:
    """A usable MusicGen folder has config.json (model_type musicgen) and weights beside it."""
    if not path.exists():
        raise OptionError(f"{path}: model folder not found (give a local MusicGen folder, a hub id such as "
                          "facebook/musicgen-small, or 'debug')")
    if not path.is_dir():
        raise OptionError(f"{path}: not a folder (a MusicGen model is a folder with config.json and weights)")
    config = path / "config.json"
    if not config.exists():
        raise OptionError(f"{path}: not a MusicGen model folder: config.json is missing")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError) as exc:
        raise OptionError(f"{config}: unreadable model config ({exc})") from None
    if model_type != "musicgen":
        raise OptionError(f"{config}: model_type is {model_type!r}, expected 'musicgen' "
                          "(MusicGen-Melody and other models are not supported)")
    if not any((path / name).exists() for name in WEIGHT_FILES):
        raise OptionError(f"{path}: incomplete MusicGen folder: no weights ({' or '.join(WEIGHT_FILES[::2])})")


def identity_of(folder: Path | None, name: str) -> str:
    """A stable name for exactly these weights: the hub id, or the folder's config and weight files' sizes/times."""
    if folder is None:
        return f"hub:{name}"
    stamp: dict[str, Any] = {"config": hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()}
    for f in sorted(folder.iterdir()):
        if f.suffix in (".safetensors", ".bin", ".json") and f.is_file():
            st = f.stat()
            stamp[f.name] = [st.st_size, st.st_mtime_ns]
    return f"dir:{canonical_hash(stamp)[:16]}"


def load_backbone(model: str) -> Backbone:
    """Load ``model`` (a folder, a hub id or ``debug``) frozen, in eval mode, on the CPU or the first GPU."""
    require_neural()
    from .inject import check_transformers

    check_transformers()
    import torch
    from transformers import AutoTokenizer, MusicgenForConditionalGeneration

    with quiet_transformers():
        folder, name = resolve(model)
    source = str(folder) if folder is not None else name
    try:
        with quiet_transformers():
            net = MusicgenForConditionalGeneration.from_pretrained(source, local_files_only=folder is not None)
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=folder is not None)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(f"{source}: cannot load a MusicGen model and tokenizer ({first})") from None
    if net.config.decoder.audio_channels != 1:
        raise OptionError(f"{source}: stereo MusicGen checkpoints are not supported yet (audio_channels "
                          f"{net.config.decoder.audio_channels})")
    net.requires_grad_(False).eval()
    if torch.cuda.is_available():
        net = net.to("cuda")
    audio = net.config.audio_encoder
    identity = f"debug:v{DEBUG_VERSION}" if name == DEBUG else identity_of(folder, name)
    return Backbone(model=net, tokenizer=tokenizer, name=name, identity=identity,
                    frame_rate=int(audio.frame_rate), hop=int(audio.hop_length), sample_rate=int(audio.sampling_rate))
