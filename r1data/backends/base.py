"""The one small interface every generation backend implements.

A prompt is either plain text (sent as is: completion endpoint, or tokenized raw, e.g. the R1-Zero
template) or a chat conversation (`[{"role", "content"}]`, rendered by the model's chat template).
`generate` returns, for each prompt, `sampling.n` `Completion`s. A backend handles only the
failures it expects (a server's timeouts and errors, running out of memory): it retries what can
be retried, and returns a Completion with finish_reason "error" and `error` "<Type>: <message>"
for a sample that still failed. Anything else (a bug, a bad argument) propagates and stops the run.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Union

Prompt = Union[str, list[dict[str, str]]]


def sample_seed(seed: int, key: str, index: int) -> int:
    """The seed of sample `index` of the prompt identified by `key` (63 bits, stable across runs,
    machines and Python versions: it does not use `hash()`, which is salted per process).

    >>> sample_seed(0, "gsm8k/1", 0) == sample_seed(0, "gsm8k/1", 0) != sample_seed(0, "gsm8k/1", 1)
    True
    """
    digest = hashlib.sha256(f"{seed}\x00{key}\x00{index}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def first_stop(text: str, stops: list[str]) -> int | None:
    """Where the first stop string starts in `text`, or None. The stop string itself is not kept
    in a completion, as in vLLM and the OpenAI API.

    >>> first_stop("4. Done", ["."])
    1
    """
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def prompt_key(prompt: "Prompt") -> str:
    """A stable text key for a prompt, used to seed its samples when the caller gives no id."""
    if isinstance(prompt, str):
        return prompt
    return "\x00".join(f"{m.get('role')}\x01{m.get('content')}" for m in prompt)


@dataclass
class SamplingConfig:
    """Sampling parameters, shared by generation, evaluation and GRPO rollouts.

    Defaults are R1's evaluation settings (temperature 0.6, top-p 0.95, 32,768 tokens).

    n: samples per prompt.
    temperature / top_p: nucleus sampling; temperature 0 means greedy.
    max_tokens: new tokens per sample; a sample that hits it gets finish_reason "length".
    seed: base seed; sample i of a prompt is reproducible from (seed, prompt, i).
    stop: extra stop strings (the EOS token always stops).
    """

    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    seed: int = 0
    stop: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("sampling.n must be at least 1")
        if self.temperature < 0:
            raise ValueError("sampling.temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("sampling.top_p must be in (0, 1]")
        if self.max_tokens < 1:
            raise ValueError("sampling.max_tokens must be at least 1")


@dataclass
class Completion:
    """One sample. `text` is the whole completion, including any think block the prompt
    pre-filled (so a format check sees exactly what the model produced)."""

    text: str
    finish_reason: str  # "stop", "length" or "error"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None


class Backend(ABC):
    """A model that turns prompts into completions."""

    name: str = "base"

    def __init__(self, model: str):
        self.model = model

    @abstractmethod
    def generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        """`sampling.n` completions for each prompt, in prompt order.

        `keys` name the prompts for seeding (the engine passes prompt ids): sample i of prompt p is
        drawn with `sample_seed(sampling.seed, keys[p], i)` where the backend supports per-sample
        seeds. Without keys the prompt text is the key.
        """

    def chunk_size(self, n: int) -> int:
        """How many prompts (of `n` samples each) the engine should hand over per call: enough to
        keep the backend busy, few enough that a crash loses little work."""
        return 64

    def info(self) -> dict[str, Any]:
        """What provenance records about this backend (name, model, library versions, dtype)."""
        return {"backend": self.name, "model": self.model}

    def close(self) -> None:
        """Release the model / connections. Backends are also context managers."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class LocalBackend(Backend):
    """A backend that holds the model's tokenizer in this process (transformers, vLLM offline):
    chat prompts are rendered here with the model's own chat template."""

    tokenizer: Any

    def render(self, prompt: Prompt) -> str:
        """The text the model sees for a prompt (a plain string is taken as already rendered)."""
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
