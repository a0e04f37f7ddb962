"""Long-lived helper processes for the verifiers, kept in one kind of pool and read with one kind
of deadline: the sympy workers of `verify_math` (`math_pool`) and the sandbox's fork servers
(`sandbox.ForkServer`) both start slowly (sympy's import, a sandbox's set-up), so each process is
reused, by one caller at a time, and a reply that does not come in time is never waited for.

`IdlePool`: a caller takes an idle worker (or starts one), has it to itself, and gives it back; a
worker that failed or died is stopped instead, and a replacement can be started in the
background so that the next caller does not pay the start-up time inside its own time limit.
`DeadlineReader`: reads a worker's stdout up to a monotonic deadline, by line or by byte count.
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

W = TypeVar("W")


class IdlePool(Generic[W]):
    """Idle workers made by `start`; `alive(worker)` says whether one can be given back,
    `stop(worker)` ends one. With `spare_after_failure`, a worker lost to an exception in the
    caller's block is replaced in the background (its error still reaches the caller)."""

    def __init__(self, start: Callable[[], W], *, alive: Callable[[W], bool],
                 stop: Callable[[W], None], spare_after_failure: bool = False) -> None:
        self.start, self.alive, self.stop = start, alive, stop
        self.spare_after_failure = spare_after_failure
        self.pid = os.getpid()  # after a fork, the parent's workers are not the child's
        self._idle: list[W] = []
        self._lock = threading.Lock()

    @contextmanager
    def worker(self) -> Iterator[W]:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is not None and not self.alive(worker):
            self.stop(worker)
            worker = None
        worker = worker if worker is not None else self.start()
        try:
            yield worker
        except BaseException:
            self.stop(worker)
            if self.spare_after_failure:
                threading.Thread(target=self._spare, daemon=True).start()
            raise
        if self.alive(worker):
            with self._lock:
                self._idle.append(worker)
        else:
            self.stop(worker)

    def _spare(self) -> None:
        try:
            worker = self.start()
        except Exception:  # the next caller starts one itself and sees the error then
            return
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            self.stop(worker)


class DeadlineReader:
    """Reads a file descriptor (a worker's stdout) without ever blocking past a deadline:
    `TimeoutError` when the deadline passes, `EOFError` when the worker closed its end."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def _fill(self, deadline: float) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError("no answer in time")
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            raise EOFError("the worker ended")
        self._buffer += chunk

    def line(self, deadline: float) -> bytes:
        while b"\n" not in self._buffer:
            self._fill(deadline)
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def exactly(self, n: int, deadline: float) -> bytes:
        while len(self._buffer) < n:
            self._fill(deadline)
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data
