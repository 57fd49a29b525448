"""An OpenAI-compatible chat-completions server on 127.0.0.1 that replays scripted answers (for tests).

Each answer is a callable ``(request_json) -> Reply`` or a ``Reply``; ``script`` is consumed in
order, then ``default`` answers. Every request body is recorded in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union


@dataclass(frozen=True)
class Reply:
    content: str | None = None  # the message text; None: the body is sent as is
    status: int = 200
    delay: float = 0.0  # seconds to wait first (longer than the client's timeout: a timeout)
    body: bytes | None = None


Answer = Union[Reply, Callable[[dict], Reply]]


def chat(content: str) -> Reply:
    return Reply(content=content)


class ScriptedServer:
    def __init__(self, script: list[Answer] | None = None, default: Answer = Reply(content="")) -> None:
        self.script = list(script or [])
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    answer = server.script.pop(0) if server.script else server.default
                reply = answer(body) if callable(answer) else answer
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body
                if payload is None:
                    payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content}}]}).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def prompt_texts(self) -> list[str]:
        """The text of each recorded request's user message (images left out)."""
        texts = []
        for body in self.requests:
            content = body["messages"][0]["content"]
            if isinstance(content, list):
                content = "\n".join(c["text"] for c in content if c["type"] == "text")
            texts.append(content)
        return texts
