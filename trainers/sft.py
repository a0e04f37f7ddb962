"""Supervised fine-tuning on chat conversations: R1's stage-4 SFT and its distillation (§2.3.3,
§2.4: ~800K samples, 2 epochs, SFT only).

Reads top to bottom: config, setup, data, model and optimizer, resume, the training loop, the
final model. Data handling (chat template, assistant-only labels, packing) is in `sft_data.py`;
what GRPO shares in `config.py`, `distributed.py` (DDP, DeepSpeed), `optim.py`,
`checkpoint.py` and `train_log.py`.

Deliberate choices, and where they depart from common practice:
    * The loss is the mean over all assistant tokens of the whole optimizer step (every
      micro-batch, every rank), not a mean of per-batch means: long answers, the point of R1
      data, are not down-weighted, and N ranks equal one process on the combined batch.
    * The output head runs on the labelled positions only (and in chunks with recomputation
      when there are many), so prompt tokens and long contexts cost no vocabulary-sized logits.
    * The turn-ending EOS is trained (see `sft_data`); samples longer than `max_seq_len` are
      written aside as `too_long`, never truncated into answers without an end.
    * Packing keeps samples apart with per-sample position ids; the trainer checks on the real
      model that a packed forward equals the separate ones and falls back to padded,
      length-grouped batches (and says so) where the attention implementation does not honour
      the boundaries.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
from transformers import AutoModelForCausalLM

from r1data.config import to_dict
from r1data.io import InputError
from r1data.models import load_tokenizer, resolve
from r1data.trainers import distributed
from r1data.trainers.checkpoint import (
    checkpoint_dirs,
    load_checkpoint,
    save_checkpoint,
    save_final_model,
)
from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
from r1data.trainers.optim import clip_grad_norm, make_optimizer, make_scheduler
from r1data.trainers.sft_data import (
    IGNORE,
    collate,
    label_count,
    load_conversations,
    plan_epoch,
    tokenize_all,
)
from r1data.trainers.train_log import TrainLogger

LOSS_CHUNK = 8192  # labelled tokens per output-head chunk; more are recomputed in backward


# -- config ----------------------------------------------------------------------------------


@dataclass
class DataConfig:
    """What to train on and how to batch it.

    path: Records (a folder or file, as `r1data mix` writes), any local dataset with a
        `messages` column (JSONL, Parquet, a `save_to_disk` folder), or a Hub dataset id.
    split: the split of a Hub dataset.
    limit: use at most this many conversations (None = all).
    max_seq_len: tokens per sequence (per packed row); longer samples are set aside.
    packing: pack several samples into each row (else padded, length-grouped batches).
    micro_batch_size: rows per forward pass per rank.
    grad_accum: micro-batches per optimizer step per rank.
    epochs: passes over the data (a fraction is allowed).
    """

    path: str = ""
    split: str = "train"
    limit: int | None = None
    max_seq_len: int = 4096
    packing: bool = True
    micro_batch_size: int = 1
    grad_accum: int = 1
    epochs: float = 2.0

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("data.path is required")
        if self.max_seq_len < 8 or self.micro_batch_size < 1 or self.grad_accum < 1:
            raise ValueError("data.max_seq_len >= 8, micro_batch_size and grad_accum >= 1")
        if self.epochs <= 0:
            raise ValueError("data.epochs must be > 0")


@dataclass
class SFTConfig:
    """A complete SFT run.

    model: a model spec (`r1data.models.resolve`: a folder, a Hub id, or `smollm2-135m`).
    attn_implementation: "sdpa", "eager" or "flash_attention_2".
    max_steps: stop after this many optimizer steps (0 = as many as `data.epochs` make).
    resume: continue from the latest checkpoint in `output.dir` when there is one.
    data / optim / runtime / output: see their classes.
    """

    model: str = "smollm2-135m"
    attn_implementation: str = "sdpa"
    max_steps: int = 0
    resume: bool = True
    data: DataConfig = field(default_factory=lambda: DataConfig(path="-"))
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        if self.max_steps < 0:
            raise ValueError("max_steps must be >= 0")


@dataclass
class SFTResult:
    """What a run produced: the final model folder, per-step metrics, sample counts."""

    model_dir: Path | None
    history: list[dict[str, Any]]
    samples: int
    rejected: dict[str, int]
    steps: int
    packing: bool
    seconds: float


# -- the loss --------------------------------------------------------------------------------


class CausalLMLoss(torch.nn.Module):
    """The model plus its SFT loss: forward returns the *sum* of token cross-entropies.

    A module of its own so DeepSpeed can wrap it whole (its hooks see every submodule call).
    """

    def __init__(self, lm: torch.nn.Module):
        super().__init__()
        self.lm = lm

    def hidden(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        backbone = getattr(self.lm, self.lm.base_model_prefix)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return backbone(**inputs, use_cache=False).last_hidden_state

    def forward(self, batch: dict[str, torch.Tensor], hidden_only: bool = False) -> torch.Tensor:
        hidden = self.hidden(batch)
        if hidden_only:
            return hidden
        targets = batch["labels"][:, 1:]
        keep = targets != IGNORE
        h, y = hidden[:, :-1][keep], targets[keep]
        head = self.lm.get_output_embeddings()
        if len(y) <= LOSS_CHUNK:
            return F.cross_entropy(head(h).float(), y, reduction="sum")
        total = hidden.new_zeros((), dtype=torch.float32)
        for i in range(0, len(y), LOSS_CHUNK):
            total = total + checkpoint(_head_loss, head, h[i:i + LOSS_CHUNK], y[i:i + LOSS_CHUNK],
                                       use_reentrant=False)
        return total


def _head_loss(head, h, y):
    return F.cross_entropy(head(h).float(), y, reduction="sum")


def packing_is_exact(model: torch.nn.Module, device: str, vocab: int) -> bool:
    """Whether a packed forward gives each sample the hidden states it gets alone."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randint(10, vocab - 1, (1, n), generator=g) for n in (7, 5))
    packed = {"input_ids": torch.cat([a, b], 1),
              "position_ids": torch.cat([torch.arange(7), torch.arange(5)])[None]}
    with torch.no_grad():
        together = model({k: v.to(device) for k, v in packed.items()}, hidden_only=True).float()
        alone = torch.cat([model({"input_ids": x.to(device)}, hidden_only=True).float()
                           for x in (a, b)], 1)
    scale = alone.abs().mean().clamp_min(1e-6)
    return bool(((together - alone).abs().max() / scale) < 5e-2)


# -- the run ---------------------------------------------------------------------------------


def train(config: SFTConfig, *, model=None, tokenizer=None,
          on_step: Callable[[int, dict[str, Any]], None] | None = None,
          read_options: Any = None) -> SFTResult:
    """Run SFT as configured. `model`/`tokenizer` may be given (tests pass a tiny model);
    otherwise `config.model` is loaded. `on_step(step, metrics)` is called after each step."""
    started = time.time()
    out = Path(config.output.dir)
    runtime, optim, data = config.runtime, config.optim, config.data

    # --- setup: process group, device, dtype, seed
    device, dtype = distributed.setup_device(runtime, _local_rank())
    dist = distributed.init_distributed(device)
    distributed.seed_everything(runtime.seed)
    use_deepspeed = runtime.zero_stage > 0

    # --- data: conversations -> tokenized samples; rejects written aside with their reason
    tokenizer = tokenizer or load_tokenizer(config.model)
    samples, rejected = _load_samples(config, tokenizer, dist, out, read_options)

    # --- model
    model = _prepare_model(config, model, device, dtype, use_deepspeed)
    net = CausalLMLoss(model)

    # --- batching plan: a fixed number of micro-batches per optimizer step across all ranks
    group = data.grad_accum * dist.world_size
    packing, plan = _batching_plan(config, net, device, len(tokenizer), samples, group, dist)
    steps_per_epoch = len(plan(epoch=0)) // group
    total_steps = config.max_steps or math.ceil(data.epochs * steps_per_epoch)

    # --- optimizer, schedule, engine
    optimizer = make_optimizer(net, optim)
    scheduler = make_scheduler(optimizer, optim, total_steps)
    engine = None
    if use_deepspeed:
        ds_config = distributed.deepspeed_config(runtime, optim, micro_batch=data.micro_batch_size,
                                            grad_accum=data.grad_accum, dtype=dtype)
        engine = distributed.init_deepspeed(net, optimizer, scheduler, ds_config)
    # Without DeepSpeed, several ranks average gradients with torch DDP (bucketed all-reduce
    # overlapped with backward); one process uses the module itself.
    trainee = engine or distributed.wrap_ddp(net, dist, device)

    # --- resume: weights, optimizer, scheduler, RNG and the data position
    start = _resume(config, out, engine or net, optimizer, scheduler, dist, total_steps)

    logger = TrainLogger(config.output, total_steps, dist, start, config=to_dict(config))
    autocast = torch.autocast(device.split(":")[0], dtype=dtype,
                              enabled=dtype != torch.float32 and not use_deepspeed)

    # --- the training loop: one iteration = one optimizer step
    for step in range(start, total_steps):
        t0 = time.time()
        epoch, index = divmod(step, steps_per_epoch)
        mine = plan(epoch=epoch)[index * group:(index + 1) * group][dist.rank::dist.world_size]
        batches = [collate(samples, rows, tokenizer.pad_token_id, packing) for rows in mine]
        n_labels = distributed.all_reduce_sum(sum(label_count(b) for b in batches), dist)
        loss_sum, tokens = _backward_all(batches, trainee, engine, autocast, device, n_labels,
                                         data.grad_accum, dist.world_size)
        grad_norm = _optimizer_step(engine, net, optimizer, scheduler, optim.max_grad_norm)
        seconds = time.time() - t0
        metrics = {"loss": distributed.all_reduce_sum(loss_sum, dist) / n_labels,
                   "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                   "tokens_per_s": distributed.all_reduce_sum(tokens, dist) / seconds,
                   "label_tokens": int(n_labels), "epoch": step / steps_per_epoch}
        logger.log(step + 1, metrics)
        if on_step is not None:
            on_step(step + 1, metrics)
        if config.output.save_every and (step + 1) % config.output.save_every == 0 \
                and step + 1 < total_steps:
            save_checkpoint(out, step + 1, engine or net, optimizer, scheduler,
                            {"epoch": epoch, "index_in_epoch": index + 1}, dist,
                            config.output.keep_checkpoints)
    logger.close()

    # --- the final model: loads with from_pretrained and `r1data generate`
    state = {k.removeprefix("lm."): v
             for k, v in (distributed.full_state_dict(trainee) or {}).items()}
    model_dir = save_final_model(model, tokenizer, out, dist, state_dict=state, dtype=dtype)
    return SFTResult(model_dir, logger.history, len(samples), _count(rejected),
                     total_steps, packing, time.time() - started)


def _load_samples(config: SFTConfig, tokenizer: Any, dist: Any, out: Path, read_options: Any
                  ) -> tuple[list, list]:
    """Tokenized samples, and the rejected conversations (written aside by the main rank)."""
    data = config.data
    conversations, rejected = load_conversations(data.path, data.split, data.limit, read_options)
    samples, too_long = tokenize_all(tokenizer, conversations, data.max_seq_len)
    rejected += too_long
    if dist.is_main:
        _write_rejected(out, rejected)
    if not samples:
        raise InputError(f"{data.path}: no usable conversation ({_count(rejected)})")
    return samples, rejected


def _batching_plan(config: SFTConfig, net: Any, device: str, vocab: int, samples: list, group: int,
                   dist: Any) -> tuple[bool, Callable[..., list]]:
    """(packing, plan): whether samples are packed (only where attention keeps them apart), and
    `plan(epoch=e)`, epoch e's micro-batches, one epoch's plan kept at a time."""
    data = config.data
    packing = data.packing and packing_is_exact(net, device, vocab)
    if data.packing and not packing and dist.is_main:
        print(f"[r1data] {config.attn_implementation} attention does not keep packed samples "
              "apart on this model: training on padded, length-grouped batches instead")
    plan = functools.lru_cache(maxsize=1)(functools.partial(
        plan_epoch, [len(s) for s in samples], seed=config.runtime.seed, packing=packing,
        max_seq_len=data.max_seq_len, micro_batch_size=data.micro_batch_size, group=group))
    return packing, plan


def _prepare_model(config: SFTConfig, model: Any, device: str, dtype: torch.dtype,
                   use_deepspeed: bool) -> Any:
    """The given model or `config.model`, on `device`, in training mode. Plain torch keeps fp32
    master weights and gets bf16 from autocast; DeepSpeed keeps its own fp32 master copy in the
    optimizer, so its model loads in the training dtype."""
    model = model or AutoModelForCausalLM.from_pretrained(
        resolve(config.model), dtype=dtype if use_deepspeed else torch.float32,
        attn_implementation=config.attn_implementation)
    model.config.use_cache = False
    if config.runtime.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.to(device)
    model.train()
    return model


def _optimizer_step(engine: Any, net: Any, optimizer: Any, scheduler: Any, max_grad_norm: float
                    ) -> float:
    """Clip, step and clear; the gradient norm before clipping. DeepSpeed stepped already."""
    if engine is not None:
        return float(engine.get_global_grad_norm() or 0.0)
    grad_norm = clip_grad_norm(net, max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm


def _resume(config: SFTConfig, out: Path, module: Any, optimizer: Any, scheduler: Any, dist: Any,
            total_steps: int) -> int:
    """The step to start from: the latest checkpoint's (weights, optimizer, scheduler, RNG and
    data position restored), or 0."""
    if not (config.resume and checkpoint_dirs(out)):
        return 0
    latest = checkpoint_dirs(out)[-1]
    start = load_checkpoint(latest, module, optimizer, scheduler, dist)["step"]
    if dist.is_main:
        print(f"[r1data] resuming from {latest} (step {start} of {total_steps})")
    return start


def _backward_all(batches: list, trainee: Any, engine: Any, autocast: Any, device: str,
                  n_labels: float, grad_accum: int, world_size: int) -> tuple[float, int]:
    """Forward and backward over one step's micro-batches: (summed loss, tokens seen). The
    gradient is that of the summed loss over the global label count, whatever averages the
    engine does."""
    loss_sum, tokens = 0.0, 0
    for k, batch in enumerate(batches):
        batch = {key: v.to(device) for key, v in batch.items()}
        # DDP all-reduces once, on the step's last micro-batch.
        with distributed.no_sync(trainee, last=k == len(batches) - 1):
            with autocast:
                loss = trainee(batch)
            if engine is not None:
                # DeepSpeed divides by grad_accum and averages over ranks: undo both.
                engine.backward(loss / n_labels * grad_accum * world_size)
                engine.step()
            else:
                # DDP averages over ranks: x world_size makes it the global sum.
                (loss / n_labels * world_size).backward()
        loss_sum += float(loss.detach())
        tokens += batch["input_ids"].numel()
    return loss_sum, tokens


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def _count(rejected: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in rejected:
        counts[entry["reason"]] = counts.get(entry["reason"], 0) + 1
    return counts


def _write_rejected(out: Path, rejected: list[dict[str, Any]]) -> None:
    path = out / "rejected.jsonl"
    if not rejected:
        path.unlink(missing_ok=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for entry in rejected:
            fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
