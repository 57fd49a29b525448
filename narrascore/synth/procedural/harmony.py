"""Compact diatonic harmony: scales, Roman-numeral chords (spelled by music21), functional progressions, voicings.

Pitches are MIDI note numbers; pitch classes 0..11 with C = 0. In minor, ``V`` and ``vii°`` use the
raised leading tone (harmonic minor), as common-practice cadences do. ``bII`` is the Neapolitan
(a major triad on the lowered second degree) and ``viio7`` the fully diminished seventh: the
dissonant colours used when valence is negative and arousal high (tritones inside the chord).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from ...artifacts import KEYS

# The numerals the composer uses, per mode. Their chords (and the two scales) are spelled by music21
# into ``SPELLED`` (``scripts/spell_harmony.py``; a test spells them again and compares), and read here:
# scoring does not import music21 (0.3 s). In minor, ``V`` and ``viio7`` have the raised leading tone,
# ``VI`` and ``VII`` lie on the lowered sixth and seventh; ``bII`` is the Neapolitan.
NUMERALS = {
    "major": ("I", "ii", "iii", "IV", "V", "V7", "vi", "viio", "viio7", "iv", "bVI", "bII"),
    "minor": ("i", "iio", "III", "iv", "v", "V", "V7", "VI", "VII", "viio7", "bII"),
}
SPELLED = Path(__file__).resolve().parent.parent.parent / "data" / "harmony.json"


@functools.cache
def spelled() -> tuple[dict[str, tuple[int, ...]], dict[str, dict[str, tuple[int, tuple[int, ...]]]]]:
    """(mode -> its scale's pitch classes, mode -> numeral -> (root offset, intervals above the root)),
    read from ``SPELLED`` once."""
    table = json.loads(SPELLED.read_text())
    scales = {mode: tuple(pcs) for mode, pcs in table["scales"].items()}
    chords = {mode: {numeral: (int(root), tuple(intervals)) for numeral, (root, intervals) in by_numeral.items()}
              for mode, by_numeral in table["chords"].items()}
    missing = [f"{mode} {n}" for mode, numerals in NUMERALS.items() for n in numerals if n not in chords.get(mode, {})]
    if missing:  # a numeral added without spelling it: a developer's error, named on first use
        raise RuntimeError(f"{SPELLED}: no spelling of {', '.join(missing)}; run scripts/spell_harmony.py")
    return scales, chords


TONIC = {"major": "I", "minor": "i"}

# Four-bar functional phrases (tonic - predominant - dominant), by affect quadrant.
PROGRESSIONS = {
    ("major", "calm"): (("I", "vi", "IV", "V"), ("I", "IV", "I", "V"), ("I", "iii", "IV", "V"), ("I", "vi", "ii", "V")),
    ("major", "active"): (("I", "V", "vi", "IV"), ("I", "IV", "V", "vi"), ("I", "ii", "IV", "V7"), ("I", "vi", "IV", "V7")),
    ("major", "tense"): (("I", "iv", "bVI", "V"), ("I", "vi", "viio7", "V7"), ("I", "bVI", "iv", "V")),
    ("minor", "calm"): (("i", "VI", "iv", "V"), ("i", "iv", "VI", "V"), ("i", "iv", "i", "V")),
    ("minor", "active"): (("i", "VI", "iv", "V7"), ("i", "iv", "V", "VI"), ("i", "iv", "V", "i")),
    ("minor", "tense"): (("i", "bII", "viio7", "V"), ("i", "viio7", "i", "bII"), ("i", "iv", "viio7", "V7")),
}


@dataclass(frozen=True)
class Chord:
    """A chord: ``root`` pitch class, ``intervals`` above it, the numeral and the key it was spelled in."""

    root: int
    intervals: tuple[int, ...]
    numeral: str
    tonic: int
    mode: str

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)


def key_pitch_class(key: str) -> int:
    return KEYS.index(key)


def chord(numeral: str, tonic: int, mode: str) -> Chord:
    """``chord("V", 2, "minor")`` is A major (the dominant of D minor)."""
    offset, intervals = spelled()[1][mode][numeral]
    return Chord(root=(tonic + offset) % 12, intervals=intervals, numeral=numeral, tonic=tonic, mode=mode)


def affect_class(valence: float, arousal: float) -> str:
    """``tense`` (negative valence, high arousal: dissonant colours), ``active`` or ``calm``."""
    if valence < -0.2 and arousal > 0.25:
        return "tense"
    return "active" if arousal > 0.0 else "calm"


def scale_classes(tonic: int, mode: str) -> set[int]:
    """The pitch classes of the ``mode`` scale on ``tonic``."""
    return {(tonic + s) % 12 for s in spelled()[0][mode]}


def scale_pitch(tonic: int, mode: str, degree: int, base_octave: int = 5) -> int:
    """MIDI pitch of scale ``degree`` (0 = tonic, may be negative or > 6) above C of ``base_octave``."""
    scale = spelled()[0][mode]
    octave, step = divmod(degree, 7)
    return 12 * (base_octave + octave) + tonic + scale[step]


def nearest_degree(pitch: int, tonic: int, mode: str) -> int:
    """The scale degree (as used by ``scale_pitch`` with base octave 5) closest to ``pitch``."""
    best, best_distance = 0, 1_000
    guess = round((pitch - 60 - tonic) * 7 / 12)
    for degree in range(guess - 2, guess + 3):
        distance = abs(scale_pitch(tonic, mode, degree) - pitch)
        if distance < best_distance:
            best, best_distance = degree, distance
    return best


def snap_to_chord(pitch: int, ch: Chord) -> int:
    """The chord tone nearest to ``pitch`` (ties go down)."""
    candidates = [p for p in range(pitch - 6, pitch + 7) if p % 12 in ch.pitch_classes]
    return min(candidates, key=lambda p: (abs(p - pitch), p))


def voicing(ch: Chord, center: int, size: int = 4, previous: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """A close-position voicing of ``size`` notes around ``center``, voice-led from ``previous``.

    Each voice moves to the nearest chord tone of the new chord (smooth voice leading); without a
    previous voicing the chord is stacked upward from the chord tone nearest ``center - 5``.
    """
    pcs = ch.pitch_classes
    if previous and len(previous) == size:
        notes = sorted(snap_to_chord(p, ch) for p in previous)
        # avoid doubling every voice onto the same pitch; keep register near center
        notes = _spread(notes, pcs)
        shift = round((center - sum(notes) / len(notes)) / 12) * 12
        notes = [n + shift for n in notes]
        if notes[-1] - notes[0] <= 14 and center - 12 <= notes[0] and notes[-1] <= center + 12:
            return tuple(notes)
        # voice leading drifted too wide or too far from centre: start again in close position
    start = snap_to_chord(center - 5, ch)
    notes = [start]
    while len(notes) < size:
        p = notes[-1] + 1
        while p % 12 not in pcs:
            p += 1
        notes.append(p)
    return tuple(notes)


def _spread(notes: list[int], pcs: tuple[int, ...]) -> list[int]:
    """Make sure every chord tone that fits is present (no voice collapses onto another)."""
    out: list[int] = []
    for n in notes:
        while n in out:
            n += 1
            while n % 12 not in pcs:
                n += 1
        out.append(n)
    missing = [pc for pc in pcs[:len(out)] if pc not in {n % 12 for n in out}]
    counts: dict[int, int] = {}
    for n in out:
        counts[n % 12] = counts.get(n % 12, 0) + 1
    for pc in missing:
        doubled = [i for i, n in enumerate(out) if counts[n % 12] > 1]
        if not doubled:
            break
        i = doubled[-1]
        counts[out[i] % 12] -= 1
        candidates = [out[i] + d for d in range(-6, 7) if (out[i] + d) % 12 == pc]
        out[i] = min(candidates, key=lambda p: abs(p - out[i]))
        counts[pc] = 1
    return sorted(out)
