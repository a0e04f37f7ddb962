"""A rule-following OpenAI-compatible chat server for tests, started on 127.0.0.1: `GET
/v1/models` lists one model, `POST /v1/chat/completions` answers with `answer(last user message)`.
What is under test is always the caller's side (what a judge is shown, how its verdict counts),
through the real openai backend; the rule stands in for the judge model."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatStub(BaseHTTPRequestHandler):
    model = "stub"
    answer: Callable[[str], str] = staticmethod(lambda text: "")
    seen: list[str] = []

    def _send(self, status: int, payload: dict | None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - a real OpenAI-compatible server lists its models
        if self.path.rstrip("/") != "/v1/models":
            return self._send(404, None)
        self._send(200, {"object": "list", "data": [{"id": self.model, "object": "model"}]})

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        self.seen.append(text)
        self._send(200, {"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": self.answer(text)}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 5}})

    def log_message(self, *args):
        pass


@contextmanager
def chat_server(model: str, answer: Callable[[str], str]) -> Iterator[tuple[str, list[str]]]:
    """(base URL, the user messages it was sent, in order) of a server that answers with
    `answer(message)` until the block ends."""
    seen: list[str] = []
    handler = type("Stub", (ChatStub,), {"model": model, "answer": staticmethod(answer), "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
