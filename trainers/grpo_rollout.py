"""Where GRPO's samples come from: the prompts (`load_prompts`, `format_prompt`), the rollout
batch (`Rollouts`, with the completion mask that decides which tokens are trained) and the
colocated transformers sampler (`rollout_transformers`); `trainers/grpo_rollout_vllm.py` returns
the same `Rollouts` from vLLM. `Rollouts.select` and `concat_rollouts` let dynamic sampling keep
some groups of one rollout and join them with those of another (`trainers/grpo.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from r1data.backends.base import SamplingConfig
from r1data.backends.transformers import generating, generation_config, row_end
from r1data.io import InputError
from r1data.rewards import RewardRouter
from r1data.templates import r1_zero

# --------------------------------------------------------------------------------------------
# prompts


def prompt_path(spec: str) -> Path:
    """An existing file/folder, or a prompt file bundled in r1data/data/prompts/."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    bundled = resources.files("r1data") / "data" / "prompts" / f"{spec}.jsonl"
    if bundled.is_file():
        return Path(str(bundled))

    raise InputError(f"no such prompt file or bundled prompt set: {spec}")


def load_prompts(spec: str, rejected: Path | None, rewards: str | dict[str, str] = "accuracy",
                 limit: int | None = None, read_options: Any = None) -> list[Any]:
    """Records some reward route can score; the others are written to `rejected` with the
    reason (no route for their domain/kind, or no gold where the route needs one).
    `read_options`: how the prompt file is laid out (the command's --columns, --schema)."""
    from r1data.io import InputError, RejectLog, read_records

    kept = []
    with RejectLog(rejected) as rejects:
        for record in read_records(prompt_path(spec), rejects, read_options):
            reason = RewardRouter.rejection(rewards, record)
            if reason is not None:
                rejects.add(spec, None, reason, record.to_dict())
                continue
            kept.append(record)
            if limit and len(kept) >= limit:
                break
    if not kept:
        raise InputError(f"{spec}: no prompt the configured rewards can score "
                         f"(see {rejected})" if rejected else f"{spec}: no usable prompt")
    return kept


def format_prompt(record: Any, template: str, tokenizer: Any) -> str:
    """The text the policy continues: R1's R1-Zero template, or the model's chat template."""
    if template == "r1-zero":
        return r1_zero(record.prompt)
    messages = [m for m in record.messages if m["role"] != "assistant"] or [
        {"role": "user", "content": record.prompt}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

# --------------------------------------------------------------------------------------------
# rollouts


@dataclass
class Rollouts:
    """B·G sampled outputs, row i = output i % G of prompt i // G; prompts left-padded."""

    prompt_ids: torch.Tensor  # (N, P)
    prompt_mask: torch.Tensor  # (N, P)
    completion_ids: torch.Tensor  # (N, C)
    completion_mask: torch.Tensor  # (N, C): 1 up to the end of each completion
    texts: list[str]
    truncated: list[bool]

    def select(self, rows: list[int]) -> Rollouts:
        """The outputs at `rows`, in that order."""
        index = torch.tensor(rows, dtype=torch.long, device=self.completion_ids.device)
        return Rollouts(self.prompt_ids[index], self.prompt_mask[index], self.completion_ids[index],
                        self.completion_mask[index], [self.texts[i] for i in rows],
                        [self.truncated[i] for i in rows])


def concat_rollouts(parts: list[Rollouts], pad_id: int) -> Rollouts:
    """One batch of several rollouts' outputs: prompts left-padded and completions right-padded
    to the widest (position ids follow the masks, so padding changes no log-prob).

    >>> a = Rollouts(torch.ones(1, 2, dtype=torch.long), torch.ones(1, 2, dtype=torch.long),
    ...              torch.full((1, 1), 7), torch.ones(1, 1, dtype=torch.long), ["x"], [False])
    >>> b = Rollouts(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long),
    ...              torch.full((1, 2), 8), torch.ones(1, 2, dtype=torch.long), ["yy"], [True])
    >>> both = concat_rollouts([a, b], pad_id=0)
    >>> both.prompt_mask.tolist(), both.completion_ids.tolist(), both.truncated
    ([[0, 1, 1], [1, 1, 1]], [[7, 0], [8, 8]], [False, True])
    """
    if len(parts) == 1:
        return parts[0]
    p = max(r.prompt_ids.size(1) for r in parts)
    c = max(r.completion_ids.size(1) for r in parts)

    def pad(t: torch.Tensor, width: int, value: int, left: bool) -> torch.Tensor:
        extra = width - t.size(1)
        return torch.nn.functional.pad(t, (extra, 0) if left else (0, extra), value=value)

    return Rollouts(torch.cat([pad(r.prompt_ids, p, pad_id, True) for r in parts]),
                    torch.cat([pad(r.prompt_mask, p, 0, True) for r in parts]),
                    torch.cat([pad(r.completion_ids, c, pad_id, False) for r in parts]),
                    torch.cat([pad(r.completion_mask, c, 0, False) for r in parts]),
                    [t for r in parts for t in r.texts], [t for r in parts for t in r.truncated])


def completion_mask(lengths: list[int], width: int, device: Any = None) -> torch.Tensor:
    """1 for each of a row's first `lengths[i]` tokens (its completion, EOS included: the model
    must learn to stop), 0 for the padding after it.

    >>> completion_mask([3, 1, 5], 5).tolist()
    [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]]
    """
    positions = torch.arange(width, device=device)
    return (positions.unsqueeze(0) < torch.tensor(lengths, device=device).unsqueeze(1)).long()


@torch.no_grad()
def rollout_transformers(policy: Any, tokenizer: Any, prompts: list[str], template: str,
                         sampling: SamplingConfig, seed: int, synced_gpus: bool = False) -> Rollouts:
    """G samples per prompt with `policy.generate` (the colocated transformers backend).

    `synced_gpus`: keep stepping until every rank is done (ZeRO-3 over several ranks gathers
    weights collectively at each forward, so no rank may stop early)."""
    device = next(policy.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True,
                      add_special_tokens=template == "r1-zero").to(device)
    tokenizer.padding_side = side
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_ids = {tokenizer.eos_token_id}
    config = generation_config(sampling, max_new=sampling.max_tokens, pad_id=pad, eos_ids=eos_ids,
                               per_row_seeds=False)
    config.num_return_sequences = sampling.n
    torch.manual_seed(seed)
    with generating(policy):
        out = policy.generate(**batch, generation_config=config, tokenizer=tokenizer,
                              synced_gpus=synced_gpus)
    n_prompt = batch["input_ids"].size(1)
    completion_ids = out[:, n_prompt:].clone()  # out of inference mode: the loss reads it
    if completion_ids.size(1) == 0:  # max_tokens reached nothing? keep shapes valid
        completion_ids = torch.full((out.size(0), 1), pad, device=device)
    rows = completion_ids.tolist()
    ends = [row_end(row, tokenizer, eos_ids, pad, sampling.stop) for row in rows]
    mask = completion_mask([e.length for e in ends], completion_ids.size(1), device)
    texts = [tokenizer.decode(row[:e.length], skip_special_tokens=True) for row, e in zip(rows, ends)]
    g = sampling.n
    return Rollouts(batch["input_ids"].repeat_interleave(g, 0),
                    batch["attention_mask"].repeat_interleave(g, 0),
                    completion_ids, mask, texts, [not e.stopped for e in ends])
