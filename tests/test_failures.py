"""Failures are failures in every command that generates: a teacher server that does not answer
stops generate, eval, cold-start, rejection-sampling and non-reasoning in one line with exit code
3 before any work; samples that fail in the middle of a stage stop it with exit code 3, are not
written, and the rerun retries them."""

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
                            for i in range(3)))
    return path


COMMANDS = {
    "generate": lambda p, url: ["generate", "--input", str(p), "--output", "out", "--backend", "openai",
                                "--model", "m", "--base-url", url],
    "eval": lambda p, url: ["eval", "--benchmarks", "gsm8k", "--limit", "1", "--output", "out",
                            "--backend", "openai", "--model", "m", "--base-url", url],
    "cold-start": lambda p, url: ["cold-start", str(p), "--output", "out", "--backend", "openai",
                                  "--model", "m", "--base-url", url],
    "rejection-sampling": lambda p, url: ["rejection-sampling", str(p), "--output", "out", "--backend", "openai",
                                          "--model", "m", "--base-url", url],
    "non-reasoning": lambda p, url: ["non-reasoning", str(p), "--output", "out", "--backend", "openai",
                                     "--model", "m", "--base-url", url],
}


def test_the_cli_exits_3_in_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = subprocess.run([sys.executable, "-m", "r1data", *COMMANDS["generate"](prompts(tmp_path), url)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == [
        f"failed: no OpenAI-compatible server answers at {url} (ConnectError: All connection attempts failed): "
        "start it, or pass --base-url"]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_unreachable_server_stops_every_generating_command_in_one_line(name, tmp_path, monkeypatch, capsys):
    from r1data import cli

    # in this process (the CLI's own exit-code test is above): the five commands cost one import
    for key in ("COLUMNS", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "TRANSFORMERS_NO_ADVISORY_WARNINGS"):
        monkeypatch.setenv(key, os.environ.get(key, ""))
    monkeypatch.chdir(tmp_path)
    url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setattr(sys, "argv", ["r1data", *COMMANDS[name](prompts(tmp_path), url)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    err = capsys.readouterr().err
    assert exited.value.code == 3, err[-3000:]
    assert err.strip().splitlines()[-1].startswith(f"failed: no OpenAI-compatible server answers at {url} ")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # a run that failed before doing anything leaves no folder


class Flaky(BaseHTTPRequestHandler):
    """A teacher that answers every request about a prompt containing 'q1' with HTTP 500 until
    `healed`, and the others with a correct plain answer."""

    healed = False
    posts: list[str] = []

    def log_message(self, *args):
        pass

    def _send(self, code: int, data: dict):
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "m"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        text = json.dumps(body["messages"])
        Flaky.posts.append(text)
        if "What is 1 + 1?" in text and not Flaky.healed:
            self._send(500, {"error": "the GPU fell off the bus"})
            return
        number = int(text.split("What is ")[1].split(" +")[0])
        answer = f"<think>\n{number} plus {number} is {2 * number}.\n</think>\n\nThe answer is \\boxed{{{2 * number}}}."
        self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                      "finish_reason": "stop"}], "usage": {"prompt_tokens": 9, "completion_tokens": 20}})


def test_a_stage_stops_on_failed_samples_and_its_rerun_retries_them(tmp_path):
    from r1data.config import from_dict
    from r1data.failures import GenerationFailed
    from r1data.pipelines import rejection_sampling as stage

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Flaky.healed, Flaky.posts = False, []
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    config = from_dict(stage.RejectionSamplingConfig, dict(
        input=str(prompts(tmp_path)), output=str(tmp_path / "rs"),
        teacher={"backend": "openai", "model": "m", "options": {"base_url": url, "backoff": 0.01, "max_retries": 1}},
        sampling={"n": 2, "max_tokens": 64}, keep_per_prompt=2))
    try:
        with pytest.raises(GenerationFailed, match=r"2 of 6 samples failed .*HTTP 500 x2 \(.*GPU fell off the bus"):
            stage.run(config, progress=False)
        assert not (tmp_path / "rs" / "kept").exists()  # the stage stopped before verifying anything
        Flaky.healed = True
        summary = stage.run(config, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    retried = [p for p in Flaky.posts if "What is 1 + 1?" in p]
    assert len(retried) == 2 * 2 + 2  # 2 samples x (try + 1 retry), then the rerun's 2 requests
    assert len([p for p in Flaky.posts if "What is 2 + 2?" in p]) == 2  # done samples are not asked again
    assert summary.extra["samples"] == 6  # every sample is there once, the retried ones included
    rates = [json.loads(line) for line in (tmp_path / "rs" / "pass_rates.jsonl").read_text().splitlines()]
    assert sorted((r["prompt_id"], r["pass_rate"]) for r in rates) == [("q0", 1.0), ("q1", 1.0), ("q2", 1.0)]


class Overloaded(BaseHTTPRequestHandler):
    """An OpenAI-compatible teacher that answers 503 until `healed`, then "The answer is 18."."""

    healed = False
    posts = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        Flaky._send(self, 200, {"object": "list", "data": [{"id": "m"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        Overloaded.posts += 1
        if not Overloaded.healed:
            Flaky._send(self, 503, {"error": "overloaded"})
            return
        Flaky._send(self, 200, {"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "<think>\n16 - 3 - 4 = 9, 9 * 2 = 18\n</think>\n\nThe answer is 18."}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12}})


def test_eval_stops_on_failed_samples_and_its_rerun_scores_them(tmp_path):
    from r1data import evaluate
    from r1data.failures import GenerationFailed

    server = ThreadingHTTPServer(("127.0.0.1", 0), Overloaded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Overloaded.healed, Overloaded.posts = False, 0
    config = evaluate.EvalConfig(
        benchmarks=["gsm8k"], limit=1, output=str(tmp_path / "eval"), backend="openai", model="m",
        backend_options={"base_url": f"http://127.0.0.1:{server.server_address[1]}/v1", "backoff": 0.01,
                         "max_retries": 1}, sampling={"n": 2, "max_tokens": 32})
    try:
        with pytest.raises(GenerationFailed, match=r"^2 of 2 samples failed after the backend's retries: HTTP 503 x2"):
            evaluate.run(config, progress=False)
        assert not (tmp_path / "eval" / "results.json").exists()  # no score made of failed samples
        Overloaded.healed = True
        results = evaluate.run(config, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert Overloaded.posts == 2 * 2 + 2  # 2 samples x (try + 1 retry), then the rerun's 2
    gsm8k = results["benchmarks"]["gsm8k"]
    assert gsm8k["errors"] == 0 and gsm8k["pass_at_1"] == 1.0  # Janet's ducks: 18 dollars


def test_a_refused_sbatch_is_one_line_and_exit_3(tmp_path):
    """A Slurm that cannot take the job (here: SLURM_CONF names no file, as on a machine without
    a configured Slurm) is a one-line failure, not sbatch's multi-line stderr in a traceback."""
    import shutil

    if shutil.which("sbatch") is None:
        pytest.skip("sbatch is not installed (apt slurm-wlm; .ci/run installs it)")
    (tmp_path / "prompts.jsonl").write_text('{"id": "p1", "prompt": "1 + 1?"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "r1data", "generate", "-i", "prompts.jsonl", "-o", "out", "-n", "2",
         "--backend", "openai", "--model", "MODEL", "--num-shards", "2", "--executor", "slurm",
         "--serve", "vllm serve MODEL --port {port}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SLURM_CONF": str(tmp_path / "no-slurm.conf")})
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "sbatch refused" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "sbatch" in line]) == 1
