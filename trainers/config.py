"""The settings SFT and GRPO share, as small validated dataclasses: the optimiser and its
schedule (`OptimConfig`), where and how the run executes (`RuntimeConfig`: device, dtype, seed,
gradient checkpointing, ZeRO stage) and where its results go (`OutputConfig`). A recipe's
`optim:`, `runtime:` and `output:` blocks map onto them one-to-one; each `__post_init__` rejects
bad values with a message naming the key. No behaviour lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OptimConfig:
    """AdamW with a cosine schedule: linear warmup to `lr`, cosine decay to `lr * min_lr_ratio`.

    lr: peak learning rate.
    min_lr_ratio: final lr as a fraction of `lr` (0.1 = decay to a tenth, 0 = to zero).
    warmup_ratio: fraction of the optimizer steps spent warming up linearly from 0.
    weight_decay: AdamW decoupled weight decay (never applied to biases and norm weights).
    betas / eps: AdamW moments.
    max_grad_norm: clip the global gradient norm to this (0 = no clipping).
    """

    lr: float = 1e-5
    min_lr_ratio: float = 0.1
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError("optim.lr must be > 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("optim.min_lr_ratio must be in [0, 1]")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError("optim.warmup_ratio must be in [0, 1)")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError("optim.betas must be two numbers in [0, 1)")
        if self.max_grad_norm < 0:
            raise ValueError("optim.max_grad_norm must be >= 0")


@dataclass
class RuntimeConfig:
    """Where and how the training runs.

    device: "auto" (cuda when available, else cpu), "cpu", "cuda", "cuda:1".
    dtype: "auto" (bf16 on GPUs that have it, fp32 on CPU), "bf16", "fp16", "fp32".
    seed: seeds python, numpy and torch; the data order derives from it too.
    gradient_checkpointing: recompute activations in backward (less memory, ~30% slower).
    zero_stage: 0 = plain torch; 2 or 3 = DeepSpeed ZeRO (launch with `deepspeed`).
    offload: with ZeRO, keep optimizer states (and with ZeRO-3 parameters) in CPU memory.
    deepspeed_config: a DeepSpeed JSON file used instead of the generated config ("auto"
        values in it are filled from these dataclasses, as the trainers/ JSON files use).
    """

    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    gradient_checkpointing: bool = False
    zero_stage: int = 0
    offload: bool = False
    deepspeed_config: str | None = None

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError("runtime.dtype must be auto, bf16, fp16 or fp32")
        if self.zero_stage not in (0, 2, 3):
            raise ValueError("runtime.zero_stage must be 0 (plain torch), 2 or 3")
        if self.offload and self.zero_stage == 0:
            raise ValueError("runtime.offload needs zero_stage 2 or 3")


@dataclass
class OutputConfig:
    """Where results go and how often.

    dir: output folder: `final/` (the model), `checkpoints/step-N/`, `log.jsonl`.
    log_every: write a log line every N optimizer steps.
    save_every: checkpoint every N optimizer steps (0 = only the final model).
    keep_checkpoints: how many recent checkpoints to keep (older ones are deleted).
    report_to: extra loggers if installed: "tensorboard", "wandb".
    """

    dir: str = "runs/sft"
    log_every: int = 1
    save_every: int = 0
    keep_checkpoints: int = 2
    report_to: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.log_every < 1 or self.save_every < 0 or self.keep_checkpoints < 1:
            raise ValueError("output.log_every and keep_checkpoints must be >= 1, save_every >= 0")
        unknown = set(self.report_to) - {"tensorboard", "wandb"}
        if unknown:
            raise ValueError(f"output.report_to: unknown {sorted(unknown)} (tensorboard, wandb)")
