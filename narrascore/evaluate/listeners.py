"""Listeners: who hears the music's emotion over time, behind one small protocol and a registry.

* ``descriptors`` - :mod:`.emotion`: loudness, onsets, tempo, brightness, roughness and mode
  mapped by weights from the literature. No weights, no extra; but it reads the same kind of
  descriptors our composer sets, so on our own music it is not an independent judge.
* ``vibenet`` - VibeNet (Shim, 2025): an EfficientNet distilled on the Free Music Archive, an
  18 MB ONNX file inside its wheel, run here with onnxruntime on one thread. It was trained on
  other people's music and shares no rule with our composer. GPL-3.0-or-later: installed only by
  the ``listen`` extra and imported only when chosen.

``best_listener()`` is the pretrained one where it is installed, else ``descriptors``. Every
listener returns an :class:`~.emotion.EmotionCurve` with valence and arousal in [-1, 1].
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import DependencyError, MediaError, OptionError
from ..registry import Registry
from .descriptors import AudioSource, Analysis, _chunks, analyze
from .emotion import EmotionCurve, curve_from_analysis

AUTO = "auto"
LISTEN_INSTALL = "pip install '.[listen]' (from the clone; GPL-3.0: see the README's licences)"


class Listener(Protocol):
    """Hears a piece of audio and returns its emotion curve (valence/arousal in [-1, 1] over time)."""

    name: str

    @property
    def version(self) -> str: ...

    @property
    def min_seconds(self) -> float:
        """The shortest audio (s) this listener can read."""
        ...

    def hear(self, audio: AudioSource, *, analysis: Analysis | None = None) -> EmotionCurve:
        """``audio``: a file FFmpeg reads, or 1-D float chunks at the listener's own sample rate.
        ``analysis``: the descriptor pass of the same audio, when the caller already made one."""
        ...


LISTENERS: Registry[Listener] = Registry("listener")


class TooShortError(MediaError):
    """The audio is shorter than the listener's window."""


# --------------------------------------------------------------------------- descriptors
@LISTENERS.register("descriptors")
class DescriptorListener:
    """The descriptor estimate of :mod:`.emotion` (no weights; bins of 0.5 s)."""

    name = "descriptors"
    min_seconds = 0.0

    def __init__(self, *, rate_hz: float = 2.0) -> None:
        self.rate_hz = rate_hz

    @property
    def version(self) -> str:
        from .. import __version__

        return f"narrascore {__version__}"

    def hear(self, audio: AudioSource, *, analysis: Analysis | None = None) -> EmotionCurve:
        return curve_from_analysis(analysis if analysis is not None else analyze(audio, rate_hz=self.rate_hz))


# --------------------------------------------------------------------------- vibenet
VIBENET_RATE = 16_000  # the model's input rate
MEL_HOP = 320  # samples per mel frame (20 ms): the model's own front end (vibenet.core.extract_mel)
MEL_WIN = 640
MEL_FFT = 1024
N_MELS = 128
TOP_DB = 80.0
VIBENET_LABELS = ("acousticness", "danceability", "energy", "instrumentalness", "liveness", "speechiness", "valence")
_LIKELIHOODS = {"acousticness", "liveness", "instrumentalness"}  # logits; the others are regressions clipped to [0, 1]
# Chosen on the validation set (benchmarks/validate_emotion.py, docs/evaluation.md): of {3, 5, 10,
# 30} s, 3 s has the best mean of the arousal and valence ranking AUCs (0.73, 0.67) and the finest
# time resolution; 30 s ranks arousal 2 pairs in 48 better (0.77) but blurs half a minute.
VIBENET_WINDOW_S = 3.0
VIBENET_HOP_S = 1.0
MIN_WINDOWS = 3


def vibenet_installed() -> bool:
    return importlib.util.find_spec("vibenet") is not None and importlib.util.find_spec("onnxruntime") is not None


@functools.lru_cache(maxsize=1)
def _vibenet_session():  # -> onnxruntime.InferenceSession
    """The ONNX session over the model file inside the vibenet wheel (loaded once per process, one thread)."""
    if not vibenet_installed():
        raise DependencyError(f"the vibenet listener needs the listen extra: {LISTEN_INSTALL}")
    import importlib.resources

    import onnxruntime as ort

    path = importlib.resources.files("vibenet.artifacts") / "efficientnet_model.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a damaged install: say which file
        raise DependencyError(f"{path}: the VibeNet model cannot be loaded ({exc}); reinstall: {LISTEN_INSTALL}") from None


@functools.lru_cache(maxsize=1)
def _mel_front_end() -> tuple[np.ndarray, np.ndarray]:
    """(Hann window (640,), mel filterbank (128, 513)): exactly what ``vibenet.core.extract_mel`` uses."""
    import librosa
    from scipy.signal import get_window

    window = get_window("hann", MEL_WIN, fftbins=True).astype(np.float32)
    mel = librosa.filters.mel(sr=VIBENET_RATE, n_fft=MEL_FFT, n_mels=N_MELS, fmin=0.0, fmax=8000.0).astype(np.float32)
    return window, mel


def mel_power_frames(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Mel power frames (n, 128) of a mono 16 kHz stream, frame ``j`` covering samples
    ``[320 j, 320 j + 640)``, chunk by chunk: the samples are never all kept."""
    from scipy.fft import rfft

    window, mel = _mel_front_end()
    carry = np.zeros(0, dtype=np.float32)
    for chunk in chunks:
        y = np.concatenate([carry, chunk]) if carry.size else chunk
        n = (y.size - MEL_WIN) // MEL_HOP + 1 if y.size >= MEL_WIN else 0
        if n > 0:
            frames = np.lib.stride_tricks.sliding_window_view(y, MEL_WIN)[: n * MEL_HOP : MEL_HOP] * window
            spec = rfft(frames, n=MEL_FFT, axis=-1)
            power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
            yield (mel @ power.T).T.astype(np.float32)
        carry = y[n * MEL_HOP:].copy()


def mel_db(power: np.ndarray) -> np.ndarray:
    """(frames, 128) power -> the model's input (128, frames): dB, floored 80 dB below the window's peak."""
    db = 10.0 * np.log10(np.maximum(1e-10, power.T))
    return np.maximum(db, db.max() - TOP_DB).astype(np.float32)


def vibenet_outputs(logits: np.ndarray) -> dict[str, float]:
    """The model's 7 logits -> named outputs in [0, 1], as ``vibenet.core.InferenceResult.from_logits``."""
    out = {}
    for name, x in zip(VIBENET_LABELS, logits.tolist()):
        out[name] = float(1.0 / (1.0 + np.exp(-x))) if name in _LIKELIHOODS else float(np.clip(x, 0.0, 1.0))
    return out


@LISTENERS.register("vibenet")
class VibeNetListener:
    """VibeNet over sliding windows: ``window_s`` long, every ``hop_s`` seconds (time = window centre).

    arousal = 2 energy - 1, valence = 2 valence - 1: a fixed map from the model's [0, 1] outputs,
    not fitted to our music. The other five outputs are kept as descriptors.
    """

    name = "vibenet"

    def __init__(self, *, window_s: float = VIBENET_WINDOW_S, hop_s: float = VIBENET_HOP_S) -> None:
        frames_per_s = VIBENET_RATE / MEL_HOP
        if hop_s <= 0 or abs(hop_s * frames_per_s - round(hop_s * frames_per_s)) > 1e-6:
            raise MediaError(f"vibenet hop {hop_s} s must be a positive multiple of {MEL_HOP / VIBENET_RATE} s")
        self.window_s, self.hop_s = float(window_s), float(hop_s)
        self._hop_frames = int(round(hop_s * frames_per_s))
        self._window_frames = (int(round(window_s * VIBENET_RATE)) - MEL_WIN) // MEL_HOP + 1
        _vibenet_session()  # fail now, with one line, when the extra is missing

    @property
    def min_seconds(self) -> float:
        """Three windows: fewer readings make no curve to align with anything."""
        return self.window_s + (MIN_WINDOWS - 1) * self.hop_s

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"vibenet {version('vibenet')}, onnxruntime {version('onnxruntime')}, window {self.window_s:g} s, hop {self.hop_s:g} s"

    def hear(self, audio: AudioSource, *, analysis: Analysis | None = None) -> EmotionCurve:
        session = _vibenet_session()
        rows: list[dict[str, float]] = []
        buffered = np.zeros((0, N_MELS), dtype=np.float32)  # frames from the next window's first frame on
        n_samples = 0

        def counted() -> Iterator[np.ndarray]:
            nonlocal n_samples
            for chunk in _chunks(audio, VIBENET_RATE):
                n_samples += chunk.size
                yield chunk

        for frames in mel_power_frames(counted()):
            buffered = np.concatenate([buffered, frames]) if buffered.size else frames
            while buffered.shape[0] >= self._window_frames:
                x = mel_db(buffered[: self._window_frames])
                logits = session.run(None, {"x": x[np.newaxis]})[0][0]
                rows.append(vibenet_outputs(np.asarray(logits)))
                buffered = buffered[self._hop_frames:]
        seconds = n_samples / VIBENET_RATE
        if len(rows) < MIN_WINDOWS:
            where = f"{audio}: " if isinstance(audio, (str, Path)) else ""
            if n_samples == 0:
                raise MediaError(f"{where}no audio could be decoded")
            raise TooShortError(f"{where}{seconds:.2f} s of audio is too short for the vibenet listener; it needs at least "
                                f"{self.min_seconds:g} s ({MIN_WINDOWS} windows of {self.window_s:g} s, {self.hop_s:g} s apart)")
        times = np.arange(len(rows)) * self.hop_s + self.window_s / 2
        outputs = {name: np.array([r[name] for r in rows]) for name in VIBENET_LABELS}
        return EmotionCurve(times=times, valence=2.0 * outputs["valence"] - 1.0, arousal=2.0 * outputs["energy"] - 1.0,
                            descriptors=outputs)


# --------------------------------------------------------------------------- choosing
def installed_listeners() -> list[str]:
    """The listeners that can run here, best first."""
    return (["vibenet"] if vibenet_installed() else []) + ["descriptors"]


def best_listener() -> str:
    return installed_listeners()[0]


def check_listener_name(name: str | None) -> str:
    """``name`` resolved (``auto``/None -> the best installed); an unknown or uninstalled one raises one line."""
    if name in (None, AUTO):
        return best_listener()
    if name not in LISTENERS.names():
        raise OptionError(f"unknown listener {name!r}; available: {AUTO}, {', '.join(LISTENERS.names())}")
    if name == "vibenet" and not vibenet_installed():
        raise DependencyError(f"the vibenet listener needs the listen extra: {LISTEN_INSTALL}")
    return name


def get_listener(name: str | None = None) -> Listener:
    """A listener by name; ``None`` or ``auto`` gives the best installed one."""
    return LISTENERS.create(check_listener_name(name))


def hear(audio: AudioSource, *, listener: str | None = None, analysis: Analysis | None = None) -> tuple[EmotionCurve, Listener]:
    """(curve, the listener that heard it). ``listener`` None or ``auto``: the best installed, falling back
    to the descriptors when the audio is shorter than its window; a listener named explicitly never falls back."""
    chosen = get_listener(listener)
    try:
        return chosen.hear(audio, analysis=analysis), chosen
    except TooShortError:
        if listener not in (None, AUTO):
            raise
        fallback = DescriptorListener(rate_hz=analysis.rate_hz) if analysis is not None else DescriptorListener()
        return fallback.hear(audio, analysis=analysis), fallback
