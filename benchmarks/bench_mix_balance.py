"""How the stems share the spectrum, every style: low-end ownership, melody presence, stereo image.

Renders the valence-only and arousal-only plans of ``bench_valence`` (five 8 s scenes) with stems and
prints one JSON line per style and plan: the share of the stems' energy under 120 Hz that the bass
and the percussion hold (``low_end_ownership``), the melody's level over harmony + pad between 2 and
4 kHz in dB (``melody_presence``), and the mix's inter-channel correlation.

    python benchmarks/bench_mix_balance.py OUT [--styles rock,electronic] [--soundfont PATH]

Run it from a checkout of each code version (before / after a change of the mix) on the same font.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_valence import STYLES, alternating_plan  # noqa: E402

from narrascore.concept import conceive  # noqa: E402
from narrascore.evaluate.acoustics import low_end_ownership, melody_presence, stereo_correlation  # noqa: E402
from narrascore.synth import SAMPLE_RATE, RenderRequest  # noqa: E402
from narrascore.synth.procedural import ProceduralSynthesizer  # noqa: E402
from narrascore.synth.procedural.soundfont import find_soundfont  # noqa: E402


def measure(style: str, dimension: str, folder: Path, font: Path) -> dict:
    plan = alternating_plan(dimension)
    folder.mkdir(parents=True, exist_ok=True)
    result = ProceduralSynthesizer().render(plan, conceive(plan, style=style), None, RenderRequest(
        n_samples=round(plan.duration * SAMPLE_RATE), work_dir=folder, stems=True, soundfont=str(font)))
    stems = {name: sf.read(str(path), dtype="float32")[0] for name, path in result.stems.items()}
    mix, _ = sf.read(str(result.mix), dtype="float32")
    return {"style": style, "plan": f"{dimension}-only", "low_end_ownership": round(low_end_ownership(stems, SAMPLE_RATE), 3),
            "melody_presence_db": round(melody_presence(stems, SAMPLE_RATE), 2),
            "stereo_correlation": round(stereo_correlation(mix), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--soundfont", type=Path, default=None)
    args = parser.parse_args()
    font = find_soundfont(args.soundfont)
    for style in args.styles.split(","):
        for dimension in ("valence", "arousal"):
            print(json.dumps(measure(style, dimension, args.out / f"{style}-{dimension}", font)), flush=True)


if __name__ == "__main__":
    main()
