"""Any OpenAI-compatible server: vLLM (`vllm serve`), SGLang, `transformers serve`, hosted APIs.

Requests run on an asyncio loop in a background thread (so `generate` stays a plain call, also
from a notebook that has its own loop), at most `concurrency` at a time over one pooled httpx
client. Chat prompts go to `/chat/completions`, text prompts (r1-zero) to `/completions`.

Reliability: before the first request the server must answer `GET /models`, else
`BackendUnavailable` stops the run in one line. A connection error, a timeout, a malformed answer,
HTTP 408/409/425/429 or any 5xx is retried by tenacity up to `max_retries` times with exponential
backoff and full jitter (a `Retry-After` header is honoured); after that, or at once for other 4xx
answers (a prompt too long for the context, say), the sample becomes a Completion with
finish_reason "error" and `error` "<Type>: <message>". Those are the only errors caught: anything
else is a bug and stops the run.

Samples: by default each of the n samples is its own request with its own seed
`sample_seed(seed, key, i)` (reproducible on servers that honour `seed`, as vLLM does, and
correct on servers that ignore `n`, as `transformers serve` does). `n_per_request=True` sends one
request with `n` instead (fewer requests; vLLM then seeds the group with the sample-0 seed).

Reasoning: servers that split the think block out (vLLM/SGLang `--reasoning-parser` put it in
`reasoning_content` or `reasoning`) get it joined back as `<think>\\n...\\n</think>\\n\\nanswer`; a chat
template that pre-filled `<think>` shows as a `</think>` with no opening tag, which is put back.
The API key is read from the environment (`OPENAI_API_KEY` unless `api_key_env` names another).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from r1data.backends import BackendError, BackendUnavailable
from r1data.backends.base import (
    Backend,
    Completion,
    Prompt,
    SamplingConfig,
    first_stop,
    prompt_key,
    sample_seed,
)
from r1data.backends.server_pool import ServerPool, split_urls
from r1data.record import THINK_CLOSE, THINK_OPEN
from r1data.templates import restore_think, think_prefill

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx


class ServerError(Exception):
    """An HTTP answer worth retrying (overloaded, restarting, rate-limited)."""

    def __init__(self, status: int, text: str, retry_after: float | None = None):
        super().__init__(f"{status}: {text[:500]}")
        self.status, self.retry_after = status, retry_after


class ClientError(Exception):
    """An HTTP 4xx that the same request will get again (not retried)."""


class MalformedResponse(Exception):
    """A 200 whose body is not a completion (a proxy's error page, say): worth a retry."""


# What a request may fail with on a working code path; the sample records it as an error.
RETRIED = (ServerError, MalformedResponse)  # plus httpx's timeouts and transport errors


class OpenAIBackend(Backend):
    """An OpenAI-compatible HTTP endpoint.

    model: the served model's name, sent in every request.
    base_url: default `$OPENAI_BASE_URL`, else http://127.0.0.1:8000/v1. Several servers of the
        same model: comma-separated URLs (or a list), balanced by `server_pool.ServerPool`.
    api_key / api_key_env: the key, or the environment variable holding it (none: no header).
    concurrency: requests in flight per server. timeout: seconds per request.
    max_retries / backoff / max_backoff: retry policy (seconds, doubled each attempt).
    endpoint: "auto" (chat for conversations, completions for text), "chat" or "completions".
    n_per_request: ask for n samples in one request instead of n requests.
    extra_body: more JSON fields for every request (e.g. {"top_k": 20} for vLLM).
    """

    name = "openai"

    def __init__(self, model: str | None = None, *, base_url: str | None = None,
                 api_key: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 32, timeout: float = 600.0, max_retries: int = 5,
                 backoff: float = 1.0, max_backoff: float = 60.0, endpoint: str = "auto",
                 n_per_request: bool = False, extra_body: dict[str, Any] | None = None):
        if not model:
            raise ValueError("the openai backend needs the served model's name (--model)")
        super().__init__(model)
        if endpoint not in ("auto", "chat", "completions"):
            raise ValueError(f"endpoint must be auto, chat or completions, got {endpoint!r}")
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        self.base_urls = split_urls(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.base_url = ",".join(self.base_urls)
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self.endpoint, self.n_per_request = endpoint, n_per_request
        self.extra_body = dict(extra_body or {})
        key = api_key or os.environ.get(api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="r1data-openai", daemon=True)
        self._thread.start()
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

        # -- several servers (server_pool): one client each; a refused/dropped connection or a
        # 5xx answer takes a server out and sends the request to another ----------------------
        async def make_pool() -> ServerPool:
            return ServerPool(
                self.base_urls, lambda url: httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                                              timeout=httpx.Timeout(timeout)),
                per_server=concurrency, is_down=lambda exc: isinstance(exc, httpx.TransportError),
                failed_result=lambda response: response.status_code >= 500)

        self._servers = self._run(make_pool())
        # -- end of several servers --------------------------------------------------------------
        self.retries = 0  # requests retried since creation (the flaky-server test reads it)
        self._checked = False

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def chunk_size(self, n: int) -> int:
        return max(1, (4 * self._servers.capacity) // n)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "base_url": self.base_url, "endpoint": self.endpoint}

    def server_report(self) -> dict[str, Any] | None:
        """With several servers: what happened to each (the generate summary prints it)."""
        if len(self._servers) == 1:
            return None
        return {"servers": self._servers.report(), "requests_moved": self._servers.moved}

    # -- requests --------------------------------------------------------------------------------

    def generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        keys = keys or [prompt_key(p) for p in prompts]
        if not self._checked:
            self._run(self.check())
            self._checked = True
        return self._run(self._generate(prompts, sampling, keys))

    async def check(self) -> None:
        """The server answers `GET /models` (a few quick tries), or BackendUnavailable: a wrong URL
        or a server that is down fails in one line instead of as thousands of failed samples."""
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(3), wait=wait_fixed(min(0.5, self.backoff)),
                                               retry=retry_if_exception_type(httpx.TransportError),
                                               before_sleep=self._count_retry, reraise=True):
                with attempt:
                    response = await self._servers.call(
                        lambda client: client.get("/models", timeout=min(30.0, self.timeout)))
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise BackendUnavailable(f"no OpenAI-compatible server answers at {self.base_url} "
                                     f"({type(exc).__name__}: {exc or 'no answer'}): start it, or pass --base-url") from None
        if response.status_code in (401, 403):
            raise BackendUnavailable(f"{self.base_url} refused the API key (HTTP {response.status_code}): "
                                     "set OPENAI_API_KEY (or the backend's api_key_env)")
        if response.status_code >= 400:
            raise BackendUnavailable(f"{self.base_url}/models answered HTTP {response.status_code}: "
                                     "is this the server's /v1 URL?")

    async def _generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                        keys: list[str]) -> list[list[Completion]]:
        gate = asyncio.Semaphore(self._servers.capacity)

        async def one(prompt: Prompt, key: str, index: int, n: int) -> list[Completion]:
            async with gate:
                return await self._request(prompt, sampling, sample_seed(sampling.seed, key, index), n)

        async def per_prompt(prompt: Prompt, key: str) -> list[Completion]:
            if self.n_per_request:
                got = await one(prompt, key, 0, sampling.n)
                missing = sampling.n - len(got)  # a server that ignored n: ask for the rest one by one
                rest = await asyncio.gather(*(one(prompt, key, i, 1) for i in range(len(got), len(got) + missing)))
                return (got + [c for r in rest for c in r])[:sampling.n]
            groups = await asyncio.gather(*(one(prompt, key, i, 1) for i in range(sampling.n)))
            return [g[0] for g in groups]

        return list(await asyncio.gather(*(per_prompt(p, k) for p, k in zip(prompts, keys))))

    def _body(self, prompt: Prompt, sampling: SamplingConfig, seed: int, n: int) -> tuple[str, dict[str, Any]]:
        chat = self.endpoint == "chat" or (self.endpoint == "auto" and not isinstance(prompt, str))
        body: dict[str, Any] = {
            "model": self.model, "max_tokens": sampling.max_tokens, "temperature": sampling.temperature,
            "top_p": sampling.top_p, "seed": seed, "n": n, **self.extra_body,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if chat:
            body["messages"] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
            return "/chat/completions", body
        if not isinstance(prompt, str):
            raise BackendError("the completions endpoint takes text prompts, not conversations")
        body["prompt"] = prompt
        return "/completions", body

    async def _request(self, prompt: Prompt, sampling: SamplingConfig, seed: int, n: int) -> list[Completion]:
        from tenacity import (
            AsyncRetrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_random_exponential,
        )

        path, body = self._body(prompt, sampling, seed, n)
        backoff = wait_random_exponential(multiplier=self.backoff, max=self.max_backoff)

        def wait(state: Any) -> float:  # the server's Retry-After when it gives one
            exc = state.outcome.exception()
            after = getattr(exc, "retry_after", None)
            return min(self.max_backoff, after) if after is not None else backoff(state)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1), wait=wait, before_sleep=self._count_retry, reraise=True,
            retry=retry_if_exception_type((httpx.TimeoutException, httpx.TransportError, *RETRIED)))
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post(path, body, prompt, sampling)
        except ServerError as exc:
            error = f"HTTP {exc}"
        except ClientError as exc:
            error = f"HTTP {exc}"
        except (httpx.TimeoutException, httpx.TransportError, MalformedResponse) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return [Completion(text="", finish_reason="error", error=error) for _ in range(n)]

    def _count_retry(self, _: Any) -> None:
        self.retries += 1

    async def _post(self, path: str, body: dict[str, Any], prompt: Prompt,
                    sampling: SamplingConfig) -> list[Completion]:
        response = await self._servers.call(lambda client: client.post(path, json=body))
        if response.status_code == 200:
            try:
                data = response.json()
                return self._parse(data, prompt, sampling, path)
            except (ValueError, KeyError) as exc:  # not JSON, or JSON without choices
                raise MalformedResponse(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code in RETRY_STATUS:
            raise ServerError(response.status_code, response.text,
                              _retry_after(response.headers.get("retry-after")))
        raise ClientError(f"{response.status_code}: {response.text[:500]}")

    def _parse(self, data: dict[str, Any], prompt: Prompt, sampling: SamplingConfig,
               path: str) -> list[Completion]:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        if not choices:
            raise ValueError("no choices in the response")
        usage = data.get("usage") or {}
        completions = []
        for choice in choices:
            if path == "/chat/completions":
                message = choice["message"]
                content = message.get("content") or ""
                reasoning = message.get("reasoning_content") or message.get("reasoning")
                if reasoning:
                    text = f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{content.lstrip()}"
                else:
                    text = restore_think(content, None)
            else:
                text = think_prefill(prompt) + choice["text"]
            finish = "length" if choice.get("finish_reason") == "length" else "stop"
            cut = first_stop(text, sampling.stop)  # some servers ignore `stop`
            if cut is not None:
                text, finish = text[:cut], "stop"
            single = len(choices) == 1
            completions.append(Completion(
                text=text, finish_reason=finish, prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens") if single else None,
            ))
        return completions

    def close(self) -> None:
        if self._loop.is_closed():
            return
        for server in self._servers.servers:
            self._run(server.client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff

