"""The decoded-SoundFont cache: an sf3 is decoded once into an sf2 that plays the same and loads fast."""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import pytest
import soundfile as sf

from narrascore.errors import MediaError
from narrascore.synth.procedural import fontcache
from narrascore.synth.procedural.render import NOTE_OFF, NOTE_ON, Pass, Unit, render_unit
from narrascore.synth.procedural.soundfont import bundled_soundfont, require_tinysoundfont

FS = 48_000


def to_sf3(sf2: bytes, *, corrupt: bool = False) -> bytes:
    """The sf3 (Ogg Vorbis samples, loops relative to each sample, as MuseScore writes them) of an sf2.

    The samples are encoded 6 dB down, as real sf3 fonts are: Vorbis overshoots full-scale samples past 1.0.
    """
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.sf2"
        path.write_bytes(sf2)
        chunks = fontcache._read_riff(path, samples=True)
    smpl = dict(fontcache._subchunks(chunks["sdta"]))[b"smpl"]
    pcm = np.frombuffer(smpl, dtype="<i2")
    headers = fontcache._headers(chunks)
    out, packed = [], []
    offset = 0
    for name, start, end, loop_start, loop_end, rate, pitch, correction, link, kind in headers[:-1]:
        buffer = io.BytesIO()
        sf.write(buffer, pcm[start:end].astype(np.float32) / 65536.0, rate, format="OGG", subtype="VORBIS")
        data = buffer.getvalue()
        if corrupt:
            data = data[:4] + bytes(len(data) - 4)  # an Ogg page mark, then nothing a decoder can read
        out.append((name, offset, offset + len(data), loop_start - start, loop_end - start, rate, pitch, correction,
                    link, kind | 0x10))
        packed.append(data)
        offset += len(data)
    out.append(headers[-1])
    pdta = b"".join(fontcache._chunk(k, b"".join(fontcache.SHDR.pack(*h) for h in out) if k == b"shdr" else body)
                    for k, body in fontcache._subchunks(chunks["pdta"]))
    info = b"".join(fontcache._chunk(k, struct.pack("<HH", 3, 1) if k == b"ifil" else body)
                    for k, body in fontcache._subchunks(chunks["INFO"]))
    body = (b"sfbk" + fontcache._list(b"INFO", info) + fontcache._list(b"sdta", fontcache._chunk(b"smpl", even(b"".join(packed))))
            + fontcache._list(b"pdta", pdta))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def even(data: bytes) -> bytes:
    """tinysoundfont reads chunks without RIFF's pad byte (as MuseScore writes them): keep sizes even."""
    return data + b"\0" * (len(data) & 1)


@pytest.fixture(scope="module")
def sf3(tmp_path_factory):
    font = bundled_soundfont()
    if font is None:
        pytest.skip("pretty_midi's TimGM6mb.sf2 is not installed")
    path = tmp_path_factory.mktemp("fonts") / "timgm.sf3"
    path.write_bytes(to_sf3(font.read_bytes()))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NARRASCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "soundfonts"


def play(font, **load) -> np.ndarray:
    synth = require_tinysoundfont().Synth(samplerate=FS)
    sfid = synth.sfload(str(font), **load)
    rows = []
    for k, (channel, program, pitch) in enumerate(((0, 0, 60), (0, 0, 67), (1, 48, 55), (1, 48, 62), (9, 0, 38))):
        rows += [(int((0.1 + 0.3 * k) * FS), NOTE_ON, channel, pitch, 100), (int((0.6 + 0.3 * k) * FS), NOTE_OFF, channel, pitch, 0)]
    events = np.array(sorted(rows, key=lambda r: (r[0], r[1])), dtype=np.int64)
    blocks: list[np.ndarray] = []
    unit = Unit("u", (Pass("melody", ((0, 0, False), (1, 48, False), (9, 0, True)), events),))
    render_unit(synth, sfid, unit, 3 * FS, lambda b: blocks.append(b.copy()))
    return np.concatenate(blocks)


def test_decoding_streams_the_samples_to_the_file(sf3, cache):
    """Memory holds the compressed font and one decoded sample, not the decoded font (Full: 489 MB)."""
    import tracemalloc

    tracemalloc.start()
    try:
        decoded = fontcache.decoded_soundfont(sf3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # (the sf3's bytes, read, and their slices; the whole decoded font in memory made it 5 times the sf2)
    assert peak < 3 * sf3.stat().st_size, (peak, sf3.stat().st_size, decoded.stat().st_size)


def test_an_sf3_is_decoded_once_and_plays_as_the_sf3_does(sf3, cache):
    decoded = fontcache.decoded_soundfont(sf3)
    assert decoded.parent == cache and decoded.suffix == ".sf2"
    assert not fontcache._is_compressed(fontcache._read_riff(decoded))
    stamp = decoded.stat().st_mtime_ns
    assert fontcache.decoded_soundfont(sf3) == decoded and decoded.stat().st_mtime_ns == stamp  # reused, not rewritten
    direct, cached = play(sf3), play(decoded)  # tinysoundfont decoding the Vorbis itself, and our copy
    assert np.abs(direct).max() > 0.01
    snr = 10 * np.log10((direct ** 2).sum() / ((direct - cached) ** 2).sum())
    assert snr > 60, snr  # only 16-bit rounding and the two Vorbis decoders differ
    assert not list(cache.glob(".*"))  # nothing half-written left beside it


def test_an_sf2_is_used_as_it_is(cache):
    font = bundled_soundfont()
    if font is None:
        pytest.skip("pretty_midi's TimGM6mb.sf2 is not installed")
    assert fontcache.decoded_soundfont(font) == font
    assert not cache.exists()


def test_a_changed_sf3_gets_a_new_copy(sf3, cache, tmp_path):
    first = fontcache.decoded_soundfont(sf3)
    changed = tmp_path / "timgm.sf3"
    data = bytearray(sf3.read_bytes())
    data[data.index(b"INAM") + 8] ^= 1  # one letter of the font's name
    changed.write_bytes(bytes(data))
    assert fontcache.decoded_soundfont(changed) != first


def test_an_undecodable_sample_names_the_font(cache, tmp_path):
    font = bundled_soundfont()
    if font is None:
        pytest.skip("pretty_midi's TimGM6mb.sf2 is not installed")
    bad = tmp_path / "bad.sf3"
    bad.write_bytes(to_sf3(font.read_bytes(), corrupt=True))
    with pytest.raises(MediaError, match="bad.sf3: a compressed sample"):
        fontcache.decoded_soundfont(bad)
    assert not list(cache.glob("*.sf2")) and not list(cache.glob(".*"))


def test_a_cache_that_cannot_be_written_still_renders(sf3, tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("NARRASCORE_CACHE", str(blocked))
    assert fontcache.decoded_soundfont(sf3) == sf3  # tinysoundfont decodes it itself, as before the cache
    assert "cannot keep a decoded copy" in caplog.text


@pytest.fixture
def native():
    """The renderer's compiled SoundFont class, where it can take samples from a memory map (our build)."""
    module = getattr(require_tinysoundfont(), "_tinysoundfont", None)
    if module is None or not hasattr(module.SoundFont, "samples"):
        pytest.skip("PyPI's tinysoundfont build: fonts load whole")
    return module.SoundFont


def test_an_sf2s_samples_are_mapped_from_the_cache_and_play_the_same(cache, native):
    font = bundled_soundfont()
    if font is None:
        pytest.skip("pretty_midi's TimGM6mb.sf2 is not installed")
    samples = fontcache.mapped_samples(font, native)
    assert samples is not None and samples.dtype == np.float32 and not samples.flags.writeable
    [copy] = cache.glob("*.f32")
    assert copy.stat().st_size == samples.nbytes == 4 * len(native(str(font)).samples())
    stamp = copy.stat().st_mtime_ns
    again = fontcache.mapped_samples(font, native)
    assert again is not None and copy.stat().st_mtime_ns == stamp  # reused, not rewritten
    whole, mapped = play(font), play(font, samples=again)
    assert np.abs(whole).max() > 0.01 and whole.tobytes() == mapped.tobytes()
    assert not list(cache.glob(".*"))


def test_compressed_fonts_and_an_unwritable_cache_load_whole(sf3, tmp_path, monkeypatch, caplog, native):
    assert fontcache.mapped_samples(sf3, native) is None  # the renderer decodes an sf3's samples itself
    font = bundled_soundfont()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("NARRASCORE_CACHE", str(blocked))
    assert fontcache.mapped_samples(font, native) is None
    assert "cannot keep its decoded samples" in caplog.text


def test_a_decoded_copys_floats_are_converted_in_slices_exactly_as_the_renderer_loads_them(sf3, cache, native, monkeypatch):
    decoded = fontcache.decoded_soundfont(sf3)
    monkeypatch.setattr(fontcache, "FLOAT_SLICE", 1000)  # many slices, one ending mid-font
    loads = []

    class Counted:  # the renderer's loader, counting its loads
        samples = native.samples

        def __new__(cls, path):
            loads.append(path)
            return native(path)

    samples = fontcache.mapped_samples(decoded, Counted)
    assert samples is not None and not loads  # converted here, not by loading the whole font
    assert samples.tobytes() == bytes(native(str(decoded)).samples())
    assert play(decoded).tobytes() == play(decoded, samples=samples).tobytes()


def test_a_soundfonts_hash_is_remembered_for_every_output_folder(tmp_path, cache, monkeypatch):
    """The render's cache key holds the SoundFont's hash: a fresh output folder (every short clip in a
    batch of folders) must not read MuseScore General Full's 86 MB again."""
    import hashlib

    from narrascore import identity
    from narrascore.options import ScoreOptions
    from narrascore.pipeline import synth_identity

    font = tmp_path / "font.sf2"
    font.write_bytes(bundled_soundfont().read_bytes())
    reads = []
    real = identity.file_sha256
    monkeypatch.setattr(identity, "file_sha256", lambda path: reads.append(path) or real(path))
    options = ScoreOptions(soundfont=str(font))
    first = synth_identity(options)[0]["soundfont"]
    assert first == {"path": str(font.resolve()), "size": font.stat().st_size,
                     "sha256": hashlib.sha256(font.read_bytes()).hexdigest()}
    assert synth_identity(options)[0]["soundfont"] == first and len(reads) == 1
    stamp = font.stat().st_mtime_ns
    font.write_bytes(font.read_bytes()[:-2] + b"\1\2")  # replaced in place (a later mtime): hashed again
    os.utime(font, ns=(stamp + 10**9, stamp + 10**9))
    assert synth_identity(options)[0]["soundfont"]["sha256"] != first["sha256"] and len(reads) == 2
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("NARRASCORE_CACHE", str(blocked))  # no cache: still the right hash, read each time
    assert synth_identity(options)[0]["soundfont"]["sha256"] == hashlib.sha256(font.read_bytes()).hexdigest()
