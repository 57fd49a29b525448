"""Render a composed score with tinysoundfont: 48 kHz stereo float32, in chunks, on several cores.

The score's instrument groups are split into *units*: one unit per group when stems are wanted,
otherwise a fixed two-way split balanced by estimated voice load. Inside a unit every group is its
own synthesizer pass, filtered by the group's EQ (``eq.py``) before the passes are summed, so the
mix is the same either way. The split never depends on the number of workers, so the same score
gives the same bytes on any machine. Units render in worker processes (see ``narrascore.parallel``: each loads the SoundFont
once, while the parent composes) and stream 1-second chunks back through pipes, or write their stem
files; the parent sums the units chunk by chunk, in a fixed order, into ``mix.wav``. Nothing ever
holds the whole track: memory stays flat in the length of the video.

Events are applied at their exact sample: the synthesizer renders up to the event, applies it and
goes on, so tempo changes (which only move events) never introduce a seam or a click.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DependencyError, NarrascoreError
from ...export.loudness import LoudnessMeter
from ...parallel import become_worker, process_context, start_process, stop_process, usable_cores
from ...progress import Advance
from ...fileio import atomic_path
from .. import SAMPLE_RATE
from .composer import Score
from .fontcache import decoded_soundfont, mapped_samples
from .eq import GroupFilter, group_bands, sections
from .mix import MixBus
from .performance import PEDAL, pedalled
from .soundfont import require_tinysoundfont

CHUNK = 48 * 1024  # samples per chunk (~1 s), a multiple of tinysoundfont's 64-sample block
MAX_VOICES = 256
QUEUE_CHUNKS = 32  # chunks a worker may run ahead of the mixer (~12 MB)
INLINE_SECONDS = 90.0  # shorter renders run in this process: starting workers would cost more
NOTE_OFF, CONTROL, NOTE_ON = 0, 1, 2  # event kinds, in the order they apply at one sample


@dataclass(frozen=True)
class Pass:
    """One group's synthesizer pass inside a unit: ``programs`` (channel, GM program, is_drum), sorted
    ``events`` and the group's EQ.

    events: int64 (N, 5) = (sample, kind, channel, data1, data2); kind NOTE_OFF < CONTROL < NOTE_ON.
    eq: float64 second-order sections (K, 6) (``eq.sections``); K = 0 leaves the group as rendered.
    """

    group: str
    programs: tuple[tuple[int, int, bool], ...]
    events: np.ndarray
    eq: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))


@dataclass(frozen=True)
class Unit:
    """What one worker renders and sums: one pass per group, each with its own synthesizer state."""

    name: str
    passes: tuple[Pass, ...]
    cost: float = 0.0

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(p.group for p in self.passes)


@dataclass
class RenderStats:
    seconds: float = 0.0
    workers: int = 0
    font_load_seconds: list[float] = field(default_factory=list)
    integrated_lufs: float | None = None  # of the mix, measured as it was written


def build_units(score: Score, *, stems: bool, style: str) -> list[Unit]:
    """Per-group units (stems) or a deterministic two-way split balanced by estimated voice-seconds.

    Either way every group is its own pass with ``style``'s EQ for it, so the mix is the same.
    """
    passes = [(_pass(t, style), _cost(t)) for t in score.tracks if t.notes]
    if stems or len(passes) <= 1:
        return [Unit(p.group, (p,), cost) for p, cost in passes]
    bins: list[list[tuple[Pass, float]]] = [[], []]
    load = [0.0, 0.0]
    for p, cost in sorted(passes, key=lambda pc: (-pc[1], pc[0].group)):  # longest-processing-time first
        i = int(np.argmin(load))
        bins[i].append((p, cost))
        load[i] += cost
    order = [p.group for p, _ in passes]
    return [Unit(f"part{i}", tuple(p for p, _ in sorted(b, key=lambda pc: order.index(pc[0].group))),
                 sum(cost for _, cost in b)) for i, b in enumerate(bins) if b]


def _pass(track, style: str) -> Pass:
    rows: list[tuple[int, int, int, int, int]] = []
    for t, c, cc, value in track.controls:
        if cc != PEDAL:  # the pedal is played out in the note ends (``pedalled``)
            rows.append((round(t * SAMPLE_RATE), CONTROL, c, cc, value))
    for s, e, p, v, c in pedalled(track):
        if not (0 <= p <= 127 and 0 <= v <= 127):
            continue  # not a MIDI note: the synthesizer would ignore it
        on, off = round(s * SAMPLE_RATE), round(e * SAMPLE_RATE)
        rows.append((on, NOTE_ON, c, p, v))
        rows.append((max(off, on + 1), NOTE_OFF, c, p, 0))
    events = np.array(rows, dtype=np.int64).reshape(-1, 5)
    if len(events):
        events = events[np.lexsort(events.T[::-1])]  # by sample, kind, channel, data
    return Pass(track.name, tuple((p.channel, p.program, p.is_drum) for p in track.parts), events,
                sections(group_bands(style, track.name), SAMPLE_RATE))


def _cost(track) -> float:
    return sum(e - s + 0.5 for s, e, *_ in track.notes)  # sounding time plus a typical release


# --------------------------------------------------------------------------- one pass
_loaded: dict[tuple[str, int, int], tuple] = {}  # the last SoundFont this process loaded (one entry)
_loaded_lock = threading.Lock()
_preloading: threading.Thread | None = None


def preload_synth(soundfont: str | os.PathLike[str]) -> None:
    """Start loading ``soundfont`` in a background thread, so that the render finds it loaded.

    The loader releases the GIL while it reads the file, so the video scan goes on meanwhile (0.4 s
    of a short clip's set-up off the critical path). A failure is left to the render's own
    ``load_synth`` call, which raises it where the user expects it.
    """
    global _preloading
    if _preloading is not None and _preloading.is_alive():
        return

    def load() -> None:
        with contextlib.suppress(Exception):
            load_synth(decoded_soundfont(soundfont))  # what the render loads (an sf3's decoded copy)

    _preloading = threading.Thread(target=load, daemon=True, name="narrascore-font-load")
    _preloading.start()


def wait_for_preload() -> None:
    """Return once a ``preload_synth`` started earlier has finished (before forking a worker, say)."""
    thread = _preloading
    if thread is not None and thread is not threading.current_thread():
        thread.join()


def load_synth(soundfont: str | os.PathLike[str]):
    """A synthesizer with ``soundfont`` loaded: ``(synth, sfid)``.

    An sf3 loads from its decoded copy in the user's cache (``fontcache``: made once, 0.4 s to load
    MuseScore General Lite instead of 3.3 s). The process keeps the last font it loaded (keyed by
    path, size and mtime, so a replaced file is loaded again), so a long-lived process such as the
    web page's job worker loads it once. Every pass plays on a fresh copy of it (``render_unit``), so a reused
    synthesizer renders the same bytes.
    """
    wait_for_preload()  # one load at a time; a process forked next holds no half-loaded font
    path = Path(soundfont)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None
    with _loaded_lock:
        if key is not None and key in _loaded:
            return _loaded[key]
        tsf = require_tinysoundfont()
        synth = tsf.Synth(samplerate=SAMPLE_RATE)
        try:
            decoded = decoded_soundfont(soundfont)
            samples = _mapped_samples(tsf, decoded)
            extra = {} if samples is None else {"samples": samples}
            sfid = synth.sfload(str(decoded), max_voices=MAX_VOICES, **extra)
        except Exception as exc:  # tinysoundfont raises bare exceptions for corrupt files
            raise DependencyError(f"{soundfont}: tinysoundfont cannot load this SoundFont ({exc})") from None
        loaded = (synth, sfid)
        if key is not None:
            _loaded.clear()
            _loaded[key] = loaded
        return loaded


def _mapped_samples(tsf, decoded: Path):
    """The font's samples mapped from the cache, where the vendored renderer can take them (else None)."""
    native = getattr(tsf, "_tinysoundfont", None)
    return None if native is None else mapped_samples(decoded, native.SoundFont)


def render_unit(synth, sfid: int, unit: Unit, n_samples: int, emit) -> None:
    """Render ``unit`` from a clean synthesizer state, calling ``emit(block)`` per chunk.

    Each pass plays on its own copy of the loaded SoundFont (``tsf_copy``: the samples are shared, the
    voices and channels are new, so every render starts from the same state), is filtered by its
    group's EQ, and the passes are summed in order.
    block: float32 (n, 2), valid only during the call.
    """
    native = synth.soundfonts[sfid]
    players = [_Player(type(native)(native), p, n_samples) for p in unit.passes]
    for c0 in range(0, n_samples, CHUNK):
        c1 = min(n_samples, c0 + CHUNK)
        total = None
        for player in players:
            block = player.render(c0, c1)
            if total is None:
                total = block if len(players) == 1 else block.copy()
            else:
                total += block
        emit(total)


class _Player:
    """One pass's synthesizer copy, its event cursor, its chunk buffer and its EQ."""

    def __init__(self, soundfont, p: Pass, n_samples: int) -> None:
        soundfont.set_max_voices(MAX_VOICES)
        for channel, program, is_drum in p.programs:
            soundfont.channel_set_bank(channel, 0)
            soundfont.channel_set_preset_number(channel, program, is_drum)
        self.soundfont = soundfont
        self.buffer = bytearray(CHUNK * 8)
        self.view = memoryview(self.buffer)
        self.block = np.frombuffer(self.buffer, dtype=np.float32).reshape(-1, 2)
        self.samples = p.events[:, 0] if len(p.events) else np.zeros(0, dtype=np.int64)
        self.events = p.events.tolist()
        self.next = 0
        self.filter = GroupFilter(p.eq) if len(p.eq) else None
        self.apply = {NOTE_OFF: lambda c, a, b: soundfont.channel_note_off(c, a),
                      CONTROL: soundfont.channel_midi_control,
                      NOTE_ON: lambda c, a, b: soundfont.channel_note_on(c, a, b / 127.0)}

    def render(self, c0: int, c1: int) -> np.ndarray:
        """Samples ``c0:c1`` of this pass (after its EQ), float32 (c1 - c0, 2)."""
        pos = c0
        j = int(np.searchsorted(self.samples, c1, side="left"))
        for s, kind, channel, a, b in self.events[self.next:j]:
            if s > pos:
                self.soundfont.render(self.view[(pos - c0) * 8:(s - c0) * 8], False)
                pos = s
            self.apply[kind](channel, a, b)
        self.next = j
        if c1 > pos:
            self.soundfont.render(self.view[(pos - c0) * 8:(c1 - c0) * 8], False)
        block = self.block[:c1 - c0]
        return block if self.filter is None else self.filter.process(block)


SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command; its PEAK chunk holds a timestamp


def _wav_for(path: Path, n_samples: int):
    """A float32 stereo writer without libsndfile's timestamped PEAK chunk (same audio, same bytes)."""
    import soundfile as sf

    fmt = "WAV" if n_samples * 8 < 0xFFFF0000 else "RF64"  # WAV's 4 GB limit (about 3 hours)
    f = sf.SoundFile(str(path), "w", samplerate=SAMPLE_RATE, channels=2, subtype="FLOAT", format=fmt)
    with contextlib.suppress(AttributeError):  # soundfile internals: without them only the header varies
        sf._snd.sf_command(f._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
    return f


def render_unit_to_file(synth, sfid: int, unit: Unit, n_samples: int, path: Path, meter: LoudnessMeter | None = None,
                        bus: MixBus | None = None) -> None:
    with atomic_path(path) as tmp, _wav_for(tmp, n_samples) as f:
        render_unit(synth, sfid, unit, n_samples, _bussed(_metered(f.write, meter), bus))


def _bussed(write, bus: MixBus | None):
    """``write``, after the mix bus (when there is one)."""
    if bus is None:
        return write
    return lambda block: write(bus.process(block))


def _metered(write, meter: LoudnessMeter | None):
    """``write``, also feeding each block to ``meter`` (the mix's loudness comes for free while it is written)."""
    if meter is None:
        return write

    def write_and_measure(block: np.ndarray) -> None:
        meter.add(block)
        write(block)

    return write_and_measure


def sum_files(parts: list[Path], n_samples: int, out: Path, meter: LoudnessMeter | None = None,
              bus: MixBus | None = None, stems: list[Path] | None = None) -> None:
    """``out`` = sum of the float32 WAVs ``parts`` in list order, chunk by chunk, through ``bus``.

    ``stems``: one path per part, then one for the reverb return; each part is written there with the
    bus's gain, so that they sum to ``out`` (needs ``bus``).
    """
    import soundfile as sf

    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(sf.SoundFile(str(p))) for p in parts]
        tmp = stack.enter_context(atomic_path(out))
        write = _metered(stack.enter_context(_wav_for(tmp, n_samples)).write, meter)
        stem_writers = [stack.enter_context(_wav_for(stack.enter_context(atomic_path(p)), n_samples)) for p in stems or []]
        for c0 in range(0, n_samples, CHUNK):
            n = min(CHUNK, n_samples - c0)
            blocks = [r.read(n, dtype="float32", always_2d=True) for r in readers]
            if stem_writers:
                mixed, gained, reverb = bus.process_stems(blocks)
                for writer, block in zip(stem_writers, [*gained, reverb]):
                    writer.write(block)
                write(mixed)
                continue
            total = blocks[0]
            for block in blocks[1:]:
                total += block
            write(total if bus is None else bus.process(total))


# --------------------------------------------------------------------------- workers
def _worker_main(conn, parent: int, soundfont: str, loaded=None) -> None:
    """Worker process: load the SoundFont (unless a forked worker inherited it), then run jobs until told to stop."""
    try:
        become_worker(parent)
        t0 = time.perf_counter()
        synth, sfid = loaded if loaded is not None else load_synth(soundfont)
        load_seconds = time.perf_counter() - t0
        while True:
            job = conn.recv()
            if job is None:
                return
            units, n_samples, stream, paths = job
            for unit, path in zip(units, paths):
                if stream:
                    render_unit(synth, sfid, unit, n_samples, lambda block: conn.send_bytes(b"A" + block.tobytes()))
                else:
                    render_unit_to_file(synth, sfid, unit, n_samples, Path(path))
            conn.send_bytes(b"D" + repr(load_seconds).encode())
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return
    except BaseException as exc:  # report anything to the parent, which raises it
        with contextlib.suppress(Exception):
            conn.send_bytes(b"E" + f"{type(exc).__name__}: {exc}".encode())


class WorkerPool:
    """``n`` render processes with the SoundFont loaded.

    Forked workers inherit the SoundFont the parent loaded once: its decoded samples (about 0.5 GB
    for MuseScore General) stay shared pages instead of one copy per worker. Spawned workers
    (where fork is not used) load it themselves as soon as they start.
    """

    def __init__(self, soundfont: Path, n: int) -> None:
        ctx = process_context()
        loaded = load_synth(soundfont) if ctx.get_start_method() == "fork" else None
        self.connections = []
        self.processes = []
        for _ in range(n):
            parent, child = ctx.Pipe(duplex=True)
            process = ctx.Process(target=_worker_main, args=(child, os.getpid(), str(soundfont), loaded), daemon=True)
            start_process(process)
            child.close()
            self.connections.append(parent)
            self.processes.append(process)

    def close(self, *, stop: bool = False) -> None:
        """Let the workers finish (or, with ``stop``, after an error or interrupt, stop them at once)."""
        if not stop:
            for conn in self.connections:
                with contextlib.suppress(Exception):
                    conn.send(None)
            for process in self.processes:
                process.join(timeout=5)
        for process in self.processes:
            stop_process(process)
        for conn in self.connections:
            conn.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, kind, *exc) -> None:
        self.close(stop=kind is not None)

    def _receive(self, i: int) -> bytes:
        try:
            message = self.connections[i].recv_bytes()
        except EOFError:
            raise NarrascoreError(f"render worker {i} died (exit code {self.processes[i].exitcode})") from None
        if message[:1] == b"E":
            raise NarrascoreError(f"render worker {i} failed: {message[1:].decode(errors='replace')}")
        return message

    def stream_mix(self, units: list[Unit], n_samples: int, mix: Path, progress: Advance | None = None,
                   meter: LoudnessMeter | None = None, bus: MixBus | None = None) -> list[float]:
        """One unit per worker, streamed back, summed and bussed into ``mix`` chunk by chunk."""
        assert len(units) <= len(self.connections)
        for i, unit in enumerate(units):
            self.connections[i].send(([unit], n_samples, True, [None]))
        queues = [queue.Queue(maxsize=QUEUE_CHUNKS) for _ in units]
        n_chunks = -(-n_samples // CHUNK)

        def read(i: int) -> None:
            try:
                for _ in range(n_chunks):
                    queues[i].put(self._receive(i))
                queues[i].put(self._receive(i))  # done message
            except BaseException as exc:
                queues[i].put(exc)

        threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(len(units))]
        for thread in threads:
            thread.start()
        with atomic_path(mix) as tmp, _wav_for(tmp, n_samples) as writer:
            write = _bussed(_metered(writer.write, meter), bus)
            for k in range(n_chunks):
                total = None
                for q in queues:
                    message = q.get()
                    if isinstance(message, BaseException):
                        raise message
                    block = np.frombuffer(message, dtype=np.float32, offset=1).reshape(-1, 2)
                    total = block.copy() if total is None else total + block
                write(total)
                if progress is not None:
                    progress((k + 1) * CHUNK / SAMPLE_RATE)
            loads = []
            for q in queues:
                message = q.get()
                if isinstance(message, BaseException):
                    raise message
                loads.append(float(message[1:].decode()))
        for thread in threads:
            thread.join()
        return loads

    def render_files(self, units: list[Unit], n_samples: int, paths: list[Path]) -> list[float]:
        """Units spread over the workers (balanced by cost), each written to its own file."""
        jobs: list[list[int]] = [[] for _ in self.connections]
        load = [0.0] * len(jobs)
        for k in sorted(range(len(units)), key=lambda k: -units[k].cost):
            i = int(np.argmin(load))
            jobs[i].append(k)
            load[i] += units[k].cost
        busy = [i for i, job in enumerate(jobs) if job]
        for i in busy:
            self.connections[i].send(([units[k] for k in jobs[i]], n_samples, False, [str(paths[k]) for k in jobs[i]]))
        return [float(self._receive(i)[1:].decode()) for i in busy]


def render_units(units: list[Unit], *, soundfont: Path, n_samples: int, mix: Path, stem_paths: dict[str, Path],
                 scratch: Path, pool: WorkerPool | None, progress: Advance | None = None,
                 bus: MixBus | None = None) -> RenderStats:
    """Render ``units`` into ``mix`` through ``bus`` (and their stem files when ``stem_paths`` names each unit).

    ``stem_paths`` also names the reverb return (``"reverb"``) when there is a ``bus``: the units
    render dry into ``scratch``, and the bus writes each stem with its gain and the return beside them.
    ``progress`` is called with the seconds of audio finished (per chunk when streaming, per unit otherwise).

    Without ``pool`` the units render one after another in this process (spilling to files in
    ``scratch``); with it, in the workers. Both give identical bytes.
    """
    t0 = time.perf_counter()
    stats = RenderStats(workers=len(pool.processes) if pool else 0)
    if not units:  # nothing to play: silence of the right length
        with atomic_path(mix) as tmp, _wav_for(tmp, n_samples) as f:
            for c0 in range(0, n_samples, CHUNK):
                f.write(np.zeros((min(CHUNK, n_samples - c0), 2), dtype=np.float32))
        stats.seconds = time.perf_counter() - t0
        return stats
    meter = LoudnessMeter(SAMPLE_RATE, 2, true_peak=False)
    stems_out: list[Path] | None = None
    if stem_paths and bus is not None:
        paths = [scratch / f".{u.name}.dry.wav" for u in units]
        stems_out = [stem_paths[u.name] for u in units] + [stem_paths["reverb"]]
    elif stem_paths:
        paths = [stem_paths[u.name] for u in units]
    elif len(units) == 1:
        paths = [mix]
    else:
        paths = [scratch / f".{u.name}.render.wav" for u in units]
    kept = set(stem_paths.values()) | {mix}
    try:
        if pool is not None and not stem_paths and len(units) <= len(pool.processes) and len(units) > 1:
            stats.font_load_seconds = pool.stream_mix(units, n_samples, mix, progress, meter, bus)
        elif pool is not None:
            stats.font_load_seconds = pool.render_files(units, n_samples, paths)
            if paths != [mix]:
                sum_files(paths, n_samples, mix, meter, bus, stems_out)
        else:
            synth, sfid = load_synth(soundfont)
            for k, (unit, path) in enumerate(zip(units, paths)):
                into_mix = path == mix
                render_unit_to_file(synth, sfid, unit, n_samples, path, meter if into_mix else None, bus if into_mix else None)
                if progress is not None:
                    progress((k + 1) / len(units) * n_samples / SAMPLE_RATE)
            if paths != [mix]:
                sum_files(paths, n_samples, mix, meter, bus, stems_out)
    finally:
        for path in paths:
            if path not in kept:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    if meter.n_samples == n_samples:  # every path above wrote the mix through the meter
        stats.integrated_lufs = meter.stats().integrated_lufs
    stats.seconds = time.perf_counter() - t0
    return stats


def default_workers(n_samples: int) -> int:
    """Two processes (or the CPU count, if smaller) for renders longer than ``INLINE_SECONDS``."""
    if n_samples < INLINE_SECONDS * SAMPLE_RATE:
        return 0
    return min(2, usable_cores())
