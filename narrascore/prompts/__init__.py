"""Versioned prompt templates for the neural sensor and reasoner.

Each template is a text file in this folder: a header of ``key: value`` lines, a ``---`` line, and
the body, in which ``$name`` placeholders are filled by ``Prompt.render`` (``string.Template``
syntax, so JSON braces need no escaping; ``$$`` is a literal dollar). A line ``<image>`` in a
vision prompt marks where the frame goes. Changing a template's wording means raising its
``version``: the version is part of every cache key that depends on the prompt.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from importlib import resources

from ..errors import ArtifactError, OptionError

IMAGE_MARKER = "<image>"


@dataclass(frozen=True)
class Prompt:
    """A loaded template: ``name``, integer ``version`` and the body ``text``."""

    name: str
    version: int
    text: str

    @property
    def tag(self) -> str:
        """``name@version``: what cache keys and saved prompts record."""
        return f"{self.name}@{self.version}"

    def render(self, **values: object) -> str:
        """The body with every ``$name`` filled; a missing value raises ``OptionError`` naming it."""
        try:
            return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})
        except KeyError as exc:
            raise OptionError(f"prompt {self.tag}: no value for placeholder ${exc.args[0]}") from None


def split_image(text: str) -> tuple[str, str]:
    """A rendered vision prompt as (text before the frame, text after it), both stripped."""
    before, marker, after = text.partition(IMAGE_MARKER)
    if not marker:
        return text.strip(), ""
    return before.strip(), after.strip()


@functools.lru_cache(maxsize=None)
def load_prompt(name: str) -> Prompt:
    """The packaged template ``narrascore/prompts/<name>.txt``; an unknown name lists the valid ones."""
    folder = resources.files(__name__)
    file = folder.joinpath(f"{name}.txt")
    if not file.is_file():
        names = sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))
        raise OptionError(f"unknown prompt {name!r}; available: {', '.join(names)}")
    return parse_prompt(name, file.read_text(encoding="utf-8"))


def parse_prompt(name: str, source: str) -> Prompt:
    """Parse a template file's text (header, ``---``, body)."""
    head, sep, body = source.partition("\n---\n")
    if not sep:
        raise ArtifactError(f"prompt {name}: no '---' line between the header and the body")
    header = {}
    for line in head.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
    try:
        version = int(header["version"])
    except (KeyError, ValueError):
        raise ArtifactError(f"prompt {name}: header needs 'version: <integer>', got {header.get('version')!r}") from None
    return Prompt(name=name, version=version, text=body.rstrip("\n"))


__all__ = ["IMAGE_MARKER", "Prompt", "load_prompt", "parse_prompt", "split_image"]
