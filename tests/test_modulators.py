"""The vendored renderer's SF2 modulators (velocity and key number into the filter and the envelopes).

Each test writes a one-preset SoundFont (a looped sawtooth) whose instrument is dark by its filter
and brightened, or slowed, by a modulator; what a note sounds like shows whether it was read.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from narrascore.synth.procedural.render import NOTE_OFF, NOTE_ON, Pass, Unit, render_unit
from narrascore.synth.procedural.soundfont import require_tinysoundfont

FS = 48000
FILTER_FC, ATTACK_VOL_ENV, SAMPLE_MODES, INSTRUMENT, SAMPLE_ID = 8, 34, 54, 41, 53
VELOCITY, KEY = 0x0002, 0x0003  # general-controller sources: linear, unipolar, positive
NEGATIVE, BIPOLAR = 0x0100, 0x0200

pytestmark = pytest.mark.skipif(not require_tinysoundfont().__name__.startswith("narrascore."),
                                reason="modulators are read by the vendored renderer only")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _list(kind: bytes, body: bytes) -> bytes:
    return _chunk(b"LIST", kind + body)


def write_soundfont(path: Path, *, fc: int, inst_global_mods=(), inst_local_mods=(), preset_mods=()) -> Path:
    """A SoundFont with preset 0: a sawtooth at middle C, looped, under a filter at ``fc`` cents.

    Modulators are (source, destination, amount, amount source); the instrument has a global zone
    (the filter and ``inst_global_mods``) and one sample zone (``inst_local_mods``).
    """
    period = FS / 261.626
    n = FS
    saw = (2.0 * ((np.arange(n) / period) % 1.0) - 1.0) * 0.5
    smpl = (saw * 32767).astype("<i2").tobytes() + b"\0\0" * 46
    mod = lambda m: struct.pack("<HHhHH", m[0], m[1], m[2], m[3] if len(m) > 3 else 0, 0)  # noqa: E731
    gen = lambda oper, amount: struct.pack("<Hh", oper, amount)  # noqa: E731
    phdr = struct.pack("<20sHHHIII", b"saw", 0, 0, 0, 0, 0, 0) + struct.pack("<20sHHHIII", b"EOP", 0, 0, 1, 0, 0, 0)
    pbag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, len(preset_mods))
    pmod = b"".join(mod(m) for m in preset_mods) + b"\0" * 10
    pgen = gen(INSTRUMENT, 0) + gen(0, 0)
    inst = struct.pack("<20sH", b"saw", 0) + struct.pack("<20sH", b"EOI", 2)
    ibag = (struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, len(inst_global_mods))
            + struct.pack("<HH", 3, len(inst_global_mods) + len(inst_local_mods)))
    imod = b"".join(mod(m) for m in (*inst_global_mods, *inst_local_mods)) + b"\0" * 10
    igen = gen(FILTER_FC, fc) + gen(SAMPLE_MODES, 1) + gen(SAMPLE_ID, 0) + gen(0, 0)
    shdr = (struct.pack("<20sIIIIIBbHH", b"saw", 0, n, 0, int(round(period * 40)), FS, 60, 0, 0, 1)
            + struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    info = _chunk(b"ifil", struct.pack("<HH", 2, 1)) + _chunk(b"isng", b"EMU8000\0") + _chunk(b"INAM", b"test\0")
    pdta = b"".join(_chunk(k, v) for k, v in ((b"phdr", phdr), (b"pbag", pbag), (b"pmod", pmod), (b"pgen", pgen),
                                               (b"inst", inst), (b"ibag", ibag), (b"imod", imod), (b"igen", igen),
                                               (b"shdr", shdr)))
    body = b"sfbk" + _list(b"INFO", info) + _list(b"sdta", _chunk(b"smpl", smpl)) + _list(b"pdta", pdta)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def note(font: Path, *, key: int = 60, velocity: int = 100, seconds: float = 0.5) -> np.ndarray:
    """One note, rendered as the renderer renders a part: mono float64 (n,)."""
    synth = require_tinysoundfont().Synth(samplerate=FS)
    sfid = synth.sfload(str(font))
    events = np.array([[0, NOTE_ON, 0, key, velocity], [int(seconds * FS), NOTE_OFF, 0, key, 0]], dtype=np.int64)
    blocks: list[np.ndarray] = []
    render_unit(synth, sfid, Unit("u", (Pass("melody", ((0, 0, False),), events),)), int(seconds * FS),
                lambda b: blocks.append(b.copy()))
    return np.concatenate(blocks).mean(axis=1).astype(np.float64)


def brightness_db(x: np.ndarray, key: int = 60) -> float:
    """Energy of partials 4 to 12 over the fundamental's, in dB (steady part of the note)."""
    x = x[int(0.1 * FS):]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / FS)
    f0 = 440.0 * 2 ** ((key - 69) / 12)
    fundamental = spectrum[(f > 0.9 * f0) & (f < 1.1 * f0)].sum()
    upper = spectrum[(f > 3.5 * f0) & (f < 12.5 * f0)].sum()
    return float(10 * np.log10(upper / fundamental))


def test_without_modulators_velocity_leaves_the_timbre(tmp_path):
    font = write_soundfont(tmp_path / "plain.sf2", fc=6500)
    soft, loud = brightness_db(note(font, velocity=30)), brightness_db(note(font, velocity=127))
    assert abs(loud - soft) < 0.5


def test_velocity_opens_the_filter_as_the_font_asks(tmp_path):
    """MuseScore General's piano: a filter near 300 Hz that velocity opens (it sounded muffled without)."""
    font = write_soundfont(tmp_path / "vel.sf2", fc=5000, inst_global_mods=[(VELOCITY, FILTER_FC, 6000)])
    soft, loud = brightness_db(note(font, velocity=30)), brightness_db(note(font, velocity=127))
    assert loud - soft > 10.0
    plain = brightness_db(note(write_soundfont(tmp_path / "plain.sf2", fc=5000), velocity=127))
    assert loud - plain > 15.0


def test_key_number_opens_the_filter_up_the_keyboard(tmp_path):
    """A bipolar key modulator: the filter closes below key 64 and opens above it."""
    font = write_soundfont(tmp_path / "key.sf2", fc=9000, inst_global_mods=[(KEY | BIPOLAR, FILTER_FC, 4800)])
    plain = write_soundfont(tmp_path / "plain.sf2", fc=9000)
    # each note against itself without the modulator, so the key's own partials cancel out
    low = brightness_db(note(font, key=48), 48) - brightness_db(note(plain, key=48), 48)
    high = brightness_db(note(font, key=76), 76) - brightness_db(note(plain, key=76), 76)
    assert low < -3.0 and high > 3.0


def test_a_local_modulator_replaces_the_global_one_and_preset_modulators_add(tmp_path):
    opened = [(VELOCITY, FILTER_FC, 3000)]
    replaced = write_soundfont(tmp_path / "replaced.sf2", fc=5000, inst_global_mods=opened,
                               inst_local_mods=[(VELOCITY, FILTER_FC, 0)])
    plain = write_soundfont(tmp_path / "plain.sf2", fc=5000)
    assert abs(brightness_db(note(replaced)) - brightness_db(note(plain))) < 0.5
    added = write_soundfont(tmp_path / "added.sf2", fc=5000, inst_global_mods=opened, preset_mods=opened)
    once = write_soundfont(tmp_path / "once.sf2", fc=5000, inst_global_mods=opened)
    assert brightness_db(note(once)) > brightness_db(note(plain)) + 3.0
    assert brightness_db(note(added)) > brightness_db(note(once)) + 3.0


def test_the_amount_source_scales_a_modulator(tmp_path):
    """A key-number switch as amount source: the velocity modulator acts from key 64 up only."""
    switch = KEY | (3 << 10)
    font = write_soundfont(tmp_path / "switch.sf2", fc=5000, inst_global_mods=[(VELOCITY, FILTER_FC, 6000, switch)])
    plain = write_soundfont(tmp_path / "plain.sf2", fc=5000)
    assert abs(brightness_db(note(font, key=60), 60) - brightness_db(note(plain, key=60), 60)) < 0.5
    assert brightness_db(note(font, key=72), 72) - brightness_db(note(plain, key=72), 72) > 10.0


def test_soft_notes_start_slowly_when_velocity_lengthens_the_attack(tmp_path):
    """Strings' "velocity to attack" (MuseScore General's contrabass, viola): soft notes swell in."""
    font = write_soundfont(tmp_path / "attack.sf2", fc=13500, inst_global_mods=[(VELOCITY | NEGATIVE, ATTACK_VOL_ENV, 9000)])

    def rise(x: np.ndarray) -> float:  # level of the first 20 ms against the steady level, dB
        return 10 * np.log10(np.mean(x[:int(0.02 * FS)] ** 2) / np.mean(x[int(0.4 * FS):] ** 2))

    soft, loud = note(font, velocity=20, seconds=1.0), note(font, velocity=127, seconds=1.0)
    assert rise(loud) > -3.0
    assert rise(soft) < -15.0


def test_the_default_velocity_modulator_darkens_only_above_64(tmp_path):
    """SF2.04's default velocity-to-cutoff (-2400 cents), with FluidSynth's switch: it acts from velocity 64."""
    font = write_soundfont(tmp_path / "open.sf2", fc=13500)

    def air(x: np.ndarray) -> float:  # energy above 12 kHz over the whole, dB
        spectrum = np.abs(np.fft.rfft(x[int(0.1 * FS):])) ** 2
        f = np.fft.rfftfreq(len(x) - int(0.1 * FS), 1 / FS)
        return float(10 * np.log10(spectrum[f > 12000].sum() / spectrum.sum()))

    assert air(note(font, velocity=64)) < air(note(font, velocity=63)) - 3.0
    assert abs(air(note(font, velocity=127)) - air(note(font, velocity=63))) < 1.0
