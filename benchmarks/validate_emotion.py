"""Validate the listeners on real recordings no one here made, with moods written down before measuring.

The recordings are the Battle for Wesnoth soundtrack as Debian ships it (package
``wesnoth-1.16-music``, version 1:1.16.9-1, CC BY-SA / GPL). Each track's intended mood is taken
from its title and written below before any measurement (this selection is larger than the one
first used for the descriptor estimate, and was fixed on 2026-12-02 before VibeNet heard a track):
combat, siege and revenge tracks should score a higher mean arousal than laments, sanctuaries,
silence and love themes; victories, minstrels, homecomings and love themes a higher mean valence
than laments, defeats, falls and casualties. The score is the pairwise ranking AUC: the share of
(high, low) pairs of different tracks ranked the right way round (chance: 0.5; a tie counts half).

Tracks shorter than a window (`defeat`, 8.5 s) are heard in one window of their own length.

Time-resolved behaviour: the "build" track is chosen by a rule fixed in advance, from the signal
alone: the track whose short-term loudness (BS.1770, per second) rises most from its first 15 s to
its next 30 s. Each listener's arousal over that track is printed every 5 s, with the loudness,
and its mean before and after the build.

Window lengths {3, 5, 10, 30} s are compared for the pretrained listener by the same AUCs; track
means for windows of 10 and 30 s use a hop of a fifth of the window (the mean of a window-averaged
curve does not depend on the hop), 3 and 5 s the listener's own 1 s hop.

Reproduce::

    apt-get download wesnoth-1.16-music && dpkg-deb -x wesnoth-1.16-music_*.deb /tmp/wesnoth
    python benchmarks/validate_emotion.py /tmp/wesnoth/usr/share/games/wesnoth/1.16/data/core/music --json out.json

Exits 0 and prints a note when the folder or tracks are absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np

# Chosen from the titles alone, before measuring.
AROUSAL_HIGH = ("battle", "battle-epic", "frantic", "vengeful", "siege_of_laurelmor", "casualties_of_war",
                "weight_of_revenge", "the_dangerous_symphony")
AROUSAL_LOW = ("sad", "silvan_sanctuary", "love_theme", "nunc_dimittis", "the_king_is_dead", "silence")
VALENCE_HIGH = ("victory", "victory2", "traveling_minstrels", "love_theme", "return_to_wesnoth")
VALENCE_LOW = ("sad", "defeat", "defeat2", "the_king_is_dead", "the_city_falls", "casualties_of_war")
DEFAULT_DIR = "/usr/share/games/wesnoth/1.16/data/core/music"
WINDOWS = (3.0, 5.0, 10.0, 30.0)


def auc(high: dict[str, float], low: dict[str, float]) -> float:
    """Pairwise ranking AUC over (high, low) pairs of different tracks; ties count half."""
    pairs = [(h, l) for h, l in product(high, low) if h != l]
    return float(sum(1.0 if high[h] > low[l] else 0.5 if high[h] == low[l] else 0.0 for h, l in pairs) / len(pairs))


def listeners(windows: tuple[float, ...], descriptors: bool = True) -> dict[str, object]:
    from narrascore.evaluate.listeners import DescriptorListener, VibeNetListener, vibenet_installed

    found: dict[str, object] = {"descriptors": DescriptorListener()} if descriptors else {}
    if vibenet_installed():
        for w in windows:
            hop = 1.0 if w <= 5 else w / 5
            found[f"vibenet {w:g} s"] = VibeNetListener(window_s=w, hop_s=hop)
    return found


def hear_whole(listener, path: Path):
    """The listener's curve; a track shorter than its window is heard in one window of its own length."""
    from narrascore.evaluate.listeners import TooShortError, VibeNetListener

    try:
        return listener.hear(path)
    except TooShortError:
        import soundfile as sf

        seconds = np.floor((sf.info(str(path)).duration - 0.04) * 50) / 50  # three windows 20 ms apart
        return VibeNetListener(window_s=float(seconds), hop_s=0.02).hear(path)


def loudness_per_second(path: Path) -> np.ndarray:
    """Short-term loudness (LUFS, mono, 3 s window) every second: a signal measure, no listener."""
    from narrascore.evaluate.descriptors import analyze

    a = analyze(path, rate_hz=1.0)
    return np.asarray(a.descriptors["loudness_lufs"])


def build_track(folder: Path, names: list[str]) -> tuple[str, np.ndarray]:
    best, best_rise, best_curve = names[0], -np.inf, np.zeros(0)
    for n in names:
        lufs = loudness_per_second(folder / f"{n}.ogg")
        if lufs.size < 50:
            continue
        rise = float(np.median(lufs[15:45]) - np.median(lufs[:15]))
        if rise > best_rise:
            best, best_rise, best_curve = n, rise, lufs
    return best, best_curve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", default=DEFAULT_DIR, help="folder holding the Wesnoth .ogg tracks")
    ap.add_argument("--windows", default=",".join(f"{w:g}" for w in WINDOWS), help="VibeNet window lengths to compare (s)")
    ap.add_argument("--no-descriptors", action="store_true", help="only the pretrained listener")
    ap.add_argument("--only-build", action="store_true", help="only the time-resolved build track")
    ap.add_argument("--build-among", choices=("all", "arousal-high"), default="all",
                    help="where the build track is looked for (arousal-high: among the combat tracks)")
    ap.add_argument("--no-build", action="store_true", help="skip the time-resolved build track")
    ap.add_argument("--json", help="write the per-track means and the scores here")
    args = ap.parse_args(argv)
    folder = Path(args.folder)
    names = sorted(set(AROUSAL_HIGH + AROUSAL_LOW + VALENCE_HIGH + VALENCE_LOW))
    missing = [n for n in names if not (folder / f"{n}.ogg").is_file()]
    if missing:
        print(f"skipped: {len(missing)} of {len(names)} tracks not found in {folder} (install wesnoth-1.16-music)")
        return 0
    windows = tuple(float(w) for w in args.windows.split(",") if w)
    results: dict[str, dict] = {}
    for label, listener in ({} if args.only_build else listeners(windows, not args.no_descriptors)).items():
        means, seconds, audio_s = {}, 0.0, 0.0
        for n in names:
            t0 = time.perf_counter()
            curve = hear_whole(listener, folder / f"{n}.ogg")
            seconds += time.perf_counter() - t0
            audio_s += float(curve.times[-1] + curve.hop / 2) if curve.times.size else 0.0
            means[n] = {"valence": curve.mean_valence, "arousal": curve.mean_arousal}
        a = auc({n: means[n]["arousal"] for n in AROUSAL_HIGH}, {n: means[n]["arousal"] for n in AROUSAL_LOW})
        v = auc({n: means[n]["valence"] for n in VALENCE_HIGH}, {n: means[n]["valence"] for n in VALENCE_LOW})
        results[label] = {"arousal_auc": a, "valence_auc": v, "seconds": seconds, "tracks": means}
        print(f"{label:16s} arousal AUC {a:.2f}  valence AUC {v:.2f}  ({seconds:.0f} s for {len(names)} tracks)", flush=True)

    if args.no_build:
        if args.json:
            Path(args.json).write_text(json.dumps({"listeners": results}, indent=2))
        return 0
    track, lufs = build_track(folder, list(AROUSAL_HIGH) if args.build_among == "arousal-high" else names)
    print(f"\nbuild track: {track} (loudness first 15 s {np.median(lufs[:15]):.1f} LUFS, next 30 s {np.median(lufs[15:45]):.1f} LUFS)")
    build: dict[str, dict] = {"track": {"name": track, "lufs": lufs[:60].round(2).tolist()}}
    from narrascore.evaluate.listeners import VIBENET_WINDOW_S

    for label, listener in listeners((VIBENET_WINDOW_S,)).items():
        curve = listener.hear(folder / f"{track}.ogg")  # type: ignore[attr-defined]
        before = float(np.mean(curve.arousal[curve.times < 15])) if np.any(curve.times < 15) else float("nan")
        after = float(np.mean(curve.arousal[(curve.times >= 15) & (curve.times < 45)]))
        grid = np.arange(2.5, min(60.0, float(curve.times[-1])), 5.0)
        sampled = np.interp(grid, curve.times, curve.arousal)
        print(f"{label:16s} arousal before {before:+.2f} after {after:+.2f}  every 5 s: "
              + " ".join(f"{x:+.2f}" for x in sampled))
        build[label] = {"before": before, "after": after, "times": grid.tolist(), "arousal": sampled.round(3).tolist()}
    print("loudness every 5 s (LUFS):  " + " ".join(f"{lufs[int(t)]:.0f}" for t in np.arange(2.5, min(60.0, lufs.size), 5.0)))
    if args.json:
        Path(args.json).write_text(json.dumps({"listeners": results, "build": build}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
