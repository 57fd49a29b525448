"""Media stage: probing, one streaming sensing pass (frame statistics + shot cuts), audio, subtitles.

One-call use::

    info = probe("film.mp4")
    stats, shots = scan_video("film.mp4", info)
    sound = audio_stats("film.mp4", info)
"""

from .audio import audio_stats, iter_audio
from .cuts import CutDetector, CutOptions
from .features import AudioStats, SubtitleLine, VideoStats
from .probe import check_complete, find_sidecar_subtitles, probe
from .scan import iter_frames, scan_video
from .subtitles import parse_subtitles, read_embedded_subtitles, read_subtitle_file, read_subtitles
from .synthetic import Segment, demo_segments, make_demo_video, make_video, write_srt

__all__ = [
    "AudioStats",
    "CutDetector",
    "CutOptions",
    "Segment",
    "SubtitleLine",
    "VideoStats",
    "audio_stats",
    "check_complete",
    "demo_segments",
    "find_sidecar_subtitles",
    "iter_audio",
    "iter_frames",
    "make_demo_video",
    "make_video",
    "parse_subtitles",
    "probe",
    "read_embedded_subtitles",
    "read_subtitle_file",
    "read_subtitles",
    "scan_video",
    "write_srt",
]
