"""r1data's GRPO loss and gradients equal TRL 1.16's `GRPOTrainer` where the two definitions
coincide: TRL with loss_type="grpo" (per-output mean over tokens, then mean over outputs),
beta > 0 with use_bias_correction_kl=False (plain k3 KL, as the paper), the same epsilon on
both sides (epsilon_high = epsilon, delta=None), importance_sampling_level="token", no vLLM,
no entropy masking, no off-policy masking, the same temperature.

Both trainers get the same policy weights, prompts, completions, advantages, old-policy and
reference log-probs; TRL's own `_compute_loss` is driven directly. Prompts are unpadded: TRL
gives left-padded prompts arange positions while r1data follows the attention mask (generation's
positions), so the two differ, by design, only for padded prompts.
"""

import pytest
import torch

trl = pytest.importorskip("trl", reason="TRL is the independent implementation compared against")

from r1data import models  # noqa: E402
from r1data.trainers.grpo import grpo_loss, token_logps  # noqa: E402

BETA, EPSILON, TEMPERATURE = 0.04, 0.2, 0.7
N, P, C = 6, 5, 9  # outputs, prompt tokens, completion tokens


def _inputs(tokenizer, seed=0):
    g = torch.Generator().manual_seed(seed)
    vocab = 1000  # ordinary tokens, away from the special ones
    prompt_ids = torch.randint(10, vocab, (N, P), generator=g)
    completion_ids = torch.randint(10, vocab, (N, C), generator=g)
    lengths = torch.tensor([9, 4, 7, 1, 9, 6])
    completion_mask = (torch.arange(C).unsqueeze(0) < lengths.unsqueeze(1)).long()
    completion_ids[completion_mask == 0] = tokenizer.eos_token_id
    return {
        "prompt_ids": prompt_ids, "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": completion_ids, "completion_mask": completion_mask,
        "advantages": torch.randn(N, generator=g),
        "noise_old": 0.3 * torch.randn(N, C, generator=g),
        "noise_ref": 0.5 * torch.randn(N, C, generator=g),
    }


def _trl_trainer(model, tokenizer, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(tmp_path), loss_type="grpo", beta=BETA, epsilon=EPSILON,
        use_bias_correction_kl=False, importance_sampling_level="token", scale_rewards="group",
        temperature=TEMPERATURE, num_generations=N, per_device_train_batch_size=N,
        max_completion_length=C, use_cpu=True, report_to=[], logging_steps=1, bf16=False,
    )
    return GRPOTrainer(model=model, reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                       args=args, train_dataset=Dataset.from_list([{"prompt": "2+2?"}] * N),
                       processing_class=tokenizer)


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("micro_batch", [N, 4])
def test_loss_and_gradients_equal_trl(tmp_path, micro_batch):
    from transformers import AutoModelForCausalLM

    # Saved and reloaded: TRL builds its reference model from the policy's path.
    tiny, tokenizer = models.tiny_model(seed=3)
    tiny.save_pretrained(tmp_path / "tiny")
    ours = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny")
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny")
    x = _inputs(tokenizer)
    args = (x["prompt_ids"], x["prompt_mask"], x["completion_ids"], x["completion_mask"], TEMPERATURE)
    with torch.no_grad():
        base, _ = token_logps(ours, *args)
    old = base + x["noise_old"]  # the policy moved since sampling: ratios != 1, some clipped
    ref = base + x["noise_ref"]

    # r1data, accumulated over micro-batches as the trainer does
    ours.train()
    total = 0.0
    clipped = 0.0
    for start in range(0, N, micro_batch):
        rows = slice(start, start + micro_batch)
        logps, _ = token_logps(ours, x["prompt_ids"][rows], x["prompt_mask"][rows],
                               x["completion_ids"][rows], x["completion_mask"][rows], TEMPERATURE)
        per_output, stats = grpo_loss(logps, old[rows], ref[rows], x["advantages"][rows],
                                      x["completion_mask"][rows], BETA, EPSILON)
        loss = per_output.sum() / N
        loss.backward()
        total += loss.item()
        clipped += float(stats["clipped"])
    assert clipped > 0, "the inputs must exercise the clip, or the test proves less than it says"

    # TRL, its own loss on the same inputs
    trainer = _trl_trainer(theirs, tokenizer, tmp_path / "trl")
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # what Trainer's loop sets with no accumulation
    trl_inputs = {k: x[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask",
                                    "advantages")}
    trl_inputs.update(old_per_token_logps=old, ref_per_token_logps=ref)
    trl_loss = trainer._compute_loss(trainer.model, trl_inputs)
    trl_loss.backward()

    assert abs(total - trl_loss.item()) < 1e-5
    ours_g, theirs_g = _grads(ours), _grads(trainer.model)
    assert ours_g.keys() == theirs_g.keys() and ours_g
    for name, grad in ours_g.items():
        assert torch.allclose(grad, theirs_g[name], atol=1e-5, rtol=1e-4), name
    assert max(g.abs().max().item() for g in ours_g.values()) > 1e-3  # gradients are not all ~0
