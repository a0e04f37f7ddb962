"""The optimiser side of training, shared by SFT, GRPO and the reward-model trainer: AdamW with
no weight decay on biases and norms, the warmup-then-cosine learning-rate schedule
(`cosine_lr`, constant when `min_lr_ratio` is 1), and global gradient-norm clipping. DeepSpeed
receives these same optimiser and scheduler objects, so one schedule serves both paths.
"""

from __future__ import annotations

import math

import torch

from r1data.trainers.config import OptimConfig


def cosine_lr(step: int, total_steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """The lr multiplier at optimizer step `step` (0-based).

    >>> cosine_lr(0, 100, 10, 0.1), cosine_lr(10, 100, 10, 0.1), round(cosine_lr(100, 100, 10, 0.1), 6)
    (0.1, 1.0, 0.1)
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """AdamW; biases and 1-D weights (norms) get no weight decay, as is standard for LMs."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": optim.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel exists on CUDA only; foreach is the fast path on CPU.
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps,
                             fused=fused or None, foreach=None if fused else True)


def make_scheduler(optimizer: torch.optim.Optimizer, optim: OptimConfig, total_steps: int):
    warmup = int(round(optim.warmup_ratio * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_lr(step, total_steps, warmup, optim.min_lr_ratio))


def clip_grad_norm(model: torch.nn.Module, max_norm: float) -> float:
    """Clip (when max_norm > 0) and return the global gradient norm before clipping."""
    params = [p for p in model.parameters() if p.grad is not None]
    limit = max_norm if max_norm > 0 else float("inf")
    return float(torch.nn.utils.clip_grad_norm_(params, limit))
