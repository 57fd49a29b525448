"""Affect sensing: heuristic mapping, subtitle sentiment, fusion, range-merge exactness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from narrascore.artifacts import AffectCurve, Cut, MediaInfo, SensorCurve, Shots, validate
from narrascore.errors import MediaError, OptionError
from narrascore.media.features import AudioStats, SubtitleLine, VideoStats
from narrascore.sense import SENSORS, SensingInput, grid, sense
from narrascore.sense.fusion import fuse
from narrascore.sense.heuristic import features_to_curve, merge_features, raw_features
from narrascore.sense.text import line_affect, load_lexicon, subtitle_curve

HOP = 0.5


@dataclass(frozen=True)
class Look:
    """One stretch of hand-built media statistics."""

    seconds: float
    brightness: float = 0.45
    saturation: float = 0.15
    warmth: float = 0.0
    contrast: float = 0.12
    motion: float = 0.08
    shot_seconds: float = 20.0  # a cut every this many seconds
    loudness_db: float = -30.0
    onsets: float = 1.0


CALM = Look(30, brightness=0.25, saturation=0.05, warmth=-0.08, contrast=0.06, motion=0.01, shot_seconds=30, loudness_db=-45, onsets=0.3)
ACTION = Look(30, brightness=0.7, saturation=0.35, warmth=0.08, contrast=0.2, motion=0.45, shot_seconds=1.5, loudness_db=-14, onsets=5)


def make_inputs(looks, *, fps: float = 4.0, audio: bool = True, subtitles=(), noise: float = 0.0, seed: int = 0) -> SensingInput:
    rng = np.random.default_rng(seed)
    duration = float(sum(look.seconds for look in looks))
    times = np.arange(0, duration, 1.0 / fps)
    starts = np.cumsum([0.0] + [look.seconds for look in looks])
    which = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(looks) - 1)

    def column(name):
        x = np.array([getattr(looks[k], name) for k in which], dtype=float)
        return x + noise * rng.standard_normal(len(x)) * (abs(x).mean() + 1e-3)

    video = VideoStats(
        times=times,
        luma_mean=np.clip(column("brightness"), 0, 1),
        luma_std=np.clip(column("contrast"), 0, 0.5),
        saturation=np.clip(column("saturation"), 0, 1),
        warmth=column("warmth"),
        motion=np.clip(column("motion"), 0, None),
    )
    cuts = []
    for look, s in zip(looks, starts):
        cuts.extend(Cut(time=float(t), confidence=1.0) for t in np.arange(s, s + look.seconds - 1e-9, look.shot_seconds) if t > 0)
    audio_stats = None
    if audio:
        at = (np.arange(int(duration / HOP)) + 0.5) * HOP
        aw = np.clip(np.searchsorted(starts, at, side="right") - 1, 0, len(looks) - 1)
        audio_stats = AudioStats(
            hop=HOP,
            times=at,
            loudness_db=np.array([looks[k].loudness_db for k in aw]),
            onset_rate=np.array([looks[k].onsets for k in aw]),
            speech=np.zeros(len(at)),
        )
    media = MediaInfo(path="test.mp4", size_bytes=1, content_hash="x", duration=duration, fps=25.0, frame_count=int(duration * 25),
                      width=320, height=180, video_codec="h264", has_audio=audio)
    return SensingInput(media=media, shots=Shots(cuts=tuple(cuts), detector="test", duration=duration), video=video,
                        audio=audio_stats, subtitles=tuple(subtitles), times=grid(duration, HOP), hop=HOP)


def mean_in(curve: AffectCurve, values, start: float, end: float) -> float:
    t = np.asarray(curve.times)
    return float(np.mean(np.asarray(values)[(t >= start) & (t < end)]))


# --------------------------------------------------------------------------- grid and registry
def test_grid_covers_the_video_on_absolute_times():
    assert grid(10.0, 0.5) == tuple(i * 0.5 for i in range(20))
    assert grid(10.1, 0.5)[-1] == 10.0
    assert grid(0.2, 0.5) == (0.0,)
    with pytest.raises(OptionError, match="hop"):
        grid(10, 0)
    with pytest.raises(OptionError, match="duration"):
        grid(0, 0.5)


def test_unknown_sensor_lists_the_available_ones():
    with pytest.raises(OptionError, match="heuristic.*text"):
        sense(make_inputs([CALM]), sensors=("nope",))
    assert {"heuristic", "text"} <= set(SENSORS.names())


# --------------------------------------------------------------------------- heuristic mapping
def test_action_is_more_arousing_than_calm_and_features_are_recorded():
    inputs = make_inputs([CALM, ACTION, CALM])
    curve = sense(inputs)
    validate(curve)
    calm, action = mean_in(curve, curve.arousal, 5, 25), mean_in(curve, curve.arousal, 35, 55)
    assert action > calm + 0.8
    assert action > 0.4 and calm < -0.4
    for name in ("motion", "cut_rate", "brightness", "saturation", "warmth", "contrast", "loudness_db", "onset_rate"):
        assert len(curve.features[name]) == len(curve.times)
    assert mean_in(curve, curve.features["cut_rate"], 35, 55) == pytest.approx(40, rel=0.15)
    assert set(curve.sensors) == {"heuristic"}


def test_each_arousal_cue_pushes_the_same_way():
    base = Look(20)
    cues = {
        "motion": Look(20, motion=0.4),
        "cutting": Look(20, shot_seconds=2.0),
        "loud pulsing audio": Look(20, loudness_db=-12, onsets=5.0),
    }
    for what, look in cues.items():
        curve = sense(make_inputs([base, look]))
        assert mean_in(curve, curve.arousal, 25, 40) > mean_in(curve, curve.arousal, 0, 15) + 0.2, what


def test_warm_bright_saturated_is_more_pleasant_than_cold_dark_desaturated():
    cold = Look(30, brightness=0.15, saturation=0.03, warmth=-0.12)
    warm = Look(30, brightness=0.7, saturation=0.35, warmth=0.12)
    curve = sense(make_inputs([cold, warm]))
    assert mean_in(curve, curve.valence, 35, 60) > 0.4
    assert mean_in(curve, curve.valence, 0, 25) < -0.4


def test_uniformly_calm_video_is_not_stretched_into_drama():
    curve = sense(make_inputs([CALM, CALM], noise=0.05))
    a = np.asarray(curve.arousal)
    assert a.max() < -0.2
    assert a.max() - a.min() < 0.25


def test_curve_is_smooth_and_in_range_under_noise():
    curve = sense(make_inputs([CALM, ACTION], noise=0.3, seed=3))
    a = np.asarray(curve.arousal)
    assert np.all(np.abs(a) <= 1) and np.all((0 <= np.asarray(curve.confidence)) & (np.asarray(curve.confidence) <= 1))
    assert np.max(np.abs(np.diff(a))) < 0.2


def test_no_audio_still_senses_with_lower_confidence():
    with_audio = sense(make_inputs([CALM, ACTION]))
    silent = sense(make_inputs([CALM, ACTION], audio=False))
    assert "loudness_db" not in silent.features
    assert mean_in(silent, silent.arousal, 35, 55) > mean_in(silent, silent.arousal, 5, 25) + 0.5
    assert np.mean(silent.confidence) < np.mean(with_audio.confidence)


def test_no_frames_is_a_media_error():
    inputs = make_inputs([CALM])
    empty = VideoStats(*(np.zeros(0) for _ in range(6)))
    with pytest.raises(MediaError, match="test.mp4"):
        sense(SensingInput(inputs.media, inputs.shots, empty, None, (), inputs.times, HOP))


@pytest.mark.parametrize("split", [10.0, 33.5, 47.0])
def test_time_ranges_sensed_separately_merge_into_exactly_the_same_curve(split):
    lines = (SubtitleLine(31.0, 33.0, "I love this, it's wonderful"), SubtitleLine(34.0, 35.5, "not bad"))
    inputs = make_inputs([CALM, ACTION, CALM], noise=0.2, subtitles=lines)
    whole = raw_features(inputs)
    parts = merge_features([raw_features(inputs, end=split), raw_features(inputs, start=split)])
    assert whole.keys() == parts.keys()
    for name in whole:
        np.testing.assert_array_equal(whole[name], parts[name], err_msg=name)
    assert features_to_curve(whole, HOP) == features_to_curve(parts, HOP)
    assert features_to_curve(parts, HOP) == sense(inputs).sensors["heuristic"]


# --------------------------------------------------------------------------- text
def test_lexicon_is_compact_and_in_range():
    lexicon = load_lexicon()
    assert 300 <= len(lexicon) <= 1000
    assert all(-1 <= v <= 1 and -1 <= a <= 1 for v, a in lexicon.values())
    assert lexicon["happy"][0] > 0.5 and lexicon["terror"][1] > 0.5 and lexicon["calm"][1] < -0.5


def test_line_affect_with_negation_and_intensifiers():
    happy, _, n = line_affect("I am happy")
    assert happy > 0.5 and n == 1
    assert line_affect("I am not happy")[0] < 0
    assert line_affect("I don't love you")[0] < 0
    assert line_affect("Nothing is wrong. I am happy")[0] > 0.5  # negation stops at the clause end
    assert line_affect("I am very happy")[0] > happy
    assert line_affect("They will kill us, run!")[1] > 0.6
    assert line_affect("The table is on the left side") == (0.0, 0.0, 0) or line_affect("The table is here") == (0.0, 0.0, 0)
    assert line_affect("<i>We are SAFE</i>")[0] > 0


def test_subtitle_curve_maps_lines_with_bounded_memory():
    times = grid(20.0, HOP)
    curve = subtitle_curve([SubtitleLine(4.0, 6.0, "I hate you, I hate this awful place")], times, HOP)
    t = np.asarray(times)
    v, c = np.asarray(curve.valence), np.asarray(curve.confidence)
    assert np.all(c[t < 3.5] == 0) and np.all(c[t > 9.0] == 0)
    assert v[t == 5.0][0] < -0.5 and 0.4 < c[t == 5.0][0] <= 1


def test_subtitles_steer_valence_and_text_sensor_fuses():
    looks = [Look(20), Look(20)]
    lines = [SubtitleLine(22.0, 26.0, "I love you, this is wonderful, we are so happy"), SubtitleLine(27, 30, "beautiful")]
    plain = sense(make_inputs(looks))
    spoken = sense(make_inputs(looks, subtitles=lines), sensors=("heuristic", "text"))
    assert set(spoken.sensors) == {"heuristic", "text"}
    assert mean_in(spoken, spoken.valence, 23, 29) > mean_in(plain, plain.valence, 23, 29) + 0.2
    assert "subtitle_valence" in spoken.features
    assert mean_in(spoken, spoken.valence, 2, 12) == pytest.approx(mean_in(plain, plain.valence, 2, 12), abs=1e-9)


# --------------------------------------------------------------------------- fusion
def test_fusion_weights_by_confidence():
    a = SensorCurve(valence=(0.8, 0.8, 0.2), arousal=(0.0, 0.5, 0.2), confidence=(1.0, 0.5, 0.0))
    b = SensorCurve(valence=(-0.8, 0.0, -0.2), arousal=(0.0, 1.0, 0.4), confidence=(0.0, 0.5, 0.0))
    fused = fuse({"a": a, "b": b})
    assert fused.valence[0] == pytest.approx(0.8)
    assert fused.valence[1] == pytest.approx(0.4) and fused.arousal[1] == pytest.approx(0.75)
    assert fused.valence[2] == pytest.approx(0.0) and fused.confidence[2] == 0.0  # nobody sure: plain mean
    assert fused.confidence[1] == pytest.approx(0.75)
    assert fuse({"a": a, "b": b}, {"b": 0.0}).valence[1] == pytest.approx(0.8)
    with pytest.raises(OptionError):
        fuse({})
    with pytest.raises(OptionError, match="length"):
        fuse({"a": a, "c": SensorCurve((0.0,), (0.0,), (1.0,))})


# --------------------------------------------------------------------------- generated videos of known intent
def _sense_video(tmp_path, name, segments):
    try:
        from narrascore.media.audio import audio_stats
        from narrascore.media.probe import probe
        from narrascore.media.scan import scan_video
        from narrascore.media.synthetic import make_video
    except ImportError as exc:  # the media stage is not there yet
        pytest.skip(f"media stage unavailable: {exc}")
    path = tmp_path / name
    make_video(path, segments)
    info = probe(path)
    video, shot_list = scan_video(path, info)
    audio = audio_stats(path, info, hop=HOP)
    inputs = SensingInput(info, shot_list, video, audio, (), grid(info.duration, HOP), HOP)
    return inputs, sense(inputs)


def test_generated_video_action_reads_aroused_and_warm_reads_pleasant(tmp_path):
    from narrascore.media.synthetic import Segment

    calm = Segment(12, color=(35, 45, 75), motion=0.0, texture=0.1, audio_db=-45)
    action = [Segment(1.5, color=(235, 150, 50) if i % 2 else (240, 200, 70), motion=0.8, texture=0.6, audio_db=-12, audio_pulse_hz=4)
              for i in range(8)]
    inputs, curve = _sense_video(tmp_path, "arc.mp4", [calm, *action, calm])
    assert len(inputs.shots.cuts) >= 6
    assert mean_in(curve, curve.arousal, 15, 21) > mean_in(curve, curve.arousal, 0, 9) + 0.8
    assert mean_in(curve, curve.valence, 15, 21) > mean_in(curve, curve.valence, 0, 9) + 0.8
    assert mean_in(curve, curve.features["cut_rate"], 15, 21) > 20

    from narrascore.narrative import reason

    plan = reason(inputs.media, inputs.shots, curve)
    assert 10 <= plan.climax_time <= 24
    assert next(s for s in plan.scenes if s.arc_role == "climax").start == pytest.approx(12.0, abs=0.1)


def test_generated_video_loud_pulsing_audio_raises_arousal(tmp_path):
    from narrascore.media.synthetic import Segment

    quiet = Segment(10, color=(120, 120, 120), texture=0.2, audio_db=-42, audio_pulse_hz=0.0)
    loud = Segment(10, color=(120, 120, 120), texture=0.2, audio_db=-10, audio_pulse_hz=5.0, transition="fade")
    _, curve = _sense_video(tmp_path, "audio.mp4", [quiet, loud])
    assert mean_in(curve, curve.arousal, 13, 20) > mean_in(curve, curve.arousal, 0, 7) + 0.3
    assert mean_in(curve, curve.features["loudness_db"], 13, 20) > mean_in(curve, curve.features["loudness_db"], 0, 7) + 20
