"""What the neural sensor, reasoner and anchor writer send a model, and what answers them.

``ChatRequest`` is one user turn (text and frames in order); ``ModelClient`` is the protocol both ways
of reaching a model implement (``client.EndpointClient``, ``local.LocalModel``). It lives apart from
both so that neither imports the other (``models.open_client`` chooses between them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Union

import numpy as np

Part = Union[str, np.ndarray]  # text, or an RGB frame uint8 (height, width, 3)


@dataclass(frozen=True)
class ChatRequest:
    """One user turn: text and frames in order, and how many tokens the answer may have."""

    parts: tuple[Part, ...]
    max_tokens: int = 128

    @property
    def text(self) -> str:
        """The text parts joined, frames shown as ``<image>`` (what the prompt logs record)."""
        return "\n".join(p if isinstance(p, str) else "<image>" for p in self.parts)


class ModelClient(Protocol):
    identity: str  # what cache keys record: which model, reached how

    def complete(self, requests: Sequence[ChatRequest]) -> list[str]:
        """One answer per request, in order; ``""`` for a request that got none."""
        ...
