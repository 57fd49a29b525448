"""Tests for narrascore.evaluate: emotion estimate, metrics, report. All audio is synthesised here."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from narrascore.artifacts import NarrativePlan, Scene, validate
from narrascore.errors import ArtifactError, MediaError, OptionError
from narrascore.evaluate import (
    EvaluationReport, align_dimension, analyze, compare, cut_sync, estimate_emotion, evaluate,
    fixed_mood_plan, measure_loudness, shuffled_plan, write_emotion_json,
)
from narrascore.evaluate.descriptors import sethares_roughness
from narrascore.evaluate.metrics import Span, clipped_runs, coherence, pearson, silent_runs

SR = 22050


# --------------------------------------------------------------------------- synthetic music
def midi_hz(m):
    return 440.0 * 2 ** ((np.asarray(m, float) - 69) / 12)


def note(freqs, dur, *, harmonics=6, rolloff=1.0, attack=0.01, decay=None, amp=0.3):
    t = np.arange(int(dur * SR)) / SR
    x = np.zeros_like(t)
    for f in np.atleast_1d(freqs):
        for k in range(1, harmonics + 1):
            if f * k < SR / 2 - 500:
                x += np.sin(2 * np.pi * f * k * t) / k**rolloff
    env = np.minimum(1.0, t / attack) * np.minimum(1.0, (dur - t) / 0.01)
    if decay is not None:
        env *= np.exp(-t / decay)
    x *= env
    return amp * x / (np.abs(x).max() + 1e-9)


def sequence(chords, bpm, beats, dur, **kw):
    step = 60.0 / bpm * beats
    parts = [note(midi_hz(chords[i % len(chords)]), step, **kw) for i in range(int(dur / step) + 1)]
    return np.concatenate(parts)[: int(dur * SR)].astype(np.float32)


def energetic(dur=12.0):
    chords = [[72, 76, 79], [74, 77, 81], [76, 79, 84], [71, 74, 79]]
    x = sequence(chords, 150, 0.5, dur, harmonics=12, rolloff=0.7, decay=0.12, amp=0.6)
    rng = np.random.default_rng(0)
    hit = rng.standard_normal(int(0.03 * SR)) * np.exp(-np.arange(int(0.03 * SR)) / (0.008 * SR))
    for s in range(0, x.size - hit.size, int(SR * 0.2)):
        x[s:s + hit.size] += 0.3 * hit
    return (0.9 * x / np.abs(x).max()).astype(np.float32)


def calm(dur=12.0):
    chords = [[48, 55, 60], [45, 52, 57], [41, 48, 53], [43, 50, 55]]
    return sequence(chords, 50, 4, dur, harmonics=2, rolloff=2.0, attack=0.8, amp=0.03)


MAJOR = [[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]]
MINOR = [[57, 60, 64], [62, 65, 69], [64, 67, 71], [57, 60, 64]]
CLUSTER = [[60, 61, 62, 66], [65, 66, 67, 71], [67, 68, 69, 73], [60, 61, 62, 66]]


def chords(progression, dur=12.0):
    return sequence(progression, 80, 2, dur, attack=0.05)


def following(arousal_at, dur=60.0):
    """Music whose loudness, note rate and brightness follow ``arousal_at(t)`` in [-1, 1]."""
    out, t = [], 0.0
    prog = [[60, 64, 67], [62, 65, 69], [64, 67, 71], [65, 69, 72]]
    i = 0
    while t < dur:
        a = float(arousal_at(t))
        step = 0.6 - 0.45 * (a + 1) / 2  # 0.6 s (calm) .. 0.15 s (excited)
        amp = 10 ** ((-32 + 24 * (a + 1) / 2) / 20)
        out.append(note(midi_hz(np.array(prog[i % 4]) + (12 if a > 0.3 else 0)), step, harmonics=4 + int(8 * (a + 1) / 2),
                        rolloff=1.0, decay=step / 2, amp=amp))
        t += step
        i += 1
    return np.concatenate(out)[: int(dur * SR)].astype(np.float32)


def target(t):
    return np.sin(2 * np.pi * np.asarray(t) / 30.0)


def make_plan(times, valence, arousal, duration, n_scenes=3):
    edges = np.linspace(0, duration, n_scenes + 1)
    roles = ("setup", "rising", "climax", "falling", "resolution")
    scenes = tuple(Scene(float(a), float(b), f"scene {i}", float(np.clip(0.1 * i, -1, 1)), float(np.clip(0.2 * i - 0.3, -1, 1)), "calm", roles[i % 5])
                   for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])))
    return NarrativePlan(s_global="test", scenes=scenes, hop=float(times[1] - times[0]), times=tuple(map(float, times)),
                         valence=tuple(map(float, valence)), arousal=tuple(map(float, arousal)), climax_time=duration / 2, duration=duration)


# --------------------------------------------------------------------------- emotion estimate
def test_arousal_ranks_energetic_above_calm():
    hi, lo = estimate_emotion(energetic()), estimate_emotion(calm())
    assert hi.mean_arousal > lo.mean_arousal + 0.5
    assert hi.descriptors["loudness_lufs"].mean() > lo.descriptors["loudness_lufs"].mean() + 15
    assert hi.descriptors["onset_rate"].mean() > lo.descriptors["onset_rate"].mean()
    assert hi.descriptors["centroid_hz"].mean() > 2 * lo.descriptors["centroid_hz"].mean()
    for c in (hi, lo):
        assert np.all(np.abs(c.valence) <= 1) and np.all(np.abs(c.arousal) <= 1)
        assert c.times.shape == c.valence.shape == c.arousal.shape == (24,)


def test_valence_ranks_major_above_minor_and_consonant_above_dissonant():
    major, minor, cluster = (estimate_emotion(chords(p)) for p in (MAJOR, MINOR, CLUSTER))
    assert major.mean_valence > minor.mean_valence + 0.2
    assert major.mean_valence > cluster.mean_valence + 0.2
    assert np.median(major.descriptors["mode"]) > 0 > np.median(minor.descriptors["mode"])
    assert np.median(cluster.descriptors["roughness"]) > 1.5 * np.median(major.descriptors["roughness"])


def test_sethares_roughness_orders_intervals():
    f0 = 261.63
    unison, fifth, semitone = ([f0, f0 * r] for r in (1.0, 1.5, 2 ** (1 / 12)))
    amps = np.ones(2)
    assert sethares_roughness(np.array(unison), amps) == pytest.approx(0.0, abs=1e-9)
    assert sethares_roughness(np.array(semitone), amps) > 5 * sethares_roughness(np.array(fifth), amps)


def test_short_term_loudness_matches_pyloudnorm_on_noise():
    import pyloudnorm

    x = (0.1 * np.random.default_rng(1).standard_normal(SR * 8)).astype(np.float32)
    ref = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    ours = np.median(analyze(x).descriptors["loudness_lufs"])
    assert ours == pytest.approx(ref, abs=0.7)


def test_file_and_chunks_give_the_same_curve(tmp_path):
    x = chords(MAJOR, 6.0)
    path = tmp_path / "m.flac"
    sf.write(path, x, SR)
    a = estimate_emotion(path)
    b = estimate_emotion(np.array_split(x, 7))  # uneven chunks
    np.testing.assert_allclose(a.arousal, b.arousal, atol=0.03)
    np.testing.assert_allclose(a.valence, b.valence, atol=0.05)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        estimate_emotion(tmp_path / "missing.wav")
    with pytest.raises(MediaError, match="too short"):
        estimate_emotion(np.zeros(100, dtype=np.float32))
    with pytest.raises(OptionError, match="rate_hz"):
        estimate_emotion(np.zeros(SR, dtype=np.float32), rate_hz=0)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(MediaError):
        estimate_emotion(bad)


def test_silence_is_low_arousal_and_neutral_valence():
    c = estimate_emotion(np.zeros(SR * 4, dtype=np.float32))
    assert np.all(c.arousal < -0.5)
    assert np.all(np.abs(c.valence) < 0.3)


# --------------------------------------------------------------------------- alignment
def test_soundtrack_following_the_curve_aligns_and_shift_is_found():
    curve = estimate_emotion(following(target))
    grid = np.arange(0, 60.01, 0.5)
    a = align_dimension(grid, target(grid), curve.times, curve.arousal)
    assert a.pearson_r is not None and a.pearson_r > 0.8
    assert abs(a.best_lag) <= 0.5
    late = estimate_emotion(following(lambda t: target(t - 1.5)))
    b = align_dimension(grid, target(grid), late.times, late.arousal)
    assert b.best_lag == pytest.approx(1.5, abs=0.5)
    assert b.r_at_best_lag >= b.pearson_r
    inverse = align_dimension(grid, -target(grid), curve.times, curve.arousal)
    assert inverse.pearson_r < -0.8


def test_alignment_of_flat_curves_is_defined():
    t = np.arange(0, 30, 0.5)
    flat = align_dimension(t, np.full(t.size, 0.3), t, np.sin(t / 3))
    assert flat.pearson_r is None and flat.r_at_best_lag is None
    assert np.isfinite(flat.mae_centered) and abs(flat.best_lag) <= 2.0
    both = align_dimension(t, np.full(t.size, 0.3), t, np.full(t.size, -0.2))
    assert both.mae_centered == pytest.approx(0.0) and both.mae == pytest.approx(0.5)
    assert pearson(np.ones(5), np.arange(5.0)) is None
    with pytest.raises(OptionError, match="overlap"):
        align_dimension([0, 1], [0, 1], [5, 6], [0, 1])


# --------------------------------------------------------------------------- cut sync
def test_cut_sync_pure_function_beats_random():
    events = np.arange(0.25, 60, 1.0)
    on = cut_sync(events[::3] + 0.05, events, duration=60, n_random=500)
    assert on.hit_rate == 1.0 and on.random_mean < 0.35 and on.margin > 0.6 and on.p_value < 0.01
    off = cut_sync(events[::3] + 0.5, events, duration=60, n_random=500)
    assert off.hit_rate == 0.0 and off.margin < 0
    again = cut_sync(events[::3] + 0.5, events, duration=60, n_random=500)
    assert again == off  # seeded
    assert cut_sync([], events, duration=60).n_cuts == 0


def test_cut_sync_finds_onsets_in_audio():
    x = np.zeros(SR * 20, dtype=np.float32)
    hits = np.arange(0.5, 19.5, 0.75)
    for h in hits:
        n = note(midi_hz(72), 0.3, decay=0.08, amp=0.5)
        s = int(h * SR)
        x[s:s + n.size] += n
    an = analyze(x)
    found = cut_sync(hits[::2], an.onset_times, duration=20, n_random=300)
    assert found.hit_rate == 1.0 and found.margin > 0.5
    # every onset is found, within 50 ms (the detector lags attacks by about 30 ms)
    near = np.min(np.abs(an.onset_times[:, None] - hits[None, :]), axis=0)
    assert np.all(near < 0.05)


# --------------------------------------------------------------------------- coherence
def test_coherence_flags_an_abrupt_join():
    smooth = chords(MAJOR, 40.0)
    rng = np.random.default_rng(3)
    abrupt = np.concatenate([calm(20.0) * 3, (0.3 * rng.standard_normal(SR * 20)).astype(np.float32)])
    res = {}
    for name, x in (("smooth", smooth), ("abrupt", abrupt)):
        an = analyze(x)
        d = an.descriptors
        res[name] = coherence(an.times, an.mfcc, d["loudness_lufs"], d["tempo_bpm"], d["key_index"], d["centroid_hz"], [0.0, 20.0, 40.0])
    assert res["abrupt"].join_jump_ratio > 3 * res["smooth"].join_jump_ratio
    assert res["abrupt"].worst_join == 20.0
    assert res["abrupt"].timbre_drift > res["smooth"].timbre_drift
    assert len(res["smooth"].cues) == 2 and res["smooth"].cues[0].key_stability > 0.4
    none = coherence(an.times, an.mfcc, d["loudness_lufs"], d["tempo_bpm"], d["key_index"], d["centroid_hz"], [])
    assert none.join_jump_ratio is None and len(none.cues) == 1


# --------------------------------------------------------------------------- loudness
def test_silence_and_clipping_are_found(tmp_path):
    x = chords(MAJOR, 8.0) * 2
    x[int(3 * SR):int(5.5 * SR)] = 0.0  # 2.5 s of silence
    x[int(6 * SR):int(6 * SR) + 50] = 1.0  # a clipped stretch
    path = tmp_path / "t.wav"
    sf.write(path, np.stack([x, x], axis=1), SR, subtype="FLOAT")
    rep = measure_loudness(path)
    assert len(rep.silent_runs) == 1
    assert rep.silent_runs[0].start == pytest.approx(3.0, abs=0.05) and rep.silent_runs[0].end == pytest.approx(5.5, abs=0.05)
    assert any(abs(r.start - 6.0) < 0.01 for r in rep.clipped_runs)
    assert rep.clipped_samples >= 50
    import pyloudnorm

    ref = pyloudnorm.Meter(SR).integrated_loudness(np.stack([x, x], axis=1).astype(np.float64))
    assert rep.integrated_lufs == pytest.approx(ref, abs=1.0)
    runs = silent_runs(np.array([-70.0] * 50 + [-10.0] * 10 + [-70.0] * 150), 0.01)
    assert runs == (Span(0.6, 2.1),)
    assert clipped_runs(np.array([0, 1, 1, 0, 1, 1, 1, 0.0]), 8) == (Span(0.5, 0.875),)


# --------------------------------------------------------------------------- report
def test_report_round_trip_and_compare(tmp_path):
    dur = 30.0
    x = following(target, dur)
    path = tmp_path / "soundtrack.wav"
    sf.write(path, x, SR)
    grid = np.arange(0, dur + 1e-9, 0.5)
    plan = make_plan(grid, 0.5 * target(grid), target(grid), dur)
    ours = evaluate(path, plan=plan, cuts=[10.0, 20.0], cue_bounds=[10.0, 20.0], n_random=200)
    assert ours.alignment.arousal.pearson_r > 0.7
    assert ours.cut_sync.n_cuts == 2 and ours.loudness.integrated_lufs is not None
    saved = ours.save(tmp_path)
    assert saved.name == "report.json"
    back = EvaluationReport.load(saved)
    assert back.to_json() == ours.to_json()
    json.loads(saved.read_text())  # plain JSON: no NaN or Infinity
    assert "NaN" not in saved.read_text() and "Infinity" not in saved.read_text()

    flat = evaluate(path, plan=fixed_mood_plan(plan), cuts=[], cue_bounds=[], loudness=False)
    assert flat.alignment.arousal.pearson_r is None and flat.cut_sync is None and flat.loudness is None
    table = compare({"ours": ours, "fixed": flat})
    assert table["reference"] == "ours"
    assert table["advantage"]["fixed"]["arousal_r"] is None
    assert table["advantage"]["fixed"]["arousal_mae_centered"] > 0
    with pytest.raises(ArtifactError, match="reference"):
        compare({"ours": ours}, reference="theirs")

    em = write_emotion_json(tmp_path, estimate_emotion(path))
    data = json.loads(em.read_text())["data"]
    assert len(data["times"]) == len(data["valence"]) == len(data["arousal"]) == 60
    assert -1 <= data["mean_arousal"] <= 1 and "loudness_lufs" in data["descriptors"]

    with pytest.raises(ArtifactError, match="schema"):
        EvaluationReport.from_json({"schema": "other"})


def test_baseline_plans_are_valid_and_deterministic():
    dur = 30.0
    grid = np.arange(0, dur + 1e-9, 0.5)
    plan = make_plan(grid, 0.5 * target(grid), target(grid), dur, n_scenes=4)
    validate(plan)
    s1, s2 = shuffled_plan(plan, seed=1), shuffled_plan(plan, seed=1)
    assert s1 == s2
    assert [s.caption for s in s1.scenes] != [s.caption for s in plan.scenes]
    assert sorted(s1.arousal) == sorted(plan.arousal) and len(s1.times) == len(plan.times)
    assert s1.scenes[-1].end == plan.duration
    # each scene takes its stretch of the curve with it
    first = plan.scenes.index(next(s for s in plan.scenes if s.caption == s1.scenes[0].caption))
    n0 = int(np.sum((grid >= plan.scenes[first].start) & (grid < plan.scenes[first].end)))
    start = int(np.argmax(grid >= plan.scenes[first].start))
    assert s1.arousal[:n0] == plan.arousal[start:start + n0]
    f = fixed_mood_plan(plan)
    assert len(set(f.arousal)) == 1 and f.arousal[0] == pytest.approx(np.mean(plan.arousal))
    assert all(s.arousal == f.arousal[0] for s in f.scenes)
