"""Dynamic sampling (DAPO): groups whose rewards are all equal are dropped and refilled, so a
step trains only on groups with signal; when the refill rounds run out, the step still trains
on B groups, completed with zero-variance ones, and says so. Every step logs what it drew,
kept, refilled and spent. A tiny random model samples; the reward makes some prompts' groups
constant by construction."""

import pytest

from r1data import models
from r1data.backends.base import SamplingConfig
from r1data.record import Record
from r1data.trainers.config import OptimConfig, OutputConfig
from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

# "flat" prompts score 1.0 whatever is written (zero variance); "live" ones score the parity of
# the completion's length, which varies between samples.
FLAT = [Record.from_prompt(f"flat {w}", gold="x") for w in ("cats", "rain", "tea", "maps", "snow", "owls")]
LIVE = [Record.from_prompt(f"live {w}", gold="x") for w in ("jazz", "kites", "figs", "moss")]


def parity(completions, prompt, **_):
    return [1.0 if p.startswith("flat") else float(len(c) % 2) for c, p in zip(completions, prompt)]


def _run(tmp_path, prompts, steps=3, rounds=4, dynamic=True, **loss):
    config = GRPOConfig(
        model="tiny", rewards="parity", template="chat", prompts_per_step=2, beta=0.0,
        max_steps=steps, micro_batch=6, resume=False, log_entropy=False,
        dynamic_sampling=dynamic, max_refill_rounds=rounds,
        sampling=SamplingConfig(n=4, temperature=1.0, top_p=1.0, max_tokens=6),
        optim=OptimConfig(lr=1e-3, min_lr_ratio=1.0, warmup_ratio=0.0),
        output=OutputConfig(dir=str(tmp_path), save_every=0))
    model, tokenizer = models.tiny_model(seed=0)
    trainer = GRPOTrainer(config, policy=model, tokenizer=tokenizer, prompts=prompts,
                          reward_fns={"parity": parity})
    return trainer, trainer.train().history


def test_zero_variance_groups_are_dropped_and_refilled(tmp_path):
    _, history = _run(tmp_path, FLAT + LIVE, rounds=8)
    for row in history:
        assert row["zero_variance_share"] == 0 and row["groups_kept"] == 2, row
        assert row["groups_drawn"] >= 2 and row["rollout_tokens"] > 0
    # With 4 live prompts in 10, the first draw is rarely both live: refills happened.
    assert sum(row["refill_rounds"] for row in history) >= 1
    assert sum(row["groups_drawn"] for row in history) > 2 * len(history)


def test_when_the_rounds_run_out_the_step_trains_on_zero_variance_groups_and_says_so(tmp_path, capsys):
    _, history = _run(tmp_path, FLAT, steps=1, rounds=2)
    row = history[0]
    assert row["refill_rounds"] == 2 and row["groups_kept"] == 0
    assert row["groups_drawn"] == 2 + 2 + 2  # the share, then the whole share again each round
    assert row["zero_variance_share"] == 1.0 and row["zero_variance_groups"] == 2
    assert "dynamic sampling found 0 of 2 groups with signal in 2 refill rounds" in capsys.readouterr().err


def test_without_dynamic_sampling_the_step_is_the_batch_as_drawn(tmp_path):
    _, history = _run(tmp_path, FLAT + LIVE, steps=2, dynamic=False)
    for row in history:
        assert row["groups_drawn"] == 2 and row["refill_rounds"] == 0
        assert row["groups_kept"] == 2 - row["zero_variance_groups"]


@pytest.mark.parametrize("loss_type", ["dapo", "dr_grpo"])
def test_variants_train_through_the_trainer(tmp_path, loss_type):
    from r1data.trainers.grpo_loss import LossConfig

    trainer, history = _run(tmp_path, LIVE, steps=1, rounds=0, dynamic=False)
    config = trainer.config
    config.loss = LossConfig(loss_type=loss_type, epsilon_high=0.28, scale_rewards="none",
                             mask_truncated_completions=True)
    config.max_steps = 2
    trainer.train()
    assert trainer.step == 2


def test_truncated_outputs_leave_the_loss_and_its_token_count(tmp_path):
    import torch

    from r1data.trainers.grpo_loss import LossConfig
    from r1data.trainers.grpo_rollout import Rollouts

    trainer, _ = _run(tmp_path, LIVE, steps=1, rounds=0, dynamic=False)
    ones = torch.ones(4, 3, dtype=torch.long)
    r = Rollouts(ones, ones, ones, torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 1], [1, 1, 0]]),
                 ["a"] * 4, [True, False, True, False])
    trainer.config.loss = LossConfig(loss_type="dapo", mask_truncated_completions=True)
    mask, denominators = trainer._loss_masks(r)
    assert mask.tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0], [1, 1, 0]] and denominators == [3.0]
    trainer.config.loss = LossConfig(loss_type="dapo")
    assert trainer._loss_masks(r)[1] == [9.0]
    trainer.config.loss = LossConfig(loss_type="dr_grpo", mask_truncated_completions=True)
    assert trainer._loss_masks(r)[1] == [4 * 6]  # outputs × max_tokens: truncated rows still count
