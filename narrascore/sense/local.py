"""Local models through transformers: ``AutoProcessor`` + ``AutoModelForImageTextToText`` for a VLM,
``AutoTokenizer`` + ``AutoModelForCausalLM`` for a text LLM, from a folder or a hub id.

``"debug"`` builds a tiny random LLaVA-style VLM (CLIP vision tower, Llama text model, a word-level
tokenizer) or a tiny random Llama LM from config classes, saves it under the cache folder
(``$NARRASCORE_CACHE`` or ``~/.cache/narrascore``) and loads it through the same loader, so the
whole neural path runs offline on CPU in seconds. Its answers are garbage, which is the point:
the callers must survive them.

Written for transformers 5.24 (the ``neural`` extra pins it). Qwen2-VL-style processors need
torchvision, which NarraScore does not install; LLaVA-style processors work without it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DependencyError, OptionError
from ..fileio import user_cache_dir
from .chat import ChatRequest

NEURAL_HINT = "pip install 'narrascore[neural]'"
DEBUG = "debug"
DEBUG_VERSION = 1  # raise when the debug models change, so cached copies are rebuilt


def require_neural() -> tuple[Any, Any]:
    """Import torch and transformers, or raise ``DependencyError`` with the install hint."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise DependencyError(f"the neural path needs torch and transformers ({exc.name} is missing): {NEURAL_HINT}") from None
    return torch, transformers


def model_identity(source: str) -> str:
    """What identifies a model in cache keys: a hub id as is; a folder by its config and weight files' sizes."""
    path = Path(source)
    if not path.is_dir():
        return f"hub:{source}"
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file() and (file.suffix in {".json", ".safetensors", ".bin", ".jinja", ".model"}):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}".encode())
            if file.suffix == ".json" and stat.st_size < 1 << 20:
                digest.update(file.read_bytes())
    return f"dir:{path.resolve().name}:{digest.hexdigest()[:16]}"


class LocalModel:
    """A transformers model answering ``ChatRequest``s greedily, in batches of ``batch_size``."""

    def __init__(self, model: Any, processor: Any, *, identity: str, vision: bool, batch_size: int = 8) -> None:
        self.model, self.processor = model, processor
        self.identity, self.vision, self.batch_size = identity, vision, batch_size
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.tokenizer.padding_side = "left"  # generation continues at the right edge of every row
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @staticmethod
    def load(source: str, *, kind: str = "vlm") -> "LocalModel":
        """Load (once per process) a model folder, hub id or ``"debug"``; ``kind`` is ``"vlm"`` or ``"llm"``."""
        if kind not in ("vlm", "llm"):
            raise OptionError(f"model kind must be 'vlm' or 'llm', got {kind!r}")
        require_neural()
        if source == DEBUG:
            source = str(build_debug_vlm() if kind == "vlm" else build_debug_llm())
        return _load(source, kind)

    # ---------------------------------------------------------------- inputs
    def _messages(self, request: ChatRequest) -> list[dict]:
        content = [{"type": "text", "text": p} if isinstance(p, str) else {"type": "image"} for p in request.parts]
        if not self.vision:
            content = "\n".join(p for p in request.parts if isinstance(p, str))  # type: ignore[assignment]
        return [{"role": "user", "content": content}]

    def _prompt(self, request: ChatRequest) -> str:
        messages = self._messages(request)
        template_owner = self.processor if self.vision else self.tokenizer
        if getattr(template_owner, "chat_template", None):
            return template_owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return request.text

    def _inputs(self, requests: Sequence[ChatRequest]) -> Any:
        texts = [self._prompt(r) for r in requests]
        frames = [[p for p in r.parts if not isinstance(p, str)] for r in requests]
        if self.vision and any(frames):
            from PIL import Image

            images = [[Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in fs] for fs in frames]
            inputs = self.processor(text=texts, images=images, return_tensors="pt", padding=True)
        elif self.vision:
            inputs = self.processor(text=texts, return_tensors="pt", padding=True)
        else:
            inputs = self.tokenizer(texts, return_tensors="pt", padding=True)
        return inputs.to(self.model.device)

    # ---------------------------------------------------------------- outputs
    def complete(self, requests: Sequence[ChatRequest]) -> list[str]:
        import torch

        answers: list[str] = []
        for i in range(0, len(requests), self.batch_size):
            batch = list(requests[i : i + self.batch_size])
            inputs = self._inputs(batch)
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs, max_new_tokens=max(r.max_tokens for r in batch), do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = out[:, inputs["input_ids"].shape[1] :]  # (B, new tokens): the answers only
            answers.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return answers

    @property
    def context_tokens(self) -> int | None:
        """The language model's context length (``max_position_embeddings``), or None if the config has none."""
        config = self.model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        value = getattr(text, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) else None

    def request_tokens(self, request: ChatRequest) -> int:
        """Tokens of ``request`` as this model sees it (chat template, image tokens) plus its answer's."""
        return int(self._inputs([request])["input_ids"].shape[1]) + request.max_tokens

    def pooled_hidden(self, requests: Sequence[ChatRequest]) -> np.ndarray:
        """Mean of the last layer's hidden states over each request's tokens: float32 (N, hidden size).

        The image tokens are part of the sequence, so the frame's features are in the pool.
        """
        import torch

        rows = []
        for i in range(0, len(requests), self.batch_size):
            inputs = self._inputs(list(requests[i : i + self.batch_size]))
            with torch.inference_mode():
                out = self.model(**inputs, output_hidden_states=True)
            hidden = out.hidden_states[-1].float()  # (B, T, D)
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            rows.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        return torch.cat(rows).cpu().numpy().astype(np.float32)


@functools.lru_cache(maxsize=2)
def _load(source: str, kind: str) -> LocalModel:
    """One load per (source, kind) in a process: the sensor and the reasoner share a VLM."""
    torch, transformers = require_neural()
    transformers.utils.logging.disable_progress_bar()  # our own progress reporting owns the terminal
    try:
        config = transformers.AutoConfig.from_pretrained(source)
        vision = kind == "vlm" or hasattr(config, "vision_config")
        if vision and kind == "llm":  # a VLM serving as the reasoner: share the sensor's copy
            return _load(source, "vlm")
        if vision:
            processor = transformers.AutoProcessor.from_pretrained(source)
            model = transformers.AutoModelForImageTextToText.from_pretrained(source)
        else:
            processor = transformers.AutoTokenizer.from_pretrained(source)
            model = transformers.AutoModelForCausalLM.from_pretrained(source)
    except ImportError as exc:  # e.g. a Qwen2-VL processor without torchvision
        raise DependencyError(f"{source}: loading needs {exc} ({NEURAL_HINT}; some processors also need torchvision)") from None
    except (OSError, ValueError) as exc:
        raise OptionError(f"{source}: cannot load a {'vision-language' if kind == 'vlm' else 'language'} model ({exc})") from None
    if torch.cuda.is_available():
        model.to("cuda")
    model.eval()
    return LocalModel(model, processor, identity=model_identity(source), vision=vision)


# --------------------------------------------------------------------------- debug models
_WORDS = (
    "<unk> <pad> <s> </s> <image> { } [ ] : , . \" ' - 0 1 2 3 4 5 6 7 8 9 "
    "valence arousal confidence caption label arc_role plot turning_points climax time s "
    "a the scene is calm tense bright dark happy sad setup rising falling resolution"
).split()
_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['content'] is string %}{{ m['content'] }} {% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}"
    "{% endif %}{% endfor %}"
)


def _debug_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(_WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )
    fast.chat_template = _CHAT_TEMPLATE
    return fast


def _text_config() -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(_WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=4096, pad_token_id=1, bos_token_id=2, eos_token_id=3,
    )


def _debug_folder(name: str) -> Path:
    torch, transformers = require_neural()
    return user_cache_dir() / f"{name}-v{DEBUG_VERSION}-tf{transformers.__version__}"


def build_debug_vlm() -> Path:
    """A tiny random LLaVA-style VLM (about 60 k parameters) saved once; returns its folder."""
    folder = _debug_folder("debug-vlm")
    if (folder / "config.json").exists():
        return folder
    torch, _ = require_neural()
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8, projection_dim=32)
    config = LlavaConfig(vision_config=vision.to_dict(), text_config=_text_config().to_dict(),
                         image_token_index=_WORDS.index("<image>"), vision_feature_layer=-1, image_seq_length=16)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config)
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=images, tokenizer=_debug_tokenizer(), patch_size=8,
                               vision_feature_select_strategy="full", num_additional_image_tokens=0,
                               chat_template=_CHAT_TEMPLATE)
    return _save_atomically(folder, model, processor)


def build_debug_llm() -> Path:
    """A tiny random Llama causal LM with the same word-level tokenizer; returns its folder."""
    folder = _debug_folder("debug-llm")
    if (folder / "config.json").exists():
        return folder
    torch, _ = require_neural()
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    return _save_atomically(folder, LlamaForCausalLM(_text_config()), _debug_tokenizer())


def _save_atomically(folder: Path, model: Any, processor: Any) -> Path:
    """Save into a temporary sibling and rename, so a parallel or interrupted build never leaves half a model."""
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "narrascore-debug.json").write_text(json.dumps({"debug_version": DEBUG_VERSION}))
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return folder
