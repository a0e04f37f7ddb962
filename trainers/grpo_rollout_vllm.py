"""GRPO rollouts by vLLM colocated with the policy on the same GPU (`rollout: vllm`).

vLLM runs in the trainer's own process (`distributed_executor_backend="external_launcher"`, one
rank), holding its own bf16 copy of the weights in a fraction of the GPU memory
(`gpu_memory_utilization`). After each policy update `sync_weights` hands the new weights to
vLLM's model through its `load_weights` and clears the prefix cache, so the next rollout samples
from the updated policy (under ZeRO-3 each weight is gathered from its shards for the copy: a
partitioned `param.data` is an empty shard); π_old is still recomputed by the trainer with the
policy itself, so vLLM's sampler and the loss never disagree about which log-probs the ratio uses.

Imported only when a recipe asks for it: vLLM needs a CUDA GPU and is not installed in CPU
environments. This module is written against vLLM's `LLM`/`SamplingParams`/`TokensPrompt` API;
`load_weights` is reached through the engine's in-process driver worker, as colocated trainers
do (it moved between vLLM versions: see `_vllm_model`).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from r1data.backends.base import SamplingConfig


class VLLMRollout:
    """G samples per prompt from a colocated vLLM engine, returned as the trainer's `Rollouts`."""

    def __init__(self, trainee: Any, tokenizer: Any, sampling: SamplingConfig, *,
                 gpu_memory_utilization: float = 0.3):
        try:
            from vllm import LLM
        except ImportError:
            from r1data.errors import ConfigError

            raise ConfigError("rollout: vllm needs vLLM on a CUDA machine (pip install 'r1data[vllm]'); "
                              "use rollout: transformers elsewhere") from None
        # One in-process rank: the launcher variables vLLM's external launcher reads.
        for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"),
                           ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29531")):
            os.environ.setdefault(key, value)
        self.tokenizer, self.sampling = tokenizer, sampling
        policy = getattr(trainee, "module", trainee).lm  # the HF model inside PolicyLogps
        self.device = next(policy.parameters()).device
        self.llm = LLM(model=policy.name_or_path, dtype="bfloat16",
                       gpu_memory_utilization=gpu_memory_utilization,
                       max_model_len=None, enable_prefix_caching=True,
                       distributed_executor_backend="external_launcher", seed=sampling.seed)
        self.sync_weights(trainee)  # the policy may already differ from its folder (resume)

    def generate(self, prompts: list[str], template: str, seed: int):
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        from r1data.trainers.grpo import Rollouts

        s, tok = self.sampling, self.tokenizer
        encoded = [tok(p, add_special_tokens=template == "r1-zero")["input_ids"] for p in prompts]
        params = SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p, top_k=-1,
                                max_tokens=s.max_tokens, stop=s.stop or None,
                                include_stop_str_in_output=True, seed=seed)
        results = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in encoded],
                                    params, use_tqdm=False)
        prompt_rows, completions, finish = [], [], []
        for ids, result in zip(encoded, results):
            for sample in result.outputs:
                prompt_rows.append(ids)
                completions.append(list(sample.token_ids))
                finish.append(sample.finish_reason)
        width_p = max(len(p) for p in prompt_rows)
        width_c = max(1, max(len(c) for c in completions))
        pad = tok.pad_token_id
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
        """Copy the policy's current weights into vLLM's model (dtype cast by `load_weights`).

        `trainee` is the trainer's `PolicyLogps` or the DDP/DeepSpeed wrapper around it; names
        lose the wrapper's `lm.` prefix. `load_weights` consumes one (name, weight) at a time,
        so under ZeRO-3 only one gathered weight exists at once."""
        from r1data.trainers.distributed import gathered_named_parameters

        _vllm_model(self.llm).load_weights(gathered_named_parameters(trainee, prefix="lm."))
        self.llm.reset_prefix_cache()


def _vllm_model(llm: Any) -> Any:
    """The torch model inside an in-process vLLM engine."""
    worker = llm.llm_engine.model_executor.driver_worker
    runner = getattr(worker, "model_runner", None) or worker.worker.model_runner
    return runner.model
