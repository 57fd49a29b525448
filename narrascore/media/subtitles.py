"""Subtitles as ``SubtitleLine`` lists: side-car SubRip (.srt) and WebVTT (.vtt) files, and text
subtitle streams inside the container (subrip, mov_text, ass/ssa, webvtt) read through PyAV."""

from __future__ import annotations

import os
import re
from pathlib import Path

import av

from ..errors import MediaError
from .features import SubtitleLine
from .probe import _reason, open_media

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_CUE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _clean(lines: list[str]) -> str:
    text = " ".join(_TAG.sub("", line).strip() for line in lines)
    return re.sub(r"\s+", " ", text).strip()


def parse_subtitles(text: str, *, source: str = "<text>") -> list[SubtitleLine]:
    """Parse SubRip or WebVTT text; raise ``MediaError`` naming ``source`` and the line at fault."""
    rows = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    vtt = rows[0].strip().startswith("WEBVTT") if rows else False
    out: list[SubtitleLine] = []
    i = 1 if vtt else 0
    while i < len(rows):
        row = rows[i].strip()
        if not row:
            i += 1
            continue
        block_start = i
        block: list[str] = []
        while i < len(rows) and rows[i].strip():
            block.append(rows[i])
            i += 1
        if vtt and block[0].strip().split(" ")[0] in ("NOTE", "STYLE", "REGION"):
            continue
        timing = next((k for k, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None:
            raise MediaError(f"{source}: line {block_start + 1}: expected a cue timing 'start --> end', got {block[0].strip()!r}")
        match = _CUE.match(block[timing])
        if not match:
            raise MediaError(f"{source}: line {block_start + timing + 1}: malformed cue timing {block[timing].strip()!r}")
        g = match.groups()
        start, end = _seconds(*g[:4]), _seconds(*g[4:])
        if end < start:
            raise MediaError(f"{source}: line {block_start + timing + 1}: cue ends ({end:.3f} s) before it starts ({start:.3f} s)")
        text_lines = block[timing + 1 :]
        if text_lines:
            out.append(SubtitleLine(start=start, end=end, text=_clean(text_lines)))
    out.sort(key=lambda line: line.start)
    return out


def read_subtitle_file(path: str | os.PathLike[str]) -> list[SubtitleLine]:
    """Read a .srt or .vtt file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MediaError(f"{path}: subtitle file not found") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "-->" not in text and text.strip():
        raise MediaError(f"{path}: not a SubRip or WebVTT file (no cue timings)")
    return parse_subtitles(text, source=str(path))


def _ass_text(ass: str) -> str:
    # "ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text" (FFmpeg's packet form) or a Dialogue: line
    body = ass.split(":", 1)[1] if ass.startswith("Dialogue:") else ass
    text = body.split(",", 8)[-1]
    return _clean([text.replace("\\N", " ").replace("\\n", " ")])


def read_embedded_subtitles(path: str | os.PathLike[str], stream_index: int | None = None) -> list[SubtitleLine]:
    """Text subtitles from a subtitle stream of the container (the first one unless ``stream_index``)."""
    out: list[SubtitleLine] = []
    with open_media(path) as container:
        streams = [s for s in container.streams.subtitles if stream_index is None or s.index == stream_index]
        if not streams:
            return []
        stream = streams[0]
        tb = float(stream.time_base)
        video = [s for s in container.streams.video]
        origin = float(video[0].start_time * video[0].time_base) if video and video[0].start_time is not None else 0.0
        try:
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                start = packet.pts * tb - origin
                end = start + (packet.duration or 0) * tb
                for subtitle in packet.decode():
                    texts = []
                    for rect in getattr(subtitle, "rects", None) or [subtitle]:
                        text = getattr(rect, "text", b"") or b""
                        ass = getattr(rect, "ass", b"") or b""
                        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
                        ass = ass.decode("utf-8", "replace") if isinstance(ass, bytes) else str(ass)
                        texts.append(_clean([text]) if text else _ass_text(ass))
                    line = " ".join(t for t in texts if t)
                    if line:
                        shown = getattr(subtitle, "end_display_time", 0) or 0
                        stop = end if end > start else start + shown / 1000
                        out.append(SubtitleLine(start=float(start), end=float(stop), text=line))
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: cannot read subtitle stream {stream.index} ({_reason(exc)})") from None
    return out


def read_subtitles(path: str | os.PathLike[str], sidecar: str | os.PathLike[str] | None = None) -> list[SubtitleLine]:
    """Subtitles of a video: the side-car file when there is one, else the first embedded text stream."""
    if sidecar is not None:
        return read_subtitle_file(sidecar)
    from .probe import find_sidecar_subtitles

    found = find_sidecar_subtitles(path)
    if found is not None:
        return read_subtitle_file(found)
    return read_embedded_subtitles(path)
