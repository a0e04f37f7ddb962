"""The DeepSpeed path (ZeRO-2, one CPU process, gloo) takes the same optimizer steps as plain
torch: after two GRPO steps (mu 2, so two updates each) the weights agree."""

import pytest
import torch

pytest.importorskip("deepspeed", reason="the ZeRO path needs deepspeed")

from r1data import models  # noqa: E402
from r1data.backends.base import SamplingConfig  # noqa: E402
from r1data.record import Record  # noqa: E402
from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig  # noqa: E402
from r1data.trainers.grpo import GRPOConfig, GRPOTrainer  # noqa: E402


def vowel_share(completions, **_):
    return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]


PROMPTS = [Record.from_prompt(f"Tell me about {w}.", gold=w) for w in ("cats", "rain", "tea")]


def _run(tmp_path, zero_stage):
    model, tokenizer = models.tiny_model(seed=0)
    config = GRPOConfig(
        model="tiny", rewards="vowels", template="chat", prompts_per_step=2, mu=2, beta=0.04,
        max_steps=2, micro_batch=3, resume=False,
        sampling=SamplingConfig(n=3, temperature=1.0, top_p=1.0, max_tokens=4),
        optim=OptimConfig(lr=1e-3, min_lr_ratio=1.0, warmup_ratio=0.0, max_grad_norm=1.0),
        runtime=RuntimeConfig(device="cpu", dtype="fp32", zero_stage=zero_stage),
        output=OutputConfig(dir=str(tmp_path / f"zero{zero_stage}"), save_every=0))
    trainer = GRPOTrainer(config, policy=model, tokenizer=tokenizer, prompts=PROMPTS,
                          reward_fns={"vowels": vowel_share})
    history = trainer.train().history
    return {k: v.detach().clone() for k, v in trainer.policy.state_dict().items()}, history


def test_zero2_matches_plain_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29517")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    plain, h_plain = _run(tmp_path, 0)
    zero, h_zero = _run(tmp_path, 2)
    assert [r["reward"] for r in h_plain] == [r["reward"] for r in h_zero]
    for name, value in plain.items():
        assert torch.allclose(value, zero[name], atol=1e-5), name
    initial = models.tiny_model(seed=0)[0].state_dict()
    assert any(not torch.allclose(v, initial[k]) for k, v in zero.items())  # it did train
