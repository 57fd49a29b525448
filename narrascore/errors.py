"""One exception tree for everything a user can get wrong.

The CLI turns any ``NarrascoreError`` into one line on stderr and a non-zero exit;
messages therefore name the file or value at fault and say what is wrong with it.
"""

from __future__ import annotations


class NarrascoreError(Exception):
    """Base of every error NarraScore reports to a user."""

    exit_code = 1


class MediaError(NarrascoreError):
    """A video or audio file is missing, unreadable, empty, truncated or unsupported."""

    exit_code = 3


class ArtifactError(NarrascoreError):
    """An artifact (JSON plan) is malformed, of the wrong schema, or inconsistent."""

    exit_code = 4


class OptionError(NarrascoreError):
    """An option has a value outside its allowed range or an unknown name."""

    exit_code = 2


class OutputError(NarrascoreError):
    """An output file or folder cannot be written."""

    exit_code = 5


class DependencyError(NarrascoreError):
    """An optional dependency (an extra) or a system resource such as a SoundFont is missing."""

    exit_code = 6
