"""The sympy worker pool of `verify_math`: math-verify in killable processes, with our deadline.

This module owns everything about the processes that run `sympy_worker`: each calling process
keeps a small pool of them (one per concurrent caller thread, created on demand, re-created after
a fork), a request is a JSON line with a deadline over the reply, and a worker that overruns is
SIGKILLed and replaced in the background, so `10^{10^{10^{10}}}` returns `WorkerTimeout` in time.
No signals are used, so the pool works from thread pools, process pools and daemonic workers
alike; sympy's import (about a second) happens once per worker, outside any request's deadline.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

WORKER_START_TIMEOUT = 60.0  # importing sympy on a loaded machine; not counted in `timeout`

class WorkerTimeout(Exception):
    pass


class _Worker:
    """One `sympy_worker` process and a line reader with a deadline over its stdout."""

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
        self._buffer = b""
        reply = self._read(time.monotonic() + WORKER_START_TIMEOUT)
        if not reply.get("ready"):
            raise RuntimeError("sympy worker failed to start")

    def _read(self, deadline: float) -> dict:
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise WorkerTimeout
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise RuntimeError("sympy worker died")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def ask(self, gold: str, pred: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        self.proc.stdin.write((json.dumps({"gold": gold, "pred": pred}) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(deadline)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class _Pool:
    """Idle workers of this process. A thread takes one (or starts one), uses it alone, and gives
    it back; a worker that overran or died is killed instead of given back."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()

    def ask(self, gold: str, pred: str, timeout: float) -> dict:
        with self.lock:
            worker = self.idle.pop() if self.idle else None
        if worker is None:
            worker = _Worker()
        try:
            reply = worker.ask(gold, pred, timeout)
        except (WorkerTimeout, RuntimeError, OSError):
            worker.kill()
            # start the replacement now, in the background, so the next caller does not pay
            # sympy's import time inside its own time limit
            threading.Thread(target=self._spare, daemon=True).start()
            raise
        with self.lock:
            self.idle.append(worker)
        return reply

    def _spare(self) -> None:
        try:
            worker = _Worker()
        except (RuntimeError, OSError, WorkerTimeout):
            return
        with self.lock:
            self.idle.append(worker)

    def close(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
        for worker in workers:
            worker.kill()


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
