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
Outputs in `output.dir`: `final/` (the trained model, loads in `r1data generate`/`eval`),
`checkpoints/step-N/`, `rejected.jsonl` (prompts without gold) and `log.jsonl`.
Log keys (one JSON object per step in `log.jsonl`, plotted by `r1data report`):
    step, time (unix seconds), epoch, lr, loss, reward, reward_std, reward/<name> (mean of
    each component), accuracy (mean of the `accuracy` component when configured), completion_length,
    completion_length_max, truncated (fraction that hit max_tokens), kl, clip_fraction, entropy,
    zero_variance_groups, unscored, grad_norm, time/rollout, time/reward, time/update, time/step,
    tokens_per_s/rollout (completion tokens sampled per second), tokens_per_s/update
    (completion tokens through the loss per second, all μ passes).
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import torch

from r1data.backends.base import SamplingConfig
from r1data.config import to_dict
from r1data.errors import ConfigError
from r1data.rewards import parse_terms
from r1data.trainers import common
from r1data.trainers.common import OptimConfig, OutputConfig, RuntimeConfig
from r1data.verifiers.code import isolation_used

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
        bundled prompt file (`gsm8k_train_1k`). Rows without gold are written aside.
    template: "r1-zero" (R1's plain-text template) or "chat" (the tokenizer's chat template).
    rewards: weighted sum of reward functions: "accuracy + format_r1_zero" (R1-Zero), "accuracy
        + format + 0.1 * language_consistency"; a name is looked up in the `r1data.rewards`
        registry, or is `module:function` for a user function with the same signature.
    # rollout
    sampling: rollout sampling; `n` is G (outputs per prompt), `max_tokens` the completion cap,
        `stop` extra stop strings (e.g. "</answer>" for the R1-Zero template).
    prompts_per_step: B, prompts per rollout batch (B·G outputs per step).
    rollout: "transformers" (policy.generate, CPU or GPU) or "vllm" (colocated, GPU only).
    # GRPO
    beta: KL coefficient (0 skips the reference model).
    epsilon: clip range of the ratio.
    mu: passes over each batch of rollouts (μ).
    minibatches: optimizer steps per pass (the rollout batch split into this many parts).
    micro_batch: sequences per forward/backward (gradient accumulation inside a minibatch).
    ref_refresh_every: copy the policy into the reference every N steps (0: never).
    max_steps: rollout steps to train (each makes mu × minibatches optimizer steps).
    resume: continue from the newest checkpoint in `output.dir` when there is one.
    optim / runtime / output: shared with SFT (`trainers/common.py`); the GRPO default is a
        constant lr of 3e-6 (R1-Zero), no warmup.
    """

    # model and data
    model: str = "smollm2-135m"
    prompts: str = "gsm8k_train_1k"
    template: str = "r1-zero"
    rewards: str = "accuracy + format_r1_zero"
    # rollout
    sampling: SamplingConfig = field(default_factory=_rollout_defaults)
    prompts_per_step: int = 4
    rollout: str = "transformers"
    # GRPO
    beta: float = 0.001
    epsilon: float = 0.2
    mu: int = 1
    minibatches: int = 1
    micro_batch: int = 8
    ref_refresh_every: int = 0
    max_steps: int = 100
    resume: bool = True
    # shared with SFT
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        lr=3e-6, min_lr_ratio=1.0, warmup_ratio=0.0))
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(dir="runs/grpo",
                                                                      save_every=50))

    def __post_init__(self) -> None:
        if self.template not in ("r1-zero", "chat"):
            raise ValueError(f"template must be 'r1-zero' or 'chat', got {self.template!r}")
        if self.rollout not in ("transformers", "vllm"):
            raise ValueError(f"rollout must be 'transformers' or 'vllm', got {self.rollout!r}")
        if self.sampling.n < 2:
            raise ValueError("sampling.n (G) must be at least 2: advantages compare outputs in a group")
        if self.sampling.temperature <= 0:
            raise ValueError("sampling.temperature must be > 0: GRPO learns from sampled outputs")
        for name in ("prompts_per_step", "mu", "minibatches", "micro_batch", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if (self.prompts_per_step * self.sampling.n) % self.minibatches:
            raise ValueError("prompts_per_step * sampling.n must be divisible by minibatches")
        if self.beta < 0 or self.epsilon <= 0 or self.ref_refresh_every < 0:
            raise ValueError("beta and ref_refresh_every must be >= 0, epsilon > 0")
        parse_rewards(self.rewards)  # a malformed expression fails here, not after model loading


# --------------------------------------------------------------------------------------------
# setup: rewards, prompts, models


def parse_rewards(expression: str) -> list[tuple[float, str]]:
    """"accuracy + format + 0.1 * language_consistency" -> [(1.0, "accuracy"), ...].

    A name may be `module:function` or a function the caller passes in, so names are resolved
    after parsing (`reward_function`), not during as `r1data.rewards.parse_weights` does.
    """
    terms = parse_terms(expression)
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
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True,
                      add_special_tokens=template == "r1-zero").to(device)
    tokenizer.padding_side = side
    config = GenerationConfig(
        do_sample=True, temperature=sampling.temperature,
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
    `fn(completions, prompt=[...], gold=[...], domain=[...], language=[...], metadata=[...],
    id=[...])` (the `r1data.rewards` signature).
    """
    rows = [r for r in records for _ in range(group_size)]
    columns = {"prompt": [r.prompt for r in rows], "gold": [r.gold for r in rows],
               "domain": [r.domain for r in rows], "language": [r.language for r in rows],
               "metadata": [r.metadata for r in rows], "id": [r.id for r in rows]}
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

    `policy`/`tokenizer`/`prompts` may be given (tests pass a tiny model); otherwise they are
    loaded from the config. `reward_fns` maps reward names used in `config.rewards` to
    functions, for callers that pass functions rather than `module:function` names.
    GRPO runs in one process: a group's statistics need all its outputs in one place, and
    multi-rank rollouts are not implemented (DeepSpeed ZeRO still shards optimizer states and,
    with offload, parameters to CPU memory).
    """

    def __init__(self, config: GRPOConfig, *, policy: Any = None, tokenizer: Any = None,
                 prompts: list[Any] | None = None, reward_fns: dict[str, RewardFn] | None = None):
        from r1data.models import load_tokenizer, resolve

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError("r1data train grpo runs in one process (no torchrun/multi-rank)")
        self.config, rt = config, config.runtime
        self.out = Path(config.output.dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.dist = common.Dist()
        self.device, self.dtype = common.setup_device(rt)
        common.seed_everything(rt.seed)

        # -- models: fp32 master weights (lr 3e-6 steps vanish in bf16); bf16 via autocast
        if policy is None:
            from transformers import AutoModelForCausalLM

            policy = AutoModelForCausalLM.from_pretrained(resolve(config.model), dtype=torch.float32)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config.model)
        self.policy = policy.to(self.device)
        # β = 0: the KL term vanishes and the reference model is never built.
        self.ref = None
        if config.beta:
            self.ref = copy.deepcopy(self.policy).to(self.dtype).eval().requires_grad_(False)
        if rt.gradient_checkpointing:
            self.policy.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})

        # -- rewards and prompts
        self.terms = [(w, name, (reward_fns or {}).get(name) or reward_function(name))
                      for w, name in parse_rewards(config.rewards)]
        self.prompts = prompts if prompts is not None else load_prompts(
            config.prompts, self.out / "rejected.jsonl")

        # -- optimizer, schedule, DeepSpeed engine
        self.updates_per_step = config.mu * config.minibatches
        total = config.max_steps * self.updates_per_step
        self.optimizer = common.make_optimizer(self.policy, config.optim)
        self.scheduler = common.make_scheduler(self.optimizer, config.optim, total)
        self.engine = None
        if rt.zero_stage > 0:
            n = config.prompts_per_step * config.sampling.n // config.minibatches
            self.grad_accum = math.ceil(n / config.micro_batch)
            ds = common.deepspeed_config(rt, config.optim, micro_batch=config.micro_batch,
                                         grad_accum=self.grad_accum, dtype=self.dtype)
            self.engine = common.init_deepspeed(self.policy, self.optimizer, self.scheduler, ds)
        self.trainee = self.engine or self.policy
        self.autocast = torch.autocast(self.device.split(":")[0], dtype=self.dtype,
                                       enabled=self.dtype != torch.float32 and self.engine is None)
        self.vllm = None
        if config.rollout == "vllm":
            from r1data.trainers.grpo_rollout_vllm import VLLMRollout

            self.vllm = VLLMRollout(self.policy, self.tokenizer, config.sampling)

        self.step = 0
        if config.resume:
            self._resume()

    # -- data order: a fixed shuffle per epoch, so step k always sees the same prompts -------

    def batch_records(self, step: int) -> list[Any]:
        b = self.config.prompts_per_step
        per_epoch = max(1, len(self.prompts) // b)
        epoch, index = divmod(step, per_epoch)
        order = list(range(len(self.prompts)))
        random.Random(self.config.runtime.seed * 100_003 + epoch).shuffle(order)
        picked = order[index * b:(index + 1) * b]
        while len(picked) < b:  # fewer prompts than one batch: wrap around
            picked.append(order[len(picked) % len(order)])
        return [self.prompts[i] for i in picked]

    # -- one step: rollout, reward, advantage, μ × minibatches updates ------------------------

    def train_step(self) -> dict[str, Any]:
        cfg, g = self.config, self.config.sampling.n
        records = self.batch_records(self.step)
        texts = [format_prompt(r, cfg.template, self.tokenizer) for r in records]
        seed = cfg.runtime.seed * 1_000_003 + self.step  # rollouts reproducible per step (resume)

        t0 = time.perf_counter()
        with self.autocast:
            if self.vllm is not None:
                rollouts = self.vllm.generate(texts, cfg.template, seed)
            else:
                rollouts = rollout_transformers(self.policy, self.tokenizer, texts, cfg.template,
                                                cfg.sampling, seed)
        t1 = time.perf_counter()
        rewards, components = score(rollouts.texts, records, g, self.terms)
        advantages, zero_groups = group_advantages(rewards, g)
        t2 = time.perf_counter()
        with self.autocast:
            old_logps, ref_logps = self._fixed_logps(rollouts)
            stats = self._update(rollouts, advantages.to(self.device), old_logps, ref_logps)
        t3 = time.perf_counter()

        self.step += 1
        if self.ref is not None and cfg.ref_refresh_every and self.step % cfg.ref_refresh_every == 0:
            self.ref.load_state_dict(self.policy.state_dict())
        if self.vllm is not None:
            self.vllm.sync_weights(self.policy)
        return self._metrics(rewards, components, zero_groups, rollouts, stats,
                             (t1 - t0, t2 - t1, t3 - t2))

    @torch.no_grad()
    def _fixed_logps(self, r: Rollouts) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """π_old (only when the policy moves before the last update) and π_ref, per token."""
        cfg = self.config
        needs_old = self.updates_per_step > 1
        olds, refs = [], []
        for rows in _chunks(r.completion_ids.size(0), cfg.micro_batch):
            args = (r.prompt_ids[rows], r.prompt_mask[rows], r.completion_ids[rows],
                    r.completion_mask[rows], cfg.sampling.temperature)
            if needs_old:
                olds.append(token_logps(self.trainee, *args)[0])
            if self.ref is not None:
                refs.append(token_logps(self.ref, *args)[0])
        return (torch.cat(olds) if olds else None), (torch.cat(refs) if refs else None)

    def _update(self, r: Rollouts, advantages: torch.Tensor, old_logps: torch.Tensor | None,
                ref_logps: torch.Tensor | None) -> dict[str, float]:
        cfg = self.config
        per_mini = r.completion_ids.size(0) // cfg.minibatches
        sums = dict.fromkeys(("loss", "kl", "clipped", "tokens", "entropy", "grad_norm"), 0.0)
        self.policy.train()
        for _ in range(cfg.mu):
            for m in range(cfg.minibatches):
                for rows in _chunks(per_mini, cfg.micro_batch, offset=m * per_mini):
                    mask = r.completion_mask[rows]
                    logps, entropy = token_logps(
                        self.trainee, r.prompt_ids[rows], r.prompt_mask[rows],
                        r.completion_ids[rows], mask, cfg.sampling.temperature,
                        with_entropy=True)
                    old = logps.detach() if old_logps is None else old_logps[rows]
                    ref = None if ref_logps is None else ref_logps[rows]
                    per_output, s = grpo_loss(logps, old, ref, advantages[rows], mask,
                                              cfg.beta, cfg.epsilon)
                    loss = per_output.sum() / per_mini  # the 1/G (1/B·G) of the objective
                    self._backward(loss)
                    sums["loss"] += loss.item()
                    sums["entropy"] += float((entropy * mask).sum())
                    for key in ("kl", "clipped", "tokens"):
                        sums[key] += float(s[key])
                sums["grad_norm"] += self._optimizer_step()
        updates, tokens = self.updates_per_step, max(sums["tokens"], 1.0)
        return {"loss": sums["loss"] / updates, "kl": sums["kl"] / tokens,
                "clip_fraction": sums["clipped"] / tokens, "entropy": sums["entropy"] / tokens,
                "grad_norm": sums["grad_norm"] / updates, "update_tokens": sums["tokens"]}

    def _backward(self, loss: torch.Tensor) -> None:
        if self.engine is None:
            loss.backward()
            return
        # DeepSpeed divides by its gradient_accumulation_steps: undo it, the loss is already
        # normalised by the minibatch's output count; it steps at the accumulation boundary.
        self.engine.backward(loss * self.grad_accum)
        self.engine.step()

    def _optimizer_step(self) -> float:
        if self.engine is not None:
            return float(self.engine.get_global_grad_norm() or 0.0)
        norm = common.clip_grad_norm(self.policy, self.config.optim.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    # -- log -----------------------------------------------------------------------------------

    def _metrics(self, rewards, components, zero_groups, rollouts, stats, times) -> dict[str, Any]:
        rollout_s, reward_s, update_s = times
        judged = rewards[~torch.isnan(rewards)]
        lengths = rollouts.completion_mask.sum(1).float()
        row: dict[str, Any] = {
            "epoch": self.step * self.config.prompts_per_step / len(self.prompts),
            "lr": self.scheduler.get_last_lr()[0], "loss": stats["loss"],
            "reward": float(judged.mean()) if judged.numel() else None,
            "reward_std": float(judged.std()) if judged.numel() > 1 else 0.0,
        }
        for name, values in components.items():
            known = [float(v) for v in values if v is not None]
            row[f"reward/{name}"] = sum(known) / len(known) if known else None
        if "accuracy" in components:
            row["accuracy"] = row["reward/accuracy"]
        row.update({
            "completion_length": float(lengths.mean()), "completion_length_max": float(lengths.max()),
            "truncated": sum(rollouts.truncated) / len(rollouts.truncated),
            "kl": stats["kl"], "clip_fraction": stats["clip_fraction"], "entropy": stats["entropy"],
            "zero_variance_groups": zero_groups, "unscored": int(torch.isnan(rewards).sum()),
            "grad_norm": stats["grad_norm"],
            "time/rollout": rollout_s, "time/reward": reward_s, "time/update": update_s,
            "time/step": rollout_s + reward_s + update_s,
            "tokens_per_s/rollout": float(lengths.sum()) / max(rollout_s, 1e-9),
            "tokens_per_s/update": stats["update_tokens"] / max(update_s, 1e-9),
        })
        return row

    # -- checkpoints and resume ----------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """`checkpoints/step-N/` via the shared writer (weights, optimizer, scheduler, RNG), plus
        the reference model when it is refreshed (otherwise it is the initial policy)."""
        path = common.save_checkpoint(self.out, self.step, self.trainee, self.optimizer,
                                      self.scheduler, {"prompts": len(self.prompts)}, self.dist,
                                      self.config.output.keep_checkpoints)
        if self.ref is not None and self.config.ref_refresh_every:
            torch.save(self.ref.state_dict(), path / "reference.pt")
        return path

    def _resume(self) -> None:
        """Continue from the newest complete checkpoint. The data order and the rollout seeds
        derive from the step, so the resumed run repeats exactly what the lost steps did."""
        found = common.checkpoint_dirs(self.out)
        if not found:
            return
        latest = found[-1]
        self.step = common.load_checkpoint(latest, self.trainee, self.optimizer, self.scheduler,
                                           self.dist)["step"]
        if self.ref is not None and self.config.ref_refresh_every:
            if (latest / "reference.pt").exists():
                self.ref.load_state_dict(torch.load(latest / "reference.pt", map_location=self.device))
            else:  # crashed between the two writes: refresh now, and say so
                print(f"[r1data] {latest} has no reference.pt: reference refreshed at resume")
                self.ref.load_state_dict(self.policy.state_dict())
        # Log lines written after this checkpoint belong to steps that run again.
        log = self.out / common.LOG_FILE
        if log.exists():
            kept = [line for line in log.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line)["step"] <= self.step]
            log.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        print(f"[r1data] resuming from {latest} (step {self.step} of {self.config.max_steps})")

    # -- the loop ------------------------------------------------------------------------------

    def train(self, on_step: Callable[[int, dict[str, Any]], None] | None = None) -> GRPOResult:
        """Run to `max_steps`, checkpointing every `output.save_every` steps; save the model."""
        cfg = self.config
        logger = common.TrainLogger(cfg.output, cfg.max_steps, self.dist, self.step,
                                    config=to_dict(cfg))
        try:
            while self.step < cfg.max_steps:
                metrics = self.train_step()
                if self.step == 1 and isolation_used():  # code rewards ran
                    print(f"[r1data] code rewards run in the {isolation_used()} sandbox")
                logger.log(self.step, metrics)
                if on_step is not None:
                    on_step(self.step, metrics)
                if cfg.output.save_every and self.step % cfg.output.save_every == 0 \
                        and self.step < cfg.max_steps:
                    self.save_checkpoint()
        finally:
            logger.close()
        state = common.full_state_dict(self.trainee)
        model_dir = common.save_final_model(self.policy, self.tokenizer, self.out, self.dist,
                                            dtype=self.dtype, state_dict=state)
        return GRPOResult(model_dir, logger.history, len(self.prompts), self.step)


@dataclass
class GRPOResult:
    """What a run produced: the final model folder (`<output.dir>/final`) and per-step metrics."""

    model_dir: Path | None
    history: list[dict[str, Any]]
    prompts: int
    steps: int


def _chunks(n: int, size: int, offset: int = 0):
    for start in range(0, n, size):
        yield slice(offset + start, offset + min(start + size, n))
