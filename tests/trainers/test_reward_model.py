"""The reward-model trainer (R1 §2.3.4): its Bradley–Terry loss equals TRL's RewardTrainer on a
fixed batch, preference pairs are read in TRL's formats (bad rows set aside with a reason), a
short run fits the bundled pairs, and the trained model scores GRPO completions as `rm:PATH@summary` (the answer only) and `rm:PATH@full` (reasoning included)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from r1data import rewards
from r1data.trainers.config import OptimConfig, OutputConfig
from r1data.preference import PreferencePair
from r1data.trainers.reward_model import (RMConfig, bradley_terry_loss, load_pairs, load_reward_model,
                                          pair_accuracy, pair_batch, split_by_prompt,
                                          train)

REPO = Path(__file__).resolve().parents[2]
PAIRS = REPO / "trainers" / "recipes" / "rm_pairs_non_reasoning.jsonl"


@pytest.fixture(scope="module")
def tiny_rm(tiny_dir):
    torch.manual_seed(0)
    return load_reward_model(tiny_dir)


@pytest.mark.parametrize("center", [0.0, 0.01])
def test_loss_equals_trl_reward_trainer(tiny_rm, tmp_path, center):
    trl = pytest.importorskip("trl", reason="TRL is the independent implementation compared against")
    from datasets import Dataset

    model, tokenizer = tiny_rm
    def pair(question, chosen, rejected):
        return PreferencePair(id=question, prompt=[{"role": "user", "content": question}],
                              chosen=[{"role": "assistant", "content": chosen}],
                              rejected=[{"role": "assistant", "content": rejected}])

    pairs = [pair("What is the capital of Australia?", "Canberra is the capital.",
                  "Sydney, I think, or maybe Melbourne."),
             pair("hello", "Hello! How can I help?", "No.")]
    batch = pair_batch(tokenizer, pairs, 64, "cpu")
    ours, _ = bradley_terry_loss(model, batch, center)
    args = trl.RewardConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True,
                            center_rewards_coefficient=center or None, bf16=False)
    trainer = trl.RewardTrainer(model=model, args=args, processing_class=tokenizer,
                                train_dataset=Dataset.from_list(
                                    [{"chosen": "a", "rejected": "b"}]))
    theirs = trainer.compute_loss(model, dict(batch))
    assert abs(float(ours) - float(theirs)) < 1e-5
    assert float(ours) > 0


def test_pairs_are_read_in_trl_formats_and_bad_rows_set_aside(tmp_path):
    rows = [
        {"chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
         "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away."}]},
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {"prompt": "x", "chosen": "same", "rejected": "same"},
        {"chosen": "text without a prompt", "rejected": "other"},
        {"chosen": 3, "rejected": None},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = load_pairs(str(path), tmp_path / "rejected.jsonl")
    # The text pair without a prompt is Anthropic HH's layout: the prompt is inside both texts.
    assert [(p.prompt_text, p.chosen[-1]["content"], p.rejected[-1]["content"]) for p in pairs] == [
        ("Hi", "Hello!", "Go away."), ("2+2?", "4", "5"), ("", "text without a prompt", "other")]
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert len(reasons) == 2 and reasons[0] == "invalid_pair: chosen equals rejected", reasons
    assert reasons[1].startswith("invalid_pair: column 'chosen'"), reasons
    train_pairs, held = split_by_prompt(load_pairs(str(PAIRS)), 0.2)
    assert held and not {p.prompt[0]["content"] for p in held} & {p.prompt[0]["content"] for p in train_pairs}


def test_training_fits_the_pairs_and_scores_as_a_reward(tiny_rm, tmp_path):
    """A tiny random model learns its training pairs (held-out accuracy needs a pretrained
    model: the CPU recipe on SmolLM2-135M measures it), then scores as `rm:PATH@...`."""
    model, tokenizer = tiny_rm
    config = RMConfig(model="tiny", pairs=str(PAIRS), eval_fraction=0.2, max_length=96,
                      batch_size=16, max_steps=40,
                      optim=OptimConfig(lr=3e-3, warmup_ratio=0.0, min_lr_ratio=0.1),
                      output=OutputConfig(dir=str(tmp_path / "rm")))
    train_pairs, held = split_by_prompt(load_pairs(str(PAIRS)), 0.2)
    before = pair_accuracy(model, tokenizer, train_pairs, 96)
    result = train(config, model=model, tokenizer=tokenizer)
    assert (result.train_pairs, result.eval_pairs) == (len(train_pairs), len(held))
    after = pair_accuracy(model, tokenizer, train_pairs, 96)
    assert after > max(0.75, before + 0.2), (before, after)
    losses = [row["loss"] for row in result.history]
    assert sum(losses[-5:]) < sum(losses[:5])
    saved = json.loads((tmp_path / "rm" / "eval.json").read_text())
    assert saved["eval_accuracy"] == result.eval_accuracy and saved["eval_pairs"] == len(held)

    path = tmp_path / "rm" / "final"
    pair = next(p for p in train_pairs if p.rejected[-1]["content"].startswith("I'm sorry"))
    prompt, chosen = pair.prompt_text, pair.chosen[-1]["content"]
    think = "<think>\nThe user asks something harmless.\n</think>\n\n"
    completions = [think + chosen, think + pair.rejected[-1]["content"]]
    summary = rewards.combine(f"rm:{path}@summary")
    full = rewards.combine(f"rm:{path}@full")
    s_totals, s_parts = summary.components(completions, prompt=[prompt, prompt])
    f_totals, _ = full.components(completions, prompt=[prompt, prompt])
    assert list(s_parts) == [f"rm:{path}@summary"]
    assert s_totals[0] > s_totals[1]  # the learned preference carries over to scoring
    assert s_totals != f_totals  # @full also reads the reasoning
    # @summary sees only the answer: the same as scoring the bare answer in full.
    bare = full([chosen], prompt=[prompt])
    assert bare[0] == pytest.approx(s_totals[0], abs=1e-5)


def test_cli_bad_recipe_is_one_line(tmp_path):
    recipe = tmp_path / "rm.yaml"
    recipe.write_text("pairs: nowhere.jsonl\nlearning_rate: 1\n")
    done = subprocess.run([sys.executable, "-m", "r1data", "train", "rm", "--config", str(recipe)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2 and "learning_rate" in done.stderr
    assert done.stderr.strip().count("\n") == 0
