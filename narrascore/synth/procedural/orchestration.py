"""Orchestration: which GM instrument plays which role on which channel, and what each role plays.

A style's *patterns* decide the accompaniment figure (arpeggio, pizzicato ostinato, 16th-note
arpeggiator, power-chord eighths, slow bell arpeggio), the bass figure, when the pad and the
percussion enter, and the mix (CC7 volume, CC10 pan) of each role. Every figure reads the
arousal of the beat it falls on, so density follows the narrative curve beat by beat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...concept.styles import DRUM_KIT, parse_instrument
from ...errors import ArtifactError
from .harmony import Chord, voicing

DRUM_CHANNEL = 9
# GM percussion keys
KICK, SNARE, CLAP, CLOSED_HAT, OPEN_HAT, CRASH, RIDE, LOW_TOM, MID_TOM, SHAKER = 36, 38, 39, 42, 46, 49, 51, 45, 47, 70
TAMBOURINE = 54


@dataclass(frozen=True)
class Part:
    """One instrument on one channel: its group (track/stem name), GM program, drum flag."""

    group: str
    instrument: str
    program: int
    channel: int
    is_drum: bool


@dataclass(frozen=True)
class StylePattern:
    harmony: str  # arpeggio | ostinato | arp16 | power | bells
    bass: str  # long | walk | pulse | rolling | piano
    kit: str  # none | orchestral | rock | electronic | ambient
    melody_center: int  # MIDI pitch at neutral valence/arousal
    melody_min_arousal: float  # below this the melody rests
    pad_min_arousal: float  # below this the pad rests
    percussion_min_arousal: float  # below this no percussion (Gabrielsson & Lindström: calm = none)
    volume: dict[str, int] = field(default_factory=dict)  # CC7 per group
    pan: dict[str, int] = field(default_factory=dict)  # CC10 per group


PATTERNS = {
    "orchestral": StylePattern("ostinato", "walk", "orchestral", 72, -1.1, -1.1, -0.3,
                               {"melody": 100, "harmony": 84, "bass": 96, "pad": 88, "percussion": 96},
                               # seating: violins left, basses and horns right, winds and timpani centre
                               {"melody": 52, "harmony": 38, "bass": 88, "pad": 78, "percussion": 64}),
    # piano: alone when calm, strings from a = 0, cinematic drums only at the climax
    "piano": StylePattern("arpeggio", "piano", "orchestral", 74, -1.1, 0.0, 0.5,
                          {"melody": 110, "harmony": 92, "bass": 96, "pad": 70, "percussion": 90},
                          {"melody": 72, "harmony": 56, "bass": 52, "pad": 64, "percussion": 64}),
    "ambient": StylePattern("bells", "long", "ambient", 76, -0.6, -1.1, 0.2,
                            {"melody": 80, "harmony": 84, "bass": 90, "pad": 100, "percussion": 70},
                            {"melody": 80, "harmony": 44, "bass": 64, "pad": 64, "percussion": 64}),
    "electronic": StylePattern("arp16", "rolling", "electronic", 74, -0.4, -1.1, -0.5,
                               {"melody": 84, "harmony": 76, "bass": 100, "pad": 84, "percussion": 100},
                               {"melody": 50, "harmony": 106, "bass": 64, "pad": 22, "percussion": 64}),
    "rock": StylePattern("power", "pulse", "rock", 70, -0.5, -0.2, -0.6,
                         {"melody": 92, "harmony": 88, "bass": 100, "pad": 70, "percussion": 104},
                         {"melody": 72, "harmony": 26, "bass": 64, "pad": 102, "percussion": 64}),
}


def pattern_for(style: str) -> StylePattern:
    """The patterns of ``style``; an unknown (hand-edited) style falls back to orchestral figures."""
    return PATTERNS.get(style, PATTERNS["orchestral"])


def resolve_parts(instruments: tuple[str, ...]) -> list[Part]:
    """``"role:GM name"`` entries -> parts with channels (drums on channel 9, others from 0)."""
    import pretty_midi

    parts: list[Part] = []
    channel = 0
    for entry in instruments:
        try:
            role, name = parse_instrument(entry)
        except ValueError as exc:
            raise ArtifactError(f"MusicConcept.instruments: {exc}") from None
        if name == DRUM_KIT:
            parts.append(Part(role, name, 0, DRUM_CHANNEL, True))
            continue
        try:
            program = pretty_midi.instrument_name_to_program(name)
        except ValueError:
            raise ArtifactError(
                f"MusicConcept.instruments: {name!r} is not a General MIDI instrument name "
                f"(e.g. 'Acoustic Grand Piano', 'String Ensemble 1', or '{DRUM_KIT}')"
            ) from None
        if channel == DRUM_CHANNEL:
            channel += 1
        if channel > 15:
            raise ArtifactError("MusicConcept.instruments: more than 15 melodic instruments")
        parts.append(Part(role, name, program, channel, False))
        channel += 1
    return parts


# --------------------------------------------------------------------------- figures
Note = tuple[float, float, int, int]  # (start s, end s, pitch, velocity)


def velocity(arousal: float, accent: int = 0, base: int = 38, span: int = 70) -> int:
    """Louder with arousal (Gabrielsson & Lindström 2010): 38 at arousal -1, 108 at +1, plus accent."""
    return int(min(127, max(1, round(base + span * (arousal + 1.0) / 2.0 + accent))))


def subdivisions(arousal: float, levels: tuple[float, ...] = (-0.4, 0.1, 0.55)) -> int:
    """Notes per beat for an accompaniment figure: 1, 2, 3 or 4 as arousal crosses ``levels``."""
    return 1 + int(sum(arousal >= x for x in levels))


def harmony_figure(kind: str, chord: Chord, t0: float, t1: float, beats: np.ndarray, arousal: np.ndarray,
                   previous: tuple[int, ...] | None) -> tuple[list[Note], tuple[int, ...]]:
    """Accompaniment notes for one chord span [t0, t1) over ``beats`` (beat start times in the span)."""
    notes: list[Note] = []
    if kind == "power":
        root = 40 + (chord.root - 40) % 12
        tones = (root, root + 7, root + 12)
        for b, a, d in _beat_iter(beats, arousal, t1):
            n = 2 if a >= -0.1 else 1
            if a < -0.5 and b > t0:
                continue
            for k in range(n):
                s = b + k * d / n
                for p in tones:
                    notes.append((s, s + 0.9 * d / n if a > 0 else s + d / n, p, velocity(a, 6 if s == t0 else 0)))
        return notes, tones
    center = {"arpeggio": 58, "ostinato": 62, "arp16": 70, "bells": 79}[kind]
    voice = voicing(chord, center, size=4 if kind != "bells" else 3, previous=previous)
    order = list(voice) + list(voice[1:-1][::-1])  # up-down arpeggio
    step = 0
    for b, a, d in _beat_iter(beats, arousal, t1):
        if kind == "bells":
            n = 1 if a < 0.2 else 2
            hold = 2.5
        elif kind == "arp16":
            n = 2 if a < -0.2 else 4 if a >= 0.25 else 3 if a >= 0.05 else 2
            hold = 0.7
        elif kind == "ostinato":
            if a < -0.5 and b > t0:
                continue
            n = max(1, subdivisions(a) - 1)
            hold = 0.45
        else:  # arpeggio, sustained by the pedal
            n = subdivisions(a)
            hold = 1.6
        for k in range(n):
            s = b + k * d / n
            p = order[step % len(order)]
            step += 1
            end = min(t1, s + hold * d / n) if kind != "arpeggio" else t1
            v = velocity(a, 6 if s == t0 else 0, base=30, span=64)
            notes.append((s, max(end, s + 0.05), p, v))
            if kind == "bells" and a >= BELL_ECHO:  # a shimmer: each bell echoed an octave up a sixteenth later
                notes.append((s + d / 4, max(end, s + d / 4 + 0.05), p + 12, max(1, v - 8)))
    return notes, voice


BELL_ECHO = 0.6  # ambient: from this arousal each bell is echoed an octave up
DRIVING = 0.4  # piano: from this arousal the left hand plays driving octaves
GROOVE = 0.35  # ambient: from this arousal the sub bass pulses and the kit grooves (downtempo)
PEAK = 0.65  # electronic: from this arousal the bass rolls in octave sixteenths; open hats and ride join


def bass_figure(kind: str, chord: Chord, t0: float, t1: float, beats: np.ndarray, arousal: np.ndarray) -> list[Note]:
    root = 36 + (chord.root - 36) % 12
    up = chord.intervals[2] if len(chord.intervals) > 2 else 7  # the chord's own fifth (diminished in iio, viio7)
    fifth = root + up if root + up <= 50 else root + up - 12
    if kind == "long" and float(arousal[0]) >= GROOVE:
        kind = "pulse"
    if kind == "long" or (kind == "walk" and float(arousal[0]) < -0.2):
        return [(t0, t1, root if kind == "walk" else root - 12 * (root > 40), velocity(float(arousal[0]), 4))]
    notes: list[Note] = []
    for i, (b, a, d) in enumerate(_beat_iter(beats, arousal, t1)):
        if kind == "piano":
            if a >= DRIVING:  # the left hand drives: octaves in eighths
                for k in range(2):
                    s = b + k * d / 2
                    for p in (root - 12, root):
                        notes.append((s, s + 0.8 * d / 2, p, velocity(a, 6 if k == 0 else -4)))
            elif i % 2 == 0:
                notes.append((b, min(t1, b + 2 * d), root if i % 4 == 0 else fifth, velocity(a, 4)))
        elif kind == "walk":
            notes.append((b, b + 0.8 * d, (root, fifth, root + 12, fifth)[i % 4] if a > 0.3 else (root, fifth)[i % 2], velocity(a, 4)))
        else:  # pulse: quarter notes, eighths from arousal -0.2; rolling: octave sixteenths at the peak
            n = 4 if kind == "rolling" and a >= PEAK else 2 if a >= -0.2 else 1
            for k in range(n):
                s = b + k * d / n
                p = root + 12 if n == 4 and k % 2 else root
                notes.append((s, s + 0.85 * d / n, p, velocity(a, 6 if k == 0 else -10 if n == 4 and k % 2 else 0)))
    return notes


def pad_figure(chord: Chord, t0: float, t1: float, arousal: float, previous: tuple[int, ...] | None, center: int = 62,
               top: bool = True) -> tuple[tuple[Note, ...], tuple[int, ...]]:
    """(notes, voicing): three voices (sustained pads are the costliest part), voice-led from ``previous``;
    without the ``top`` one where a counter-line takes it (the voicing returned keeps all three)."""
    voice = voicing(chord, center, size=3, previous=previous)
    v = velocity(arousal, base=30, span=68)
    return tuple((t0, t1, p, v) for p in (voice if top else sorted(voice)[:-1])), voice


def kit_figure(kit: str, t0: float, t1: float, beats: np.ndarray, arousal: np.ndarray, bar_start: bool) -> list[Note]:
    """Drum-kit notes (channel 9) for a chord span; density rises with arousal (none when calm)."""
    notes: list[Note] = []
    for i, (b, a, d) in enumerate(_beat_iter(beats, arousal, t1)):
        level = subdivisions(a, (0.0, 0.25, 0.6) if kit == "orchestral" else (0.0, 0.35, 0.65))  # 1..4
        beat_in_bar = i
        hit = lambda key, s, acc=0, dur=0.1: notes.append((s, s + dur, key, velocity(a, acc, base=30, span=80)))  # noqa: E731
        if kit == "rock":
            hit(KICK if beat_in_bar % 2 == 0 else SNARE, b, 8)
            for k in range(2 if level <= 2 else 4):
                hit(CLOSED_HAT if level < 4 else OPEN_HAT, b + k * d / (2 if level <= 2 else 4), -14)
            if level >= 3 and beat_in_bar % 2 == 1:
                hit(KICK, b + d / 2, 0)
        elif kit == "electronic":
            hit(KICK, b, 10)
            if beat_in_bar % 2 == 1 and level >= 2:
                hit(CLAP, b, 4)
            if level >= 4:  # the peak: ride on the beat, the open hat on the off-beat
                hit(RIDE, b, -10, 0.3)
                hit(OPEN_HAT, b + d / 2, -8, 0.2)
            hit(CLOSED_HAT, b + d / 2, -12)
            if level >= 3:
                hit(CLOSED_HAT, b + d / 4, -22)
                hit(CLOSED_HAT, b + 3 * d / 4, -22)
        elif kit == "orchestral":  # cinematic drums: a taiko-like pulse from calm-but-moving on, snare ostinato at the top
            if level >= 2 and (beat_in_bar % 2 == 0 or level >= 3):
                hit(KICK - 1, b, 6, 0.4)  # acoustic bass drum
            if level >= 2:
                hit(LOW_TOM if beat_in_bar % 2 else MID_TOM, b + d / 2, -6, 0.2)
            if level >= 3 and beat_in_bar % 2 == 1:
                hit(SNARE, b, -2)
            if level >= 4:
                for k in (1, 3):
                    hit(SNARE, b + k * d / 4, -18)
        elif kit == "ambient":
            hit(RIDE, b, -16, 0.5)
            if level >= 4:  # the top: shaker sixteenths and a tambourine on the backbeat
                for k in range(4):
                    hit(SHAKER, b + k * d / 4, -20)
                if beat_in_bar % 2 == 1:
                    hit(TAMBOURINE, b, -6, 0.2)
            elif level >= 2:
                hit(SHAKER, b + d / 2, -24)
            if a >= GROOVE:  # a downtempo groove: kick on 1 and 3 (every beat at the top), clap backbeat, hats
                if beat_in_bar % 2 == 0 or level >= 4:
                    hit(KICK, b, 0, 0.3)
                if beat_in_bar % 2 == 1:
                    hit(CLAP, b, -6)
                hit(CLOSED_HAT, b + d / 2, -16)
                if level >= 4:
                    hit(CLOSED_HAT, b + d / 4, -26)
    if bar_start and notes and float(arousal[0]) > 0.3 and kit != "ambient":
        notes.append((t0, t0 + 0.5, CRASH, velocity(float(arousal[0]), 0, base=30, span=70)))
    return notes


def timpani_figure(chord: Chord, t0: float, t1: float, beats: np.ndarray, arousal: np.ndarray) -> list[Note]:
    """Orchestral timpani on the chord root: downbeats, then every beat, then eighths as arousal rises."""
    root = 41 + (chord.root - 41) % 12
    notes: list[Note] = []
    for i, (b, a, d) in enumerate(_beat_iter(beats, arousal, t1)):
        n = 0 if (i > 0 and a < 0.2) else 2 if a >= 0.6 else 1
        for k in range(n):
            s = b + k * d / n
            notes.append((s, s + 0.3, root if (i + k) % 2 == 0 else (root + 7 if root + 7 <= 53 else root - 5), velocity(a, 8 if s == t0 else -4)))
    return notes


def _beat_iter(beats: np.ndarray, arousal: np.ndarray, t1: float):
    """(beat start, beat arousal, beat duration) for each beat of a span ending at ``t1``."""
    ends = np.append(beats[1:], t1)
    for b, a, e in zip(beats.tolist(), arousal.tolist(), ends.tolist()):
        yield b, a, e - b
