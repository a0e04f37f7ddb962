"""Offline generation with `vllm.LLM`: the fastest way to sample a teacher on a GPU machine.

vLLM needs a CUDA build of torch, so it is an optional dependency (`pip install r1data[vllm]`) and
is imported only when this backend is built. The whole chunk of prompts goes to one
`LLM.generate` call and vLLM schedules it (continuous batching, prefix caching).

Chat prompts are rendered here with the model's chat template (not by `LLM.chat`), so that a
template which pre-fills `<think>` is seen and that part put back in front of the completion.
Seeds: one request per prompt with `SamplingParams(n=..., seed=sample_seed(seed, key, 0))`;
vLLM derives the n samples of the request from that seed, so a prompt's samples are reproducible
as a group. Parallelism (`tensor_parallel_size`, `data_parallel_size`, `pipeline_parallel_size`),
`gpu_memory_utilization`, `max_model_len`, `dtype` and any other `LLM(...)` argument are passed
through unchanged.
"""

from __future__ import annotations

from typing import Any

from r1data.backends.base import Completion, LocalBackend, Prompt, SamplingConfig, first_stop, prompt_key, sample_seed
from r1data.templates import think_prefill


class VLLMBackend(LocalBackend):
    """`vllm.LLM` on this machine's GPUs.

    model: a spec for `models.resolve` (the embedded `smollm2-135m`, a folder, a Hub id).
    tensor_parallel_size: GPUs per model replica. llm_options: passed to `vllm.LLM` as is.
    """

    name = "vllm"

    def __init__(self, model: str | None = None, *, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 dtype: str = "auto", **llm_options: Any):
        from r1data import models
        from r1data.optional import require

        vllm = require("vllm", "the vllm backend")
        super().__init__(model or models.EMBEDDED)
        self.vllm = vllm
        options = {"tensor_parallel_size": tensor_parallel_size, "dtype": dtype,
                   "gpu_memory_utilization": gpu_memory_utilization, **llm_options}
        if max_model_len:
            options["max_model_len"] = max_model_len
        self.options = options
        self.llm = vllm.LLM(model=models.resolve(self.model), **options)
        self.tokenizer = self.llm.get_tokenizer()

    def chunk_size(self, n: int) -> int:
        return max(1, 4096 // n)  # vLLM schedules a large chunk well; a crash loses at most one

    def info(self) -> dict[str, Any]:
        return {**super().info(), "vllm": self.vllm.__version__,
                **{k: v for k, v in self.options.items() if isinstance(v, (int, float, str))}}

    def generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        keys = keys or [prompt_key(p) for p in prompts]
        texts = [self.render(p) for p in prompts]
        params = [self.vllm.SamplingParams(
            n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
            max_tokens=sampling.max_tokens, seed=sample_seed(sampling.seed, key, 0),
            stop=list(sampling.stop) or None,
        ) for key in keys]
        outputs = self.llm.generate(texts, params, use_tqdm=False)
        results = []
        for text, output in zip(texts, outputs):
            prefill = think_prefill(text)
            samples = []
            for sample in sorted(output.outputs, key=lambda o: o.index):
                body, finish = sample.text, "length" if sample.finish_reason == "length" else "stop"
                if sample.finish_reason not in ("stop", "length"):
                    finish = "error"  # "abort": the engine dropped the request
                cut = first_stop(body, sampling.stop)
                if cut is not None:
                    body = body[:cut]
                samples.append(Completion(
                    text=prefill + body, finish_reason=finish,
                    prompt_tokens=len(output.prompt_token_ids or []), completion_tokens=len(sample.token_ids),
                    error=None if finish != "error" else f"vLLM finish_reason {sample.finish_reason!r}",
                ))
            results.append(samples)
        return results

    def close(self) -> None:
        self.llm = None
