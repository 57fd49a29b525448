"""Validate the audio-only music emotion estimate on real recordings no one here made.

The recordings are the Battle for Wesnoth soundtrack as Debian ships it (package
``wesnoth-1.16-music``, version 1:1.16.9-1, CC BY-SA / GPL). Each track's intended mood is taken
from its title, chosen before any measurement: combat tracks should score a higher mean arousal
than calm or mournful ones; triumphant or cheerful tracks a higher mean valence than mournful or
defeat ones. The score is the share of such (high, low) pairs ranked the right way round
(chance: 0.5).

Reproduce::

    apt-get download wesnoth-1.16-music && dpkg-deb -x wesnoth-1.16-music_*.deb /tmp/wesnoth
    python benchmarks/validate_emotion.py /tmp/wesnoth/usr/share/games/wesnoth/1.16/data/core/music

Exits 0 and prints a note when the folder or tracks are absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import product
from pathlib import Path

# Chosen from the titles alone, before measuring.
AROUSAL_HIGH = ("battle", "battle-epic", "frantic", "vengeful", "siege_of_laurelmor")
AROUSAL_LOW = ("sad", "silvan_sanctuary", "love_theme", "nunc_dimittis")
VALENCE_HIGH = ("victory", "victory2", "traveling_minstrels", "love_theme")
VALENCE_LOW = ("sad", "defeat", "defeat2", "the_king_is_dead", "the_city_falls")
DEFAULT_DIR = "/usr/share/games/wesnoth/1.16/data/core/music"


def pairwise(high: dict[str, float], low: dict[str, float]) -> tuple[int, int]:
    """(correct, total) over all (high, low) pairs of different tracks; a tie counts as wrong."""
    pairs = [(h, l) for h, l in product(high, low) if h != l]
    return sum(high[h] > low[l] for h, l in pairs), len(pairs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", default=DEFAULT_DIR, help="folder holding the Wesnoth .ogg tracks")
    ap.add_argument("--json", help="write the per-track means and the scores here")
    args = ap.parse_args(argv)
    folder = Path(args.folder)
    names = sorted(set(AROUSAL_HIGH + AROUSAL_LOW + VALENCE_HIGH + VALENCE_LOW))
    missing = [n for n in names if not (folder / f"{n}.ogg").is_file()]
    if missing:
        print(f"skipped: {len(missing)} of {len(names)} tracks not found in {folder} (install wesnoth-1.16-music)")
        return 0

    from narrascore.evaluate.emotion import estimate_emotion

    means: dict[str, dict[str, float]] = {}
    for n in names:
        t0 = time.perf_counter()
        curve = estimate_emotion(folder / f"{n}.ogg")
        means[n] = {"valence": curve.mean_valence, "arousal": curve.mean_arousal,
                    "duration": float(curve.times[-1] + curve.hop / 2), "seconds": time.perf_counter() - t0}
        print(f"{n:22s} V {means[n]['valence']:+.2f}  A {means[n]['arousal']:+.2f}  ({means[n]['duration']:.0f} s audio, {means[n]['seconds']:.1f} s)")
    a_ok, a_n = pairwise({n: means[n]["arousal"] for n in AROUSAL_HIGH}, {n: means[n]["arousal"] for n in AROUSAL_LOW})
    v_ok, v_n = pairwise({n: means[n]["valence"] for n in VALENCE_HIGH}, {n: means[n]["valence"] for n in VALENCE_LOW})
    print(f"arousal pairs ranked right: {a_ok}/{a_n} = {a_ok / a_n:.2f}")
    print(f"valence pairs ranked right: {v_ok}/{v_n} = {v_ok / v_n:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"tracks": means, "arousal": [a_ok, a_n], "valence": [v_ok, v_n]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
