"""Any OpenAI-compatible server: vLLM (`vllm serve`), SGLang, `transformers serve`, hosted APIs.

Requests run on an asyncio loop in a background thread (so `generate` stays a plain call, also
from a notebook that has its own loop), at most `concurrency` at a time over one pooled httpx
client. Chat prompts go to `/chat/completions`, text prompts (r1-zero) to `/completions`.

Reliability: a connection error, a timeout, HTTP 429 or any 5xx is retried up to `max_retries`
times with exponential backoff and jitter (a `Retry-After` header is honoured); after that, or at
once for other 4xx answers (a prompt too long for the context, say), the sample becomes a
Completion with finish_reason "error" and the server's message, and the run goes on.

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
import random
import threading
from typing import Any

from r1data.backends.base import Backend, Completion, Prompt, SamplingConfig, first_stop, prompt_key, sample_seed
from r1data.record import THINK_CLOSE, THINK_OPEN
from r1data.templates import restore_think, think_prefill

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx


class OpenAIBackend(Backend):
    """An OpenAI-compatible HTTP endpoint.

    model: the served model's name, sent in every request.
    base_url: default `$OPENAI_BASE_URL`, else http://127.0.0.1:8000/v1.
    api_key / api_key_env: the key, or the environment variable holding it (none: no header).
    concurrency: requests in flight. timeout: seconds per request.
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
        import httpx

        if not model:
            raise ValueError("the openai backend needs the served model's name (--model)")
        super().__init__(model)
        if endpoint not in ("auto", "chat", "completions"):
            raise ValueError(f"endpoint must be auto, chat or completions, got {endpoint!r}")
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
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

        async def make_client() -> Any:
            return httpx.AsyncClient(base_url=self.base_url, headers=headers, limits=limits,
                                     timeout=httpx.Timeout(timeout))

        self._client = self._run(make_client())
        self.retries = 0  # requests retried since creation (the flaky-server test reads it)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def chunk_size(self, n: int) -> int:
        return max(1, (4 * self.concurrency) // n)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "base_url": self.base_url, "endpoint": self.endpoint}

    # -- requests --------------------------------------------------------------------------------

    def generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        keys = keys or [prompt_key(p) for p in prompts]
        return self._run(self._generate(prompts, sampling, keys))

    async def _generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                        keys: list[str]) -> list[list[Completion]]:
        gate = asyncio.Semaphore(self.concurrency)

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
            raise ValueError("the completions endpoint takes text prompts, not conversations")
        body["prompt"] = prompt
        return "/completions", body

    async def _request(self, prompt: Prompt, sampling: SamplingConfig, seed: int, n: int) -> list[Completion]:
        import httpx

        try:
            path, body = self._body(prompt, sampling, seed, n)
        except ValueError as exc:
            return [Completion(text="", finish_reason="error", error=str(exc)) for _ in range(n)]
        error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
            retry_after = None
            try:
                response = await self._client.post(path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return self._parse(response.json(), prompt, sampling, path)
                    except (ValueError, KeyError, TypeError, IndexError) as exc:
                        error = f"malformed response: {exc}"  # a proxy's garbage: worth a retry
                else:
                    error = f"HTTP {response.status_code}: {response.text[:500]}"
                    if response.status_code < 500 and response.status_code not in RETRY_STATUS:
                        break
                    retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt < self.max_retries:
                delay = min(self.max_backoff, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)
                await asyncio.sleep(min(self.max_backoff, retry_after) if retry_after is not None else delay)
        return [Completion(text="", finish_reason="error", error=error) for _ in range(n)]

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
        self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff

