"""The benchmark video: the same file for every measurement.

1280x720, 25 fps, H.264 (libx264 preset medium, GOP 250 with 3 B-frames), FFmpeg's testsrc2 pattern
under a moving overlay, a scene change every 5 to 20 s (the pattern shifted and recoloured), AAC audio.
Cut times are written beside the video as JSON so cut detection can be scored on it.
"""

from __future__ import annotations

import argparse
import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 25
SAMPLE_RATE = 48_000


def scene_starts(seconds: float, seed: int = 7) -> list[float]:
    """Scene boundaries every 5 to 20 s, on frame boundaries."""
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    while True:
        t += float(rng.uniform(5.0, 20.0))
        t = round(t * FPS) / FPS
        if t >= seconds - 2.0:
            return times
        times.append(t)


def _testsrc2_frames(count: int):
    graph = av.filter.Graph()
    src = graph.add("testsrc2", f"size={WIDTH}x{HEIGHT}:rate={FPS}:duration={count / FPS}")
    fmt = graph.add("format", "pix_fmts=rgb24")
    sink = graph.add("buffersink")
    src.link_to(fmt)
    fmt.link_to(sink)
    graph.configure()
    for _ in range(count):
        yield sink.pull().to_ndarray()


def make_benchmark_video(path: str | os.PathLike[str], *, minutes: float = 10.0, seed: int = 7) -> list[float]:
    """Write the benchmark video to ``path`` (and ``path``.cuts.json) unless it exists; return the cut times."""
    path = Path(path)
    seconds = minutes * 60.0
    cuts = scene_starts(seconds, seed)
    cuts_file = path.with_suffix(path.suffix + ".cuts.json")
    if path.exists() and cuts_file.exists():
        return json.loads(cuts_file.read_text())
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    count = int(round(seconds * FPS))
    bounds = [0.0] + cuts
    rng = np.random.default_rng(seed)
    looks = [(int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)), rng.permutation(3), float(rng.uniform(0.5, 1.2)))
             for _ in bounds]
    with av.open(str(tmp), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"preset": "medium", "g": "250", "bf": "3", "crf": "23"}
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "stereo"
        audio_pts = 0
        scene = 0
        for index, rgb in enumerate(_testsrc2_frames(count)):
            t = index / FPS
            while scene + 1 < len(bounds) and t >= bounds[scene + 1]:
                scene += 1
            dx, dy, channels, gain = looks[scene]
            frame = np.roll(rgb, (dy, dx), axis=(0, 1))[:, :, channels]
            frame = np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)
            # the moving overlay: a box that crosses the picture every 4 s
            x = int((t / 4.0 % 1.0) * (WIDTH - 160))
            frame[300:420, x:x + 160] = (255, 255, 255)
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = index
            vf.time_base = Fraction(1, FPS)
            for packet in video.encode(vf):
                container.mux(packet)
            # one video frame's worth of audio: a tone per scene with a 2 Hz pulse
            n = SAMPLE_RATE // FPS
            ts = (audio_pts + np.arange(n)) / SAMPLE_RATE
            tone = 0.2 * np.sin(2 * np.pi * (110 * (1 + scene % 5)) * ts) * (0.6 + 0.4 * (np.sin(2 * np.pi * 2 * ts) > 0))
            samples = np.repeat(tone[None, :].astype(np.float32), 2, axis=0)
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            af.sample_rate, af.pts = SAMPLE_RATE, audio_pts
            audio_pts += n
            for packet in audio.encode(af):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    os.replace(tmp, path)
    cuts_file.write_text(json.dumps(cuts))
    return cuts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(make_benchmark_video(args.path, minutes=args.minutes)))
