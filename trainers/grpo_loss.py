"""The GRPO objective and its post-R1 variants, with TRL 1.16's names and meanings.

`LossConfig` holds the options a user chooses between (`loss_type`, `epsilon_high`,
`scale_rewards`, `importance_sampling_level`, `mask_truncated_completions`); `beta` and `epsilon`
stay in `GRPOConfig` beside them, as in every GRPO recipe. `group_advantages` turns rewards
into advantages, `grpo_loss` gives each output's share of the loss and `loss_denominator` the
number its minibatch is divided by. `loss_type: grpo` with the defaults is DeepSeekMath's loss,
bit for bit the loss this trainer had before the variants.

Where r1data differs from TRL, on purpose (tests/trainers/test_grpo_trl_variants.py shows each):
- dapo/cispo with several minibatches: TRL divides every minibatch by the rollout batch's token
  count / minibatches (an average); here each minibatch is divided by its own token count over
  all ranks, as DAPO's token-level mean says, so a minibatch with long outputs takes no larger a
  step than one with short outputs. One minibatch: identical.
- bnpo: TRL divides each micro-batch by its own token count, so its loss changes with the
  micro-batch size, a memory setting; here the unit is each rank's minibatch. Equal to TRL when
  a rank's minibatch is one micro-batch.
- cispo needs `epsilon_high` set (TRL would silently cap the weight at `epsilon`, e.g. 0.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ADV_EPS = 1e-4
LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "bnpo", "cispo")


@dataclass
class LossConfig:
    """The objective (TRL 1.16's `GRPOConfig` keys, one-to-one; a recipe's `loss:` block).

    loss_type: how token losses are clipped and averaged (formulas in `grpo_loss`):
        grpo (DeepSeekMath: per-output mean, then mean over outputs), dapo (mean over all tokens
        of the minibatch), dr_grpo (sum divided by outputs × max_tokens, a constant), bnpo (mean
        over each rank's tokens), cispo (MiniMax-M1: a clipped, detached importance weight on
        the log-prob, averaged as dapo).
    epsilon_high: upper clip of the ratio at 1 + epsilon_high (DAPO's clip-higher; None: =
        epsilon); for cispo the cap on the weight itself (TRL and ScaleRL suggest 5.0).
    scale_rewards: divide advantages by the group's reward std ("group", DeepSeekMath), the
        whole batch's ("batch") or not at all ("none", Dr. GRPO).
    importance_sampling_level: one ratio per token ("token") or per output ("sequence", GSPO:
        exp of the mean token log-ratio).
    mask_truncated_completions: outputs that hit max_tokens take no part in the loss (DAPO's
        overlong filtering); they still count in their group's advantages.
    """

    loss_type: str = "grpo"
    epsilon_high: float | None = None
    scale_rewards: str = "group"
    importance_sampling_level: str = "token"
    mask_truncated_completions: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (("loss_type", LOSS_TYPES), ("scale_rewards", ("group", "batch", "none")),
                              ("importance_sampling_level", ("token", "sequence"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if self.epsilon_high is not None and self.epsilon_high <= 0:
            raise ValueError("epsilon_high must be > 0")
        if self.loss_type == "cispo" and self.epsilon_high is None:
            raise ValueError("loss_type cispo caps the importance weight at epsilon_high: set it "
                             "(e.g. 5.0); the default, epsilon, would cap it below 1")


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = ADV_EPS,
                     scale: str = "group", batch_std: float | None = None) -> tuple[torch.Tensor, int]:
    """A_i = (r_i - mean_group) / (std + eps), NaN rewards excluded and given A = 0.

    std is the group's unbiased std (scale "group"), `batch_std` (scale "batch": the unbiased
    std of every judged reward of the step over all ranks, `reward_std`), or no division at all
    (scale "none"). Returns the advantages and the number of groups with zero variance.

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
    if scale == "batch" and batch_std is None:
        raise ValueError("scale_rewards 'batch' needs batch_std, the std over the whole batch")
    divisor = {"group": std + eps, "none": 1.0, "batch": (batch_std or 0.0) + eps}[scale]
    adv = torch.where(valid, (groups - mean) / divisor, 0.0)
    zero = int((std.squeeze(1) < 1e-8).sum())
    return adv.view(-1).float(), zero


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor, ref_logps: torch.Tensor | None,
              advantages: torch.Tensor, mask: torch.Tensor, beta: float, epsilon: float,
              loss: LossConfig | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Each output's share of the loss: Σ of its rows over a minibatch / `loss_denominator`.

    Per token t of output i (A_i its advantage, D the k3 KL to π_ref, sg stop-gradient):
        ratio  ρ_it = π_θ / π_old                        (importance_sampling_level token)
               ρ_i  = exp(1/|o_i| Σ_t log(π_θ / π_old))  (sequence, GSPO: one per output)
        grpo, dapo, dr_grpo, bnpo:
               ℓ_it = -min(ρ A_i, clip(ρ, 1 - ε, 1 + ε_high) A_i) + β D_it
        cispo: ℓ_it = -sg(min(ρ, ε_high)) A_i log π_θ(o_it) + β D_it
        D_it = π_ref/π_θ - log(π_ref/π_θ) - 1
    Returned per output: grpo 1/|o_i| Σ_t ℓ_it; the others Σ_t ℓ_it. Over a minibatch of N
    outputs and T tokens (both over all ranks), L = max_tokens, T_r a rank's own tokens:
        grpo   1/N Σ_i 1/|o_i| Σ_t ℓ_it      dapo, cispo   1/T Σ_i Σ_t ℓ_it
        dr_grpo 1/(N·L) Σ_i Σ_t ℓ_it          bnpo   mean over ranks r of 1/T_r Σ_{i∈r} Σ_t ℓ_it
    """
    loss = loss or LossConfig()
    eps_high = epsilon if loss.epsilon_high is None else loss.epsilon_high
    mask = mask.to(logps.dtype)
    log_ratio = logps - old_logps
    if loss.importance_sampling_level == "sequence":
        log_ratio = ((log_ratio * mask).sum(1) / mask.sum(1).clamp(min=1)).unsqueeze(1)
    ratio = torch.exp(log_ratio)
    adv = advantages.unsqueeze(1)
    if loss.loss_type == "cispo":
        per_token = -torch.clamp(ratio, max=eps_high).detach() * adv * logps
        clipped = (ratio > eps_high) & (adv > 0)
    else:
        per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + eps_high) * adv)
        clipped = ((ratio < 1 - epsilon) & (adv < 0)) | ((ratio > 1 + eps_high) & (adv > 0))
    kl = torch.zeros_like(logps)
    if beta:
        log_ref_over = ref_logps - logps
        kl = torch.exp(log_ref_over) - log_ref_over - 1
        per_token = per_token + beta * kl
    per_output = (per_token * mask).sum(1)
    if loss.loss_type == "grpo":
        per_output = per_output / mask.sum(1).clamp(min=1)
    with torch.no_grad():
        stats = {"kl": (kl * mask).sum(), "clipped": (clipped * mask).sum(), "tokens": mask.sum()}
    return per_output, stats


def loss_denominator(loss_type: str, outputs: int, tokens: float, rank_tokens: float,
                     max_tokens: int, world_size: int) -> float:
    """What a minibatch's summed `grpo_loss` rows are divided by: `outputs` and `tokens` count
    the minibatch over all ranks, `rank_tokens` this rank's part (see `grpo_loss`).

    >>> loss_denominator("dr_grpo", outputs=8, tokens=100, rank_tokens=60, max_tokens=32, world_size=2)
    256
    """
    return {"grpo": outputs, "dapo": max(tokens, 1.0), "cispo": max(tokens, 1.0),
            "dr_grpo": outputs * max_tokens, "bnpo": max(rank_tokens, 1.0) * world_size}[loss_type]
