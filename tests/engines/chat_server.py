"""A small OpenAI-compatible chat server for the engine tests: a real process on a real socket
that answers `GET /v1/models` and `POST /v1/chat/completions` with text that depends only on the
request (the last user message and the seed), as a seeded vLLM does. Each request is logged as
one line to LOG, so a test can see how far a run got before it kills the server.

    python chat_server.py PORT LOG [DELAY_SECONDS]
"""

import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
DELAY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0


def answer(messages: list, seed: int) -> str:
    question = messages[-1]["content"] if messages else ""
    digest = hashlib.sha256(f"{question}|{seed}".encode()).hexdigest()[:8]
    return f"<think>\nWorking on {question[:40]} ({digest}).\n</think>\n\nThe answer is {seed % 1000}."


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "echo", "object": "model"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(LOG, "a") as log:
            log.write(json.dumps({"seed": body.get("seed")}) + "\n")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": "not found"})
            return
        time.sleep(DELAY)
        text = answer(body["messages"], int(body.get("seed") or 0))
        self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split())}})

    def log_message(self, *args):  # quiet
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
