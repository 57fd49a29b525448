"""Export stage: the delivered files.

* ``write_soundtrack(raw, out)``: loudness-normalised (-16 LUFS), true-peak-limited (-1 dBTP) 24-bit WAV, and stems;
* ``mux_video(video, info, soundtrack, out_dir)``: ``scored.mp4`` (video copied when H.264/HEVC/AV1, else
  re-encoded to H.264) or ``scored.mkv`` (any codec kept), optionally mixed under the original audio;
* ``write_figure(out, soundtrack=..., plan=..., cuts=...)``: spectrogram over the narrative curves (Figure 4);
* ``measure_file(path)`` / ``measure_chunks(chunks, rate)``: BS.1770-4 loudness, LRA and true peak, streaming.
"""

from .audio import TruePeakLimiter, limit_stream, mix_under_original, write_soundtrack, write_stems
from .figure import spectrogram, write_figure
from .loudness import LoudnessMeter, LoudnessStats, measure_chunks, measure_file
from .mux import mux_video, output_name, will_copy

__all__ = [
    "LoudnessMeter",
    "LoudnessStats",
    "TruePeakLimiter",
    "limit_stream",
    "measure_chunks",
    "measure_file",
    "mix_under_original",
    "mux_video",
    "output_name",
    "spectrogram",
    "will_copy",
    "write_figure",
    "write_soundtrack",
    "write_stems",
]
