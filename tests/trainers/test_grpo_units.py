"""The pieces of trainers/grpo.py, each on its own: reward expressions, group advantages,
completion masks (pad == EOS), scoring with None, the loss's zero-variance behaviour, recipes,
and that the recomputed log-probs are the sampler's own."""

from pathlib import Path

import pytest
import torch

from r1data import models
from r1data.backends.base import SamplingConfig
from r1data.config import from_dict, load
from r1data.errors import ConfigError
from r1data.record import Record
from r1data.trainers.grpo import (GRPOConfig, completion_mask, group_advantages, grpo_loss,
                                  parse_rewards, rollout_transformers, score, token_logps)

RECIPES = Path(__file__).resolve().parents[2] / "trainers" / "recipes"


def test_parse_rewards():
    assert parse_rewards("accuracy + format + 0.1 * language_consistency") == [
        (1.0, "accuracy"), (1.0, "format"), (0.1, "language_consistency")]
    assert parse_rewards("2*mymod.sub:fn") == [(2.0, "mymod.sub:fn")]
    for bad in ("", "accuracy +", "0.1 accuracy", "accuracy - format"):
        with pytest.raises(ValueError):
            parse_rewards(bad)


def test_group_advantages_match_the_formula():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    adv, zero = group_advantages(rewards, 4)
    g = rewards[:4]
    expected = (g - g.mean()) / (g.std() + 1e-4)  # unbiased std, as TRL
    assert torch.allclose(adv[:4], expected)
    assert adv[4:].abs().max() == 0 and zero == 1


def test_unscored_outputs_are_left_out_of_the_group():
    rewards = torch.tensor([1.0, float("nan"), 0.0, 0.0])
    adv, zero = group_advantages(rewards, 4)
    valid = torch.tensor([1.0, 0.0, 0.0])
    expected = (valid - valid.mean()) / (valid.std() + 1e-4)
    assert adv[1] == 0 and torch.allclose(adv[[0, 2, 3]], expected) and zero == 0


def test_completion_mask_includes_first_eos_only():
    eos = 2  # SmolLM2: pad == eos, so the mask must come from positions
    ids = torch.tensor([[5, 6, eos, eos, eos], [5, 6, 7, 8, 9], [eos, eos, eos, eos, eos]])
    assert completion_mask(ids, eos).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    keep = torch.tensor([False, True, True])  # row 0 ended on a stop string: its EOS is padding
    assert completion_mask(ids, eos, keep)[0].tolist() == [1, 1, 0, 0, 0]


def test_score_keeps_none_apart_from_zero():
    records = [Record.from_prompt("q1", gold="1"), Record.from_prompt("q2", gold="2")]

    def exact(completions, gold, **_):
        return [None if g == "2" else float(c == g) for c, g in zip(completions, gold)]

    def short(completions, **_):
        return [1.0 if len(c) < 3 else 0.0 for c in completions]

    total, parts = score(["1", "xyz", "2", "22"], records, 2, [(1.0, "exact", exact), (0.5, "short", short)])
    assert total.tolist() == [1.5, 0.0, 0.5, 0.5]
    assert parts["exact"] == [1.0, 0.0, None, None]
    total, _ = score(["1", "xyz", "2", "22"], records, 2, [(1.0, "exact", exact)])
    assert torch.isnan(total[2:]).all()  # nothing could judge them: unscored, not 0


def test_zero_variance_outputs_get_only_the_kl_gradient():
    logps = torch.log(torch.full((2, 3), 0.3)).requires_grad_()
    mask = torch.ones(2, 3)
    adv = torch.zeros(2)
    per_output, _ = grpo_loss(logps, logps.detach(), None, adv, mask, beta=0.0, epsilon=0.2)
    per_output.sum().backward()
    assert logps.grad.abs().max() == 0
    ref = logps.detach() - 0.5
    logps.grad = None
    per_output, stats = grpo_loss(logps, logps.detach(), ref, adv, mask, beta=0.1, epsilon=0.2)
    per_output.sum().backward()
    assert logps.grad.abs().max() > 0 and float(stats["kl"]) > 0


def test_loss_is_length_normalised_per_output():
    logps = torch.zeros(2, 4, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])
    per_output, _ = grpo_loss(logps, logps.detach(), None, torch.tensor([1.0, 1.0]), mask, 0.0, 0.2)
    per_output.sum().backward()
    # d(-ρA)/dlogp = -1 per token, divided by |o_i|
    assert logps.grad[0].tolist() == [-0.25] * 4 and logps.grad[1].tolist() == [-1.0, 0, 0, 0]


def test_recipes_load_and_bad_keys_fail():
    zero = load(GRPOConfig, RECIPES / "grpo_r1_zero.yaml")
    assert (zero.optim.lr, zero.beta, zero.sampling.n, zero.sampling.temperature) == (3e-6, 0.001, 16, 1.0)
    cpu = load(GRPOConfig, RECIPES / "grpo_smollm2_135m_cpu.yaml")
    assert cpu.model == "smollm2-135m" and cpu.rollout == "transformers"
    with pytest.raises(ConfigError, match="sampling.temprature"):
        from_dict(GRPOConfig, {"sampling": {"temprature": 1.0}})
    with pytest.raises(ConfigError, match="at least 2"):
        from_dict(GRPOConfig, {"sampling": {"n": 1}})
    with pytest.raises(ConfigError, match="reward term"):
        from_dict(GRPOConfig, {"rewards": "accuracy * 2"})


def test_recomputed_logps_are_the_samplers():
    """π_old recomputed by the loss pass equals the probabilities generation sampled from,
    with left-padded prompts of different lengths (position ids follow the attention mask)."""
    model, tokenizer = models.tiny_model(seed=1)
    sampling = SamplingConfig(n=2, temperature=0.8, top_p=1.0, max_tokens=6)
    prompts = ["What is 2+2?", "Name a prime number larger than ten, please."]
    r = rollout_transformers(model, tokenizer, prompts, "chat", sampling, seed=0)
    assert r.prompt_mask[:, 0].tolist().count(0) == 2  # the short prompt was left-padded
    with torch.no_grad():
        logps, _ = token_logps(model, r.prompt_ids, r.prompt_mask, r.completion_ids,
                               r.completion_mask, sampling.temperature)
        # The sampler's scores, from a plain step-by-step forward with the KV cache.
        out = model.generate(input_ids=r.prompt_ids[::2], attention_mask=r.prompt_mask[::2],
                             do_sample=False, max_new_tokens=1, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=tokenizer.pad_token_id)
    first = torch.log_softmax(out.logits[0].float() / sampling.temperature, -1)
    expected = first.gather(1, r.completion_ids[::2, :1]).squeeze(1)
    assert torch.allclose(logps[::2, 0], expected, atol=1e-4)
    # Every token: the padded batch gives each row what it gets alone, unpadded.
    for i in range(4):
        keep = r.prompt_mask[i].bool()
        with torch.no_grad():
            alone, _ = token_logps(model, r.prompt_ids[i:i + 1, keep], r.prompt_mask[i:i + 1, keep],
                                   r.completion_ids[i:i + 1], r.completion_mask[i:i + 1],
                                   sampling.temperature)
        m = r.completion_mask[i].bool()
        assert torch.allclose(logps[i, m], alone[0, m], atol=1e-4)
    assert r.completion_mask.sum() > 0 and len(r.texts) == 4
