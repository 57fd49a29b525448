"""Per-style tables of the Global Semantic Anchor: genre words, GM instruments per role, tempo bounds.

Instruments are General MIDI names as ``pretty_midi.instrument_name_to_program`` spells them, each
tagged with the role (instrument group) it plays: ``melody``, ``harmony``, ``bass``, ``pad``,
``percussion``. ``Drum Kit`` is the GM percussion channel (bank 128). A role may appear twice
(e.g. timpani and a kit both play ``percussion``). The concept stores them as ``"role:Name"``
strings, which a user may edit in ``concept.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("melody", "harmony", "bass", "pad", "percussion")
DRUM_KIT = "Drum Kit"


@dataclass(frozen=True)
class StyleSpec:
    """What a style sounds like. Tempi in BPM for arousal -1 (``tempo_low``) and +1 (``tempo_high``)."""

    name: str
    genre: str
    description: str
    instruments: tuple[tuple[str, str], ...]  # (role, GM instrument name)
    tempo_low: float
    tempo_high: float
    prompt_words: str


STYLE_SPECS: dict[str, StyleSpec] = {
    "orchestral": StyleSpec(
        name="orchestral",
        genre="cinematic orchestral",
        description="cinematic orchestral score",
        instruments=(
            ("melody", "French Horn"),
            ("harmony", "Pizzicato Strings"),
            ("bass", "Contrabass"),
            ("pad", "String Ensemble 1"),
            ("percussion", "Timpani"),
            ("percussion", DRUM_KIT),
        ),
        tempo_low=60.0,
        tempo_high=140.0,
        prompt_words="strings, french horns, pizzicato, timpani, orchestral percussion",
    ),
    "piano": StyleSpec(
        name="piano",
        genre="solo piano",
        description="intimate piano piece",
        instruments=(
            ("melody", "Acoustic Grand Piano"),
            ("harmony", "Acoustic Grand Piano"),
            ("bass", "Acoustic Grand Piano"),
            ("pad", "String Ensemble 2"),
            ("percussion", DRUM_KIT),  # the climax only
        ),
        tempo_low=56.0,
        tempo_high=118.0,
        prompt_words="felt piano, soft string bed, rubato",
    ),
    "ambient": StyleSpec(
        name="ambient",
        genre="ambient",
        description="ambient soundscape",
        instruments=(
            ("melody", "Vibraphone"),
            ("harmony", "Pad 1 (new age)"),
            ("bass", "Synth Bass 2"),
            ("pad", "Pad 2 (warm)"),
            ("percussion", DRUM_KIT),
        ),
        tempo_low=52.0,
        tempo_high=96.0,
        prompt_words="warm synth pads, vibraphone, slow evolving textures, sub bass",
    ),
    "electronic": StyleSpec(
        name="electronic",
        genre="electronic",
        description="pulsing electronic score",
        instruments=(
            ("melody", "Lead 2 (sawtooth)"),
            ("harmony", "Lead 1 (square)"),
            ("bass", "Synth Bass 1"),
            ("pad", "Pad 3 (polysynth)"),
            ("percussion", DRUM_KIT),
        ),
        tempo_low=90.0,
        tempo_high=140.0,
        prompt_words="analog synths, arpeggiator, synth bass, drum machine",
    ),
    "rock": StyleSpec(
        name="rock",
        genre="cinematic rock",
        description="driving cinematic rock track",
        instruments=(
            ("melody", "Overdriven Guitar"),
            ("harmony", "Distortion Guitar"),
            ("bass", "Electric Bass (pick)"),
            ("pad", "Drawbar Organ"),
            ("percussion", DRUM_KIT),
        ),
        tempo_low=80.0,
        tempo_high=160.0,
        prompt_words="distorted guitars, electric bass, organ, live drums",
    ),
}


def parse_instrument(entry: str) -> tuple[str, str]:
    """``"role:Name"`` -> ``(role, name)``; raises ``ValueError`` naming the entry when malformed."""
    role, sep, name = entry.partition(":")
    role, name = role.strip(), name.strip()
    if not sep or role not in ROLES or not name:
        raise ValueError(f"instrument {entry!r} is not 'role:GM name' with role one of {', '.join(ROLES)}")
    return role, name
