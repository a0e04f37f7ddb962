"""Each loss variant of trainers/grpo_loss.py equals TRL 1.16's own `GRPOTrainer._compute_loss`
on the same tensors: log-probs, old log-probs that differ from them (μ > 1: the policy moved
since sampling, so ratios are not 1 and some are clipped), reference log-probs, advantages and
masks. Loss and the gradient with respect to the log-probs agree within 1e-6.

TRL's real method runs; only its log-prob forward is replaced by the tensor under test, so the
comparison is of the loss arithmetic alone (test_grpo_trl_equivalence.py drives the same code
through a model). Cases live in data/grpo_loss_variants.json. Where r1data differs from TRL on
purpose (bnpo across micro-batches, dapo across minibatches), a test shows the difference; the
reasons are in grpo_loss.py's docstring.
"""

import json
from pathlib import Path

import pytest
import torch

trl = pytest.importorskip("trl", reason="TRL is the independent implementation compared against")

from r1data import models  # noqa: E402
from r1data.trainers.grpo_loss import LossConfig, grpo_loss, loss_denominator  # noqa: E402

CASES = json.loads((Path(__file__).parent / "data" / "grpo_loss_variants.json").read_text())
N, C, MAX_TOKENS = 6, 9, 12  # outputs, completion width, the rollout cap (dr_grpo's constant)
LENGTHS = [9, 4, 7, 1, 9, 6]


def _tensors(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(C).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)).long()
    base = -3 * torch.rand(N, C, generator=g)
    return {"logps": base * mask, "old": (base + 0.3 * torch.randn(N, C, generator=g)) * mask,
            "ref": (base + 0.5 * torch.randn(N, C, generator=g)) * mask,
            "advantages": torch.randn(N, generator=g), "mask": mask}


@pytest.fixture(scope="module")
def trl_trainer(tmp_path_factory):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    tmp = tmp_path_factory.mktemp("trl")
    tiny, tokenizer = models.tiny_model(seed=3)
    tiny.save_pretrained(tmp / "tiny")
    args = GRPOConfig(output_dir=str(tmp / "out"), beta=0.04, use_bias_correction_kl=False,
                      num_generations=3, per_device_train_batch_size=N, max_completion_length=MAX_TOKENS,
                      use_cpu=True, report_to=[], logging_steps=1, bf16=False)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(tmp / "tiny"),
                          reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                          args=args, train_dataset=Dataset.from_list([{"prompt": "2+2?"}] * N),
                          processing_class=tokenizer)
    trainer.model.train()
    return trainer


def _trl_loss(trainer, case, x, rows=slice(None), accumulation=1, steps_per_generation=1):
    """TRL's `_compute_loss` on rows of `x`, its log-prob forward returning a leaf we own."""
    epsilon = case.get("epsilon", 0.2)
    trainer.loss_type = case["loss_type"]
    trainer.beta = case["beta"]
    trainer.epsilon_low = epsilon
    trainer.epsilon_high = case.get("epsilon_high") or epsilon
    trainer.importance_sampling_level = case.get("importance_sampling_level", "token")
    trainer.current_gradient_accumulation_steps = accumulation
    trainer.args.steps_per_generation = steps_per_generation
    logps = x["logps"][rows].clone().requires_grad_()
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logps, torch.zeros_like(logps), None)
    mask = x["mask"][rows]
    inputs = {"prompt_ids": torch.ones(mask.size(0), 2, dtype=torch.long),
              "prompt_mask": torch.ones(mask.size(0), 2, dtype=torch.long),
              "completion_ids": torch.ones_like(mask), "completion_mask": mask,
              "advantages": x["advantages"][rows], "old_per_token_logps": x["old"][rows],
              "ref_per_token_logps": x["ref"][rows],
              "num_items_in_batch": x["mask"].sum()}  # TRL: the whole generation batch's tokens
    loss = trainer._compute_loss(None, inputs)
    loss.backward()
    return loss.item(), logps.grad


def _ours(case, x, micro=N, minibatches=1):
    """r1data's trainer arithmetic: micro-batches of each minibatch, each summed and divided
    by its minibatch's denominator, gradients accumulated."""
    config = LossConfig(**{k: case[k] for k in ("loss_type", "epsilon_high", "importance_sampling_level")
                           if k in case})
    logps = x["logps"].clone().requires_grad_()
    per_mini, total, clipped = N // minibatches, 0.0, 0.0
    for m in range(minibatches):
        mini = slice(m * per_mini, (m + 1) * per_mini)
        tokens = float(x["mask"][mini].sum())
        denominator = loss_denominator(config.loss_type, per_mini, tokens, tokens, MAX_TOKENS, 1)
        for start in range(m * per_mini, (m + 1) * per_mini, micro):
            rows = slice(start, min(start + micro, (m + 1) * per_mini))
            per_output, stats = grpo_loss(logps[rows], x["old"][rows], x["ref"][rows],
                                          x["advantages"][rows], x["mask"][rows], case["beta"],
                                          case.get("epsilon", 0.2), config)
            loss = per_output.sum() / denominator
            loss.backward()
            total += loss.item()
            clipped += float(stats["clipped"])
    return total, logps.grad, clipped


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
@pytest.mark.parametrize("micro", [N, 4])
def test_loss_and_gradients_equal_trl(trl_trainer, case, micro):
    x = _tensors()
    ours, our_grad, clipped = _ours(case, x, micro=micro)
    theirs, their_grad = _trl_loss(trl_trainer, case, x)
    assert clipped > 0, "the inputs must exercise the clip, or the test proves less than it says"
    assert abs(ours - theirs) < 1e-6, (ours, theirs)
    assert torch.allclose(our_grad, their_grad, atol=1e-6, rtol=0)
    assert our_grad.abs().max() > 1e-3
    assert our_grad[x["mask"] == 0].abs().max() == 0  # no gradient through padding


def test_bnpo_does_not_depend_on_the_micro_batch_split_where_trl_does(trl_trainer):
    """TRL's bnpo divides each micro-batch by its own tokens (4 outputs with 21 tokens, then 2
    with 15); r1data divides the rank's minibatch by its 36 tokens, whatever the split."""
    case, x = {"loss_type": "bnpo", "beta": 0.04}, _tensors()
    whole, _ = _trl_loss(trl_trainer, case, x)
    split = sum(_trl_loss(trl_trainer, case, x, rows, accumulation=2)[0]
                for rows in (slice(0, 4), slice(4, 6)))
    ours_split, _, _ = _ours(case, x, micro=4)
    assert abs(ours_split - whole) < 1e-6
    assert abs(split - whole) > 1e-3, (split, whole)


def test_dapo_divides_each_minibatch_by_its_own_tokens(trl_trainer):
    """Two minibatches of 3 outputs (20 and 16 tokens): TRL divides each by 36 / 2 = 18 (the
    rollout's tokens over the minibatches), r1data by 20 and by 16. Per minibatch the two differ
    by exactly that factor; with one minibatch they are equal (the tests above)."""
    case, x = {"loss_type": "dapo", "epsilon_high": 0.28, "beta": 0.0}, _tensors()
    for m, rows in enumerate((slice(0, 3), slice(3, 6))):
        theirs, their_grad = _trl_loss(trl_trainer, case, x, rows, steps_per_generation=2)
        part = {k: v[rows] for k, v in x.items()}
        tokens = float(part["mask"].sum())
        config = LossConfig(loss_type="dapo", epsilon_high=0.28)
        logps = part["logps"].clone().requires_grad_()
        per_output, _ = grpo_loss(logps, part["old"], part["ref"], part["advantages"], part["mask"],
                                  0.0, 0.2, config)
        ours = per_output.sum() / loss_denominator("dapo", 3, tokens, tokens, MAX_TOKENS, 1)
        ours.backward()
        assert tokens != 18
        assert abs(ours.item() * tokens / 18 - theirs) < 1e-6
        assert torch.allclose(logps.grad * tokens / 18, their_grad, atol=1e-6, rtol=0)


def _trl_scored(trainer, rewards, completion_ids, scale_rewards, mask_truncated):
    """TRL's `_generate_and_score_completions` on completions we choose (its `rollout_func`
    hook) and rewards we choose: its advantages, loss mask and token count."""
    trainer.rollout_func = lambda prompts, _: {"prompt_ids": [[5, 6]] * len(prompts),
                                               "completion_ids": completion_ids, "logprobs": None}
    trainer.reward_funcs[0] = lambda completions, **kw: list(rewards)
    trainer.scale_rewards, trainer.mask_truncated_completions = scale_rewards, mask_truncated
    trainer.beta = 0.0
    out = trainer._generate_and_score_completions([{"prompt": "2+2?"}] * len(completion_ids))
    return out["advantages"], out["completion_mask"], out["num_items_in_batch"]


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
@pytest.mark.parametrize("mask_truncated", [False, True])
def test_advantages_and_truncation_mask_equal_trl(trl_trainer, scale_rewards, mask_truncated):
    from r1data.trainers.grpo_loss import group_advantages
    from r1data.backends.transformers import row_end
    from r1data.trainers.grpo_rollout import completion_mask

    eos = trl_trainer.processing_class.eos_token_id
    # Outputs 0, 2 and 4 ran out of tokens (no EOS); the others stopped. Group 1 is all equal.
    completion_ids = [[11, 12, 13, 14], [11, eos], [11, 12, 13, 14],
                      [21, 22, eos], [21, 22, 23, 24], [9, eos]]
    rewards = [1.0, 0.0, 0.5, 2.0, 2.0, 2.0]
    adv, mask, tokens = _trl_scored(trl_trainer, rewards, completion_ids, scale_rewards, mask_truncated)

    batch_std = float(torch.tensor(rewards).std())
    ours, zero = group_advantages(torch.tensor(rewards), 3, scale=scale_rewards, batch_std=batch_std)
    assert zero == 1
    assert torch.allclose(ours, adv.float(), atol=1e-6, rtol=0), (ours, adv)
    tokenizer = trl_trainer.processing_class
    lengths = [row_end(ids + [eos] * (4 - len(ids)), tokenizer, {eos}, eos).length
               for ids in completion_ids]
    loss_mask = completion_mask(lengths, 4)
    if mask_truncated:  # what GRPOTrainer._loss_masks does with Rollouts.truncated
        truncated = torch.tensor([eos not in ids for ids in completion_ids])
        loss_mask = loss_mask * (~truncated).unsqueeze(1)
    assert loss_mask.tolist() == mask[:, :4].tolist() and int(tokens) == int(loss_mask.sum())
