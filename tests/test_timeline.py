"""Timeline exports (narrascore.export.timeline): frame-accurate markers that OpenTimelineIO's readers
read back, FCP7 XML that parses and names existing media, and the adapters' limits refused in one line."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

otio = pytest.importorskip("opentimelineio")

from narrascore.artifacts import Cue, Event, MediaInfo, MusicConcept, NarrativePlan, Scene, save_artifact  # noqa: E402
from narrascore.errors import OptionError  # noqa: E402
from narrascore.export.timeline import FORMATS, check_format, export_timeline, timeline_markers, timeline_rate  # noqa: E402

RATES = {"23.976": 24000 / 1001, "25": 25.0, "29.97df": 30000 / 1001, "60": 60.0}
REFUSED = {("edl", "29.97df"), ("fcpx", "23.976"), ("fcpx", "29.97df")}
DURATION_FRAMES = 240


def _folder(tmp_path: Path, rate: float, *, stems: bool = False) -> Path:
    """An output folder built from small artifacts: scenes and events at known frames (one between frames)."""
    import soundfile as sf

    out = tmp_path / "out"
    out.mkdir()
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0" * 64)  # only its path is read
    duration = DURATION_FRAMES / rate
    media = MediaInfo(path=str(video), size_bytes=64, content_hash="x", duration=duration, fps=round(rate, 3),
                      frame_count=DURATION_FRAMES, width=320, height=180, video_codec="h264", has_audio=True)
    at = lambda frame: frame / rate  # noqa: E731
    bounds = [0.0, at(37), at(120) + 0.3 / rate, duration]  # the second boundary lies 0.3 frame past 120
    scenes = tuple(Scene(start=bounds[i], end=bounds[i + 1], caption=f"shot {i}", valence=0.1 * i, arousal=-0.2 + 0.3 * i,
                         label="calm", arc_role=role) for i, role in enumerate(("setup", "climax", "resolution")))
    times = tuple(np.arange(0, duration, 0.5).round(6).tolist())
    plan = NarrativePlan(s_global="a test", scenes=scenes, hop=0.5, times=times, valence=(0.0,) * len(times),
                         arousal=(0.0,) * len(times), climax_time=at(150), duration=duration,
                         events=(Event(time=at(61), kind="impact", strength=0.8), Event(time=at(200) - 0.4 / rate, kind="flash", strength=0.3)))
    cues = tuple(Cue(start=s.start, end=s.end, tempo=90.0 + 10 * i, key="D", mode="minor", intensity=0.5) for i, s in enumerate(scenes))
    concept = MusicConcept(anchor_prompt="p", style="orchestral", genre="g", instruments=("strings",), key="D", mode="minor",
                           tempo_min=80, tempo_max=120, beats_per_bar=4, seed=0, cues=cues)
    for artifact in (media, plan, concept):
        save_artifact(artifact, out)
    silence = np.zeros((int(duration * 48000), 2), dtype=np.float32)
    sf.write(out / "soundtrack.wav", silence, 48000)
    if stems:
        (out / "stems").mkdir()
        for name in ("strings", "drums"):
            sf.write(out / "stems" / f"{name}.wav", silence, 48000)
    return out


def _read_markers(path: Path, fmt: str, rate: float) -> list[tuple[int, str]]:
    kwargs = {"rate": rate} if fmt == "edl" else {}
    timeline = otio.adapters.read_from_file(str(path), FORMATS[fmt][0], **kwargs)
    found = []
    for clip in timeline.find_clips():
        for marker in clip.markers:
            start = marker.marked_range.start_time.rescaled_to(rate)
            found.append((round(start.value), marker.name))
    return sorted(found)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("label", list(RATES))
def test_markers_round_trip_to_the_frame(tmp_path, fmt, label):
    rate = RATES[label]
    out = _folder(tmp_path, rate)
    if (fmt, label) in REFUSED:
        with pytest.raises(OptionError, match=f"timeline format {fmt} at") as caught:
            export_timeline(out, fmt)
        assert "\n" not in str(caught.value) and not list(out.glob("timeline*"))
        return
    path = export_timeline(out, fmt)
    assert path == out / f"timeline{FORMATS[fmt][1]}"
    from narrascore.artifacts import load_artifact

    expected = timeline_markers(load_artifact(NarrativePlan, out / "narrative.json"),
                                load_artifact(MusicConcept, out / "concept.json"), timeline_rate(rate), DURATION_FRAMES)
    frames = sorted(f for f, _ in _read_markers(path, fmt, timeline_rate(rate)))
    assert frames == sorted(m.frame for m in expected)
    # scenes at 0, 37, 120 (0.3 past it), cues on them, events at 61 and 200 (0.4 before it), climax at 150
    assert frames == [0, 0, 37, 37, 61, 120, 120, 150, 200]
    names = [n.lower() for _, n in _read_markers(path, fmt, timeline_rate(rate))]
    assert any(n.startswith("scene 2 climax v +0.10 a +0.10") for n in names)
    assert any(n.startswith("event impact 0.80") for n in names) and "climax" in names


@pytest.mark.parametrize("label", list(RATES))
def test_fcp7_xml_is_valid_and_names_existing_media(tmp_path, label):
    rate = RATES[label]
    out = _folder(tmp_path, rate, stems=True)
    path = export_timeline(out, "fcp7")
    root = ET.parse(path).getroot()
    assert root.tag == "xmeml"
    urls = {unquote(urlparse(e.text).path) for e in root.iter("pathurl")}
    assert urls == {str((tmp_path / "clip.mp4").resolve()), str((out / "stems" / "strings.wav").resolve()),
                    str((out / "stems" / "drums.wav").resolve())}
    assert all(Path(u).is_file() for u in urls)
    timebase = {e.text for e in root.iter("timebase")}
    assert timebase == {str(round(rate))}
    assert {e.text for e in root.iter("ntsc")} == {"TRUE" if label in ("23.976", "29.97df") else "FALSE"}
    read = otio.adapters.read_from_file(str(path), "fcp_xml")
    audio = [t for t in read.tracks if t.kind == otio.schema.TrackKind.Audio]
    assert len(audio) == 3  # two stems and the video's own audio
    assert read.duration().rescaled_to(timeline_rate(rate)).value == DURATION_FRAMES
    mixed = export_timeline(out, "fcp7", path=tmp_path / "mixed.xml", stems=False)
    assert str((out / "soundtrack.wav").resolve()) in {unquote(urlparse(e.text).path) for e in ET.parse(mixed).getroot().iter("pathurl")}


def test_the_adapter_limits_we_refuse_are_real(tmp_path):
    """If an adapter release fixes one of these, the refusal in check_format can go."""
    out = _folder(tmp_path, 30000 / 1001)
    from narrascore.artifacts import load_artifact
    from narrascore.export.timeline import build_timeline

    timeline = build_timeline(load_artifact(MediaInfo, out / "media.json"), load_artifact(NarrativePlan, out / "narrative.json"),
                              None, audio={}, name="t", video_only=True)
    edl = otio.adapters.write_to_string(timeline, "cmx_3600")
    assert "* LOC: 00:00:01;07" in edl  # frame 37, written drop-frame
    markers = [m for c in otio.adapters.read_from_string(edl, "cmx_3600", rate=30000 / 1001).find_clips() for m in c.markers]
    assert markers == []
    timeline = build_timeline(load_artifact(MediaInfo, out / "media.json"), load_artifact(NarrativePlan, out / "narrative.json"),
                              None, audio={"soundtrack": out / "soundtrack.wav"}, name="t")
    with pytest.raises(ValueError):
        otio.adapters.write_to_string(timeline, "fcpx_xml")


def test_rates_and_formats_are_checked():
    assert timeline_rate(23.976) == 24000 / 1001 and timeline_rate(29.97) == 30000 / 1001 and timeline_rate(25.0) == 25.0
    with pytest.raises(OptionError, match="unknown timeline format 'aaf'; available: fcp7, edl, otio, fcpx"):
        check_format("aaf", 25)
    with pytest.raises(OptionError, match="12.3 fps is not a timecode frame rate; use --format otio"):
        check_format("fcp7", 12.3)
    check_format("otio", 12.3)


def test_cli_export_timeline_and_score_timeline(tmp_path, video_factory, short_video):
    env_run = lambda *args: subprocess.run([sys.executable, "-m", "narrascore.cli", *args], capture_output=True, text=True)  # noqa: E731
    out = _folder(tmp_path, 25.0)
    done = env_run("export-timeline", str(out), "--format", "otio")
    assert done.returncode == 0, done.stderr
    assert (out / "timeline.otio").is_file() and "timeline.otio" in done.stdout
    bad = env_run("export-timeline", str(out), "--format", "aaf")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["narrascore: error: unknown timeline format 'aaf'; available: fcp7, edl, otio, fcpx"]
    scored = env_run("score", str(short_video.path), "-o", str(tmp_path / "scored"), "--timeline", "fcp7", "--quiet")
    assert scored.returncode == 0, scored.stderr
    xml = tmp_path / "scored" / "timeline.xml"
    assert f"timeline   {xml}" in scored.stdout and ET.parse(xml).getroot().tag == "xmeml"
    assert any(name.startswith("Scene 1") for _, name in _read_markers(xml, "fcp7", 25.0))
    ntsc = video_factory("ntsc.mp4", fps=30000 / 1001)
    refused = env_run("score", str(ntsc.path), "-o", str(tmp_path / "ntsc"), "--timeline", "edl", "--quiet")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "edl at 29.97 fps" in refused.stderr and not (tmp_path / "ntsc" / "shots.json").exists()
