"""GRPO learns what it is rewarded for, measured on problems it never trained on.

The embedded SmolLM2-135M-Instruct, asked the demo's one-operation word problems with its answer
line ('End your reply with "The answer is N."'), is right about one time in ten: it often does
the arithmetic ("14 + 2 = 16 stickers") and does not state the answer, or states another. GRPO
with the accuracy reward alone, at the demo's settings (G = 8, rollouts at T 0.6, top-p 0.95,
48 tokens, lr 3e-5, β = 0) and a reduced budget of 3 steps of 8 prompts, must raise the accuracy
on the demo's fixed held-out problems (one sample each, the trainer's in-loop evaluation) by at
least 10 points. Measured at the full demo's budget: 0.104 before, 0.521 after 4 steps (README,
"What the demo prints"). Every training problem whose text is a held-out one is removed first.
"""

import json

import pytest

from r1data.backends.base import SamplingConfig
from r1data.demo import ONE_PARAGRAPH, arithmetic_problems, heldout_problems, with_instruction
from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

STEPS, HELDOUT = 3, 32


def _write(path, problems):
    path.write_text("".join(json.dumps(p) + "\n" for p in with_instruction(problems)))
    return str(path)


@pytest.mark.slow
def test_heldout_accuracy_rises_on_the_embedded_model(tmp_path):
    heldout = heldout_problems(HELDOUT)
    train = arithmetic_problems(STEPS * 8, 2, exclude={p["problem"] for p in heldout})
    config = GRPOConfig(
        model="smollm2-135m", template="chat", rewards="accuracy",
        prompts=_write(tmp_path / "train.jsonl", train),
        sampling=SamplingConfig(n=8, temperature=0.6, top_p=0.95, max_tokens=48, seed=0,
                                stop=ONE_PARAGRAPH),
        prompts_per_step=8, max_steps=STEPS, beta=0.0, epsilon=0.2, micro_batch=16,
        log_entropy=False, resume=False,
        eval_every=STEPS, eval_prompts=_write(tmp_path / "heldout.jsonl", heldout), eval_limit=HELDOUT,
        optim=OptimConfig(lr=3e-5, min_lr_ratio=1.0, warmup_ratio=0.0),
        runtime=RuntimeConfig(seed=0), output=OutputConfig(dir=str(tmp_path / "run"), save_every=0))
    trainer = GRPOTrainer(config)
    before = trainer.evaluate()["eval/accuracy"]
    history = trainer.train().history
    after = history[-1]["eval/accuracy"]
    rewards = [row["reward"] for row in history]
    assert after >= before + 0.10, (before, after, rewards)
    assert max(row["grad_norm"] for row in history) > 0
