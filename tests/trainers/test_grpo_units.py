"""The pieces of trainers/grpo.py, each on its own: reward expressions, group advantages,
completion masks (pad == EOS and pad != EOS), scoring with None, per-prompt reward routing, the
loss's zero-variance behaviour, recipes, chunked log-probs equal to the full-logit ones, and
that the recomputed log-probs are the sampler's own."""

from pathlib import Path

import pytest
import torch

from r1data import models
from r1data.backends.base import SamplingConfig
from r1data.config import from_dict, load
from r1data.config import ConfigError
from r1data.record import Record
from r1data.rewards import RewardRouter, parse_terms
from r1data.trainers.grpo import (GRPOConfig, completion_mask, group_advantages, grpo_loss,
                                  load_prompts, rollout_transformers, score, token_logps)

RECIPES = Path(__file__).resolve().parents[2] / "trainers" / "recipes"


def test_parse_rewards():
    assert parse_terms("accuracy + format + 0.1 * language_consistency") == [
        (1.0, "accuracy"), (1.0, "format"), (0.1, "language_consistency")]
    assert parse_terms("2*mymod.sub:fn") == [(2.0, "mymod.sub:fn")]
    assert parse_terms("0.5 * rm:runs/rm-1/final@summary + rm:/abs/path@full") == [
        (0.5, "rm:runs/rm-1/final@summary"), (1.0, "rm:/abs/path@full")]
    for bad in ("", "accuracy +", "0.1 accuracy", "accuracy - format"):
        with pytest.raises(ValueError):
            parse_terms(bad)


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


def test_a_row_ends_at_its_first_eos_and_a_stop_string_s_padding_is_not_trained_on(tiny_dir):
    from transformers import AutoTokenizer

    from r1data.backends.transformers import row_end

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    eos = tokenizer.eos_token_id  # SmolLM2: pad == eos, so the end must come from positions
    rows = [[5, 6, eos, eos, eos], [5, 6, 7, 8, 9], [eos, eos, eos, eos, eos]]
    ends = [row_end(r, tokenizer, {eos}, eos) for r in rows]
    assert [e.length for e in ends] == [3, 5, 1] and [e.stopped for e in ends] == [True, False, True]
    assert completion_mask([e.length for e in ends], 5).tolist() == [
        [1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    # a row that ended on a stop string: the EOS after it is padding generate wrote
    words = tokenizer("The answer is 4.", add_special_tokens=False)["input_ids"]
    stop = tokenizer.decode(words[-1:], skip_special_tokens=True)
    end = row_end([*words, eos, eos], tokenizer, {eos}, eos, [stop])
    assert (end.length, end.stopped, end.eos) == (len(words), True, False)
    end = row_end([*words, eos, eos], tokenizer, {eos}, eos)  # no stop string: a sampled EOS
    assert (end.length, end.stopped, end.eos) == (len(words) + 1, True, True)


def test_completion_mask_ends_at_the_stop_string_or_first_pad_when_pad_is_not_eos(tiny_dir):
    """A tokenizer whose pad token is not EOS: generation stopped by a stop string pads with
    the pad id, which must not be trained on nor counted in |o_i|."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r1data.backends.transformers import row_end

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.pad_token = "<|endoftext|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    rows = [[5, 6, pad, pad], [5, eos, pad, pad], [5, 6, 7, 8]]
    assert [row_end(r, tokenizer, {eos}, pad).length for r in rows] == [2, 2, 4]
    # The real sampler with a stop string: every masked-in token is a sampled one, no pad
    # inside, and each stopped text ends exactly with the stop string.
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    model.generation_config.pad_token_id = pad
    stop = "e"  # a random tiny model soon samples a token with an "e": most rows stop on it
    sampling = SamplingConfig(n=4, temperature=1.0, top_p=1.0, max_tokens=12, stop=[stop])
    r = rollout_transformers(model, tokenizer, ["Hello there", "Count to three"], "chat", sampling, 0)
    lengths = r.completion_mask.sum(1).tolist()
    width = r.completion_ids.size(1)
    assert any(n < width for n in lengths)  # some rows stopped early and were padded
    for row, n, text in zip(r.completion_ids.tolist(), lengths, r.texts):
        assert pad not in row[:n] and all(t == pad for t in row[n:])
        assert tokenizer.decode(row[:n], skip_special_tokens=True) == text
        if n < width and eos not in row:  # stopped by the stop string, in its last token
            assert stop in text and stop not in tokenizer.decode(row[:n - 1], skip_special_tokens=True)


def test_chunked_logps_equal_full_logits_and_entropy_is_optional():
    model, tokenizer = models.tiny_model(seed=2)
    g = torch.Generator().manual_seed(0)
    prompt_ids = torch.randint(10, 1000, (3, 5), generator=g)
    completion_ids = torch.randint(10, 1000, (3, 7), generator=g)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] * 6 + [0]])
    args = (prompt_ids, torch.ones_like(prompt_ids), completion_ids, mask, 0.7)
    # Reference: the whole batch's full-vocabulary logits, as a plain forward gives them.
    logits = model(input_ids=torch.cat([prompt_ids, completion_ids], 1)).logits[:, 4:-1].float() / 0.7
    full = torch.log_softmax(logits, -1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    full_entropy = -(logits.softmax(-1) * torch.log_softmax(logits, -1)).sum(-1)
    logps, entropy = token_logps(model, *args, with_entropy=True, chunk=4)  # 16 tokens, 4 chunks
    keep = mask.bool()
    assert torch.allclose(logps[keep], full[keep], atol=1e-5)
    assert torch.allclose(entropy[keep], full_entropy[keep], atol=1e-4)
    assert logps[~keep].abs().max() == 0
    assert token_logps(model, *args)[1] is None
    # Gradients through the recomputed chunks equal those of the full logits.
    (logps * mask).sum().backward()
    chunked = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    logits = model(input_ids=torch.cat([prompt_ids, completion_ids], 1)).logits[:, 4:-1].float() / 0.7
    full = torch.log_softmax(logits, -1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    (full * mask).sum().backward()
    for name, param in model.named_parameters():
        assert torch.allclose(chunked[name], param.grad, atol=1e-5), name


def test_score_marks_a_sum_with_a_none_term_not_applicable():
    records = [Record.from_prompt("q1", gold="1"), Record.from_prompt("q2", gold="2")]

    def exact(completions, gold, **_):
        return [None if g == "2" else float(c == g) for c, g in zip(completions, gold)]

    def short(completions, **_):
        return [1.0 if len(c) < 3 else 0.0 for c in completions]

    router = RewardRouter("exact + 0.5 * short", {"exact": exact, "short": short})
    total, parts = score(["1", "xyz", "2", "22"], records, 2, router)
    assert total[:2].tolist() == [1.5, 0.0]
    assert torch.isnan(total[2:]).all()  # q2's gold cannot be judged: not 0, not 0.5
    assert parts["exact"] == [1.0, 0.0, None, None] and parts["short"] == [1.0, 0.0, 1.0, 1.0]
    adv, _ = group_advantages(total, 2)
    assert adv[2:].tolist() == [0.0, 0.0]


def test_rewards_are_routed_per_prompt_and_goldless_prompts_need_a_model_reward(tmp_path):
    import json

    def length(completions, **_):
        return [float(len(c)) for c in completions]

    routes = {"reasoning": "accuracy", "general": "my_len"}
    reasoning = Record.from_prompt("2+2?", gold="4")
    general = Record.from_dict({"id": "g", "prompt": "Say hi", "kind": "non_reasoning",
                                "domain": "greeting"})
    router = RewardRouter(routes, {"my_len": length})
    assert router.key(reasoning) == "reasoning" and router.key(general) == "general"
    total, parts = score(["\\boxed{4}", "5", "hello", "hi"], [reasoning, general], 2, router)
    assert total.tolist() == [1.0, 0.0, 5.0, 2.0]
    assert parts["accuracy"] == [1.0, 0.0, None, None] and parts["my_len"] == [None, None, 5.0, 2.0]
    # Loading: a gold-less general prompt needs a model reward on its route.
    rows = [{"id": "r", "prompt": "2+2?", "answer": "4"}, {"id": "r0", "prompt": "3+3?"},
            {"id": "g", "prompt": "Say hi", "kind": "non_reasoning", "domain": "greeting"}]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept = load_prompts(str(path), tmp_path / "rej.jsonl",
                        {"reasoning": "accuracy", "general": "rm:some/folder@summary"})
    assert [r.id for r in kept] == ["r", "g"]
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert len(reasons) == 1 and reasons[0].startswith("no_gold")
    kept = load_prompts(str(path), tmp_path / "rej2.jsonl", {"reasoning": "accuracy", "general": "format"})
    assert [r.id for r in kept] == ["r"]  # a rule reward alone cannot judge a gold-less answer


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


def _loss_before_the_variants(logps, old_logps, ref_logps, advantages, mask, beta, epsilon):
    """grpo_loss as it was on main be4030e, before `loss:` existed (kept here verbatim)."""
    ratio = torch.exp(logps - old_logps)
    adv = advantages.unsqueeze(1)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    per_token = -surrogate
    kl = torch.zeros_like(logps)
    if beta:
        log_ref_over = ref_logps - logps
        kl = torch.exp(log_ref_over) - log_ref_over - 1
        per_token = per_token + beta * kl
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum(1) / mask.sum(1).clamp(min=1)


@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_loss_type_grpo_is_exactly_the_loss_before_the_variants(beta):
    g = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] * 5 + [0]])
    base = -2 * torch.rand(3, 6, generator=g)
    old, ref = base + 0.3 * torch.randn(3, 6, generator=g), base + 0.4 * torch.randn(3, 6, generator=g)
    adv = torch.randn(3, generator=g)
    now, before = base.clone().requires_grad_(), base.clone().requires_grad_()
    ours = grpo_loss(now, old, ref, adv, mask, beta, 0.2)[0]  # the default LossConfig
    theirs = _loss_before_the_variants(before, old, ref, adv, mask, beta, 0.2)
    ours.sum().backward()
    theirs.sum().backward()
    assert torch.equal(ours, theirs) and torch.equal(now.grad, before.grad)


def test_loss_options_load_from_a_recipe_and_bad_ones_fail():
    config = from_dict(GRPOConfig, {"beta": 0.0, "dynamic_sampling": True, "max_refill_rounds": 2,
                                    "loss": {"loss_type": "dapo", "epsilon_high": 0.28,
                                             "scale_rewards": "none", "importance_sampling_level": "sequence",
                                             "mask_truncated_completions": True}})
    assert config.loss.loss_type == "dapo" and config.loss.epsilon_high == 0.28 and config.dynamic_sampling
    with pytest.raises(ConfigError, match="loss.loss_typ"):
        from_dict(GRPOConfig, {"loss": {"loss_typ": "dapo"}})
    with pytest.raises(ConfigError, match="loss_type must be one of"):
        from_dict(GRPOConfig, {"loss": {"loss_type": "ppo"}})
    with pytest.raises(ConfigError, match="epsilon_high"):
        from_dict(GRPOConfig, {"loss": {"loss_type": "cispo"}})
    with pytest.raises(ConfigError, match="scale_rewards must be one of"):
        from_dict(GRPOConfig, {"loss": {"scale_rewards": "std"}})


def test_overlong_reward_reads_the_rollout_cap_and_token_counts():
    from r1data.rewards import overlong_reward

    records = [Record.from_prompt("q", gold="1")]
    router = RewardRouter("overlong")
    ids = [[7] * 10, [7] * 17, [7] * 20]  # cap 20, cache 4: free up to 16 tokens
    total, _ = score(["a", "b", "c"], records, 3, router, completion_ids=ids, max_tokens=20)
    assert total.tolist() == [0.0, -0.25, -1.0]
    with pytest.raises(ValueError, match="completion_ids"):
        score(["a"], records, 1, router)
    with pytest.raises(ValueError, match="max_len"):
        overlong_reward()(["a"], completion_ids=[[1]])
    dapo = overlong_reward(20480, 4096)  # DAPO's L_max and L_cache
    assert dapo(["x"] * 3, completion_ids=[[1] * 16384, [1] * 18432, [1] * 20480]) == [0.0, -0.5, -1.0]


def test_dapo_recipes_load_with_dapos_numbers():
    dapo = load(GRPOConfig, RECIPES / "grpo_dapo.yaml")
    assert (dapo.epsilon, dapo.loss.epsilon_high, dapo.beta, dapo.loss.loss_type) == (0.2, 0.28, 0.0, "dapo")
    assert (dapo.sampling.n, dapo.prompts_per_step, dapo.sampling.max_tokens) == (16, 512, 20480)
    assert dapo.dynamic_sampling and dapo.optim.lr == 1e-6 and dapo.rewards == "2 * accuracy + overlong"
    cpu = load(GRPOConfig, RECIPES / "grpo_dapo_smollm2_135m_cpu.yaml")
    assert cpu.dynamic_sampling and cpu.loss.loss_type == "dapo" and cpu.loss.mask_truncated_completions
    assert cpu.rollout == "transformers" and cpu.model == "smollm2-135m"
