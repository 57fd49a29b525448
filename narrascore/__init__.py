"""NarraScore: score long-form video with music that follows its story.

Two levels of API, like whisper and PySceneDetect:

* ``narrascore.score(video, out)`` runs every stage with sensible defaults and returns a ``Result``;
* the stages themselves (``narrascore.media``, ``sense``, ``narrative``, ``concept``, ``synth``,
  ``export``, ``evaluate``) and the artifacts between them (``narrascore.artifacts``) compose freely.
"""

from __future__ import annotations

__version__ = "0.1.0"

import os
from typing import Any

from .artifacts import AffectCurve, MediaInfo, MusicConcept, NarrativePlan, Shots, load_artifact, save_artifact
from .errors import NarrascoreError
from .options import ScoreOptions

__all__ = [
    "AffectCurve", "MediaInfo", "MusicConcept", "NarrativePlan", "NarrascoreError", "ScoreOptions", "Shots",
    "analyze", "load_artifact", "render", "save_artifact", "score",
]


def score(video: str | os.PathLike[str], out: str | os.PathLike[str], *, progress: bool = False, wait: bool = False,
          **options: Any):
    """Score ``video`` into the folder ``out``; keyword options are the fields of ``ScoreOptions``.

    Returns a ``pipeline.Result`` with the artifacts and the paths of soundtrack.wav, scored.mp4,
    score.mid and figure.png. Stages whose artifacts in ``out`` still match their inputs are reused.
    While another run writes to ``out`` this raises ``OutputError``, or waits for it with ``wait``.
    """
    from .pipeline import run
    from .progress import default_reporter

    return run(video, out, ScoreOptions(**options), reporter=default_reporter(progress), wait=wait)


def analyze(video: str | os.PathLike[str], out: str | os.PathLike[str], *, progress: bool = False, wait: bool = False,
            **options: Any):
    """Run the analysis stages only (media, shots, affect, narrative) and stop before the music."""
    from .pipeline import run
    from .progress import default_reporter

    return run(video, out, ScoreOptions(**options), until="narrative", reporter=default_reporter(progress), wait=wait)


def render(out: str | os.PathLike[str], *, video: str | os.PathLike[str] | None = None, progress: bool = False,
           wait: bool = False, **options: Any):
    """Re-make the music from the artifacts already in ``out`` (after editing narrative.json or concept.json).

    The video is the one ``media.json`` names, refused if its content changed; ``video`` re-binds
    the folder to another file on purpose (the same video moved or re-encoded).
    """
    from .pipeline import run
    from .progress import default_reporter

    return run(video, out, ScoreOptions(**options), from_artifacts=True, reporter=default_reporter(progress), wait=wait)
