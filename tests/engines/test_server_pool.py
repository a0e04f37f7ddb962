"""Several --base-url servers: one of two real local servers is killed during a run, and no
prompt is lost: its requests go to the other, and the summary says which server was taken out."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from r1data import io

from engine_helpers import REPO

SERVER = str(REPO / "tests" / "engines" / "chat_server.py")
R1DATA = str(Path(sys.executable).parent / "r1data")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def servers(tmp_path):
    started = []
    for name in ("a", "b"):
        port, log = free_port(), tmp_path / f"server_{name}.log"
        log.touch()
        proc = subprocess.Popen([sys.executable, SERVER, str(port), str(log), "0.05"])
        started.append((proc, f"http://127.0.0.1:{port}/v1", log))
    for _, url, _ in started:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{url} did not start"
                time.sleep(0.1)
    yield started
    for proc, _, _ in started:  # each by its own PID
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def requests_seen(log: Path) -> int:
    return len(log.read_text().splitlines())


def kill_during(run: subprocess.Popen, ready, kill, start_s: float, finish_s: float) -> str:
    """Wait (at most `start_s`) until `ready()`, `kill()` a server, let the run finish (at most
    `finish_s`); returns its output after checking it succeeded."""
    deadline = time.monotonic() + start_s
    while not ready():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0][-2000:]
        time.sleep(0.05)
    kill()
    try:
        output, _ = run.communicate(timeout=finish_s)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"generate still running {finish_s} s after the kill: {run.communicate()[0][-2000:]}")
    assert run.returncode == 0, output[-3000:]
    return output


@pytest.mark.slow
def test_killing_one_of_two_servers_loses_no_prompt(servers, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} + {i}?"}) + "\n"
                               for i in range(40)))
    (a, url_a, log_a), (_, url_b, log_b) = servers
    out = tmp_path / "out"
    run = subprocess.Popen([R1DATA, "generate", "-i", str(prompts), "-o", str(out), "--backend",
                            "openai", "--model", "echo", "--base-url", f"{url_a},{url_b}",
                            "--concurrency", "2", "-n", "2", "--no-progress"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "COLUMNS": "200"})

    def kill_a():
        a.send_signal(signal.SIGKILL)
        a.wait()

    # server a has answered part of the run: kill it
    output = kill_during(run, lambda: requests_seen(log_a) >= 10, kill_a, 60, 120)

    records = list(io.read_records(out))
    assert sorted(r.id for r in records) == sorted(f"q{i}/{k}" for i in range(40) for k in range(2))
    for r in records:  # each sample is the answer to its own request, whichever server gave it
        assert r.completion.endswith(f"The answer is {r.provenance['seed'] % 1000}.")
    summary = json.loads((out / "generate_summary.json").read_text())
    assert summary["samples_failed"] == 0 and summary["samples_written"] == 80
    report = {s["url"]: s for s in summary["servers"]["servers"]}
    assert report[url_a]["times_taken_out"] >= 1 and report[url_b]["times_taken_out"] == 0
    assert report[url_a]["ok"] + report[url_b]["ok"] == 80 + 1  # + the /models check
    assert requests_seen(log_b) > 40  # b took over a's share
    assert f"{url_a}: " in output and "taken out" in output  # the printed summary says so


@pytest.mark.slow
def test_killing_one_of_two_vllm_servers_loses_no_prompt(tmp_path, embedded_path):
    # The same run against two real vLLM servers of the embedded model (each an API process
    # and an engine process, killed together as a process group).
    import vllm_helpers

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} + {i}?"}) + "\n"
                               for i in range(24)))
    out = tmp_path / "out"
    with vllm_helpers.vllm_servers(embedded_path, "smol", tmp_path, count=2) as [(a, url_a), (_, url_b)]:
        log_a = tmp_path / "vllm_server_0.log"
        answered = lambda: log_a.read_text().count("POST /v1/chat/completions")  # noqa: E731
        run = subprocess.Popen([R1DATA, "generate", "-i", str(prompts), "-o", str(out), "--backend",
                                "openai", "--model", "smol", "--base-url", f"{url_a},{url_b}",
                                "--concurrency", "2", "-n", "2", "--max-tokens", "24", "--no-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "COLUMNS": "200"})
        # server a has answered part of the run: kill it and its engine
        output = kill_during(run, lambda: answered() >= 4,
                             lambda: vllm_helpers.stop_server(a, sig=signal.SIGKILL), 300, 300)
    records = list(io.read_records(out))
    assert sorted(r.id for r in records) == sorted(f"q{i}/{k}" for i in range(24) for k in range(2))
    assert all(r.completion and r.finish_reason in ("stop", "length") for r in records)
    summary = json.loads((out / "generate_summary.json").read_text())
    assert summary["samples_failed"] == 0 and summary["samples_written"] == 48
    report = {s["url"]: s for s in summary["servers"]["servers"]}
    assert report[url_a]["times_taken_out"] >= 1 and report[url_b]["times_taken_out"] == 0
    assert report[url_b]["ok"] > 24  # b took over a's share
