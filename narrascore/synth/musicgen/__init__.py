"""The musicgen synthesizer: MusicGen (frozen) with the Global Semantic Anchor and the Token-Level Affective Adapter.

>>> synth = SYNTHESIZERS.create("musicgen", model="debug", window_seconds=30, overlap_seconds=10)
>>> result = synth.render(plan, concept, shots, RenderRequest(n_samples=..., work_dir=Path("work")))

Modules: ``backbone`` (one loader for folders, hub ids and the tiny ``debug`` model), ``adapter`` (the
adapter module, its files and the time-to-position arithmetic), ``inject`` (the hooks, pinned to
transformers 5.24.0), ``longform`` (windows, joins on cuts, crossfades, resampling; no torch) and
``synthesizer`` (the ``Synthesizer``). Registering needs no torch: it is imported when the backend is
created, and a missing ``[neural]`` extra raises ``DependencyError`` then. See docs/neural.md.
"""

from __future__ import annotations

from .. import SYNTHESIZERS

__all__ = ["DEFAULT_MODEL"]

DEFAULT_MODEL = "facebook/musicgen-small"


@SYNTHESIZERS.register("musicgen")
def _make(**kwargs: object):
    from .backbone import require_neural

    require_neural()
    from .synthesizer import MusicgenSynthesizer

    return MusicgenSynthesizer(**kwargs)  # type: ignore[arg-type]
