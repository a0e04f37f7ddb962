"""What the SFT and GRPO trainers share: configs, setup, schedule, optimizer, data parallelism,
DeepSpeed, checkpoints with exact resume, the final model folder, and logging.

Two ways to run, one code path:
    * plain torch: one process (CPU or one GPU), or several launched by `torchrun`/`deepspeed`
      with `zero_stage: 0`; gradients are summed across ranks by `all_reduce_grads` (gloo on
      CPU, NCCL on GPUs) after the local backward.
    * DeepSpeed ZeRO-2/3 (`zero_stage: 2|3`, optional CPU offload): `init_deepspeed` wraps the
      model and optimizer in an engine built from `deepspeed_config` (generated from these
      dataclasses, or a JSON file given by the recipe). `import deepspeed` selects its CPU
      accelerator here, and `deepspeed.initialize` with ZeRO-2 and ZeRO-3 runs in one CPU
      process (gloo), so the same path is testable without a GPU.

Losses are normalised by the number of label tokens of the *whole optimizer step* (all
micro-batches on all ranks), counted before the step runs: N ranks with gradient accumulation
then produce exactly the gradient of one process on the combined batch, rather than a mean of
per-micro-batch means that over-weights short samples.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from r1data.errors import ConfigError

CHECKPOINTS = "checkpoints"
FINAL = "final"
LOG_FILE = "log.jsonl"


# -- configs ---------------------------------------------------------------------------------


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


# -- setup -----------------------------------------------------------------------------------


@dataclass
class Dist:
    """This process's place among the data-parallel ranks."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Dist:
    """Join the process group when launched by torchrun/deepspeed (RANK and WORLD_SIZE set)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return info


def seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup_device(runtime: RuntimeConfig, local_rank: int = 0) -> tuple[str, torch.dtype]:
    """(device, dtype) for this rank: its own GPU when there are several."""
    from r1data.models import best_device, best_dtype

    device = best_device(runtime.device)
    if device == "cuda":
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    return device, best_dtype(device, runtime.dtype)


def all_reduce_sum(value: float | torch.Tensor, dist_info: Dist) -> float:
    """The sum of a number over all ranks (the number itself with one process)."""
    if dist_info.world_size == 1:
        return float(value)
    import torch.distributed as dist

    tensor = torch.as_tensor(value, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return float(tensor.item())


def all_reduce_grads(model: torch.nn.Module, dist_info: Dist) -> None:
    """Sum gradients over ranks. Losses are already divided by the global token count, so the
    sum (not the mean) is the gradient of the combined batch."""
    if dist_info.world_size == 1:
        return
    import torch.distributed as dist

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one collective instead of one per tensor
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


# -- optimizer and schedule ------------------------------------------------------------------


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


# -- DeepSpeed -------------------------------------------------------------------------------


def deepspeed_config(runtime: RuntimeConfig, optim: OptimConfig, *, micro_batch: int,
                     grad_accum: int, dtype: torch.dtype) -> dict[str, Any]:
    """The DeepSpeed config for these settings, or the recipe's JSON with "auto" filled in.

    The optimizer and scheduler are created by us and handed to `deepspeed.initialize`, so the
    config holds neither: one schedule implementation for both paths.
    """
    auto = {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": optim.max_grad_norm,
        "bf16": {"enabled": dtype == torch.bfloat16},
        "fp16": {"enabled": dtype == torch.float16},
    }
    if runtime.deepspeed_config:
        path = Path(runtime.deepspeed_config)
        if not path.exists():
            raise ConfigError(f"runtime.deepspeed_config: no such file {path}")
        config = json.loads(path.read_text())
        for key, value in auto.items():
            if config.get(key) == "auto":
                config[key] = value
            elif isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {k: (value.get(k) if v == "auto" else v)
                               for k, v in config[key].items()}
        return config
    zero: dict[str, Any] = {"stage": runtime.zero_stage, "overlap_comm": True,
                            "contiguous_gradients": True}
    if runtime.offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if runtime.zero_stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    if runtime.zero_stage == 3:
        # Save a consolidated 16-bit state dict so the final folder loads with from_pretrained.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {**auto, "zero_optimization": zero, "steps_per_print": 10**9,
            "wall_clock_breakdown": False}


def init_deepspeed(model, optimizer, scheduler, config: dict[str, Any]):
    """A DeepSpeed engine around our model, optimizer and scheduler."""
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    if "RANK" not in os.environ:  # one process without a launcher: a group of one
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(free_port()))
    import deepspeed

    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer,
                                           lr_scheduler=scheduler, config=config)
    return engine


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_state_dict(model) -> dict[str, torch.Tensor] | None:
    """The whole model's weights on every path (ZeRO-3 gathers its shards; rank 0 gets them)."""
    if hasattr(model, "zero_optimization_partition_weights") and \
            model.zero_optimization_partition_weights():
        return model._zero3_consolidated_16bit_state_dict()
    module = getattr(model, "module", model)
    return module.state_dict()


# -- checkpoints -----------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    import numpy as np

    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (a half-written one has no `state.json` yet)."""
    root = Path(output_dir) / CHECKPOINTS
    if not root.exists():
        return []
    found = [p for p in root.glob("step-*") if (p / "state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(output_dir: str | Path, step: int, model, optimizer, scheduler,
                    state: dict[str, Any], dist_info: Dist, keep: int = 2) -> Path:
    """Save everything needed to continue exactly: weights, optimizer, scheduler, the trainer's
    `state` (step, data position, ...) and every rank's RNG.

    The folder is written under a temporary name and renamed once complete, so a crash while
    saving leaves the previous checkpoint as the latest.
    """
    root = Path(output_dir) / CHECKPOINTS
    final, tmp = root / f"step-{step}", root / f"step-{step}.tmp"
    if dist_info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(dist_info)
    if hasattr(model, "save_checkpoint"):  # a DeepSpeed engine saves its own shards
        model.save_checkpoint(str(tmp), tag="engine")
    elif dist_info.is_main:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict()}, tmp / "weights.pt")
    torch.save(rng_state(), tmp / f"rng-{dist_info.rank}.pt")
    barrier(dist_info)
    if dist_info.is_main:
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in checkpoint_dirs(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(dist_info)
    return final


def load_checkpoint(path: Path, model, optimizer, scheduler, dist_info: Dist) -> dict[str, Any]:
    """Restore a checkpoint written by `save_checkpoint`; returns the trainer's state."""
    if hasattr(model, "load_checkpoint"):
        model.load_checkpoint(str(path), tag="engine")
    else:
        saved = torch.load(path / "weights.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
    rng_file = path / f"rng-{dist_info.rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    return json.loads((path / "state.json").read_text())


def barrier(dist_info: Dist) -> None:
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


# -- the final model -------------------------------------------------------------------------


def save_final_model(model, tokenizer, output_dir: str | Path, dist_info: Dist,
                     dtype: torch.dtype | None = None,
                     state_dict: dict[str, torch.Tensor] | None = None) -> Path | None:
    """A folder `from_pretrained` and `r1data generate` load directly: weights (safetensors),
    tokenizer with its chat template, and a generation config whose `eos_token_id` is the
    tokenizer's EOS, so generation stops where the training taught the model to stop.
    `model` is the Hugging Face model (or an engine around it); `state_dict`, when given, holds
    its weights already gathered (e.g. with a wrapper's key prefix removed).
    """
    # Every rank takes part in a ZeRO-3 gather.
    state = state_dict if state_dict is not None else full_state_dict(model)
    if not dist_info.is_main:
        barrier(dist_info)
        return None
    module = getattr(model, "module", model)
    target = Path(output_dir) / FINAL
    tmp = target.with_name(FINAL + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    module.save_pretrained(str(tmp), state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    gen = module.generation_config
    eos = {tokenizer.eos_token_id}
    if isinstance(gen.eos_token_id, int):
        eos.add(gen.eos_token_id)
    elif gen.eos_token_id:
        eos.update(gen.eos_token_id)
    gen.eos_token_id = sorted(eos) if len(eos) > 1 else tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    gen.save_pretrained(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    barrier(dist_info)
    return target


# -- logging ---------------------------------------------------------------------------------


class TrainLogger:
    """Metrics to a JSONL file, a rich progress bar on the console, and TensorBoard / W&B when
    asked for and installed. Only rank 0 logs."""

    def __init__(self, output: OutputConfig, total_steps: int, dist_info: Dist,
                 start_step: int = 0, config: dict[str, Any] | None = None):
        self.enabled = dist_info.is_main
        self.every = output.log_every
        self.history: list[dict[str, Any]] = []
        self._tb = self._wandb = self._progress = None
        if not self.enabled:
            return
        Path(output.dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(output.dir) / LOG_FILE
        if start_step == 0 and self.path.exists():
            self.path.unlink()  # a fresh run; a resumed one appends
        self._fh = open(self.path, "a", encoding="utf-8")
        self._start_reporters(output, config or {})
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                  disable=not sys.stderr.isatty(), transient=False)
        self._task = self._progress.add_task("train", total=total_steps, completed=start_step,
                                             info="")
        self._progress.start()

    def _start_reporters(self, output: OutputConfig, config: dict[str, Any]) -> None:
        if "tensorboard" in output.report_to:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(output.dir) / "tensorboard"))
            except ImportError:
                print("[r1data] tensorboard is not installed: not logging to it", file=sys.stderr)
        if "wandb" in output.report_to:
            try:
                import wandb

                self._wandb = wandb.init(config=config, dir=output.dir)
            except ImportError:
                print("[r1data] wandb is not installed: not logging to it", file=sys.stderr)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record the metrics of optimizer step `step` (1-based)."""
        if not self.enabled:
            return
        entry = {"step": step, **{k: round(v, 6) if isinstance(v, float) else v
                                  for k, v in metrics.items()}, "time": round(time.time(), 3)}
        self.history.append(entry)
        info = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                         if k in ("loss", "lr", "grad_norm", "tokens_per_s"))
        self._progress.update(self._task, completed=step, info=info)
        if step % self.every and step != self._progress.tasks[0].total:
            return
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        if not sys.stderr.isatty():
            print(f"step {step}  {info}", file=sys.stderr, flush=True)
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(f"train/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._progress.stop()
        self._fh.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
