"""The typed artifacts that pass between stages, and their JSON files.

Each artifact is a frozen dataclass saved as a small JSON envelope::

    {"schema": "narrascore.affect", "schema_version": 1, "key": "...", "fingerprint": "...", "data": {...}}

``key`` is the cache key of the stage run that wrote it (hash of its inputs and options);
``fingerprint`` is the hash of ``data`` as written. A file whose data no longer matches its
fingerprint was edited by hand: the pipeline keeps it and recomputes only later stages.
All times are seconds from the start of the video; valence and arousal lie in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

from .errors import ArtifactError
from .fileio import canonical_hash, write_json_atomic

SCHEMA_VERSION = 1  # of every artifact not named in SCHEMA_VERSIONS
# per-artifact versions written now, and the older ones still read: narrative 2 added ``events``
# (a version-1 narrative.json reads with no events)
SCHEMA_VERSIONS: dict[str, int] = {"narrascore.narrative": 2}
READABLE_VERSIONS: dict[str, tuple[int, ...]] = {"narrascore.narrative": (1, 2)}
ARC_ROLES = ("setup", "rising", "climax", "falling", "resolution")
CUT_KINDS = ("hard", "fade")
# sudden moments inside scenes that the music answers (narrative.json ``events``):
# impact = a jump in sound loudness or onset rate (a bang), motion = a burst of motion,
# flash / blackout = a sudden rise / fall of brightness, cut = a hard cut inside fast action
EVENT_KINDS = ("impact", "motion", "flash", "blackout", "cut")
MODES = ("major", "minor")
KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


# --------------------------------------------------------------------------- media
@dataclass(frozen=True)
class SubtitleStream:
    index: int
    codec: str
    language: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    """What the container says about a video (``media.json``).

    ``duration`` is the end of the last video frame (its timestamp plus its duration), the
    length every rendered soundtrack must match exactly. ``path`` is the video's path as it was
    typed; ``absolute_path`` the same file from the root, so ``render`` finds it from any folder.
    ``truncated_seconds``: how much longer the container says it is than the packets it holds (a
    file cut short still opens).
    """

    SCHEMA: ClassVar[str] = "narrascore.media"
    FILENAME: ClassVar[str] = "media.json"

    path: str
    size_bytes: int
    content_hash: str
    duration: float
    fps: float
    frame_count: int
    width: int
    height: int
    video_codec: str
    variable_frame_rate: bool = False
    has_audio: bool = False
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    subtitle_streams: tuple[SubtitleStream, ...] = ()
    sidecar_subtitles: str | None = None
    absolute_path: str | None = None
    truncated_seconds: float = 0.0

    def located(self) -> Path:
        """The video: the absolute path if it is a file, else the path as typed (readers work from any folder)."""
        named = [Path(p) for p in dict.fromkeys((self.absolute_path, self.path)) if p]
        return next((p for p in named if p.is_file()), named[0])


@dataclass(frozen=True)
class Cut:
    """A shot boundary: ``time`` is the first frame of the new shot (for a fade, its middle)."""

    time: float
    confidence: float
    kind: str = "hard"
    frame_index: int | None = None


@dataclass(frozen=True)
class Shots:
    SCHEMA: ClassVar[str] = "narrascore.shots"
    FILENAME: ClassVar[str] = "shots.json"

    cuts: tuple[Cut, ...]
    detector: str
    duration: float

    def cut_times(self) -> list[float]:
        return [c.time for c in self.cuts]


# --------------------------------------------------------------------------- affect
@dataclass(frozen=True)
class SensorCurve:
    """One sensor's reading on the curve's time grid."""

    valence: tuple[float, ...]
    arousal: tuple[float, ...]
    confidence: tuple[float, ...]


@dataclass(frozen=True)
class AffectCurve:
    """Dense valence/arousal trajectory of the video (``affect.json``).

    ``times[i] = i * hop`` (seconds); ``valence``/``arousal`` in [-1, 1] are the fused reading,
    ``confidence`` in [0, 1]. ``sensors`` keeps each sensor's own curve, ``features`` the raw
    per-sample features behind the heuristic sensor (same grid), for inspection and plots.
    """

    SCHEMA: ClassVar[str] = "narrascore.affect"
    FILENAME: ClassVar[str] = "affect.json"

    hop: float
    times: tuple[float, ...]
    valence: tuple[float, ...]
    arousal: tuple[float, ...]
    confidence: tuple[float, ...]
    sensors: dict[str, SensorCurve] = field(default_factory=dict)
    features: dict[str, tuple[float, ...]] = field(default_factory=dict)


# --------------------------------------------------------------------------- narrative
@dataclass(frozen=True)
class Scene:
    """A scene: consecutive shots that belong together, with its local emotion E_local."""

    start: float
    end: float
    caption: str
    valence: float
    arousal: float
    label: str
    arc_role: str


@dataclass(frozen=True)
class Event:
    """A sudden moment the music answers: ``time`` in seconds, ``kind`` one of ``EVENT_KINDS``,
    ``strength`` in (0, 1] (how big a hit it deserves)."""

    time: float
    kind: str
    strength: float


@dataclass(frozen=True)
class NarrativePlan:
    """The story as the music should read it (``narrative.json``).

    ``valence``/``arousal`` on ``times`` (grid of ``hop`` seconds) is the narrative curve that drives
    the music. ``scenes_fingerprint`` is the hash of ``scenes`` the curve was derived from: when a user
    edits a scene's E_local, the fingerprints differ and the curve is derived again.
    """

    SCHEMA: ClassVar[str] = "narrascore.narrative"
    FILENAME: ClassVar[str] = "narrative.json"

    s_global: str
    scenes: tuple[Scene, ...]
    hop: float
    times: tuple[float, ...]
    valence: tuple[float, ...]
    arousal: tuple[float, ...]
    climax_time: float
    duration: float
    reasoner: str = "rules"
    scenes_fingerprint: str = ""
    events: tuple[Event, ...] = ()


# --------------------------------------------------------------------------- concept
@dataclass(frozen=True)
class Cue:
    """A stretch of music with one tempo, key and mode; boundaries lie on scene cuts."""

    start: float
    end: float
    tempo: float
    key: str
    mode: str
    intensity: float
    valence: float = 0.0
    arousal: float = 0.0
    scene_index: int | None = None


ANCHOR_FIELDS = ("genre", "instrumentation", "atmosphere", "pacing")
ANCHOR_WRITERS = ("rules", "model", "user")


@dataclass(frozen=True)
class Anchor:
    """The Global Semantic Anchor's four fields and who wrote each (``written_by``: field -> rules, model, user).

    ``model`` names the model and prompt that wrote the model fields; ``checks`` holds a short hash of
    each field (and of the prompt) as written, so a field edited by hand in concept.json is seen as the user's.
    """

    genre: str = ""
    instrumentation: str = ""
    atmosphere: str = ""
    pacing: str = ""
    written_by: dict[str, str] = field(default_factory=dict)
    model: str = ""
    checks: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MusicConcept:
    """One musical idea for the whole video: the Global Semantic Anchor plus a cue plan (``concept.json``)."""

    SCHEMA: ClassVar[str] = "narrascore.concept"
    FILENAME: ClassVar[str] = "concept.json"

    anchor_prompt: str
    style: str
    genre: str
    instruments: tuple[str, ...]
    key: str
    mode: str
    tempo_min: float
    tempo_max: float
    beats_per_bar: int
    seed: int
    cues: tuple[Cue, ...]
    anchor: Anchor = field(default_factory=Anchor)  # older concept.json files have none: empty fields


A = TypeVar("A")


# --------------------------------------------------------------------------- (de)serialisation
def to_data(obj: Any) -> Any:
    """Dataclass -> JSON-able value (tuples become lists, floats rounded to 6 decimals)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ArtifactError(f"non-finite number {obj!r} cannot be saved in an artifact")
        return round(obj, 6)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return to_data(obj.item())
    return obj


FLOAT_MAX_INT = 10**308  # larger integers do not fit a float


def _short(value: Any) -> str:
    """``repr`` of a bad value, cut so that the error stays one readable line."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return _cut(repr(value))


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def from_data(cls: type[A], data: Any, where: str = "") -> A:
    """JSON value -> instance of dataclass ``cls``, checking types as it goes."""
    return _convert(cls, data, where or cls.__name__)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ArtifactError as exc:
                errors.append(str(exc))
        raise ArtifactError(errors[0] if errors else f"{where}: unexpected null")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ArtifactError(f"{where}: expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - names
        if unknown:
            raise ArtifactError(f"{where}: unknown field(s) {_cut(', '.join(map(repr, sorted(unknown))))}")
        for f in dataclasses.fields(tp):
            if f.name in value:
                kwargs[f.name] = _convert(hints[f.name], value[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ArtifactError(f"{where}: missing field {f.name!r}")
        return tp(**kwargs)
    if origin is tuple:
        if not isinstance(value, list):
            raise ArtifactError(f"{where}: expected a list, got {type(value).__name__}")
        (item_type, *_rest) = typing.get_args(tp)
        return tuple(_convert(item_type, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ArtifactError(f"{where}: expected an object, got {type(value).__name__}")
        _key_type, value_type = typing.get_args(tp)
        return {str(k): _convert(value_type, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArtifactError(f"{where}: expected a number, got {_short(value)}")
        if isinstance(value, int) and abs(value) > FLOAT_MAX_INT or not math.isfinite(value):
            raise ArtifactError(f"{where}: expected a finite number, got {_short(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ArtifactError(f"{where}: expected an integer, got {_short(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ArtifactError(f"{where}: expected true or false, got {_short(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ArtifactError(f"{where}: expected a string, got {_short(value)}")
        return value
    raise TypeError(f"unsupported artifact field type {tp!r} at {where}")


# --------------------------------------------------------------------------- files
@dataclass(frozen=True)
class Stored:
    """An artifact read from disk with its envelope."""

    artifact: Any
    key: str
    hand_edited: bool


def fingerprint(artifact: Any) -> str:
    return canonical_hash(to_data(artifact))


def canonical(artifact: A) -> A:
    """``artifact`` exactly as reading its saved file gives it back (floats rounded to 6 decimals).

    A stage that goes on with this form computes the same from a fresh artifact as from one read
    from disk, so a resumed or split run (``analyze`` then ``render``) writes the same bytes as one run.
    """
    return from_data(type(artifact), to_data(artifact))


def save_artifact(artifact: Any, folder: str | os.PathLike[str], *, key: str = "") -> Path:
    """Write ``artifact`` to its file in ``folder`` atomically and return the path."""
    validate(artifact)
    data = to_data(artifact)
    envelope = {
        "schema": artifact.SCHEMA,
        "schema_version": SCHEMA_VERSIONS.get(artifact.SCHEMA, SCHEMA_VERSION),
        "key": key,
        "fingerprint": canonical_hash(data),
        "data": data,
    }
    path = Path(folder) / artifact.FILENAME
    write_json_atomic(path, envelope)
    return path


def read_artifact(cls: type[A], path: str | os.PathLike[str]) -> Stored:
    """Read and validate an artifact file; raise ``ArtifactError`` naming the file on any problem."""
    path = Path(path)
    try:
        envelope = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits; nesting past the parser's depth
        raise ArtifactError(f"{path}: unreadable JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(envelope, dict) or "data" not in envelope:
        raise ArtifactError(f"{path}: not a NarraScore artifact (no 'data' object)")
    schema = envelope.get("schema")
    if schema != cls.SCHEMA:  # type: ignore[attr-defined]
        raise ArtifactError(f"{path}: schema is {schema!r}, expected {cls.SCHEMA!r}")  # type: ignore[attr-defined]
    version = envelope.get("schema_version")
    readable = READABLE_VERSIONS.get(schema, (SCHEMA_VERSION,))
    if isinstance(version, bool) or version not in readable:
        raise ArtifactError(f"{path}: schema_version {version!r} is not supported (this NarraScore reads "
                            f"{', '.join(str(v) for v in readable)})")
    try:
        artifact = from_data(cls, envelope["data"], where=cls.__name__)
        validate(artifact)
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    # A file written before a field was added lacks it (its default is filled in): the data as stored still
    # matches the fingerprint, so it is not a hand edit.
    recorded = envelope.get("fingerprint")
    edited = canonical_hash(to_data(artifact)) != recorded and canonical_hash(envelope["data"]) != recorded
    return Stored(artifact=artifact, key=str(envelope.get("key", "")), hand_edited=edited)


def load_artifact(cls: type[A], path: str | os.PathLike[str]) -> A:
    """Read an artifact (``MediaInfo``, ``Shots``, ``AffectCurve``, ``NarrativePlan`` or ``MusicConcept``)."""
    return read_artifact(cls, path).artifact


# --------------------------------------------------------------------------- validation
def _check_unit(values: tuple[float, ...], where: str, lo: float = -1.0, hi: float = 1.0) -> None:
    for i, v in enumerate(values):
        if not (lo - 1e-9 <= v <= hi + 1e-9):
            raise ArtifactError(f"{where}[{i}] = {v} is outside [{lo}, {hi}]")


def _check_grid(times: tuple[float, ...], hop: float, lengths: dict[str, int], where: str) -> None:
    if hop <= 0:
        raise ArtifactError(f"{where}.hop must be positive, got {hop}")
    for name, n in lengths.items():
        if n != len(times):
            raise ArtifactError(f"{where}.{name} has {n} values but times has {len(times)}")


def validate(artifact: Any) -> None:
    """Check ranges and consistency that the types alone cannot express."""
    if isinstance(artifact, Shots):
        for i, cut in enumerate(artifact.cuts):
            if cut.kind not in CUT_KINDS:
                raise ArtifactError(f"Shots.cuts[{i}].kind {cut.kind!r} is not one of {CUT_KINDS}")
            if not 0 <= cut.time <= artifact.duration + 1e-6:
                raise ArtifactError(f"Shots.cuts[{i}].time {cut.time} is outside the video (0..{artifact.duration})")
    elif isinstance(artifact, AffectCurve):
        _check_grid(artifact.times, artifact.hop, {"valence": len(artifact.valence), "arousal": len(artifact.arousal), "confidence": len(artifact.confidence)}, "AffectCurve")
        _check_unit(artifact.valence, "AffectCurve.valence")
        _check_unit(artifact.arousal, "AffectCurve.arousal")
        _check_unit(artifact.confidence, "AffectCurve.confidence", 0.0, 1.0)
    elif isinstance(artifact, NarrativePlan):
        _check_grid(artifact.times, artifact.hop, {"valence": len(artifact.valence), "arousal": len(artifact.arousal)}, "NarrativePlan")
        _check_unit(artifact.valence, "NarrativePlan.valence")
        _check_unit(artifact.arousal, "NarrativePlan.arousal")
        if not artifact.scenes:
            raise ArtifactError("NarrativePlan.scenes is empty")
        previous_end = 0.0
        for i, scene in enumerate(artifact.scenes):
            where = f"NarrativePlan.scenes[{i}]"
            if scene.arc_role not in ARC_ROLES:
                raise ArtifactError(f"{where}.arc_role {scene.arc_role!r} is not one of {', '.join(ARC_ROLES)}")
            if not scene.end > scene.start:
                raise ArtifactError(f"{where}: end {scene.end} is not after start {scene.start}")
            if abs(scene.start - previous_end) > 1e-3:
                raise ArtifactError(f"{where}: starts at {scene.start} but the previous scene ends at {previous_end}")
            _check_unit((scene.valence,), f"{where}.valence")
            _check_unit((scene.arousal,), f"{where}.arousal")
            previous_end = scene.end
        if abs(previous_end - artifact.duration) > 1e-3:
            raise ArtifactError(f"NarrativePlan: scenes end at {previous_end} but the video lasts {artifact.duration}")
        for i, event in enumerate(artifact.events):
            where = f"NarrativePlan.events[{i}]"
            if event.kind not in EVENT_KINDS:
                raise ArtifactError(f"{where}.kind {event.kind!r} is not one of {', '.join(EVENT_KINDS)}")
            if not 0 <= event.time <= artifact.duration + 1e-6:
                raise ArtifactError(f"{where}.time {event.time} is outside the video (0..{artifact.duration})")
            if not 0 < event.strength <= 1:
                raise ArtifactError(f"{where}.strength {event.strength} must lie in (0, 1]")
    elif isinstance(artifact, MusicConcept):
        if artifact.key not in KEYS:
            raise ArtifactError(f"MusicConcept.key {artifact.key!r} is not one of {', '.join(KEYS)}")
        if artifact.mode not in MODES:
            raise ArtifactError(f"MusicConcept.mode {artifact.mode!r} is not one of {', '.join(MODES)}")
        if not 20 <= artifact.tempo_min <= artifact.tempo_max <= 300:
            raise ArtifactError(f"MusicConcept tempo range {artifact.tempo_min}..{artifact.tempo_max} must lie within 20..300 BPM")
        if artifact.beats_per_bar not in (2, 3, 4, 6):
            raise ArtifactError(f"MusicConcept.beats_per_bar {artifact.beats_per_bar} is not one of 2, 3, 4, 6")
        if not artifact.cues:
            raise ArtifactError("MusicConcept.cues is empty")
        for name, writer in artifact.anchor.written_by.items():
            if name not in ANCHOR_FIELDS or writer not in ANCHOR_WRITERS:
                raise ArtifactError(f"MusicConcept.anchor.written_by: {name!r}: {writer!r} must be one of "
                                    f"{', '.join(ANCHOR_FIELDS)} written by one of {', '.join(ANCHOR_WRITERS)}")
        for i, cue in enumerate(artifact.cues):
            where = f"MusicConcept.cues[{i}]"
            if cue.key not in KEYS:
                raise ArtifactError(f"{where}.key {cue.key!r} is not one of {', '.join(KEYS)}")
            if cue.mode not in MODES:
                raise ArtifactError(f"{where}.mode {cue.mode!r} is not one of {', '.join(MODES)}")
            if not 20 <= cue.tempo <= 300:
                raise ArtifactError(f"{where}.tempo {cue.tempo} must lie within 20..300 BPM")
            if not cue.end > cue.start:
                raise ArtifactError(f"{where}: end {cue.end} is not after start {cue.start}")
            _check_unit((cue.intensity,), f"{where}.intensity", 0.0, 1.0)
