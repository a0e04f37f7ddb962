"""GRPO, as DeepSeekMath (arXiv 2402.03300, section 4.1) and DeepSeek-R1 define it.

For each prompt q the old policy samples G outputs o_1..o_G, a rule-based reward scores them
(r_1..r_G, a weighted sum of reward functions from `r1data.rewards`), and the policy maximises

    J(θ) = E_q [ 1/G Σ_i 1/|o_i| Σ_t ( min(ρ_it A_i, clip(ρ_it, 1-ε, 1+ε) A_i) - β D_it ) ]

    ρ_it = π_θ(o_it | q, o_i,<t) / π_old(o_it | q, o_i,<t)            (per-token ratio)
    A_i  = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + eps)            (the same for every token)
    D_it = π_ref/π_θ - log(π_ref/π_θ) - 1                            (k3, unbiased, ≥ 0)

The loss minimised is -J. Over a batch of several prompts the 1/G mean becomes a mean over all
B·G outputs of the batch (the same thing, since every group has G outputs); split into
micro-batches, each micro-batch adds Σ_i (its outputs' per-output means) / (B·G), so the
accumulated gradient is exactly the full-batch gradient.

The μ loop: after a rollout the log-probs of the sampling policy (π_old) and of the frozen
reference (π_ref) are computed once; the policy then takes μ × `minibatches` optimizer steps on
those rollouts. With μ = 1 and one minibatch π_old = π_θ, so ρ = 1 and π_old is not recomputed
(its value is π_θ detached, which gives the same gradient).

Deliberate choices, each where the papers leave it open:
- std is the unbiased (n-1) sample std and eps = 1e-4, as TRL; a group whose rewards are all
  equal (std ~ 0) has A = 0: it adds no policy gradient, only the KL term. Their count is logged.
- A reward function may return None (cannot judge): that component is left out of the sum; an
  output with no component at all is left out of its group's mean/std and gets A = 0. None is
  never silently read as 0 or 1.
- Log-probs are those of the distribution that sampled: logits / temperature (identical to the
  paper's π_θ at R1's temperature 1).
- Position ids follow the attention mask (left-padded prompts get the positions generation gave
  them), so π_old recomputed here equals the sampler's probabilities.
- The completion mask ends at the first EOS (included: the model must learn to stop). The pad
  token may equal EOS (SmolLM2), so masks come from positions, never from the pad id.
- The KL term uses π_ref from a frozen copy of the initial policy; β = 0 never loads it;
  `ref_refresh_every` N > 0 copies the policy into it every N steps.

Reads top to bottom: config, setup, rollout, reward, advantage, loss, step, log, train loop.
Log keys (one JSON object per step in `<output_dir>/log.jsonl`, plotted by `r1data report`):
    step, epoch, lr, loss, reward, reward_std, reward/<name> (mean of each component),
    accuracy (mean of the `accuracy` component, when one is configured), completion_length,
    completion_length_max, truncated (fraction that hit max_tokens), kl, clip_fraction, entropy,
    zero_variance_groups, unscored, grad_norm, time/rollout, time/reward, time/update, time/step,
    tokens_per_s/rollout, tokens_per_s/update.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import torch

from r1data.backends.base import SamplingConfig
from r1data.errors import ConfigError

ADV_EPS = 1e-4
RewardFn = Callable[..., list]


# --------------------------------------------------------------------------------------------
# config


def _rollout_defaults() -> SamplingConfig:
    return SamplingConfig(n=16, temperature=1.0, top_p=1.0, max_tokens=1024)


@dataclass
class GRPOConfig:
    """One GRPO run. A YAML recipe maps onto it one-to-one (`r1data.config.load`).

    # model and data
    model: policy to train (a model folder, a Hub id, or `smollm2-135m`).
    prompts: records/dataset with gold answers (any format `r1data.io` reads), or the name of a
        bundled prompt file (`gsm8k_train_1k`).
    template: "r1-zero" (R1's plain-text template) or "chat" (the tokenizer's chat template).
    rewards: weighted sum of reward functions: "accuracy + format + 0.1 * language_consistency";
        a name is looked up in `r1data.rewards`, or is `module:function` for a user function.
    output_dir: checkpoints, the final model and log.jsonl.
    # rollout
    sampling: rollout sampling; `n` is G (outputs per prompt), max_tokens the completion length.
    prompts_per_step: B, prompts per rollout batch (B·G outputs per step).
    rollout: "transformers" (policy.generate, CPU or GPU) or "vllm" (colocated, GPU).
    # optimisation
    lr, weight_decay, warmup_steps, grad_clip: AdamW with linear warmup then constant lr.
    beta: KL coefficient (0 skips the reference model).
    epsilon: clip range of the ratio.
    mu: policy updates (passes) over each batch of rollouts.
    minibatches: optimizer steps per pass (the rollout batch split into this many parts).
    micro_batch: sequences per forward/backward (gradient accumulation inside a minibatch).
    ref_refresh_every: copy the policy into the reference every N steps (0: never).
    max_steps: rollout steps to train.
    # hardware and bookkeeping
    gradient_checkpointing, deepspeed (a DeepSpeed JSON config path, ZeRO-2/3), device, dtype.
    seed: everything random (prompt order, sampling) derives from it and the step.
    save_every: checkpoint every N steps (0: only at the end); a rerun resumes from the last one.
    """

    # model and data
    model: str = "smollm2-135m"
    prompts: str = "gsm8k_train_1k"
    template: str = "r1-zero"
    rewards: str = "accuracy + format"
    output_dir: str = "runs/grpo"
    # rollout
    sampling: SamplingConfig = field(default_factory=_rollout_defaults)
    prompts_per_step: int = 4
    rollout: str = "transformers"
    # optimisation
    lr: float = 3e-6
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    beta: float = 0.001
    epsilon: float = 0.2
    mu: int = 1
    minibatches: int = 1
    micro_batch: int = 8
    ref_refresh_every: int = 0
    max_steps: int = 100
    # hardware and bookkeeping
    gradient_checkpointing: bool = False
    deepspeed: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    save_every: int = 50

    def __post_init__(self) -> None:
        if isinstance(self.sampling, dict):
            self.sampling = SamplingConfig(**self.sampling)
        if self.template not in ("r1-zero", "chat"):
            raise ValueError(f"template must be 'r1-zero' or 'chat', got {self.template!r}")
        if self.rollout not in ("transformers", "vllm"):
            raise ValueError(f"rollout must be 'transformers' or 'vllm', got {self.rollout!r}")
        if self.sampling.n < 2:
            raise ValueError("sampling.n (G) must be at least 2: advantages compare outputs in a group")
        for name in ("prompts_per_step", "mu", "minibatches", "micro_batch", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if (self.prompts_per_step * self.sampling.n) % self.minibatches:
            raise ValueError("prompts_per_step * sampling.n must be divisible by minibatches")
        if self.lr <= 0 or self.beta < 0 or self.epsilon <= 0:
            raise ValueError("lr and epsilon must be > 0 and beta >= 0")
        parse_rewards(self.rewards)  # a malformed expression fails here, not after model loading


# --------------------------------------------------------------------------------------------
# setup: rewards, prompts, models


_TERM = re.compile(r"^\s*(?:(\d+(?:\.\d*)?(?:e-?\d+)?)\s*\*\s*)?([A-Za-z_][\w.]*(?::\w+)?)\s*$")


def parse_rewards(expression: str) -> list[tuple[float, str]]:
    """"accuracy + format + 0.1 * language_consistency" -> [(1.0, "accuracy"), ...].

    >>> parse_rewards("accuracy + 0.5 * format")
    [(1.0, 'accuracy'), (0.5, 'format')]
    """
    terms = []
    for part in expression.split("+"):
        match = _TERM.match(part)
        if not match:
            raise ValueError(f"cannot read reward term {part.strip()!r} in {expression!r} "
                             "(expected 'name' or 'weight * name' joined by '+')")
        terms.append((float(match.group(1) or 1.0), match.group(2)))
    if not terms:
        raise ValueError("rewards: empty expression")
    return terms


def reward_function(name: str) -> RewardFn:
    """A reward by name: `module:function` for a user function, else the `r1data.rewards` registry."""
    import importlib

    if ":" in name:
        module, attr = name.split(":", 1)
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"reward {name!r}: {exc}") from None
    from r1data import rewards

    try:
        return rewards.get(name)
    except KeyError as exc:
        raise ConfigError(f"unknown reward {name!r}: {exc}") from None


def prompt_path(spec: str) -> Path:
    """An existing file/folder, or a prompt file bundled in r1data/data/prompts/."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    bundled = resources.files("r1data") / "data" / "prompts" / f"{spec}.jsonl"
    if bundled.is_file():
        return Path(str(bundled))
    from r1data.io import InputError

    raise InputError(f"no such prompt file or bundled prompt set: {spec}")


def load_prompts(spec: str, rejected: Path | None) -> list[Any]:
    """Records with a gold answer; rows without one are written to `rejected` with the reason."""
    from r1data.io import InputError, RejectLog, read_records

    kept = []
    with RejectLog(rejected) as rejects:
        for record in read_records(prompt_path(spec), rejects):
            if record.gold in (None, "", []):
                rejects.add(spec, None, "no_gold: GRPO needs a gold answer", record.to_dict())
                continue
            kept.append(record)
    if not kept:
        raise InputError(f"{spec}: no prompt with a gold answer")
    return kept


def format_prompt(record: Any, template: str, tokenizer: Any) -> str:
    """The text the policy continues: R1's R1-Zero template, or the model's chat template."""
    from r1data.templates import r1_zero

    if template == "r1-zero":
        return r1_zero(record.prompt)
    messages = [m for m in record.messages if m["role"] != "assistant"] or [
        {"role": "user", "content": record.prompt}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


# --------------------------------------------------------------------------------------------
# rollout


@dataclass
class Rollouts:
    """B·G sampled outputs, row i = output i % G of prompt i // G; prompts left-padded."""

    prompt_ids: torch.Tensor  # (N, P)
    prompt_mask: torch.Tensor  # (N, P)
    completion_ids: torch.Tensor  # (N, C)
    completion_mask: torch.Tensor  # (N, C): 1 up to and including the first EOS
    texts: list[str]
    truncated: list[bool]


def completion_mask(completion_ids: torch.Tensor, eos_id: int, keep_eos: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """1 for each token up to and including the first EOS, 0 after (pad may equal EOS).

    `keep_eos[i] = False` excludes that EOS itself (it was padding after a stop string).
    """
    is_eos = completion_ids == eos_id
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), completion_ids.size(1))
    positions = torch.arange(completion_ids.size(1), device=completion_ids.device)
    end = first + 1 if keep_eos is None else first + keep_eos.long()
    return (positions.unsqueeze(0) < end.unsqueeze(1)).long()


@torch.no_grad()
def rollout_transformers(policy: Any, tokenizer: Any, prompts: list[str], template: str,
                         sampling: SamplingConfig, seed: int) -> Rollouts:
    """G samples per prompt with `policy.generate` (the colocated transformers backend)."""
    from transformers import GenerationConfig

    device = next(policy.parameters()).device
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True,
                      add_special_tokens=template == "r1-zero").to(device)
    config = GenerationConfig(
        do_sample=sampling.temperature > 0, temperature=sampling.temperature or None,
        top_p=sampling.top_p, top_k=0, max_new_tokens=sampling.max_tokens,
        num_return_sequences=sampling.n, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, stop_strings=sampling.stop or None,
    )
    torch.manual_seed(seed)
    was_training = policy.training
    policy.eval()
    out = policy.generate(**batch, generation_config=config, tokenizer=tokenizer)
    policy.train(was_training)
    n_prompt = batch["input_ids"].size(1)
    completion_ids = out[:, n_prompt:]
    if completion_ids.size(1) == 0:  # max_tokens reached nothing? keep shapes valid
        completion_ids = torch.full((out.size(0), 1), tokenizer.eos_token_id, device=device)
    eos = tokenizer.eos_token_id
    raw = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
    # An EOS right after a stop string is padding that generate wrote, not a sampled token.
    keep_eos = torch.tensor([not any(t.endswith(s) for s in sampling.stop) for t in raw],
                            device=device)
    mask = completion_mask(completion_ids, eos, keep_eos)
    lengths = mask.sum(1).tolist()
    texts = [tokenizer.decode(ids[:n], skip_special_tokens=True)
             for ids, n in zip(completion_ids.tolist(), lengths)]
    ended = (completion_ids == eos).any(1).tolist()
    # No EOS and no stop string: generation ran out of max_tokens.
    truncated = [not e and k for e, k in zip(ended, keep_eos.tolist())]
    g = sampling.n
    return Rollouts(batch["input_ids"].repeat_interleave(g, 0),
                    batch["attention_mask"].repeat_interleave(g, 0),
                    completion_ids, mask, texts, truncated)


# --------------------------------------------------------------------------------------------
# reward


def score(texts: list[str], records: list[Any], group_size: int,
          terms: list[tuple[float, str, RewardFn]]) -> tuple[torch.Tensor, dict[str, list]]:
    """Total reward per output (NaN where no function could judge it) and each component.

    Every function gets the completions and the prompt's columns, repeated per output:
    `fn(completions, prompt=[...], gold=[...], domain=[...], language=[...], id=[...])`.
    """
    rows = [r for r in records for _ in range(group_size)]
    columns = {"prompt": [r.prompt for r in rows], "gold": [r.gold for r in rows],
               "domain": [r.domain for r in rows], "language": [r.language for r in rows],
               "id": [r.id for r in rows]}
    total = torch.zeros(len(texts), dtype=torch.float64)
    judged = torch.zeros(len(texts), dtype=torch.bool)
    components = {}
    for weight, name, fn in terms:
        values = list(fn(texts, **columns))
        if len(values) != len(texts):
            raise ValueError(f"reward {name!r} returned {len(values)} values for {len(texts)} outputs")
        components[name] = values
        for i, value in enumerate(values):
            if value is not None:
                total[i] += weight * float(value)
                judged[i] = True
    total[~judged] = float("nan")
    return total, components


# --------------------------------------------------------------------------------------------
# advantage


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = ADV_EPS
                     ) -> tuple[torch.Tensor, int]:
    """A_i = (r_i - mean_group) / (std_group + eps), NaN rewards excluded and given A = 0.

    Returns the advantages and the number of groups with zero variance (A = 0 throughout).

    >>> adv, zero = group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0]), 2)
    >>> [round(a, 3) for a in adv.tolist()], zero
    ([0.707, -0.707, 0.0, 0.0], 1)
    """
    groups = rewards.view(-1, group_size).double()
    valid = ~torch.isnan(groups)
    count = valid.sum(1, keepdim=True)
    mean = torch.where(valid, groups, 0).sum(1, keepdim=True) / count.clamp(min=1)
    var = torch.where(valid, (groups - mean) ** 2, 0).sum(1, keepdim=True) / (count - 1).clamp(min=1)
    std = var.sqrt()
    adv = torch.where(valid, (groups - mean) / (std + eps), 0.0)
    zero = int((std.squeeze(1) < 1e-8).sum())
    return adv.view(-1).float(), zero


# --------------------------------------------------------------------------------------------
# loss


def token_logps(model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                completion_ids: torch.Tensor, completion_mask: torch.Tensor, temperature: float,
                with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log π(o_t | q, o_<t) for every completion token (N, C), and optionally the entropy."""
    input_ids = torch.cat([prompt_ids, completion_ids], 1)
    attention = torch.cat([prompt_mask, completion_mask], 1)
    positions = (attention.cumsum(1) - 1).clamp(min=0)
    n = completion_ids.size(1)
    logits = model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                   logits_to_keep=n + 1, use_cache=False).logits[:, :-1].float()
    if temperature not in (0, 1):
        logits = logits / temperature
    norm = logits.logsumexp(-1)
    logps = logits.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1) - norm
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = norm - (logits.softmax(-1) * logits).sum(-1)
    return logps, entropy


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor, ref_logps: torch.Tensor | None,
              advantages: torch.Tensor, mask: torch.Tensor, beta: float, epsilon: float
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """-(per-output mean over tokens of the clipped surrogate minus β·k3), one value per output.

    The caller sums these and divides by the number of outputs in the batch (the 1/G).
    """
    ratio = torch.exp(logps - old_logps)
    adv = advantages.unsqueeze(1)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    per_token = -surrogate
    kl = torch.zeros_like(logps)
    if beta:
        log_ref_over = ref_logps - logps
        kl = torch.exp(log_ref_over) - log_ref_over - 1
        per_token = per_token + beta * kl
    mask = mask.to(per_token.dtype)
    lengths = mask.sum(1).clamp(min=1)
    per_output = (per_token * mask).sum(1) / lengths
    with torch.no_grad():
        clipped = ((ratio < 1 - epsilon) & (adv < 0)) | ((ratio > 1 + epsilon) & (adv > 0))
        stats = {"kl": (kl * mask).sum(), "clipped": (clipped * mask).sum(), "tokens": mask.sum()}
    return per_output, stats


# --------------------------------------------------------------------------------------------
# the trainer: setup, step, log, checkpoints


class GRPOTrainer:
    """Holds the policy, the reference, the optimizer and the prompts; `train()` runs the loop.

    `reward_fns` maps extra reward names (as used in `config.rewards`) to functions, for callers
    that pass functions directly rather than by `module:function`.
    """

    def __init__(self, config: GRPOConfig, *, policy: Any = None, tokenizer: Any = None,
                 prompts: list[Any] | None = None, reward_fns: dict[str, RewardFn] | None = None):
        from r1data import models

        self.config = config
        self.out = Path(config.output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        random.seed(config.seed)
        torch.manual_seed(config.seed)
        self.device = models.best_device(config.device)
        if policy is None:
            policy, tokenizer = models.load_model(config.model, device=self.device, dtype=config.dtype)
        self.policy, self.tokenizer = policy.to(self.device), tokenizer
        self.terms = [(w, name, (reward_fns or {}).get(name) or reward_function(name))
                      for w, name in parse_rewards(config.rewards)]
        self.prompts = prompts if prompts is not None else load_prompts(
            config.prompts, self.out / "rejected.jsonl")
        # β = 0: the KL term vanishes and the reference model is never built.
        self.ref = None
        if config.beta:
            self.ref = copy.deepcopy(self.policy).eval().requires_grad_(False)
        if config.gradient_checkpointing:
            self.policy.gradient_checkpointing_enable()
            self.policy.config.use_cache = False
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        warmup = config.warmup_steps * config.mu * config.minibatches
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda n: min(1.0, (n + 1) / warmup) if warmup else 1.0)
        self.engine = None
        if config.deepspeed:
            self.engine = _deepspeed_engine(self.policy, self.optimizer, self.scheduler, config)
        self.vllm = None
        if config.rollout == "vllm":
            from r1data.trainers.grpo_rollout_vllm import VLLMRollout

            self.vllm = VLLMRollout(self.policy, self.tokenizer, config.sampling)
        self.step = 0
        self._resume()

    # -- data order: a fixed shuffle per epoch, so step k always sees the same prompts -------

    def batch_records(self, step: int) -> list[Any]:
        b = self.config.prompts_per_step
        per_epoch = max(1, len(self.prompts) // b)
        epoch, index = divmod(step, per_epoch)
        order = list(range(len(self.prompts)))
        random.Random(self.config.seed * 100_003 + epoch).shuffle(order)
        picked = order[index * b:(index + 1) * b]
        while len(picked) < b:  # fewer prompts than one batch: wrap around
            picked.append(order[len(picked) % len(order)])
        return [self.prompts[i] for i in picked]

    # -- one step: rollout, reward, advantage, μ × minibatches updates ------------------------

    def train_step(self) -> dict[str, Any]:
        cfg, g = self.config, self.config.sampling.n
        records = self.batch_records(self.step)
        texts = [format_prompt(r, cfg.template, self.tokenizer) for r in records]
        seed = cfg.seed * 1_000_003 + self.step

        t0 = time.perf_counter()
        if self.vllm is not None:
            rollouts = self.vllm.generate(texts, cfg.template, seed)
        else:
            rollouts = rollout_transformers(self.policy, self.tokenizer, texts, cfg.template,
                                            cfg.sampling, seed)
        t1 = time.perf_counter()
        rewards, components = score(rollouts.texts, records, g, self.terms)
        advantages, zero_groups = group_advantages(rewards, g)
        t2 = time.perf_counter()

        old_logps, ref_logps = self._fixed_logps(rollouts)
        stats = self._update(rollouts, advantages.to(self.device), old_logps, ref_logps)
        t3 = time.perf_counter()

        self.step += 1
        if self.ref is not None and cfg.ref_refresh_every and self.step % cfg.ref_refresh_every == 0:
            self.ref.load_state_dict(self.policy.state_dict())
        if self.vllm is not None:
            self.vllm.sync_weights(self.policy)
        lengths = rollouts.completion_mask.sum(1).float()
        return self._log_row(rewards, components, zero_groups, lengths, rollouts, stats,
                             (t1 - t0, t2 - t1, t3 - t2))

    @torch.no_grad()
    def _fixed_logps(self, r: Rollouts) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """π_old (only when the policy moves before the last update) and π_ref, per token."""
        cfg = self.config
        old = ref = None
        needs_old = cfg.mu * cfg.minibatches > 1
        olds, refs = [], []
        for rows in _chunks(r.completion_ids.size(0), cfg.micro_batch):
            args = (r.prompt_ids[rows], r.prompt_mask[rows], r.completion_ids[rows],
                    r.completion_mask[rows], cfg.sampling.temperature or 1.0)
            if needs_old:
                olds.append(token_logps(self.policy, *args)[0])
            if self.ref is not None:
                refs.append(token_logps(self.ref, *args)[0])
        if olds:
            old = torch.cat(olds)
        if refs:
            ref = torch.cat(refs)
        return old, ref

    def _update(self, r: Rollouts, advantages: torch.Tensor, old_logps: torch.Tensor | None,
                ref_logps: torch.Tensor | None) -> dict[str, float]:
        cfg = self.config
        n = r.completion_ids.size(0)
        per_mini = n // cfg.minibatches
        totals = {"loss": 0.0, "kl": 0.0, "clipped": 0.0, "tokens": 0.0, "entropy": 0.0,
                  "grad_norm": 0.0, "updates": 0}
        model = self.engine or self.policy
        self.policy.train()
        for _ in range(cfg.mu):
            for m in range(cfg.minibatches):
                mini = range(m * per_mini, (m + 1) * per_mini)
                for rows in _chunks(per_mini, cfg.micro_batch, offset=mini.start):
                    logps, entropy = token_logps(
                        model, r.prompt_ids[rows], r.prompt_mask[rows], r.completion_ids[rows],
                        r.completion_mask[rows], cfg.sampling.temperature or 1.0, with_entropy=True)
                    old = logps.detach() if old_logps is None else old_logps[rows]
                    ref = None if ref_logps is None else ref_logps[rows]
                    per_output, s = grpo_loss(logps, old, ref, advantages[rows],
                                              r.completion_mask[rows], cfg.beta, cfg.epsilon)
                    loss = per_output.sum() / per_mini
                    self._backward(loss)
                    mask = r.completion_mask[rows]
                    totals["loss"] += loss.item()
                    totals["entropy"] += float((entropy * mask).sum())
                    for key in ("kl", "clipped", "tokens"):
                        totals[key] += float(s[key])
                totals["grad_norm"] += self._optimizer_step()
                totals["updates"] += 1
        updates = totals["updates"]
        tokens = max(totals["tokens"], 1.0)
        return {"loss": totals["loss"] / updates, "kl": totals["kl"] / tokens,
                "clip_fraction": totals["clipped"] / tokens, "entropy": totals["entropy"] / tokens,
                "grad_norm": totals["grad_norm"] / updates, "update_tokens": totals["tokens"]}

    def _backward(self, loss: torch.Tensor) -> None:
        if self.engine is not None:
            self.engine.backward(loss)
        else:
            loss.backward()

    def _optimizer_step(self) -> float:
        if self.engine is not None:
            self.engine.step()
            return float(self.engine.get_global_grad_norm() or 0.0)
        norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    # -- log -----------------------------------------------------------------------------------

    def _log_row(self, rewards, components, zero_groups, lengths, rollouts, stats, times):
        rollout_s, reward_s, update_s = times
        judged = rewards[~torch.isnan(rewards)]
        row: dict[str, Any] = {
            "step": self.step, "epoch": self.step * self.config.prompts_per_step / len(self.prompts),
            "lr": self.scheduler.get_last_lr()[0], "loss": stats["loss"],
            "reward": float(judged.mean()) if judged.numel() else None,
            "reward_std": float(judged.std()) if judged.numel() > 1 else 0.0,
        }
        for name, values in components.items():
            known = [float(v) for v in values if v is not None]
            row[f"reward/{name}"] = sum(known) / len(known) if known else None
        if "accuracy" in components:
            row["accuracy"] = row["reward/accuracy"]
        generated = float(lengths.sum())
        row.update({
            "completion_length": float(lengths.mean()), "completion_length_max": float(lengths.max()),
            "truncated": sum(rollouts.truncated) / len(rollouts.truncated),
            "kl": stats["kl"], "clip_fraction": stats["clip_fraction"], "entropy": stats["entropy"],
            "zero_variance_groups": zero_groups, "unscored": int(torch.isnan(rewards).sum()),
            "grad_norm": stats["grad_norm"],
            "time/rollout": rollout_s, "time/reward": reward_s, "time/update": update_s,
            "time/step": rollout_s + reward_s + update_s,
            "tokens_per_s/rollout": generated / max(rollout_s, 1e-9),
            "tokens_per_s/update": stats["update_tokens"] / max(update_s, 1e-9),
        })
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        return row

    # -- checkpoints and resume ----------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """`checkpoint-<step>/`: model, tokenizer, optimizer, scheduler, reference (when it was
        refreshed) and RNG states; written to a temp folder and renamed, so a crash never leaves
        half a checkpoint."""
        final = self.out / f"checkpoint-{self.step:06d}"
        tmp = self.out / f".tmp-checkpoint-{self.step:06d}"
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        self.policy.save_pretrained(tmp)
        self.tokenizer.save_pretrained(tmp)
        state = {"step": self.step, "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "torch_rng": torch.get_rng_state()}
        torch.save(state, tmp / "trainer_state.pt")
        if self.ref is not None and self.config.ref_refresh_every:
            torch.save(self.ref.state_dict(), tmp / "reference.pt")
        os.replace(tmp, final)
        return final

    def _resume(self) -> None:
        """Continue from the newest complete checkpoint; log lines past it are dropped so the log
        has each step once."""
        checkpoints = sorted(self.out.glob("checkpoint-*"))
        if not checkpoints:
            return
        from transformers import AutoModelForCausalLM

        last = checkpoints[-1]
        loaded = AutoModelForCausalLM.from_pretrained(last, dtype=next(self.policy.parameters()).dtype)
        self.policy.load_state_dict(loaded.state_dict())
        state = torch.load(last / "trainer_state.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if (last / "reference.pt").exists() and self.ref is not None:
            self.ref.load_state_dict(torch.load(last / "reference.pt"))
        self.step = state["step"]
        log = self.out / "log.jsonl"
        if log.exists():
            rows = [line for line in log.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line)["step"] <= self.step]
            log.write_text("".join(line + "\n" for line in rows), encoding="utf-8")

    def save_final(self) -> Path:
        """The trained model at the top of `output_dir`, loadable by `r1data generate`/`eval`."""
        from transformers import GenerationConfig

        self.policy.save_pretrained(self.out)
        self.tokenizer.save_pretrained(self.out)
        s = self.config.sampling
        GenerationConfig(do_sample=True, temperature=s.temperature, top_p=s.top_p,
                         eos_token_id=self.tokenizer.eos_token_id,
                         pad_token_id=self.tokenizer.pad_token_id).save_pretrained(self.out)
        return self.out

    # -- the loop ------------------------------------------------------------------------------

    def train(self, on_step: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        rows = []
        while self.step < self.config.max_steps:
            row = self.train_step()
            rows.append(row)
            if on_step:
                on_step(row)
            if self.config.save_every and self.step % self.config.save_every == 0:
                self.save_checkpoint()
        self.save_final()
        return rows


def _chunks(n: int, size: int, offset: int = 0):
    for start in range(0, n, size):
        yield slice(offset + start, offset + min(start + size, n))


def _deepspeed_engine(policy, optimizer, scheduler, config: GRPOConfig):
    """ZeRO-2/3 for policies too large for one device's memory: DeepSpeed owns the optimizer
    step, the gradient clipping (from its JSON config) and the sharding."""
    import deepspeed

    ds_config = json.loads(Path(config.deepspeed).read_text(encoding="utf-8"))
    ds_config.setdefault("train_micro_batch_size_per_gpu", config.micro_batch)
    ds_config.setdefault("gradient_clipping", config.grad_clip)
    engine, *_ = deepspeed.initialize(model=policy, optimizer=optimizer, lr_scheduler=scheduler,
                                      config=ds_config)
    return engine
