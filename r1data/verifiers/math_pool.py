"""The sympy worker pool of `verify_math`: math-verify in killable processes, with our deadline.

This module owns everything about the processes that run `sympy_worker`: each calling process
keeps a small pool of them (`worker_pool.IdlePool`: one per concurrent caller thread, created on
demand, re-created after a fork), a request is a JSON line with a deadline over the reply
(`worker_pool.DeadlineReader`), and a worker that overruns is SIGKILLed and replaced in the
background, so `10^{10^{10^{10}}}` returns `WorkerTimeout` in time.
No signals are used, so the pool works from thread pools, process pools and daemonic workers
alike; sympy's import (about a second) happens once per worker, outside any request's deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from r1data.verifiers.worker_pool import DeadlineReader, IdlePool

WORKER_START_TIMEOUT = 60.0  # importing sympy on a loaded machine; not counted in `timeout`


class WorkerTimeout(Exception):
    pass


class _Worker:
    """One `sympy_worker` process: a JSON line in, a JSON line out before the deadline."""

    def __init__(self) -> None:
        # the worker imports r1data the way this process did, installed or not
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "r1data.verifiers.sympy_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the caller's terminal is the caller's to handle
            env=env,
        )
        self.reader = DeadlineReader(self.proc.stdout.fileno())
        if not self._read(time.monotonic() + WORKER_START_TIMEOUT).get("ready"):
            raise RuntimeError("sympy worker failed to start")

    def _read(self, deadline: float) -> dict:
        try:
            return json.loads(self.reader.line(deadline))
        except TimeoutError:
            raise WorkerTimeout from None
        except EOFError:
            raise RuntimeError("sympy worker died") from None

    def ask(self, gold: str, pred: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        self.proc.stdin.write((json.dumps({"gold": gold, "pred": pred}) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(deadline)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class _Pool:
    """This process's idle sympy workers. A worker that overran or died is killed, and its
    replacement started in the background, so the next caller does not pay sympy's import time
    inside its own time limit."""

    def __init__(self) -> None:
        self.workers = IdlePool(_Worker, alive=_Worker.alive, stop=_Worker.kill,
                                spare_after_failure=True)
        self.pid = self.workers.pid

    def ask(self, gold: str, pred: str, timeout: float) -> dict:
        with self.workers.worker() as worker:
            return worker.ask(gold, pred, timeout)

    def close(self) -> None:
        self.workers.close()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def get_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():  # after a fork the parent's workers are not ours
            _pool = _Pool()
        return _pool


def shutdown() -> None:
    """Stop this process's sympy workers (they also exit when the process ends: stdin closes)."""
    if _pool is not None and _pool.pid == os.getpid():
        _pool.close()
