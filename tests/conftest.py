"""Shared fixtures: tiny synthetic videos (320x180, a few seconds) with known cuts, made once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from narrascore.media.synthetic import Segment, make_video

SHORT_SEGMENTS = (
    Segment(1.2, (200, 60, 50), motion=0.1, audio_db=-30),
    Segment(1.0, (50, 180, 70), motion=0.0, audio_db=-20, audio_pulse_hz=4),
    Segment(0.8, (40, 60, 200), motion=0.3, audio_db=-14, audio_pulse_hz=6),
    Segment(1.0, (230, 220, 200), motion=0.0, audio_db=-36),
)


@dataclass(frozen=True)
class SyntheticVideo:
    path: Path
    cuts: list[float]
    segments: tuple[Segment, ...]


def make_test_video(folder: Path, name: str, segments=SHORT_SEGMENTS, **options) -> SyntheticVideo:
    """Write ``folder/name`` from ``segments`` (see ``make_video`` for options) and return it with its true cuts."""
    path = Path(folder) / name
    cuts = make_video(path, list(segments), **options)
    return SyntheticVideo(path=path, cuts=cuts, segments=tuple(segments))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def short_video(media_dir) -> SyntheticVideo:
    """4 s mp4 (H.264 + AAC) with 3 known hard cuts at 1.2, 2.2 and 3.0 s."""
    return make_test_video(media_dir, "short.mp4")


@pytest.fixture(scope="session")
def silent_video(media_dir) -> SyntheticVideo:
    """The same pictures without an audio stream."""
    return make_test_video(media_dir, "silent.mp4", audio=False)


@pytest.fixture(scope="session")
def video_factory(media_dir):
    """Call with (name, segments, **make_video options) to get a cached ``SyntheticVideo``."""
    made: dict[str, SyntheticVideo] = {}

    def factory(name: str, segments=SHORT_SEGMENTS, **options) -> SyntheticVideo:
        if name not in made:
            made[name] = make_test_video(media_dir, name, segments, **options)
        return made[name]

    return factory


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Every test (and every process it starts) caches into a session folder, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NARRASCORE_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """Debug models are built once per session into a private cache folder (never ~/.cache)."""
    folder = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NARRASCORE_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def torch_one_thread():
    """torch on one thread (the tests share two cores); skips where the neural extra is missing."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def scored_demo(tmp_path_factory) -> Path:
    """The two-minute demo video, scored with the defaults once per session (the wiring and evaluation tests share it)."""
    import narrascore
    from narrascore.media import make_demo_video

    out = tmp_path_factory.mktemp("scored-demo")
    make_demo_video(out / "demo.mp4")
    narrascore.score(out / "demo.mp4", out)
    return out
