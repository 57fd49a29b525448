"""The mix bus (reverb per style, bus compression) and the signal measures that check it on audio."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import fftconvolve

from narrascore.errors import NarrascoreError
from narrascore.evaluate.acoustics import decay_rt60, stereo_correlation
from narrascore.synth.procedural.mix import ROOMS, Compressor, MixBus, PartitionedConvolver, impulse_response
from narrascore.synth.procedural.render import CHUNK, NOTE_OFF, NOTE_ON, Pass, Unit, load_synth, render_unit
from narrascore.synth.procedural.soundfont import bundled_soundfont

FS = 48_000


def bussed(style: str, dry: np.ndarray) -> np.ndarray:
    bus = MixBus(style, FS, CHUNK)
    return np.concatenate([bus.process(dry[i:i + CHUNK]) for i in range(0, len(dry), CHUNK)])


def test_decay_rt60_reads_a_known_decay():
    t = np.arange(4 * FS) / FS
    noise = np.random.default_rng(0).standard_normal(len(t))
    for rt60 in (0.8, 2.0):
        decay = noise * np.exp(-6.907755 * t / rt60)
        assert decay_rt60(decay, FS, start=0.0) == pytest.approx(rt60, rel=0.05)
    with pytest.raises(NarrascoreError, match="25 dB"):
        decay_rt60(noise, FS, start=0.0)  # no decay at all


def test_stereo_correlation():
    x = np.random.default_rng(1).standard_normal((FS, 2))
    assert stereo_correlation(np.stack([x[:, 0], x[:, 0]], axis=1)) == pytest.approx(1.0)
    assert stereo_correlation(np.stack([x[:, 0], -x[:, 0]], axis=1)) == pytest.approx(-1.0)
    assert abs(stereo_correlation(x)) < 0.05


def test_partitioned_convolution_equals_direct_convolution():
    rng = np.random.default_rng(2)
    ir = rng.standard_normal((2500, 2)).astype(np.float32)
    x = rng.standard_normal((7 * 1024 + 300, 2)).astype(np.float32)  # a short last block too
    conv = PartitionedConvolver(ir, 1024)
    out = np.concatenate([conv.process(x[i:i + 1024]) for i in range(0, len(x), 1024)])
    expected = np.stack([fftconvolve(x[:, c], ir[:, c])[: len(x)] for c in range(2)], axis=1)
    np.testing.assert_allclose(out, expected, atol=2e-3 * np.abs(expected).max())


@pytest.mark.parametrize("style", sorted(ROOMS))
def test_each_room_rings_for_its_documented_time(style):
    """A click through the bus decays at the room's RT60, and its tail is wide but not phasey."""
    click = np.zeros((6 * FS, 2), dtype=np.float32)
    click[FS // 10] = 0.5
    out = bussed(style, click)
    room = ROOMS[style]
    assert decay_rt60(out, FS, start=0.11) == pytest.approx(room.rt60, rel=0.15)
    tail = out[FS // 10 + int(0.05 * FS):]
    assert 0.0 < stereo_correlation(tail) < 0.6


def test_a_dry_final_chord_gets_a_concert_hall_tail():
    """Rendered audio: a piano chord released in a 2.2 s hall rings 1.8 to 2.6 s (issue: orchestral RT60)."""
    font = bundled_soundfont()
    if font is None:
        pytest.skip("pretty_midi's TimGM6mb.sf2 is not installed")
    synth, sfid = load_synth(font)
    rows = []
    for pitch in (48, 55, 60, 64, 67):
        rows += [(int(0.1 * FS), NOTE_ON, 0, pitch, 100), (int(1.6 * FS), NOTE_OFF, 0, pitch, 0)]
    events = np.array(sorted(rows, key=lambda r: (r[0], r[1])), dtype=np.int64)
    blocks: list[np.ndarray] = []
    render_unit(synth, sfid, Unit("chord", (Pass("harmony", ((0, 0, False),), events),)), 8 * FS, lambda b: blocks.append(b.copy()))
    dry = np.concatenate(blocks)
    assert decay_rt60(dry, FS, start=1.6) < 1.2  # the SoundFont alone is dry
    wet = bussed("orchestral", dry)
    assert 1.8 <= decay_rt60(wet, FS, start=1.6) <= 2.6
    assert stereo_correlation(wet) < stereo_correlation(dry)


def test_the_compressor_is_gentle_and_leaves_quiet_passages_alone():
    rng = np.random.default_rng(3)
    quiet = (rng.standard_normal((2 * FS, 2)) * 0.01).astype(np.float32)  # -40 dBFS
    loud = (rng.standard_normal((2 * FS, 2)) * 0.3).astype(np.float32)  # about -10 dBFS
    x = np.concatenate([quiet, loud, quiet])
    comp = Compressor(-24.0, 1.6, FS)
    gain_db = 20 * np.log10(np.concatenate([comp.gain(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)]))
    assert np.abs(gain_db[FS:2 * FS]).max() < 0.01  # under the threshold: untouched
    settled = gain_db[4 * FS - FS // 4:4 * FS]
    assert -6.5 < settled.mean() < -3.0  # 14 dB over the threshold at 1.6:1 gives about -5 dB
    assert np.abs(np.diff(gain_db)).max() < 0.01  # no steps: the gain glides
    assert gain_db[-1] > -0.5  # and recovers


def test_the_bus_streams_the_same_bytes_whatever_the_run():
    x = (np.random.default_rng(4).standard_normal((3 * CHUNK + 123, 2)) * 0.1).astype(np.float32)
    first, second = bussed("ambient", x), bussed("ambient", x)
    assert first.tobytes() == second.tobytes()
    assert impulse_response(ROOMS["rock"], FS).tobytes() == impulse_response(ROOMS["rock"], FS).tobytes()


@pytest.mark.slow
def test_the_demo_ends_with_its_room_ringing(scored_demo):
    """Measured on the delivered soundtrack: the final chord lets go and the tail decays, audible, into the end."""
    import soundfile as sf

    audio, rate = sf.read(scored_demo / "soundtrack.wav", dtype="float32")
    level = lambda a, b: 10 * np.log10(np.mean(audio[int(a * rate):int(b * rate)] ** 2) + 1e-20)  # noqa: E731
    end = len(audio) / rate
    held, last = level(end - 2.0, end - 1.1), level(end - 0.3, end)
    assert held - last >= 10.0, (held, last)  # it decays
    assert last > -70.0, last  # into a tail that is still heard
    assert all(level(t, t + 0.1) > -75.0 for t in np.arange(end - 1.0, end - 0.05, 0.1))  # no silent gap


# --------------------------------------------------------------------------- per-group EQ
def response_db(sos: np.ndarray, freq: float) -> float:
    from scipy.signal import sosfreqz

    _, h = sosfreqz(sos, worN=[freq], fs=FS)
    return float(20 * np.log10(abs(h[0])))


def test_the_group_eq_bands_are_what_they_say():
    from narrascore.synth.procedural.eq import bell, hp, sections

    high_pass = sections((hp(120.0),), FS)
    assert abs(response_db(high_pass, 120.0) + 3.01) < 0.05  # Butterworth: -3 dB at the corner
    assert response_db(high_pass, 30.0) < -23.0  # 12 dB per octave, two octaves down
    assert abs(response_db(high_pass, 2000.0)) < 0.05
    peak = sections((bell(2500.0, -3.0),), FS)
    assert abs(response_db(peak, 2500.0) + 3.0) < 0.01
    assert abs(response_db(peak, 100.0)) < 0.05 and abs(response_db(peak, 18000.0)) < 0.3
    assert sections((), FS).shape == (0, 6)


def test_every_style_gives_the_low_end_to_the_bass_and_room_to_the_melody(tmp_path, monkeypatch):
    """Rendered stems, with and without the group EQ: pads and guitars leave the band under 120 Hz, the
    melody reads over harmony + pad at 2-4 kHz, the bass keeps its low end, and the stems sum to the mix."""
    import soundfile as sf

    from narrascore.concept import conceive
    from narrascore.evaluate.acoustics import LOW_END_HZ, band_energy, low_end_ownership, melody_presence
    from narrascore.synth import SAMPLE_RATE, RenderRequest
    from narrascore.synth.procedural import ProceduralSynthesizer, render
    from narrascore.synth.procedural.soundfont import find_soundfont

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_valence as bv

    plan = bv.alternating_plan("arousal")
    font = find_soundfont()

    def stems(style: str, tag: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        result = ProceduralSynthesizer().render(plan, conceive(plan, style=style), None, RenderRequest(
            n_samples=round(plan.duration * SAMPLE_RATE), work_dir=tmp_path / style / tag, stems=True, soundfont=str(font)))
        parts = {name: sf.read(str(p), dtype="float32")[0] for name, p in result.stems.items()}
        return parts, sf.read(str(result.mix), dtype="float32")[0]

    for style in ("rock", "electronic"):
        with monkeypatch.context() as m:
            m.setattr(render, "group_bands", lambda style, group: ())
            flat, _ = stems(style, "flat")
        eq, mix = stems(style, "eq")
        assert np.allclose(sum(eq.values()), mix, atol=1e-5)
        pad_flat, pad_eq = (band_energy(s["pad"], FS, (20.0, 90.0)) for s in (flat, eq))
        assert 10 * np.log10(pad_eq / pad_flat) < -10.0, style
        bass_flat, bass_eq = (band_energy(s["bass"], FS, LOW_END_HZ) for s in (flat, eq))
        assert abs(10 * np.log10(bass_eq / bass_flat)) < 1.0, style
        assert low_end_ownership(eq, FS) >= low_end_ownership(flat, FS), style
        assert melody_presence(eq, FS) > melody_presence(flat, FS) + 2.5, style
