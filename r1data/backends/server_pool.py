"""Several servers of the same model behind one backend: requests are balanced across them, at
most `per_server` in flight on each, and a server that fails is taken out for a while.

R1-scale generation runs many vLLM replicas at once (one per node or per GPU group); the openai
backend takes them as `--base-url URL1,URL2,...` and sends each request through this pool:

- balance: a request goes to the working server with the fewest requests in flight, waiting for
  a free slot when every server is at `per_server`;
- take out: a request that fails the way a dead or broken server fails (the caller's `is_down`:
  connection refused or reset, a 5xx answer) takes its server out and is sent at once to another
  server it has not tried, so the work of a dead server goes to the others and no retry (nor
  backoff) is spent on it;
- retry later: a server out of the pool is tried again after `cooldown` seconds (doubled each
  time it fails again, up to `max_cooldown`): a restarted server comes back by itself;
- when every server has failed this request, the last failure goes back to the caller, whose
  own retry policy (backoff) takes over; when every server is out, requests probe them anyway
  (a single server is never idle waiting out its cooldown).

The pool knows nothing of HTTP: `make_client(url)` builds whatever client a server is called
through, and `call(fn)` runs `fn(client)`. `report()` says what happened to each server (the
generate summary prints it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def split_urls(value: str | list[str] | None) -> list[str]:
    """`"http://a/v1,http://b/v1"` (or a list of them) as a list of URLs without trailing '/'.

    >>> split_urls("http://a:8000/v1/, http://b:8000/v1")
    ['http://a:8000/v1', 'http://b:8000/v1']
    """
    items = value if isinstance(value, list) else (value or "").split(",")
    return [u.strip().rstrip("/") for u in items if u and u.strip()]


@dataclass
class Server:
    url: str
    client: Any
    in_flight: int = 0
    ok: int = 0
    failures: int = 0
    times_taken_out: int = 0
    down_until: float = 0.0
    cooldown: float = 0.0
    last_error: BaseException | None = field(default=None, repr=False)

    def working(self, now: float) -> bool:
        return now >= self.down_until


class ServerPool:
    """Servers behind one backend (see the module docstring)."""

    def __init__(self, urls: list[str], make_client: Callable[[str], Any], *, per_server: int,
                 is_down: Callable[[BaseException], bool],
                 failed_result: Callable[[Any], bool] | None = None,
                 cooldown: float = 10.0, max_cooldown: float = 300.0):
        if not urls:
            raise ValueError("the server pool needs at least one URL")
        if len(set(urls)) != len(urls):
            raise ValueError(f"a server is listed twice: {', '.join(urls)}")
        self.servers = [Server(url, make_client(url)) for url in urls]
        self.per_server = per_server
        self.is_down, self.failed_result = is_down, failed_result
        self.base_cooldown, self.max_cooldown = cooldown, max_cooldown
        self.moved = 0  # requests sent to another server after theirs failed
        self._freed: asyncio.Condition | None = None

    def __len__(self) -> int:
        return len(self.servers)

    @property
    def capacity(self) -> int:
        """Requests the pool can have in flight when every server works."""
        return self.per_server * len(self.servers)

    async def call(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """`fn(client)` on one server; on a server failure, on the next one not yet tried."""
        tried: set[str] = set()
        while True:
            server = await self._acquire(tried)
            if server is None:  # every server failed this request or is out of the pool
                raise self._last_error(tried)
            try:
                result = await fn(server.client)
            except Exception as exc:
                if not self.is_down(exc):
                    raise
                self._take_out(server, exc)
                tried.add(server.url)
                self.moved += 1
                continue
            finally:
                await self._release(server)
            if self.failed_result is not None and self.failed_result(result):
                self._take_out(server, None)
                tried.add(server.url)
                if await self._any_untried(tried):
                    self.moved += 1
                    continue
                return result  # nowhere else to go: the caller sees the failed answer
            server.ok += 1
            server.cooldown = 0.0
            return result

    async def _acquire(self, tried: set[str]) -> Server | None:
        if self._freed is None:
            self._freed = asyncio.Condition()
        async with self._freed:
            while True:
                now = time.monotonic()
                untried = [s for s in self.servers if s.url not in tried]
                candidates = [s for s in untried if s.working(now)]
                if not candidates:
                    if not untried or any(s.working(now) for s in self.servers):
                        return None  # the caller backs off, then tries the working ones again
                    candidates = untried  # every server is out: probe rather than give up untried
                server = min(candidates, key=lambda s: s.in_flight)
                if server.in_flight < self.per_server:
                    server.in_flight += 1
                    return server
                # Woken by a finished request; the timeout lets a cooled-down server back in.
                try:
                    await asyncio.wait_for(self._freed.wait(), timeout=self.base_cooldown)
                except asyncio.TimeoutError:
                    pass

    async def _release(self, server: Server) -> None:
        server.in_flight -= 1
        async with self._freed:
            self._freed.notify_all()

    async def _any_untried(self, tried: set[str]) -> bool:
        now = time.monotonic()
        return any(s.url not in tried and s.working(now) for s in self.servers)

    def _take_out(self, server: Server, exc: BaseException | None) -> None:
        server.failures += 1
        if exc is not None:
            server.last_error = exc
        now = time.monotonic()
        if server.working(now):  # not already out (its other requests fail at the same moment)
            server.times_taken_out += 1
            server.cooldown = min(self.max_cooldown, max(self.base_cooldown, 2 * server.cooldown))
            server.down_until = now + server.cooldown

    def _last_error(self, tried: set[str]) -> BaseException:
        failed = [s for s in self.servers if s.last_error is not None]
        failed.sort(key=lambda s: (s.url not in tried, -s.down_until))
        if failed:
            return failed[0].last_error
        return ConnectionError("no server of the pool is working")

    def report(self) -> list[dict[str, Any]]:
        """Per server: requests answered, failures, times taken out, whether it is out now."""
        now = time.monotonic()
        return [{"url": s.url, "ok": s.ok, "failures": s.failures,
                 "times_taken_out": s.times_taken_out, "out_now": not s.working(now),
                 "last_error": f"{type(s.last_error).__name__}: {s.last_error}"[:200]
                 if s.last_error is not None else None} for s in self.servers]
