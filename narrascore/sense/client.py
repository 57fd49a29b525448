"""Model access for the neural sensor and reasoner: one small protocol, two ways to reach a model.

* ``EndpointClient``: any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp,
  hosted APIs). Frames travel as base64 JPEG data URLs; the key comes from ``NARRASCORE_API_KEY``.
  Requests run ``concurrency`` at a time, each with a ``timeout`` (s); a timeout, a dropped
  connection, HTTP 429 or 5xx is retried up to ``retries`` times with exponential backoff
  (``backoff * 2**k`` s). Only the standard library is used (urllib).
* ``LocalModel`` (``sense/local.py``): transformers, from a local folder or a hub id.

Both answer the ``chat.ChatRequest``s of the ``chat.ModelClient`` protocol; ``models.open_client`` picks one.

``complete`` returns one answer per request, ``""`` where no answer came: callers treat an empty or
unreadable answer as a failed frame or scene, never as an error. Errors that no retry can fix
(401, 403, 404, a bad URL) raise ``OptionError`` naming the URL.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import OptionError
from .chat import ChatRequest

_log = logging.getLogger(__name__)
API_KEY_ENV = "NARRASCORE_API_KEY"


def jpeg_data_url(rgb: np.ndarray, quality: int = 85) -> str:
    """A ``data:image/jpeg;base64,...`` URL of an RGB uint8 frame (height, width, 3)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_url(endpoint: str) -> str:
    """The chat-completions URL of a server given as its base (``http://host:8000/v1``) or in full."""
    url = endpoint.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + "/chat/completions"


class _Retryable(Exception):
    pass


class EndpointClient:
    """An OpenAI-compatible chat-completions server that takes images (see module docstring)."""

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        concurrency: int = 4,
        temperature: float = 0.0,
        api_key: str | None = None,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise OptionError(f"endpoint must be an http:// or https:// URL, got {endpoint!r}")
        if not model:
            raise OptionError(f"endpoint {endpoint} needs a model name (--vlm-model / --llm-model)")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise OptionError(f"need concurrency >= 1, retries >= 0, timeout > 0; got {concurrency}, {retries}, {timeout}")
        self.url, self.model = chat_url(endpoint), model
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.concurrency, self.temperature = concurrency, temperature
        self.api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self.identity = f"endpoint:{self.url}#{model}"

    def payload(self, request: ChatRequest) -> dict:
        content = []
        for part in request.parts:
            if isinstance(part, str):
                content.append({"type": "text", "text": part})
            else:
                content.append({"type": "image_url", "image_url": {"url": jpeg_data_url(part)}})
        if all(c["type"] == "text" for c in content):  # text-only servers accept a plain string
            content = "\n".join(c["text"] for c in content)
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": request.max_tokens,
            "temperature": self.temperature,
        }

    def complete(self, requests: Sequence[ChatRequest]) -> list[str]:
        if len(requests) <= 1 or self.concurrency == 1:
            return [self._complete_one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._complete_one, requests))

    def _complete_one(self, request: ChatRequest) -> str:
        body = json.dumps(self.payload(request)).encode("utf-8")
        for attempt in range(self.retries + 1):
            try:
                return self._post(body)
            except _Retryable as exc:
                if attempt == self.retries:
                    _log.warning("%s: no answer after %d attempts (%s)", self.url, attempt + 1, exc)
                    return ""
                time.sleep(self.backoff * 2**attempt)
        return ""

    def _post(self, body: bytes) -> str:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(f"HTTP {exc.code}") from None
            detail = exc.read()[:200].decode("utf-8", "replace")
            raise OptionError(f"{self.url}: HTTP {exc.code} {exc.reason} for model {self.model!r}: {detail}") from None
        except (socket.timeout, TimeoutError) as exc:
            raise _Retryable(f"timed out after {self.timeout} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError, ConnectionError)):
                raise _Retryable(str(exc.reason)) from None
            raise OptionError(f"{self.url}: cannot reach the endpoint ({exc.reason})") from None
        except ConnectionError as exc:
            raise _Retryable(str(exc)) from None
        return _answer_text(raw)


def _answer_text(raw: bytes) -> str:
    """The first choice's message text of a chat-completions response; ``""`` if it has none."""
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    if isinstance(content, list):  # some servers answer in content parts
        content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return content if isinstance(content, str) else ""
