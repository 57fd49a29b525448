"""Write narrascore/data/harmony.json: the chords and scales of the composer, spelled by music21.

    python scripts/spell_harmony.py          (needs music21: pip install -e ".[dev]")

The composer reads the spelled table on first use, so scoring does not import music21 (0.3 s). A test
spells it again and holds the file to it, so the table is music21's, never a hand-written one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from narrascore.synth.procedural.harmony import NUMERALS, SPELLED  # noqa: E402


def spell() -> dict:
    """Each numeral of ``NUMERALS`` in C major / C minor: (root offset, intervals above the root in
    close position), and each mode's scale, as music21 spells them."""
    import music21
    from music21 import key, roman, scale

    table: dict = {"music21": music21.__version__, "scales": {}, "chords": {}}
    for mode, numerals in NUMERALS.items():
        home = key.Key("C" if mode == "major" else "c")
        # the natural minor: the composer raises the leading tone in its chords (V, viio7), not its scale
        steps = scale.MajorScale("C") if mode == "major" else scale.MinorScale("C")
        table["scales"][mode] = [p.pitchClass for p in steps.getPitches("C4", "B4")]
        table["chords"][mode] = {}
        for numeral in numerals:
            rn = roman.RomanNumeral(numeral, home)
            root = rn.root().pitchClass
            table["chords"][mode][numeral] = [root, sorted({(p.pitchClass - root) % 12 for p in rn.pitches})]
    return table


def dumps(table: dict) -> str:
    """The table as JSON, one scale or chord to a line (a diff shows what changed)."""
    lines = ["{", f' "music21": {json.dumps(table["music21"])},', ' "scales": {']
    lines.append(",\n".join(f"  {json.dumps(m)}: {json.dumps(pcs)}" for m, pcs in table["scales"].items()))
    lines += [" },", ' "chords": {']
    modes = []
    for mode, chords in table["chords"].items():
        body = ",\n".join(f"   {json.dumps(n)}: {json.dumps(spelling)}" for n, spelling in chords.items())
        modes.append(f"  {json.dumps(mode)}: {{\n{body}\n  }}")
    lines += [",\n".join(modes), " }", "}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    SPELLED.write_text(dumps(spell()))
    print(f"wrote {SPELLED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
