"""Timelines for editors: the video, the soundtrack (or its stems) and NarraScore's markers, through
OpenTimelineIO and its maintained adapters (the ``timeline`` extra).

Formats (``FORMATS``): ``fcp7`` (Final Cut Pro 7 XML, which Premiere and Resolve both import), ``edl``
(CMX 3600: the picture and its locators; an EDL carries no audio files), ``otio`` (OpenTimelineIO's
own JSON) and ``fcpx`` (Final Cut Pro X XML). Markers sit on the video clip, which starts at frame 0,
so a marker's frame is its frame in the timeline: scenes (number, arc role, E_local, caption), the
climax, events (kind, strength) and music cues (tempo, key, mode). Every time is rounded to the
nearest frame of the video's rate, snapped to the exact NTSC rational (24000/1001, 30000/1001, ...)
when the container's rate is within 0.005 fps of one.

Adapter limits we cannot fix from our side are refused before anything is written (``check_format``):
otio-cmx3600-adapter 1.0.0 writes drop-frame locators (``00:00:01;02``) at 29.97 and 59.94 fps but its
reader only matches ``:`` separators, so the markers would be lost; otio-fcpx-xml-adapter 1.0.0 has
no frame duration for 23.976/29.97/59.94 (the writer raises) and its reader truncates any
frame rate to a whole number, so markers would move.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import MediaInfo, MusicConcept, NarrativePlan, read_artifact
from ..errors import ArtifactError, DependencyError, OptionError, OutputError
from ..fileio import atomic_path
from ..options import TIMELINE_FORMATS

# format -> (OpenTimelineIO adapter, file extension)
FORMATS: dict[str, tuple[str, str]] = {
    "fcp7": ("fcp_xml", ".xml"),
    "edl": ("cmx_3600", ".edl"),
    "otio": ("otio_json", ".otio"),
    "fcpx": ("fcpx_xml", ".fcpxml"),
}
NTSC_RATES = (24000 / 1001, 30000 / 1001, 48000 / 1001, 60000 / 1001)
FCPX_RATES = (24.0, 25.0, 30.0, 50.0, 60.0)  # the whole-number rates in the FCP X adapter's table
assert tuple(FORMATS) == TIMELINE_FORMATS
MARKER_COLORS = {"scene": "GREEN", "climax": "RED", "event": "YELLOW", "cue": "PURPLE"}


@dataclass(frozen=True)
class TimelineMarker:
    """One marker: ``frame`` at the timeline's rate, ``kind`` one of scene, climax, event, cue."""

    frame: int
    kind: str
    name: str
    comment: str = ""


def require_otio() -> Any:
    """Import ``opentimelineio`` or raise ``DependencyError`` with the install line."""
    try:
        import opentimelineio
    except ImportError:
        raise DependencyError("timeline exports need the 'timeline' extra (opentimelineio and its adapters): "
                              "pip install 'narrascore[timeline]'") from None
    return opentimelineio


def timeline_rate(fps: float) -> float:
    """The video's rate as editors count it: the exact NTSC rational when ``fps`` is within 0.005 of one."""
    for rate in NTSC_RATES:
        if abs(fps - rate) < 0.005:
            return rate
    return float(round(fps)) if abs(fps - round(fps)) < 0.005 else float(fps)


def check_format(fmt: str, fps: float) -> None:
    """Refuse a format the adapters cannot carry at ``fps`` (OptionError, one line naming both)."""
    if fmt not in FORMATS:
        raise OptionError(f"unknown timeline format {fmt!r}; available: {', '.join(FORMATS)}")
    rate = timeline_rate(fps)
    shown = f"{rate:.3f}".rstrip("0").rstrip(".")
    if fmt in ("fcp7", "edl") and not _timecode_rate(rate):
        raise OptionError(f"timeline format {fmt}: {shown} fps is not a timecode frame rate; use --format otio")
    if fmt == "edl" and any(abs(rate - r) < 1e-6 for r in (30000 / 1001, 60000 / 1001)):
        raise OptionError(f"timeline format edl at {shown} fps: the CMX 3600 adapter writes drop-frame locators "
                          "it cannot read back, so the markers would be lost; use --format fcp7 or otio")
    if fmt == "fcpx" and rate not in FCPX_RATES:
        raise OptionError(f"timeline format fcpx at {shown} fps: the FCP X XML adapter only handles "
                          f"{', '.join(f'{r:g}' for r in FCPX_RATES)} fps; use --format fcp7 (Final Cut imports it) or otio")


def _timecode_rate(rate: float) -> bool:
    from opentimelineio.opentime import RationalTime

    return bool(RationalTime.is_valid_timecode_rate(rate))


def to_frame(seconds: float, rate: float) -> int:
    """The frame at ``seconds``: the nearest one (a cut time is the first frame of the new shot)."""
    return int(math.floor(seconds * rate + 0.5))


def timeline_markers(plan: NarrativePlan, concept: MusicConcept | None, rate: float, n_frames: int) -> list[TimelineMarker]:
    """Scenes, climax, events and cues as markers, sorted by frame (kind order breaks ties)."""
    last = max(0, n_frames - 1)
    clamp = lambda t: min(last, max(0, to_frame(t, rate)))  # noqa: E731
    markers = []
    for i, scene in enumerate(plan.scenes):
        e_local = f"V {scene.valence:+.2f} A {scene.arousal:+.2f} {scene.label}"
        markers.append(TimelineMarker(clamp(scene.start), "scene", f"Scene {i + 1} {scene.arc_role} {e_local}",
                                      f"{scene.caption} (E_local valence {scene.valence:+.2f}, arousal {scene.arousal:+.2f}, {scene.label})"))
    markers.append(TimelineMarker(clamp(plan.climax_time), "climax", "Climax", f"climax at {plan.climax_time:.3f} s"))
    for event in plan.events:
        markers.append(TimelineMarker(clamp(event.time), "event", f"Event {event.kind} {event.strength:.2f}",
                                      f"{event.kind} event, strength {event.strength:.2f}"))
    for i, cue in enumerate(concept.cues if concept is not None else ()):
        markers.append(TimelineMarker(clamp(cue.start), "cue", f"Cue {i + 1} {cue.tempo:.0f} BPM {cue.key} {cue.mode}",
                                      f"cue {i + 1}: {cue.tempo:.1f} BPM, {cue.key} {cue.mode}, intensity {cue.intensity:.2f}"))
    order = list(MARKER_COLORS)
    return sorted(markers, key=lambda m: (m.frame, order.index(m.kind)))


def build_timeline(media: MediaInfo, plan: NarrativePlan, concept: MusicConcept | None, *,
                   audio: dict[str, Path], name: str, video_only: bool = False) -> Any:
    """An ``otio.schema.Timeline``: V1 the video with the markers, then one audio track per ``audio``
    entry (name -> WAV; the soundtrack, or the stems), then the video's own audio when it has any."""
    otio = require_otio()
    rate = timeline_rate(media.fps)
    n_frames = max(1, to_frame(media.duration, rate))
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(n_frames, rate))

    def clip(path: Path, label: str) -> Any:
        ref = otio.schema.ExternalReference(target_url=Path(path).resolve().as_uri(), available_range=span)
        return otio.schema.Clip(name=label, media_reference=ref, source_range=span)

    timeline = otio.schema.Timeline(name=name)
    film = media.located()
    picture = clip(film, film.name)
    for marker in timeline_markers(plan, concept, rate, n_frames):
        picture.markers.append(otio.schema.Marker(
            name=marker.name, comment=marker.comment, color=MARKER_COLORS[marker.kind],
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(marker.frame, rate), otio.opentime.RationalTime(0, rate)),
            metadata={"narrascore": {"kind": marker.kind}}))
    video = otio.schema.Track(name="V1 picture", kind=otio.schema.TrackKind.Video)
    video.append(picture)
    timeline.tracks.append(video)
    if video_only:
        return timeline
    tracks = list(audio.items())
    if media.has_audio:
        tracks.append(("original audio", film))
    for label, path in tracks:
        track = otio.schema.Track(name=label, kind=otio.schema.TrackKind.Audio)
        track.append(clip(path, path.name))
        timeline.tracks.append(track)
    return timeline


def write_timeline(timeline: Any, path: Path, fmt: str) -> Path:
    """Write ``timeline`` with the format's adapter, atomically (nothing half-written on failure)."""
    otio = require_otio()
    adapter, _ext = FORMATS[fmt]
    try:
        text = otio.adapters.write_to_string(timeline, adapter)
    except Exception as exc:  # an adapter limit check_format did not foresee: still one line
        raise OutputError(f"{path}: the {fmt} adapter cannot write this timeline ({type(exc).__name__}: {exc})") from None
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path


def export_timeline(out_dir: str | os.PathLike[str], fmt: str, *, path: str | os.PathLike[str] | None = None,
                    stems: bool | None = None) -> Path:
    """Write the timeline of a scored output folder (``timeline<ext>`` in it unless ``path`` is given).

    ``stems``: one audio track per stem in ``stems/`` instead of the soundtrack (None: stems when there
    are any). Raises ArtifactError when the folder lacks what the timeline names.
    """
    require_otio()
    out = Path(out_dir)
    media = read_artifact(MediaInfo, out / MediaInfo.FILENAME).artifact
    check_format(fmt, media.fps)
    plan = read_artifact(NarrativePlan, out / NarrativePlan.FILENAME).artifact
    concept_path = out / MusicConcept.FILENAME
    concept = read_artifact(MusicConcept, concept_path).artifact if concept_path.exists() else None
    video = media.located()
    if not video.is_file():
        raise ArtifactError(f"{video}: the video named in {out / MediaInfo.FILENAME} is missing")
    stem_files = sorted((out / "stems").glob("*.wav")) if (out / "stems").is_dir() else []
    if stems and not stem_files:
        raise ArtifactError(f"{out / 'stems'}: no stems to put on the timeline; score with --stems first")
    soundtrack = out / "soundtrack.wav"
    if stem_files and stems is not False:
        audio = {f"stem {p.stem}": p for p in stem_files}
    elif soundtrack.exists():
        audio = {"soundtrack": soundtrack}
    else:
        raise ArtifactError(f"{soundtrack}: not found; run `narrascore render {out}` first")
    target = Path(path) if path is not None else out / f"timeline{FORMATS[fmt][1]}"
    if target.is_dir():
        raise OutputError(f"{target}: is a folder; give a file name for the timeline")
    timeline = build_timeline(media, plan, concept, audio=audio, name=Path(media.path).stem, video_only=fmt == "edl")
    return write_timeline(timeline, target, fmt)
