"""Reward models for R1's RL over all scenarios (§2.3.4): a scalar head on a causal LM, trained
with the Bradley–Terry loss on preference pairs, then used as a GRPO reward (`rm:PATH@summary`
for helpfulness, `rm:PATH@full` for harmlessness; see `r1data.rewards.model_reward`).

    loss = -mean_pairs log σ(r(prompt, chosen) - r(prompt, rejected))

the loss of TRL's `RewardTrainer` (without margin or centring; a test checks the two agree on a
fixed batch). The model is `AutoModelForSequenceClassification` with one label on any causal
LM checkpoint: the score of a sequence is the head applied to its last token's state.

Pairs are read with `r1data.io.iter_rows` (JSONL, Parquet, a saved dataset) in TRL's formats:
`{"chosen": [messages], "rejected": [messages]}` (the shared leading turns are the prompt) or
`{"prompt": "...", "chosen": "...", "rejected": "..."}`. Unusable rows go to
`rejected.jsonl` with their reason. A held-out part (`eval_pairs`, or the last `eval_fraction`
of the prompts, split by prompt so no prompt is on both sides) measures pair accuracy.

Reads top to bottom: config, pairs, text, loss, training loop. The model's text form, its
loading and the scorer that serves it as a reward live in `r1data.reward_scoring`. One process (CPU or one
GPU): reward models for this stage are small next to the policy.
"""

from __future__ import annotations

import json
import math
import random
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from r1data.config import to_dict
from r1data.io import InputError, RejectLog
from r1data.preference import PreferencePair, read_pairs
from r1data.reward_scoring import conversation_text, encode, load_reward_model
from r1data.trainers import checkpoint, distributed, optim
from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
from r1data.trainers.train_log import TrainLogger

# -- config ----------------------------------------------------------------------------------


@dataclass
class RMConfig:
    """One reward-model run; a YAML recipe maps onto it one-to-one.

    model: the causal LM under the head (a folder, a Hub id, or `smollm2-135m`).
    pairs: preference pairs (see the module docstring), a file or folder `r1data.io` reads.
    eval_pairs: held-out pairs; when unset, `eval_fraction` of the prompts are held out.
    max_length: tokens per sequence (longer ones keep their end: the answer is what is judged).
    batch_size: pairs per optimizer step.
    epochs / max_steps: how long (max_steps > 0 wins).
    center_rewards_coefficient: TRL's optional penalty on (r_chosen + r_rejected)^2 (0 = off).
    train_layers: train only the last N transformer blocks, the final norm and the head (0 =
        all): the backward then costs a fraction of a full one, for small CPU runs.
    optim / runtime / output: shared with SFT and GRPO.
    """

    model: str = "smollm2-135m"
    pairs: str = ""
    eval_pairs: str | None = None
    eval_fraction: float = 0.2
    max_length: int = 512
    batch_size: int = 8
    epochs: float = 1.0
    max_steps: int = 0
    center_rewards_coefficient: float = 0.0
    train_layers: int = 0
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5, warmup_ratio=0.1))
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    output: OutputConfig = field(default_factory=lambda: OutputConfig(dir="runs/rm"))

    def __post_init__(self) -> None:
        if not self.pairs:
            raise ValueError("pairs: a preference-pair file is required")
        if not 0 <= self.eval_fraction < 1:
            raise ValueError("eval_fraction must be in [0, 1)")
        if self.batch_size < 1 or self.max_length < 8 or self.epochs <= 0 or self.max_steps < 0:
            raise ValueError("batch_size >= 1, max_length >= 8, epochs > 0, max_steps >= 0")
        if self.train_layers < 0:
            raise ValueError("train_layers must be >= 0 (0 = train every layer)")
        if self.runtime.zero_stage:
            raise ValueError("runtime.zero_stage: the reward-model trainer runs in one process")


# -- pairs ---------------------------------------------------------------------------------
# The pair type and its reader are r1data.preference's (TRL's four layouts, --columns); this
# module only adds what training needs on top: no identical answers, at least one pair.


def load_pairs(spec: str, rejected_log: Path | None = None) -> list[PreferencePair]:
    """Every usable pair of `spec`; the others are written to `rejected_log` with the reason."""
    pairs = []
    with RejectLog(rejected_log) as rejects:
        for pair in read_pairs(spec, rejects):
            if pair.chosen == pair.rejected:
                rejects.add(spec, None, "invalid_pair: chosen equals rejected",
                            {"prompt": pair.prompt, "chosen": pair.chosen})
                continue
            pairs.append(pair)
    if not pairs:
        raise InputError(f"{spec}: no usable preference pair")
    return pairs


def split_by_prompt(pairs: list[PreferencePair], fraction: float
                    ) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out): a stable hash of the prompt decides, so one prompt's pairs stay on
    one side and a rerun gets the same split."""
    if fraction <= 0:
        return pairs, []
    train, held = [], []
    for pair in pairs:
        key = zlib.crc32(json.dumps(pair.prompt, sort_keys=True).encode()) % 10_000
        (held if key < fraction * 10_000 else train).append(pair)
    return train, held


# -- text: a batch of pairs (the text form is r1data.reward_scoring's, shared with scoring) --


def pair_batch(tokenizer: Any, pairs: list[PreferencePair], max_length: int, device: str | torch.device
               ) -> dict[str, torch.Tensor]:
    """All chosen sequences, then all rejected ones, in one padded batch (TRL's layout)."""
    texts = [conversation_text(tokenizer, p.chosen_messages) for p in pairs] + \
            [conversation_text(tokenizer, p.rejected_messages) for p in pairs]
    return encode(tokenizer, texts, max_length, device)


# -- loss ------------------------------------------------------------------------------------


def bradley_terry_loss(model: Any, batch: dict[str, torch.Tensor], center: float = 0.0
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, accuracy) on a `pair_batch`: -mean log σ(r_chosen - r_rejected), plus
    `center` · mean((r_chosen + r_rejected)^2) when asked."""
    rewards = model(**batch, use_cache=False).logits.squeeze(-1)
    chosen, rejected = rewards.chunk(2)
    loss = -F.logsigmoid(chosen - rejected).mean()
    if center:
        loss = loss + center * ((chosen + rejected) ** 2).mean()
    return loss, (chosen > rejected).float().mean().detach()


def freeze_all_but_last(model: Any, layers: int) -> None:
    """Leave trainable only the last `layers` transformer blocks, the final norm and the score
    head (a sequence-classification model built on a Hugging Face decoder)."""
    backbone = getattr(model, model.base_model_prefix)
    blocks = getattr(backbone, "layers", None) or getattr(backbone, "h", None)
    if blocks is None:
        raise ValueError("train_layers: cannot find the transformer blocks of this model")
    model.requires_grad_(False)
    for block in list(blocks)[-layers:]:
        block.requires_grad_(True)
    for name in ("norm", "ln_f", "final_layer_norm"):
        if getattr(backbone, name, None) is not None:
            getattr(backbone, name).requires_grad_(True)
    model.score.requires_grad_(True)


@torch.no_grad()
def pair_accuracy(model: Any, tokenizer: Any, pairs: list[PreferencePair], max_length: int,
                  batch_size: int = 16) -> float:
    """Share of pairs whose chosen response scores above the rejected one."""
    if not pairs:
        return float("nan")
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    right = 0.0
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        _, acc = bradley_terry_loss(model, pair_batch(tokenizer, chunk, max_length, device))
        right += float(acc) * len(chunk)
    model.train(was)
    return right / len(pairs)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class RMResult:
    model_dir: Path | None
    history: list[dict[str, Any]]
    train_pairs: int
    eval_pairs: int
    eval_accuracy_before: float
    eval_accuracy: float
    steps: int
    seconds: float


def train(config: RMConfig, *, model: Any = None, tokenizer: Any = None) -> RMResult:
    """Train as configured; `model`/`tokenizer` may be given (tests pass a tiny model)."""
    started = time.time()
    out = Path(config.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    device, dtype = distributed.setup_device(config.runtime)
    dist = distributed.Dist()
    distributed.seed_everything(config.runtime.seed)

    pairs = load_pairs(config.pairs, out / "rejected.jsonl")
    if config.eval_pairs:
        train_pairs, held = pairs, load_pairs(config.eval_pairs, out / "rejected.jsonl")
    else:
        train_pairs, held = split_by_prompt(pairs, config.eval_fraction)
    if model is None or tokenizer is None:
        model, tokenizer = load_reward_model(config.model)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.to(device)
    if config.train_layers:
        freeze_all_but_last(model, config.train_layers)
    if config.runtime.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    steps_per_epoch = max(1, math.ceil(len(train_pairs) / config.batch_size))
    total = config.max_steps or math.ceil(config.epochs * steps_per_epoch)
    optimizer = optim.make_optimizer(model, config.optim)
    scheduler = optim.make_scheduler(optimizer, config.optim, total)
    autocast = torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)
    before = pair_accuracy(model, tokenizer, held, config.max_length)
    logger = TrainLogger(config.output, total, dist, 0, config=to_dict(config))
    order: list[int] = []
    model.train()
    for step in range(total):
        t0 = time.time()
        epoch, index = divmod(step, steps_per_epoch)
        if index == 0:  # a fresh shuffle per epoch, fixed by the seed
            order = list(range(len(train_pairs)))
            random.Random(config.runtime.seed * 7919 + epoch).shuffle(order)
        rows = order[index * config.batch_size:(index + 1) * config.batch_size]
        batch = pair_batch(tokenizer, [train_pairs[i] for i in rows], config.max_length, device)
        with autocast:
            loss, acc = bradley_terry_loss(model, batch, config.center_rewards_coefficient)
        loss.backward()
        grad_norm = optim.clip_grad_norm(model, config.optim.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        logger.log(step + 1, {"loss": float(loss.detach()), "accuracy": float(acc),
                              "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                              "epoch": step / steps_per_epoch, "time/step": time.time() - t0})
    after = pair_accuracy(model, tokenizer, held, config.max_length)
    if logger.history:
        logger.history[-1]["eval/accuracy"] = after
    logger.close()

    final = out / checkpoint.FINAL
    model.save_pretrained(str(final), safe_serialization=True)
    tokenizer.save_pretrained(str(final))
    summary = {"train_pairs": len(train_pairs), "eval_pairs": len(held),
               "eval_accuracy_before": before, "eval_accuracy": after, "steps": total}
    (out / "eval.json").write_text(json.dumps(summary, indent=1))
    return RMResult(final, logger.history, len(train_pairs), len(held), before, after, total,
                    time.time() - started)
