"""From labelled audio to training batches: EnCodec tokens (cached), curves on the token grid, crops, labels.

Tokens: each file is decoded to mono at the codec's rate (32 kHz for the released models) with PyAV,
encoded by the backbone's own EnCodec in 30 s pieces (memory stays flat in the file's length) and
cached as int16 ``(K, T)`` in ``<cache>/<model>/<sha256 of the file>.npy``: the key is the file's content
and the model, so renaming a file or re-running after an interruption re-encodes nothing.

Grid: frame f of a clip starts at ``f / frame_rate`` s (frame_rate from the audio encoder's config);
``Clip.va[f]`` is the label curve there (linear interpolation, held flat past its ends, as at inference).

Labels follow MusicGen's delay pattern exactly as ``generate`` lays it out, built by the decoder's own
``build_delay_pattern_mask``: decoder position p holds codebook k's frame p - 1 - k and predicts frame
p - k; the start/pad token fills the delay's corners, and the model's labels handling shifts the labels
right and ignores pad positions in its per-codebook cross-entropy (transformers 5.24).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MediaError, NarrascoreError
from ..fileio import atomic_path
from ..synth.musicgen.adapter import curve_at, position_times
from .manifests import LabelledAudio

ENCODE_SECONDS = 30  # EnCodec piece length; a whole number of frames at 32 kHz, hop 640
EMOTION_VERSION = 1  # bump when the self-labelling changes: its cache is keyed by it


@dataclass(frozen=True)
class Clip:
    """One training clip on the token grid.

    key: a stable name (content hash or a test's name); codes: int (K, T) EnCodec tokens;
    va: float32 (T, 2) valence/arousal at each frame's start; text: the description ('' for the default
    anchor); span: frames [first, end) that carry labels (crops are drawn inside it).
    """

    key: str
    codes: np.ndarray
    va: np.ndarray
    text: str = ""
    span: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.codes.ndim != 2 or self.va.shape != (self.codes.shape[1], 2):
            raise ValueError(f"clip {self.key}: codes (K, T) and va (T, 2) disagree: {self.codes.shape}, {self.va.shape}")

    @property
    def frames(self) -> int:
        return int(self.codes.shape[1])

    @property
    def labelled(self) -> tuple[int, int]:
        return self.span if self.span is not None else (0, self.frames)


@dataclass
class Prepared:
    """The clips made from a data source, and every file that was skipped with the reason."""

    clips: list[Clip]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    encoded: int = 0  # files encoded now (the rest came from the cache)
    kind: str = ""


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def va_on_grid(times: np.ndarray, valence: np.ndarray, arousal: np.ndarray, frames: int, frame_rate: float) -> np.ndarray:
    """The curve at the start of each of ``frames`` frames: float32 (frames, 2)."""
    return curve_at(times, valence, arousal, position_times(0.0, frames, frame_rate))


def labelled_span(times: np.ndarray, frames: int, frame_rate: float) -> tuple[int, int] | None:
    """Frames covered by a curve sampled at ``times``: from its first time to one hop past its last
    (None when the audio ends before the labels start)."""
    if len(times) < 2:
        return 0, frames  # a flat (static) label covers the whole clip
    hop = float(np.median(np.diff(times)))
    first = max(0, int(math.floor(times[0] * frame_rate)))
    end = min(frames, int(math.ceil((times[-1] + hop) * frame_rate)))
    return (first, end) if end - first >= 2 else None


class TokenCache:
    """EnCodec tokens of audio files for one backbone, cached on disk by content hash."""

    def __init__(self, backbone: Any, folder: Path) -> None:
        self.backbone = backbone
        name = hashlib.sha256(backbone.identity.encode()).hexdigest()[:16]
        self.folder = Path(folder) / name
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.folder / f"{digest}.npy"

    def codes(self, path: Path, digest: str) -> tuple[np.ndarray, bool]:
        """(codes int16 (K, T), whether they were encoded now). Raises ``MediaError`` for unreadable audio."""
        cached = self.path(digest)
        if cached.exists():
            try:
                return np.load(cached), False
            except (OSError, ValueError):
                pass  # a damaged cache file is re-made
        codes = encode_audio(self.backbone, path)
        with atomic_path(cached) as tmp, open(tmp, "wb") as handle:
            np.save(handle, codes)
        return codes, True

    def emotion(self, path: Path, digest: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Self-labels (times, valence, arousal) from ``estimate_emotion``, cached beside the tokens."""
        cached = self.folder.parent / f"emotion-v{EMOTION_VERSION}" / f"{digest}.npy"
        if cached.exists():
            try:
                a = np.load(cached)
                return a[0], a[1], a[2]
            except (OSError, ValueError, IndexError):
                pass
        from ..evaluate.emotion import estimate_emotion

        curve = estimate_emotion(path, rate_hz=2.0)
        if curve.times.size == 0:
            raise MediaError(f"{path}: no audio to label")
        a = np.stack([curve.times, curve.valence, curve.arousal]).astype(np.float64)
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached) as tmp, open(tmp, "wb") as handle:
            np.save(handle, a)
        return a[0], a[1], a[2]


def encode_audio(backbone: Any, path: Path) -> np.ndarray:
    """Decode ``path`` to mono at the codec's rate (PyAV) and encode it: int16 (K, T) tokens."""
    import torch

    from ..media.audio import iter_audio

    model = backbone.model
    device = next(model.parameters()).device
    pieces = []
    for chunk in iter_audio(path, sample_rate=backbone.sample_rate, channels=1, chunk_seconds=ENCODE_SECONDS):
        wav = torch.from_numpy(np.ascontiguousarray(chunk[:, 0]))[None, None].to(device)  # (1, 1, n)
        with torch.inference_mode():
            codes = model.audio_encoder.encode(wav).audio_codes  # (1 chunk, 1, K, T)
        pieces.append(codes[0, 0].cpu().numpy())
    if not pieces:
        raise MediaError(f"{path}: no audio stream")
    codes = np.concatenate(pieces, axis=-1)
    k = backbone.decoder_config.num_codebooks
    if codes.shape[0] != k:
        raise MediaError(f"{path}: the audio encoder gave {codes.shape[0]} codebooks, the decoder expects {k}")
    return codes.astype(np.int16)


def prepare_clips(kind: str, items: Sequence[LabelledAudio] | Sequence[Path], backbone: Any, cache_dir: Path, *,
                  note: Callable[[str], None] = lambda m: None,
                  advance: Callable[[float], None] = lambda d: None) -> Prepared:
    """Tokens and token-grid curves for every item; unreadable files are skipped and listed, never silently."""
    cache = TokenCache(backbone, cache_dir)
    prepared = Prepared(clips=[], kind=kind)
    fr = backbone.frame_rate
    for done, item in enumerate(items, start=1):
        path = item.audio if isinstance(item, LabelledAudio) else Path(item)
        try:
            if not path.is_file():
                raise MediaError(f"{path}: file not found")
            digest = file_hash(path)
            codes, made = cache.codes(path, digest)
            prepared.encoded += made
            if codes.shape[1] < 2:
                raise MediaError(f"{path}: too short ({codes.shape[1]} frames)")
            if isinstance(item, LabelledAudio):
                times, valence, arousal, text = item.times, item.valence, item.arousal, item.text
            else:
                times, valence, arousal = cache.emotion(path, digest)
                text = ""
        except (MediaError, OSError) as exc:
            reason = str(exc) if isinstance(exc, NarrascoreError) else f"{path}: {exc.strerror or exc}"
            prepared.skipped.append((str(path), reason))
            note(f"skipped {reason}")
            advance(done)
            continue
        frames = codes.shape[1]
        span = labelled_span(np.asarray(times), frames, fr)
        if span is None:
            reason = f"{path}: the audio ({frames / fr:.1f} s) ends before its labels start ({times[0]:.1f} s)"
            prepared.skipped.append((str(path), reason))
            note(f"skipped {reason}")
        else:
            prepared.clips.append(Clip(key=digest, codes=codes, va=va_on_grid(times, valence, arousal, frames, fr),
                                       text=text, span=span))
        advance(done)
    return prepared


# --------------------------------------------------------------------------- crops and batches
def delay_labels(model: Any, codes: Any) -> Any:
    """Labels (L, K) for one crop of codes (K, n), with L = n + K - 1, in MusicGen's delay pattern.

    Built with the decoder's own ``build_delay_pattern_mask`` on the codes preceded by the start token
    (as ``generate`` builds it): the full pattern S (K, n + K) has S[k, p] = codes[k, p - 1 - k] inside
    the delay and the pad token outside; labels are S[:, 1:] (the model shifts them right again, with
    the start token first, to make the decoder's inputs S[:, :-1]; pad labels are ignored in the loss).
    """
    import torch

    dec = model.decoder
    k, n = codes.shape
    start = torch.full((k, 1), dec.config.decoder_start_token_id, dtype=torch.long)
    seq = torch.cat([start, codes.long()], dim=1)  # (K, n + 1)
    _, pattern = dec.build_delay_pattern_mask(seq, pad_token_id=dec.config.pad_token_id, max_length=n + k)
    return pattern[:, 1:].transpose(0, 1)  # (n + K - 1, K)


@dataclass(frozen=True)
class Crop:
    clip: int  # index into the clip list
    start: int  # first frame
    frames: int


def random_crop(clip: Clip, index: int, frames: int, rng: np.random.Generator) -> Crop:
    first, end = clip.labelled
    n = min(frames, end - first)
    return Crop(index, first + int(rng.integers(0, end - first - n + 1)), n)


def fixed_crops(clip: Clip, index: int, frames: int, count: int) -> list[Crop]:
    """``count`` evenly spaced crops of a held-out clip (fewer when it is short): the same every validation."""
    first, end = clip.labelled
    n = min(frames, end - first)
    starts = np.unique(np.linspace(first, end - n, count).round().astype(int))
    return [Crop(index, int(s), n) for s in starts]


def sample_crops(clips: Sequence[Clip], micro: int, batch: int, frames: int, seed: int) -> list[Crop]:
    """The crops of micro-batch ``micro``: clips in a fresh permutation every epoch, random offsets.

    A pure function of (seed, micro): a resumed run draws exactly the crops an uninterrupted one would.
    """
    crops = []
    n = len(clips)
    for b in range(batch):
        q = micro * batch + b
        order = np.random.default_rng([seed, 0, q // n]).permutation(n)
        index = int(order[q % n])
        crops.append(random_crop(clips[index], index, frames, np.random.default_rng([seed, 1, q])))
    return crops


@dataclass
class Batch:
    """labels: long (B, L, K) with pad where ignored; va: float (B, L + 2R, 2) for the adapter's encoder;
    texts: B strings."""

    labels: Any
    va: Any
    texts: list[str]


def make_batch(model: Any, clips: Sequence[Clip], crops: Sequence[Crop], *, radius: int, default_text: str,
               use_clip_text: bool) -> Batch:
    """Stack crops into one batch; shorter crops are padded with the pad token (ignored by the loss)."""
    import torch

    dec = model.decoder.config
    k = dec.num_codebooks
    length = max(c.frames for c in crops) + k - 1
    labels = torch.full((len(crops), length, k), dec.pad_token_id, dtype=torch.long)
    va = np.zeros((len(crops), length + 2 * radius, 2), np.float32)
    texts = []
    for i, crop in enumerate(crops):
        clip = clips[crop.clip]
        piece = torch.from_numpy(clip.codes[:, crop.start:crop.start + crop.frames].astype(np.int64))
        lab = delay_labels(model, piece)
        labels[i, :lab.shape[0]] = lab
        # position p of the crop is frame start + p; the encoder reads R frames beyond both ends, held flat
        frames = np.clip(np.arange(crop.start - radius, crop.start + length + radius), 0, clip.frames - 1)
        va[i] = clip.va[frames]
        texts.append(clip.text if (use_clip_text and clip.text) else default_text)
    return Batch(labels=labels, va=torch.from_numpy(va), texts=texts)
