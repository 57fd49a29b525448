"""A decoded copy of each compressed (sf3) SoundFont, made once and kept in the user's cache.

An sf3 stores its samples as Ogg Vorbis: tinysoundfont decodes all of them, under the GIL, every time
a process loads the font (3.3 s for MuseScore General Lite, 8.3 s for Full, in every render process
and every CLI call). The decoded copy is an ordinary sf2 (16-bit PCM, the samples packed back to back
with their loop points made absolute, as tinysoundfont itself lays them out after decoding), which
loads in a fraction of a second. It is keyed by the sf3's content hash and by ``FONT_CACHE_VERSION``,
so a replaced font or a new converter makes a new copy; it is written to a temporary name and
renamed, so concurrent runs never see half a file.

The copy is not bit-exact: libsndfile's Vorbis decoder stands in for tinysoundfont's stb_vorbis, the
samples are rounded to 16 bits, and a decoded value past full scale is clipped. Against tinysoundfont
decoding MuseScore General Lite itself, renders agree to 85 to 106 dB SNR (piano, strings, lead, drums).
"""

from __future__ import annotations

import io
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import MediaError, OutputError
from ...fileio import atomic_path, user_cache_dir
from ...identity import cached_sha256

FONT_CACHE_VERSION = 1
log = logging.getLogger(__name__)
COMPRESSED = 0x30  # sfSampleType bits that mark a compressed (Vorbis) sample in sf3
SHDR = struct.Struct("<20sIIIIIBbHH")  # one sample header: 46 bytes


def decoded_soundfont(path: str | os.PathLike[str]) -> Path:
    """``path`` itself for an uncompressed SoundFont, else its decoded sf2 copy (made now if missing)."""
    path = Path(path)
    chunks = _read_riff(path)
    if not _is_compressed(chunks):
        return path
    try:
        return _cached_copy(path, ".sf2", lambda tmp: _write_decoded(path, _read_riff(path, samples=True), tmp))
    except (OSError, OutputError) as exc:  # a read-only or full cache: slower, but it still renders
        log.warning("%s: cannot keep a decoded copy in %s (%s); the SoundFont is decoded in every run", path,
                    _folder(), exc)
        return path


def mapped_samples(path: str | os.PathLike[str], loader) -> np.ndarray | None:
    """The samples of the uncompressed SoundFont ``path`` as the renderer decodes them (float32), read-only
    over a memory-mapped file in the cache, written now (through ``loader(path)``, a renderer SoundFont)
    if missing. None for a compressed font, for a renderer without external samples (PyPI's build), or
    where the cache cannot be written.

    Why: the renderer turns every 16-bit sample into a float when it loads a font (0.4 s and 430 MB for
    MuseScore General Lite, 1.2 GB for Full, in every process). Mapped, a load takes milliseconds, only
    the samples a piece plays are read, and every process on the machine shares one copy. For the
    cache's own decoded copies (samples back to back, no gaps) the floats are converted here in slices,
    as the renderer converts them (``short / 32767.0``, rounded to float): the same bytes without the
    whole font in memory twice (Full: 1.5 GB); any other sf2 goes through the renderer's loader.
    """
    import mmap

    path = Path(path)
    if not hasattr(loader, "samples") or _is_compressed(_read_riff(path)):
        return None
    try:
        ours = path.parent == _folder() and path.suffix == ".sf2"  # a decoded copy: one run of samples
        write = (lambda tmp: _write_floats(path, tmp)) if ours else (lambda tmp: tmp.write_bytes(loader(str(path)).samples()))
        target = _cached_copy(path, ".f32", write)
        with open(target, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0 or size % 4:
                return None
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, OutputError) as exc:
        log.warning("%s: cannot keep its decoded samples in %s (%s); the font is loaded whole", path, _folder(), exc)
        return None
    return np.frombuffer(mapped, dtype=np.float32)


FLOAT_SLICE = 1 << 22  # samples converted at a time (16 MB of floats)


def _write_floats(sf2: Path, out: Path) -> None:
    """The samples of ``sf2`` (one written by ``_write_decoded``) as the renderer's floats, into ``out``."""
    start, size = _smpl_span(sf2)
    pcm = np.memmap(sf2, dtype="<i2", mode="r", offset=start, shape=(size // 2,))
    with open(out, "wb") as f:
        for i in range(0, pcm.size, FLOAT_SLICE):
            f.write((pcm[i:i + FLOAT_SLICE].astype(np.float64) / 32767.0).astype("<f4").tobytes())


def _smpl_span(path: Path) -> tuple[int, int]:
    """(file offset, bytes) of the sample data of the sf2 ``path``."""
    with open(path, "rb") as f:
        for name, _ in _lists(f, path):
            if name == "sdta":
                kind, size = f.read(4), f.read(4)
                if kind == b"smpl" and len(size) == 4:
                    return f.tell(), struct.unpack("<I", size)[0]
    raise MediaError(f"{path}: SoundFont has no sample data (sdta/smpl)")


def _folder() -> Path:
    return user_cache_dir() / "soundfonts"


def soundfont_sha256(path: str | os.PathLike[str]) -> str:
    """The SoundFont's content hash, remembered in the user's cache (by path, size and mtime) for every
    run and output folder: MuseScore General Full is 86 MB, 0.1 s to hash, on a 2 s short clip."""
    folder = _folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return cached_sha256(path, cache=folder / "hashes.json")
    except (OSError, OutputError):  # a read-only cache: hashed every time
        return cached_sha256(path)


def _cached_copy(path: Path, suffix: str, write) -> Path:
    """The cache's copy of ``path`` (named by its content hash and ``FONT_CACHE_VERSION``), made with
    ``write(tmp)`` when missing. Raises OSError or OutputError where the cache cannot be written."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    digest = soundfont_sha256(path)
    target = folder / f"{path.stem}-{digest[:16]}-v{FONT_CACHE_VERSION}{suffix}"
    if not target.is_file():
        with atomic_path(target) as tmp:
            write(tmp)
    return target


def _read_riff(path: Path, *, samples: bool = False) -> dict[str, bytes]:
    """The top-level lists of an sfbk RIFF file: ``{"INFO": ..., "sdta": ..., "pdta": ...}`` (their bodies).

    The sample data (``sdta``, nearly all of the file) is read only with ``samples``; otherwise it is empty.
    """
    lists: dict[str, bytes] = {}
    with open(path, "rb") as f:
        for name, size in _lists(f, path):
            lists[name] = f.read(size - 4) if name != "sdta" or samples else b""
    if not {"INFO", "sdta", "pdta"} <= set(lists):
        raise MediaError(f"{path}: SoundFont is incomplete (no INFO, sdta or pdta list)")
    return lists


def _lists(f, path: Path) -> Iterator[tuple[str, int]]:
    """Walk the top-level LIST chunks of the open sfbk RIFF file ``f``: (name, size) with ``f`` at the body
    (after the name); the caller may read it, and the walk goes on from the chunk's end either way."""
    head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise MediaError(f"{path}: not a SoundFont (sf2/sf3) file")
    while len(header := f.read(12)) == 12:
        kind, size, name = header[:4], struct.unpack("<I", header[4:8])[0], header[8:12].decode("latin-1")
        if kind != b"LIST":
            break
        body = f.tell()
        yield name, size
        f.seek(body + size - 4)
        if size & 1 and f.read(1) not in (b"\0", b""):  # RIFF pads odd sizes with a zero byte, some writers do not
            f.seek(-1, io.SEEK_CUR)


def _subchunks(body: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 0
    while pos + 8 <= len(body):
        kind, size = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
        out.append((kind, body[pos + 8:pos + 8 + size]))
        pos = _next(body, pos, size)
    return out


def _next(data: bytes, pos: int, size: int) -> int:
    """Where the chunk after the one at ``pos`` starts: RIFF pads odd sizes with a zero byte, some writers do not."""
    end = pos + 8 + size
    return end + 1 if size & 1 and data[end:end + 1] == b"\0" else end


def _headers(chunks: dict[str, bytes]) -> list[tuple]:
    shdr = dict(_subchunks(chunks["pdta"])).get(b"shdr", b"")
    return [SHDR.unpack_from(shdr, i) for i in range(0, len(shdr) - SHDR.size + 1, SHDR.size)]


def _is_compressed(chunks: dict[str, bytes]) -> bool:
    return any(h[9] & COMPRESSED for h in _headers(chunks))


def _write_decoded(path: Path, chunks: dict[str, bytes], out: Path) -> None:
    """Write the sf2 of the sf3 ``chunks`` to ``out``: every Vorbis sample decoded to 16-bit PCM.

    Each sample is written as it is decoded and the chunk sizes are filled in at the end, so memory
    holds the compressed samples and one decoded sample (MuseScore General Full decodes to 489 MB).
    """
    import soundfile as sf

    smpl = dict(_subchunks(chunks["sdta"])).get(b"smpl", b"")
    headers = _headers(chunks)
    info = b"".join(_chunk(kind, struct.pack("<HH", 2, 1) if kind == b"ifil" else body)
                    for kind, body in _subchunks(chunks["INFO"]))
    offset = 0  # in samples
    fixed = []
    with open(out, "wb") as f:
        f.write(b"RIFF\0\0\0\0sfbk" + _list(b"INFO", info))
        sdta_at = f.tell()
        f.write(b"LIST\0\0\0\0sdtasmpl\0\0\0\0")
        for name, start, end, loop_start, loop_end, rate, pitch, correction, link, kind in headers[:-1]:
            if kind & COMPRESSED:
                try:
                    audio, _ = sf.read(io.BytesIO(smpl[start:end]), dtype="float32", always_2d=True)
                except Exception as exc:  # libsndfile's errors name no file
                    raise MediaError(f"{path}: a compressed sample of this SoundFont does not decode ({exc})") from None
                samples = np.round(np.clip(audio[:, 0], -1.0, 1.0) * 32767.0).astype("<i2")
                loop_start, loop_end = loop_start + offset, loop_end + offset  # sf3 loops count from the sample's start
                kind &= ~COMPRESSED
            else:
                samples = np.frombuffer(smpl, dtype="<i2")[start:max(end, loop_end)]
                loop_start, loop_end = loop_start - start + offset, loop_end - start + offset
            fixed.append((name, offset, offset + len(samples), loop_start, loop_end, rate, pitch, correction, link, kind))
            f.write(samples.tobytes())
            offset += len(samples)
        fixed.append(headers[-1][:1] + (0,) * 5 + (0, 0, 0, 0))  # the terminal "EOS" record
        f.write(_list(b"pdta", b"".join(_chunk(kind, b"".join(SHDR.pack(*h) for h in fixed) if kind == b"shdr" else body)
                                         for kind, body in _subchunks(chunks["pdta"]))))
        total = f.tell()
        smpl_bytes = 2 * offset  # 16-bit samples: always even, so no pad byte
        for at, size in ((4, total - 8), (sdta_at + 4, 4 + 8 + smpl_bytes), (sdta_at + 16, smpl_bytes)):
            f.seek(at)
            f.write(struct.pack("<I", size))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _list(kind: bytes, body: bytes) -> bytes:
    return _chunk(b"LIST", kind + body)
