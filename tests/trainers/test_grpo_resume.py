"""A GRPO run killed after a checkpoint and rerun ends exactly where an uninterrupted run does:
same weights, the same log (each step once), and the reference stays the initial policy."""

import json

import pytest
import torch

from r1data import models
from r1data.backends.base import SamplingConfig
from r1data.record import Record
from r1data.trainers.config import OptimConfig, OutputConfig
from r1data.trainers.grpo import GRPOConfig, GRPOTrainer


def vowel_share(completions, **_):
    return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]


PROMPTS = [Record.from_prompt(f"Tell me about {w}.", gold=w) for w in ("cats", "rain", "tea", "maps", "snow")]


def _config(out):
    # mu = 2 so the resumed run also needs π_old; beta > 0 so it needs the reference.
    return GRPOConfig(model="tiny", rewards="vowels", template="chat", prompts_per_step=2, mu=2,
                      beta=0.04, max_steps=4, micro_batch=3,
                      sampling=SamplingConfig(n=3, temperature=1.0, top_p=1.0, max_tokens=5),
                      optim=OptimConfig(lr=1e-3, min_lr_ratio=0.5, warmup_ratio=0.25),
                      output=OutputConfig(dir=str(out), save_every=2, keep_checkpoints=1))


def _trainer(out):
    model, tokenizer = models.tiny_model(seed=0)
    return GRPOTrainer(_config(out), policy=model, tokenizer=tokenizer, prompts=PROMPTS,
                       reward_fns={"vowels": vowel_share})


class Crash(Exception):
    pass


def _log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.train()

    def crash_after_3(step, _):
        if step == 3:  # step 2 was checkpointed, step 3 is lost
            raise Crash

    first = _trainer(tmp_path / "b")
    with pytest.raises(Crash):
        first.train(on_step=crash_after_3)
    resumed = _trainer(tmp_path / "b")
    assert resumed.step == 2
    resumed.train()

    for (name, a), (_, b) in zip(straight.policy.state_dict().items(),
                                 resumed.policy.state_dict().items()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(straight.policy.state_dict().values(),
                                                   models.tiny_model(seed=0)[0].state_dict().values()))
    log_a, log_b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in log_b] == [1, 2, 3, 4]
    for ra, rb in zip(log_a, log_b):
        assert ra["reward"] == rb["reward"] and ra["loss"] == rb["loss"] and ra["lr"] == rb["lr"]
    assert (tmp_path / "b" / "final" / "config.json").exists()


def test_resume_hands_the_restored_weights_to_the_vllm_engine(tmp_path):
    """With `rollout: vllm` the engine is built before the checkpoint is restored; resuming
    must sync it, or the first resumed rollouts would sample from the initial policy. The
    engine here records what `sync_weights` is given (vLLM itself needs a GPU)."""
    import dataclasses

    first = _trainer(tmp_path)
    first.config.max_steps = 2
    first.train()  # checkpoint at step 2 is not written (the last step); write one
    first.save_checkpoint()
    trained = {k: v.clone() for k, v in first.policy.state_dict().items()}

    class Engine:
        synced = None

        def sync_weights(self, trainee):
            self.synced = {k.removeprefix("lm."): v.clone()
                           for k, v in getattr(trainee, "module", trainee).state_dict().items()}

    model, tokenizer = models.tiny_model(seed=0)
    again = GRPOTrainer(dataclasses.replace(_config(tmp_path), resume=False), policy=model,
                        tokenizer=tokenizer, prompts=PROMPTS, reward_fns={"vowels": vowel_share})
    again.vllm = Engine()
    again._resume()
    assert again.step == 2 and again.vllm.synced is not None
    for name, value in trained.items():
        assert torch.equal(again.vllm.synced[name], value), name
