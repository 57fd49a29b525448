"""Our renderer's timbre against FluidSynth's, note by note: the partials' levels, preset by preset.

General MIDI SoundFonts are voiced on FluidSynth, the reference SF2 synthesizer. For each preset, key
and velocity, one note is rendered by NarraScore's renderer and by the ``fluidsynth`` command (reverb
and chorus off); each side's partials 2 to 8 are read relative to its fundamental, and the mean
absolute difference between the two profiles is printed (dB; lower is closer), then the mean of all.

    python benchmarks/bench_timbre.py [--soundfont PATH] [--programs 0,11,48,...]

Needs the ``fluidsynth`` program (Debian: ``apt install fluidsynth``); it is not a NarraScore dependency.
Run it from a checkout of each code version (before / after a change of the renderer).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from narrascore.synth.procedural import render
from narrascore.synth.procedural.fontcache import decoded_soundfont
from narrascore.synth.procedural.soundfont import find_soundfont

FS = 48000
# what the styles play (piano, vibraphone, strings, horn, tuba... synth leads, basses and pads, guitars, organ)
PROGRAMS = (0, 11, 48, 60, 45, 43, 81, 80, 38, 39, 88, 89, 90, 30, 29, 33, 19)


def partials(x: np.ndarray, key: int) -> np.ndarray:
    """Partials 2..8 in dB relative to the fundamental, over 20-520 ms of the note."""
    x = x[int(0.02 * FS):int(0.52 * FS)]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1 / FS)
    f0 = 440.0 * 2 ** ((key - 69) / 12)
    levels = np.array([20 * np.log10(spectrum[(f > n * f0 * 0.97) & (f < n * f0 * 1.03)].max() + 1e-12) for n in range(1, 9)])
    return levels[1:] - levels[0]


def ours(synth, sfid: int, program: int, key: int, velocity: int) -> np.ndarray:
    events = np.array([[0, render.NOTE_ON, 0, key, velocity], [FS, render.NOTE_OFF, 0, key, 0]], dtype=np.int64)
    if hasattr(render, "Pass"):
        unit = render.Unit("note", (render.Pass("melody", ((0, program, False),), events),))
    else:  # a checkout from before the per-group passes
        unit = render.Unit("note", ("melody",), ((0, program, False),), events)
    blocks: list[np.ndarray] = []
    render.render_unit(synth, sfid, unit, FS, lambda b: blocks.append(b.copy()))
    return np.concatenate(blocks)[:, 0]


def fluid(font: Path, program: int, key: int, velocity: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        midi = mido.MidiFile(ticks_per_beat=480)
        track = mido.MidiTrack()
        midi.tracks.append(track)
        track += [mido.MetaMessage("set_tempo", tempo=500000), mido.Message("program_change", program=program, time=0),
                  mido.Message("note_on", note=key, velocity=velocity, time=0), mido.Message("note_off", note=key, time=960),
                  mido.Message("note_off", note=key, time=480)]
        midi.save(f"{folder}/note.mid")
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-r", str(FS), "-g", "0.5", "-F",
                        f"{folder}/note.wav", str(font), f"{folder}/note.mid"], check=True, capture_output=True)
        return sf.read(f"{folder}/note.wav")[0][:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soundfont", type=Path, default=None)
    parser.add_argument("--programs", default=",".join(map(str, PROGRAMS)))
    args = parser.parse_args()
    if shutil.which("fluidsynth") is None:
        sys.exit("bench_timbre: the fluidsynth program is not installed (Debian: apt install fluidsynth)")
    font = decoded_soundfont(find_soundfont(args.soundfont))  # fluidsynth reads sf3 too, but the same file is fairer
    synth, sfid = render.load_synth(font)
    differences = []
    for program in (int(p) for p in args.programs.split(",")):
        for key in (48, 72):
            for velocity in (50, 100):
                a, b = partials(ours(synth, sfid, program, key, velocity), key), partials(fluid(font, program, key, velocity), key)
                differences.append(float(np.mean(np.abs(a - b))))
                print(f"program {program:3d} key {key} velocity {velocity:3d}: ours {' '.join(f'{v:4.0f}' for v in a)}"
                      f" | fluidsynth {' '.join(f'{v:4.0f}' for v in b)} | mean |difference| {differences[-1]:4.1f} dB", flush=True)
    print(f"mean |difference| over {len(differences)} notes: {np.mean(differences):.1f} dB (median {np.median(differences):.1f})")


if __name__ == "__main__":
    main()
