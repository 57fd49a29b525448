"""Finding a General MIDI SoundFont and the tinysoundfont build that plays it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ...errors import DependencyError, MediaError
from ...identity import library_versions

# Best first: MuseScore General (sf3, Debian musescore-general-soundfont-small), FluidR3 GM (sf2).
SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)


def require_tinysoundfont():
    """The tinysoundfont module the renderer uses, or ``DependencyError`` saying how to get one.

    NarraScore's own build compiles it as ``narrascore._vendor.tinysoundfont`` (the PyPI package declares
    pyaudio, which has no wheels outside Windows). The PyPI ``tinysoundfont`` is the fallback: on Windows it
    is a dependency, for a machine where the vendored build was skipped for want of a C++ compiler.
    """
    try:
        return importlib.import_module("narrascore._vendor.tinysoundfont")  # not `from`: honours sys.modules
    except ImportError:
        try:
            return importlib.import_module("tinysoundfont")
        except ImportError:
            raise DependencyError(
                "the procedural synthesizer's renderer (narrascore._vendor.tinysoundfont) is not built: reinstall "
                "NarraScore with a C++ compiler present (`pip install .`; see the README's quick start)"
            ) from None


def renderer_version() -> str:
    """Which tinysoundfont build renders, for the render cache's key: vendored and PyPI builds differ."""
    tsf = require_tinysoundfont()
    if tsf.__name__.startswith("narrascore."):
        return f"{tsf.__version__}+narrascore.{tsf.PATCH} (vendored)"
    return library_versions("tinysoundfont")["tinysoundfont"] or "unknown"


def bundled_soundfont() -> Path | None:
    """pretty_midi's bundled TimGM6mb.sf2 (6 MB, small but complete GM set), if installed."""
    try:
        import pretty_midi
    except ImportError:
        return None
    path = Path(pretty_midi.__file__).with_name("TimGM6mb.sf2")
    return path if path.is_file() else None


def check_soundfont(user_path: str | os.PathLike[str]) -> Path:
    """``user_path`` if it is a readable sf2/sf3 file (RIFF ``sfbk`` header), else ``MediaError`` naming it."""
    path = Path(user_path).expanduser()
    if not path.is_file():
        raise MediaError(f"{path}: SoundFont not found" if not path.exists() else f"{path}: SoundFont is not a file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError as exc:
        raise MediaError(f"{path}: SoundFont is not readable ({exc.strerror or exc})") from None
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise MediaError(f"{path}: not a SoundFont (sf2/sf3) file")
    return path


def find_soundfont(user_path: str | os.PathLike[str] | None = None, *, candidates: tuple[str, ...] = SYSTEM_SOUNDFONTS) -> Path:
    """The SoundFont to render with.

    ``user_path`` when given (``MediaError`` if it is missing, unreadable or not an sf2/sf3 file);
    otherwise the best installed system SoundFont in ``candidates`` order; otherwise pretty_midi's
    bundled TimGM6mb.sf2. Raises ``DependencyError`` when tinysoundfont is missing or no SoundFont exists.
    """
    require_tinysoundfont()
    if user_path is not None:
        return check_soundfont(user_path)
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and os.access(path, os.R_OK):
            return path.resolve()
    bundled = bundled_soundfont()
    if bundled is not None:
        return bundled
    raise DependencyError(
        "no General MIDI SoundFont found: install one (Debian: `apt install musescore-general-soundfont-small` "
        "or `fluid-soundfont-gm`) or pass --soundfont PATH"
    )
