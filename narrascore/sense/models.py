"""Opening a model client: a served model (``client.EndpointClient``) or a local one (``local.LocalModel``)."""

from __future__ import annotations

from ..errors import OptionError
from .chat import ModelClient
from .client import EndpointClient


def open_client(
    *, local: str | None = None, endpoint: str | None = None, model: str | None = None, kind: str = "vlm", **endpoint_options: object
) -> ModelClient:
    """A client for a local model folder / hub id / ``"debug"`` (``local``) or a served model.

    ``kind`` is ``"vlm"`` (image-text-to-text) or ``"llm"`` (text only; a VLM folder also works).
    Importing torch and transformers happens here, and only for a local model.
    """
    if (local is None) == (endpoint is None):
        raise OptionError("give either a local model (PATH, hub id or 'debug') or an endpoint URL with a model name")
    if endpoint is not None:
        return EndpointClient(endpoint, model or "", **endpoint_options)  # type: ignore[arg-type]
    from .local import LocalModel

    return LocalModel.load(local, kind=kind)  # type: ignore[arg-type]
