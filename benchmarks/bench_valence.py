"""Valence-only and arousal-only listening benchmarks of the procedural composer, every style.

One dimension moves while the other is held still (in most stories the two move together, and the
pretrained listener's valence rises with energy): five 8 s scenes alternating +0.8 / -0.8 in valence
with arousal at 0, then in arousal with valence at 0. Each is composed, rendered with the installed
SoundFont and normalised to -16 LUFS, and heard by VibeNet (the middle 6 s of every scene) and by
the descriptor listener (mean over the scene). Prints one JSON line per style and test: the
separation (mean of the + scenes minus mean of the - scenes) on each listener's 0..1 scale.

    python benchmarks/bench_valence.py OUT [--styles orchestral,piano] [--soundfont PATH]

Run it once per code version (before / after a change) on the same machine; the issue's targets:
VibeNet valence separation >= 0.15 in the valence-only test, energy separation >= 0.4 in the
arousal-only test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

from narrascore.artifacts import NarrativePlan, Scene
from narrascore.concept import conceive
from narrascore.evaluate import listeners
from narrascore.evaluate.emotion import estimate_emotion
from narrascore.synth import SAMPLE_RATE, RenderRequest
from narrascore.synth.procedural import ProceduralSynthesizer
from narrascore.synth.procedural.soundfont import find_soundfont

SCENE = 8.0
SIGNS = (1, -1, 1, -1, 1)
STYLES = ("orchestral", "piano", "ambient", "electronic", "rock")


def alternating_plan(dimension: str, level: float = 0.8, hop: float = 0.25) -> NarrativePlan:
    """Five scenes alternating ``+level`` / ``-level`` in ``dimension``, the other held at 0; step curve."""
    scenes, values = [], []
    for i, sign in enumerate(SIGNS):
        v, a = (sign * level, 0.0) if dimension == "valence" else (0.0, sign * level)
        scenes.append(Scene(i * SCENE, (i + 1) * SCENE, f"scene {i}", v, a, "label", "rising"))
        values.append((v, a))
    duration = SCENE * len(SIGNS)
    times = np.arange(0.0, duration + 1e-9, hop)
    k = np.minimum((times // SCENE).astype(int), len(SIGNS) - 1)
    val = np.array([values[i][0] for i in k])
    aro = np.array([values[i][1] for i in k])
    return NarrativePlan(f"alternating {dimension}", tuple(scenes), hop, tuple(times.tolist()), tuple(val.tolist()),
                         tuple(aro.tolist()), SCENE * 2.5, duration)


def render_plan(plan: NarrativePlan, style: str, folder: Path, font: Path) -> Path:
    concept = conceive(plan, style=style)
    folder.mkdir(parents=True, exist_ok=True)
    result = ProceduralSynthesizer().render(plan, concept, None, RenderRequest(
        n_samples=round(plan.duration * SAMPLE_RATE), work_dir=folder, stems=False, soundfont=str(font)))
    x, rate = sf.read(str(result.mix), dtype="float32")
    gain = 10 ** ((-16.0 - pyloudnorm.Meter(rate).integrated_loudness(x)) / 20)
    out = folder / "normalised.wav"
    sf.write(str(out), np.clip(x * gain, -1, 1), rate, subtype="FLOAT")
    return out


def vibenet_separations(path: Path) -> dict[str, float]:
    """VibeNet's valence and energy separation, each from the 6 s window centred on every scene's middle."""
    curve = listeners.VibeNetListener(window_s=6.0, hop_s=1.0).hear(path)
    idx = [int(np.argmin(np.abs(curve.times - (i + 0.5) * SCENE))) for i in range(len(SIGNS))]
    return {name: _separation(curve.descriptors[name][idx]) for name in ("valence", "energy")}


def separations(path: Path) -> dict[str, float]:
    heard = {}
    if listeners.vibenet_installed():
        heard.update({f"vibenet_{name}": value for name, value in vibenet_separations(path).items()})
    desc = estimate_emotion(path)
    for name, values in (("valence", desc.valence), ("arousal", desc.arousal)):
        means = np.array([values[(desc.times >= i * SCENE + 1) & (desc.times < (i + 1) * SCENE - 1)].mean() for i in range(len(SIGNS))])
        heard[f"descriptor_{name}"] = _separation((means + 1) / 2)  # on a 0..1 scale like VibeNet's
    return heard


def _separation(values: np.ndarray) -> float:
    signs = np.array(SIGNS)
    return round(float(values[signs > 0].mean() - values[signs < 0].mean()), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--soundfont", default=None, help="default: the best one installed")
    args = parser.parse_args()
    font = find_soundfont(args.soundfont)
    for style in args.styles.split(","):
        for dimension in ("valence", "arousal"):
            path = render_plan(alternating_plan(dimension), style, args.out / f"{style}-{dimension}", font)
            print(json.dumps({"style": style, "test": f"{dimension}-only", "soundfont": font.name, **separations(path)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
