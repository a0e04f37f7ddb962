"""GRPO learns: the embedded SmolLM2-135M-Instruct, asked "What is a + b?", is rewarded by a
rule for answering with the number first (a digit as the first character). About half its
answers start that way at first ("7", "3 + 4 = 7" vs "The sum of ..."), so every group has
variance, and the behaviour is set by the first token, which GRPO moves directly. With a fixed
seed the mean reward of the last steps must be clearly above that of the first steps.

Completions are capped at 3 tokens (the reward reads only the first character) and the system
turn is short: a step is then a few seconds on 2 idle CPU cores.
"""

import copy
import random

import pytest

from r1data.backends.base import SamplingConfig
from r1data.record import Record
from r1data.trainers.config import OptimConfig, OutputConfig
from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

STEPS, WINDOW = 12, 3


def digit_first(completions, **_):
    """1.0 when the answer opens with a digit.

    >>> digit_first([" 7", "The sum is 7"])
    [1.0, 0.0]
    """
    return [1.0 if c.strip()[:1].isdigit() else 0.0 for c in completions]


@pytest.mark.slow
def test_reward_rises_on_the_embedded_model(embedded, tmp_path):
    model, tokenizer = embedded
    rng = random.Random(0)
    # A short system turn replaces the template's default one: half the prompt tokens.
    prompts = [Record(id=f"sum{i}", prompt=f"What is {a} + {b}?", gold=str(a + b), messages=[
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": f"What is {a} + {b}?"}])
        for i, (a, b) in enumerate((rng.randint(2, 60), rng.randint(2, 60)) for _ in range(48))]
    config = GRPOConfig(
        model="smollm2-135m", template="chat", rewards="digit_first", prompts_per_step=2,
        sampling=SamplingConfig(n=8, temperature=1.0, top_p=1.0, max_tokens=3),
        beta=0.001, epsilon=0.2, mu=1, micro_batch=16, max_steps=STEPS,
        optim=OptimConfig(lr=2e-5, min_lr_ratio=1.0, warmup_ratio=0.0),
        output=OutputConfig(dir=str(tmp_path), save_every=0))
    trainer = GRPOTrainer(config, policy=copy.deepcopy(model), tokenizer=tokenizer,
                          prompts=prompts, reward_fns={"digit_first": digit_first})
    history = trainer.train().history
    rewards = [row["reward"] for row in history]
    first = sum(rewards[:WINDOW]) / WINDOW
    last = sum(rewards[-WINDOW:]) / WINDOW
    assert last >= first + 0.25, rewards
    assert all(row["kl"] >= 0 for row in history) and history[-1]["kl"] > 0
