"""``narrascore ui``: a local web page over the same pipeline as the CLI (docs/ui.md).

Upload a video or pick one from a folder, score it with a progress bar per stage, watch the scored
video, see the narrative valence/arousal curves with cuts, scenes, arc roles and the climax (and the
music's measured curve), edit scenes and the concept, re-render only the music and compare the
soundtracks, download every output. Needs the ``ui`` extra (Starlette, uvicorn).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import DependencyError

__all__ = ["create_app", "serve"]


def create_app(workdir: str | os.PathLike[str], *, folder: str | os.PathLike[str] | None = None, workers: int = 1) -> Any:
    """The Starlette app (see ``narrascore.ui.app``); projects are written under ``workdir``."""
    _require()
    from .app import create_app as make

    return make(workdir, folder=folder, workers=workers)


def serve(*, host: str = "127.0.0.1", port: int = 7860, folder: str | os.PathLike[str] | None = None,
          workdir: str | os.PathLike[str] | None = None, announce: Any = print) -> None:
    """Serve the app until interrupted. ``workdir`` defaults to a new folder under the system temp."""
    _require()
    import uvicorn

    if folder is not None and not Path(folder).is_dir():
        from ..errors import OptionError

        raise OptionError(f"{folder}: not a folder (--folder takes a folder of videos)")
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="narrascore-ui-"))
    app = create_app(workdir, folder=folder)
    announce(f"NarraScore UI on http://{host}:{port}/  (outputs in {workdir})")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _require() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise DependencyError(f"the web UI needs the 'ui' extra ({exc.name} is missing): "
                              "pip install 'narrascore[ui]'") from None
