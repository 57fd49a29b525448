"""The procedural synthesizer: composition on the cuts, MIDI, rendering length/stems/determinism, SoundFonts."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from narrascore.artifacts import KEYS, Cut, Shots
from narrascore.concept import conceive
from narrascore.errors import ArtifactError, DependencyError, MediaError
from narrascore.synth import SAMPLE_RATE, SYNTHESIZERS, RenderRequest
from narrascore.synth.procedural import ProceduralSynthesizer, compose
from narrascore.synth.procedural.harmony import chord, voicing
from narrascore.synth.procedural.soundfont import bundled_soundfont, find_soundfont, renderer_version, require_tinysoundfont

sys.path.insert(0, str(Path(__file__).parent))
from test_concept import make_plan  # noqa: E402

STYLES = ("orchestral", "piano", "ambient", "electronic", "rock")
SPEC = [(6.0, 0.4, -0.7, "setup"), (5.3, -0.6, 0.85, "climax"), (4.7, 0.3, -0.1, "resolution")]
N = round(16.0 * SAMPLE_RATE)


@pytest.fixture(scope="module")
def small_font() -> str:
    font = bundled_soundfont()
    if font is None:
        pytest.skip("pretty_midi's TimGM6mb.sf2 is not installed")
    return str(font)


@pytest.fixture(scope="module")
def plan():
    return make_plan(SPEC)


@pytest.fixture(scope="module")
def shots(plan):
    return Shots((Cut(2.7, 1.0), Cut(6.0, 1.0), Cut(8.9, 0.9), Cut(11.3, 1.0)), "test", plan.duration)


def render(plan, concept, shots, folder: Path, font: str, *, stems=False, workers=0, n=N):
    synth = ProceduralSynthesizer(workers=workers)
    return synth.render(plan, concept, shots, RenderRequest(n_samples=n, work_dir=folder, stems=stems, soundfont=font))


@pytest.fixture(scope="module")
def rendered(plan, shots, small_font, tmp_path_factory):
    out = {}
    for style in STYLES:
        concept = conceive(plan, style=style)
        out[style] = (concept, render(plan, concept, shots, tmp_path_factory.mktemp(style), small_font, stems=True))
    return out


def read(path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE
    return audio


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- composition
def test_registered():
    assert isinstance(SYNTHESIZERS.create("procedural"), ProceduralSynthesizer)


def test_downbeat_and_chord_change_on_every_scene_cut(plan, shots):
    for style in STYLES:
        score = compose(plan, conceive(plan, style=style), shots)
        bar_times = score.beat_times[score.bar_starts]
        for scene in plan.scenes:
            assert np.abs(bar_times - scene.start).min() < 1e-6  # a new bar starts exactly on the cut
        onsets = np.array(sorted(n[0] for t in score.tracks for n in t.notes))
        for scene in plan.scenes:
            assert np.abs(onsets - scene.start).min() < 0.05


def test_cadence_resolves_on_the_cut(plan):
    for style in STYLES:
        concept = conceive(plan, style=style)
        score = compose(plan, concept)
        starts = np.array([t for t, _ in score.chords])
        for cue in concept.cues[1:]:
            i = int(np.flatnonzero(np.abs(starts - cue.start) < 1e-6)[0])
            before, at = score.chords[i - 1][1], score.chords[i][1]
            assert at.numeral in ("I", "i") and at.root == KEYS.index(cue.key)
            assert before.numeral in ("V", "V7") and before.root == (at.root + 7) % 12  # V-I on the cut


def test_midi_markers_tracks_and_onsets(rendered, plan):
    concept, result = rendered["orchestral"]
    midi = pretty_midi.PrettyMIDI(str(result.midi))
    raw = mido.MidiFile(str(result.midi))
    names = [t.name for t in raw.tracks]
    assert {"melody", "harmony", "bass", "pad", "percussion"} <= set(names)
    ticks, markers = 0, []
    for message in raw.tracks[0]:
        ticks += message.time
        if message.type == "marker":
            markers.append(midi.tick_to_time(ticks))
    assert len(markers) == len(plan.scenes)
    for scene, marker in zip(plan.scenes, markers):
        assert abs(marker - scene.start) < 0.005
    onsets = np.array([n.start for i in midi.instruments for n in i.notes])
    for scene in plan.scenes:
        assert np.abs(onsets - scene.start).min() < 0.05
    tempi = midi.get_tempo_changes()[1]
    assert tempi.max() > tempi.min() + 20  # the tempo map follows the cues


def test_voicing_is_smooth():
    c_major, f_major = chord("I", 0, "major"), chord("IV", 0, "major")
    first = voicing(c_major, 62)
    second = voicing(f_major, 62, previous=first)
    assert {p % 12 for p in second} == {0, 5, 9}
    assert sum(abs(a - b) for a, b in zip(first, second)) <= 6


def test_bad_instrument_in_concept(plan):
    concept = dataclasses.replace(conceive(plan), instruments=("melody:Kazoo 3000",))
    with pytest.raises(ArtifactError, match="Kazoo"):
        compose(plan, concept)


# --------------------------------------------------------------------------- rendering
def test_exact_length_and_format(rendered):
    for style, (_concept, result) in rendered.items():
        info = sf.info(str(result.mix))
        assert (info.frames, info.channels, info.samplerate, info.subtype) == (N, 2, SAMPLE_RATE, "FLOAT"), style
        for path in result.stems.values():
            assert sf.info(str(path)).frames == N
    assert not list(result.mix.parent.glob(".*"))  # no temporary files left behind


def test_stems_sum_to_mix(rendered):
    for style, (_concept, result) in rendered.items():
        assert "reverb" in result.stems  # the room is a stem of its own: the group stems are dry
        assert set(result.stems) <= {"melody", "harmony", "bass", "pad", "percussion", "reverb"}
        total = sum(read(p) for p in result.stems.values())
        np.testing.assert_allclose(total, read(result.mix), atol=1e-6, err_msg=style)


def test_styles_sound_different(rendered):
    mixes = {style: read(result.mix)[:, 0] for style, (_c, result) in rendered.items()}
    for a in STYLES:
        for b in STYLES:
            if a < b:
                assert not np.allclose(mixes[a], mixes[b], atol=1e-3)


def test_louder_and_denser_when_aroused(rendered):
    for style, (concept, result) in rendered.items():
        audio = read(result.mix).mean(axis=1)
        midi = pretty_midi.PrettyMIDI(str(result.midi))
        onsets = np.array([n.start for i in midi.instruments for n in i.notes])
        low, high = concept.cues[0], concept.cues[1]
        assert high.arousal > low.arousal

        def rms(cue):
            return float(np.sqrt(np.mean(audio[round(cue.start * SAMPLE_RATE):round(cue.end * SAMPLE_RATE)] ** 2)))

        def rate(cue):
            return np.count_nonzero((onsets >= cue.start) & (onsets < cue.end)) / (cue.end - cue.start)

        assert rms(high) > 2 * rms(low), style
        assert rate(high) > 1.5 * rate(low), style


def test_no_clicks_at_cue_boundaries(rendered):
    for style, (concept, result) in rendered.items():
        mono = read(result.mix).mean(axis=1)
        jumps = np.abs(np.diff(mono))
        for cue in concept.cues[1:]:
            i = round(cue.start * SAMPLE_RATE)
            near = jumps[i - 480:i + 480].max()  # +-10 ms around the tempo change
            level = np.abs(mono[i - 4800:i + 4800]).max()
            typical = np.percentile(jumps[i - SAMPLE_RATE:i + SAMPLE_RATE], 99.9)
            assert near < 0.6 * level, style
            assert near < 2.5 * typical, style


def test_deterministic_given_seed(plan, shots, small_font, tmp_path):
    concept = conceive(plan, style="electronic", seed=7)
    a = render(plan, concept, shots, tmp_path / "a", small_font)
    b = render(plan, concept, shots, tmp_path / "b", small_font)
    assert sha(a.mix) == sha(b.mix) and sha(a.midi) == sha(b.midi)
    c = render(plan, dataclasses.replace(concept, seed=8), shots, tmp_path / "c", small_font)
    assert sha(a.mix) != sha(c.mix)


def test_a_process_keeps_its_soundfont_and_a_reused_one_renders_the_same_bytes(plan, shots, small_font, tmp_path):
    """The web page's worker renders many jobs with one loaded SoundFont (synth.procedural.render.load_synth)."""
    import shutil

    from narrascore.synth.procedural import render as rendering

    concept = conceive(plan, style="orchestral", seed=3)
    rendering._loaded.clear()
    fresh = render(plan, concept, shots, tmp_path / "fresh", small_font)
    kept = rendering.load_synth(small_font)
    assert rendering.load_synth(small_font) is kept  # no second load
    render(plan, conceive(plan, style="rock", seed=1), shots, tmp_path / "other", small_font)  # leaves state behind
    reused = render(plan, concept, shots, tmp_path / "reused", small_font)
    assert rendering.load_synth(small_font) is kept and sha(reused.mix) == sha(fresh.mix)
    copy = tmp_path / "font.sf2"
    shutil.copyfile(small_font, copy)
    first = rendering.load_synth(copy)
    assert first is not kept and rendering.load_synth(copy) is first
    os.utime(copy, ns=(1, 1))  # a replaced file is loaded again
    assert rendering.load_synth(copy) is not first


def test_a_soundfont_preloaded_in_the_background_is_the_one_the_render_plays(small_font, monkeypatch):
    """The pipeline starts loading the font while the video is scanned (``preload_synth``); the render's
    own ``load_synth`` then waits for that load instead of starting a second one."""
    import threading

    from narrascore.synth.procedural import render as rendering

    rendering._loaded.clear()
    calls = []
    real = rendering.require_tinysoundfont
    monkeypatch.setattr(rendering, "require_tinysoundfont", lambda: calls.append(threading.current_thread().name) or real())
    rendering.preload_synth(small_font)
    loaded = rendering.load_synth(small_font)
    assert calls == ["narrascore-font-load"]  # loaded once, by the background thread
    assert rendering.load_synth(small_font) is loaded
    rendering._loaded.clear()
    rendering.preload_synth(Path("/no/such/font.sf2"))  # a failed preload is silent: the render says why
    rendering.wait_for_preload()
    with pytest.raises(Exception, match="font.sf2"):
        rendering.load_synth(Path("/no/such/font.sf2"))


def test_worker_processes_give_the_same_bytes(plan, shots, small_font, tmp_path):
    concept = conceive(plan, style="rock", seed=2)
    inline = render(plan, concept, shots, tmp_path / "inline", small_font, workers=0)
    pooled = render(plan, concept, shots, tmp_path / "pooled", small_font, workers=2)
    assert sha(inline.mix) == sha(pooled.mix)
    inline_stems = render(plan, concept, shots, tmp_path / "inline_stems", small_font, workers=0, stems=True)
    pooled_stems = render(plan, concept, shots, tmp_path / "pooled_stems", small_font, workers=2, stems=True)
    assert sha(inline_stems.mix) == sha(pooled_stems.mix)
    assert all(sha(inline_stems.stems[g]) == sha(pooled_stems.stems[g]) for g in inline_stems.stems)


def test_mix_loudness_is_measured_while_writing(plan, shots, small_font, tmp_path):
    from narrascore.export.loudness import measure_file

    concept = conceive(plan, style="rock", seed=2)
    for workers, stems in ((0, False), (2, False), (2, True)):
        result = render(plan, concept, shots, tmp_path / f"w{workers}{stems}", small_font, workers=workers, stems=stems)
        assert result.integrated_lufs == pytest.approx(measure_file(result.mix).integrated_lufs, abs=1e-6)


def test_output_is_padded_or_truncated_to_n_samples(plan, shots, small_font, tmp_path):
    concept = conceive(plan, style="piano")
    for n in (N - 12_345, N + 9_999):
        result = render(plan, concept, shots, tmp_path / str(n), small_font, n=n)
        assert sf.info(str(result.mix)).frames == n


# --------------------------------------------------------------------------- SoundFonts
def test_missing_soundfont(plan, shots, tmp_path):
    with pytest.raises(MediaError, match="not found"):
        find_soundfont(tmp_path / "nope.sf2")
    bogus = tmp_path / "bogus.sf2"
    bogus.write_bytes(b"not a soundfont at all")
    with pytest.raises(MediaError, match="not a SoundFont"):
        find_soundfont(bogus)
    with pytest.raises(MediaError):
        render(plan, conceive(plan), shots, tmp_path / "out", str(tmp_path / "nope.sf2"))


def test_soundfont_search_order(tmp_path, small_font):
    header = b"RIFF\x00\x00\x00\x00sfbk"
    good, better = tmp_path / "good.sf2", tmp_path / "better.sf3"
    good.write_bytes(header)
    better.write_bytes(header)
    assert find_soundfont(candidates=(str(tmp_path / "missing.sf3"), str(better), str(good))) == better.resolve()
    assert find_soundfont(candidates=(str(tmp_path / "missing.sf3"),)) == Path(small_font)


def test_best_system_soundfont_is_preferred():
    best = Path("/usr/share/sounds/sf3/MuseScore_General.sf3")
    if not best.is_file():
        pytest.skip("MuseScore_General.sf3 is not installed")
    assert find_soundfont() == best.resolve()


def test_missing_tinysoundfont(monkeypatch):
    monkeypatch.setitem(sys.modules, "narrascore._vendor.tinysoundfont", None)
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)
    with pytest.raises(DependencyError, match="not built: reinstall NarraScore with a C"):
        find_soundfont()


def test_the_vendored_renderer_is_built_and_plays_a_note(small_font):
    """The default path's renderer is compiled by NarraScore's own build: it must be there (not PyPI's
    fallback), sound, and honour channel volume (CC7), which the composer's dynamics rely on."""
    from narrascore._vendor import tinysoundfont as tsf

    assert require_tinysoundfont() is tsf and renderer_version() == f"{tsf.__version__}+narrascore.{tsf.PATCH} (vendored)"
    synth = tsf.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(small_font)

    def note_rms(volume: int) -> float:
        synth.soundfonts[sfid].reset()
        synth.program_select(0, sfid, 0, 0)
        synth.control_change(0, 7, volume)
        assert synth.noteon(0, 60, 100)
        audio = np.frombuffer(synth.generate_simple(SAMPLE_RATE // 4), dtype=np.float32)
        return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))

    loud, quiet = note_rms(127), note_rms(40)
    assert loud > 1e-3 and 0 < quiet < loud / 2


def test_registers_stay_put_over_a_long_score():
    rng = np.random.default_rng(0)
    spec = [(float(rng.uniform(6, 30)), float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), "rising") for _ in range(30)]
    long_plan = make_plan(spec)
    for style in STYLES:
        score = compose(long_plan, conceive(long_plan, style=style))
        for track in score.tracks:
            pitches = [n[2] for n in track.notes]
            assert 24 <= min(pitches) and max(pitches) <= 100, (style, track.name)


def _announced_event_plan(plan, t: float = 10.0):
    """``plan`` with arousal ramping up over the 3 s before ``t`` and a big event at ``t``."""
    from narrascore.artifacts import Event

    times = np.asarray(plan.times)
    arousal = np.where((times >= t - 3) & (times < t), -0.2 + 0.6 * (times - (t - 3)) / 3, np.asarray(plan.arousal))
    return dataclasses.replace(plan, arousal=tuple(float(a) for a in np.clip(arousal, -1, 1)), events=(Event(t, "impact", 0.9),))


@pytest.mark.parametrize("style", ["orchestral", "piano"])
def test_an_announced_big_event_gets_a_build_a_drop_out_and_a_hit(plan, shots, style):
    from narrascore.synth.procedural.orchestration import CRASH, DRUM_CHANNEL, SNARE

    ev_plan = _announced_event_plan(plan)
    score = compose(ev_plan, conceive(ev_plan, style=style), shots)
    plain = compose(plan, conceive(ev_plan, style=style), shots)
    tracks = {t.name: t.notes for t in score.tracks}
    # drop-out: nothing starts in melody, harmony or pad in the 0.35 s before the hit, except the build
    for name in ("melody", "pad"):
        assert not [n for n in tracks.get(name, []) if 9.65 <= n[0] < 10.0 - 1e-9], name
    # the hit: a chord stab and a bass drop on the event; a crash where there is a kit
    assert len({n[2] for n in tracks["harmony"] if abs(n[0] - 10.0) < 1e-6 and n[3] >= 110}) >= 3
    assert [n for n in tracks["bass"] if abs(n[0] - 10.0) < 1e-6 and n[2] < 40]
    if style == "orchestral":
        roll = sorted(n for n in tracks["percussion"] if n[4] == DRUM_CHANNEL and n[2] == SNARE and 8.0 <= n[0] < 10.0)
        gaps, velocities = np.diff([n[0] for n in roll]), [n[3] for n in roll]
        assert len(roll) >= 12 and gaps[-1] < gaps[0] / 2 and velocities[-1] > velocities[0] + 20  # speeds up, crescendo
        assert [n for n in tracks["percussion"] if n[2] == CRASH and abs(n[0] - 10.0) < 1e-6]
    else:  # piano builds in its own instrument: a rising ostinato of chord tones in the harmony
        before = {n[:3] for t in plain.tracks if t.name == "harmony" for n in t.notes}
        added = sorted(n for n in tracks["harmony"] if 8.0 <= n[0] < 10.0 and n[:3] not in before)
        assert len(added) >= 12 and added[-1][2] > added[0][2] and added[-1][3] > added[0][3]


@pytest.mark.parametrize("style", ["orchestral", "rock", "electronic", "ambient"])
def test_each_style_builds_in_its_own_idiom(plan, shots, style):
    from narrascore.synth.procedural.orchestration import DRUM_CHANNEL, SNARE

    ev_plan = _announced_event_plan(plan)
    score = compose(ev_plan, conceive(ev_plan, style=style), shots)
    plain = compose(dataclasses.replace(ev_plan, events=()), conceive(ev_plan, style=style), shots)  # the same curve
    tracks = {t.name: t.notes for t in score.tracks}
    drums = [n for n in tracks.get("percussion", []) if n[4] == DRUM_CHANNEL and 8.0 <= n[0] < 10.0]
    snare = [n for n in drums if n[2] == SNARE]
    before = {n[:3] for t in plain.tracks if t.name == "harmony" for n in t.notes}
    added = sorted(n for n in tracks["harmony"] if 8.0 <= n[0] < 10.0 and n[:3] not in before)
    if style == "orchestral":  # a timpani roll on the root, speeding up, under the snare roll
        timpani = sorted(n for n in tracks["percussion"] if n[4] != DRUM_CHANNEL and 9.0 - 1e-6 <= n[0] < 10.0)
        gaps = np.diff([n[0] for n in timpani])
        assert len(timpani) >= 8 and len({n[2] for n in timpani}) == 1 and gaps[-1] < gaps[0]  # its last second
    elif style == "rock":  # the roll's last half second is a fill down the toms
        fill = sorted(n for n in drums if n[0] >= 9.5)
        assert [n[2] for n in fill] == sorted((n[2] for n in fill), reverse=True) and len({n[2] for n in fill}) == 4
        assert snare and max(n[0] for n in snare) < 9.5
    elif style == "electronic":  # a riser: the harmony climbs two octaves
        assert len(added) >= 12 and added[-1][2] - added[0][2] >= 20 and snare
    else:  # ambient: no roll, the bells rise
        assert not snare and len(added) >= 12 and added[-1][2] > added[0][2]


def test_a_build_is_a_crescendo_on_rendered_audio(plan, shots, small_font, tmp_path):
    ev_plan = _announced_event_plan(plan)
    concept = conceive(ev_plan, style="orchestral")
    with_events = read(render(ev_plan, concept, shots, tmp_path / "with", small_font, stems=True).stems["percussion"])
    without = read(render(dataclasses.replace(ev_plan, events=()), concept, shots, tmp_path / "without", small_font, stems=True).stems["percussion"])

    def db(x, a, b):
        seg = x[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]
        return 10 * np.log10(np.mean(seg**2) + 1e-12)

    build = with_events - without  # what the events added (the roll, then the hit)
    assert db(build, 9.0, 9.9) > db(build, 8.0, 8.9) + 3.0
    assert db(with_events, 10.0, 10.5) > db(with_events, 9.4, 9.9)


def test_every_style_mixes_into_a_stereo_image(rendered):
    """Neither mono nor phasey: the issue's bounds on the inter-channel correlation of the mix."""
    from narrascore.evaluate.acoustics import stereo_correlation

    for style, (_concept, result) in rendered.items():
        correlation = stereo_correlation(read(result.mix))
        print(style, round(correlation, 3))
        assert 0.3 < correlation < 0.95, style


def test_the_piece_slows_down_and_holds_its_final_tonic(shots):
    """A real ending: a ritardando over the last two bars, then every part holds the tonic to the end."""
    plan = make_plan([(6.0, 0.4, -0.2, "setup"), (5.0, -0.3, 0.6, "climax"), (12.0, 0.5, 0.2, "resolution")])
    for style in STYLES:
        score = compose(plan, conceive(plan, style=style), shots)
        grid = score.beat_times
        beats = np.diff(grid)
        last_scene = beats[grid[:-1] >= plan.scenes[-1].start - 1e-9]
        assert last_scene[-1] >= 1.3 * np.median(last_scene[:-8]), style  # the last beat is much longer
        hold = grid[score.bar_starts[-1]]
        tonic = set(score.chords[-1][1].pitch_classes)
        held = 0
        for track in score.tracks:
            drums = {p.channel for p in track.parts if p.is_drum}
            for s, e, p, _v, c in track.notes:
                assert s <= hold + 1e-6, (style, track.name, s)  # nothing new after the last downbeat
                if e > hold + 0.01 and c not in drums:
                    assert abs(s - hold) < 1e-6 and p % 12 in tonic, (style, track.name)
                    assert e == pytest.approx(max(hold + 1.0, plan.duration - 1.0)), (style, track.name)  # then it rings out
                    held += 1
        assert held >= 3, style
