"""A small GRPO run whose rollouts do not depend on how prompts are split across ranks, for the
multi-rank tests: `python -m torch.distributed.run --nproc_per_node 2 grpo_ranks.py OUT ZERO
[MODE]` trains with two ranks; `run(out, zero_stage)` in one process trains on the same groups.
MODE "dynamic" trains 3 steps with dynamic sampling (a reward that is flat for some prompts)
and a checkpoint after every step; "crash" is the same run killed (`os._exit`) right after step
2 was logged, before its checkpoint; "resume" continues it from the step-1 checkpoint.

Rollouts are fixed token sequences derived from each prompt's text (a seeded generator per
prompt and output), so one process given all groups and two ranks given half each see exactly
the same outputs; the update path (loss normalisation, DDP/DeepSpeed averaging, accumulation,
μ > 1, the KL) is what is compared.
"""

from __future__ import annotations

import os
import sys
import zlib

import torch

from r1data import models
from r1data.backends.base import SamplingConfig
from r1data.backends.transformers import row_end
from r1data.record import Record
from r1data.trainers import grpo
from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig

PROMPTS = [Record.from_prompt(f"Tell me about {w}.", gold=w)
           for w in ("cats", "rain", "tea", "maps", "snow", "owls", "jazz", "kites")]


def vowel_share(completions, **_):
    return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]


FLAT = ("cats", "rain", "tea")


def flat_or_vowels(completions, prompt, **_):
    """1.0 for prompts about FLAT words (zero-variance groups), the vowel share otherwise."""
    return [1.0 if any(w in p for w in FLAT) else v
            for p, v in zip(prompt, vowel_share(completions))]


def fixed_rollout(policy, tokenizer, prompts, template, sampling, seed, synced_gpus=False):
    """G outputs per prompt, a function of the prompt text only."""
    device = next(policy.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    tokenizer.padding_side = side
    eos, width = tokenizer.eos_token_id, sampling.max_tokens
    rows = []
    for text in prompts:
        for i in range(sampling.n):
            g = torch.Generator().manual_seed(zlib.crc32(text.encode()) * 16 + i)
            n = int(torch.randint(2, width + 1, (1,), generator=g))
            ids = torch.randint(300, 5000, (n,), generator=g).tolist()
            rows.append(ids + [eos] * (width - n) if n < width else ids)
    completion_ids = torch.tensor(rows)
    lengths = [row_end(r, tokenizer, {eos}, eos).length for r in rows]
    mask = grpo.completion_mask(lengths, width)
    texts = [tokenizer.decode(r[:m], skip_special_tokens=True) for r, m in zip(rows, lengths)]
    g = sampling.n
    return grpo.Rollouts(batch["input_ids"].repeat_interleave(g, 0).to(device),
                         batch["attention_mask"].repeat_interleave(g, 0).to(device),
                         completion_ids.to(device), mask.to(device), texts, [False] * len(rows))


def run(out: str, zero_stage: int = 0, steps: int = 2, ref_refresh_every: int = 0,
        mode: str = "plain"):
    """Train and return the trainer (its policy holds the weights after `steps` steps)."""
    grpo.rollout_transformers = fixed_rollout
    model, tokenizer = models.tiny_model(seed=0)
    dynamic = mode != "plain"
    config = grpo.GRPOConfig(
        model="tiny", rewards="flat_or_vowels" if dynamic else "vowels", template="chat",
        prompts_per_step=4, mu=2, beta=0.04, max_steps=3 if dynamic else steps, micro_batch=2,
        resume=mode == "resume", ref_refresh_every=ref_refresh_every,
        dynamic_sampling=dynamic, max_refill_rounds=6,
        sampling=SamplingConfig(n=3, temperature=1.0, top_p=1.0, max_tokens=6),
        optim=OptimConfig(lr=1e-3, min_lr_ratio=1.0, warmup_ratio=0.0, max_grad_norm=1.0),
        runtime=RuntimeConfig(device="cpu", dtype="fp32", zero_stage=zero_stage),
        output=OutputConfig(dir=out, save_every=1 if dynamic else 0))
    trainer = grpo.GRPOTrainer(config, policy=model, tokenizer=tokenizer, prompts=PROMPTS,
                               reward_fns={"vowels": vowel_share, "flat_or_vowels": flat_or_vowels})

    def kill_after_step_2(step, _):
        if mode == "crash" and step == 2:  # logged, not checkpointed: a kill, no cleanup
            sys.stdout.flush()
            os._exit(3)

    trainer.train(on_step=kill_after_step_2)
    return trainer


if __name__ == "__main__":
    out, zero = sys.argv[1], int(sys.argv[2])
    trainer = run(out, zero, mode=sys.argv[3] if len(sys.argv) > 3 else "plain")
    state = {k.removeprefix("lm."): v
             for k, v in (grpo.distributed.full_state_dict(trainer.engine or trainer.net) or {}).items()}
    if trainer.dist.is_main:
        torch.save(state, f"{out}/weights.pt")
