"""R1's last RL stage (§2.3.4) end to end on CPU: a reward model is trained on the bundled
preference pairs, then `r1data train grpo` runs a few steps over mixed prompts, reasoning ones
(with gold) scored by rules and general ones (without gold) by the reward model on the summary
and on the full response, logs every reward term, and evaluates held-out prompts inside the loop."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from r1data.trainers.config import OptimConfig, OutputConfig
from r1data.trainers.reward_model import RMConfig, load_reward_model, train

REPO = Path(__file__).resolve().parents[2]
PAIRS = REPO / "trainers" / "recipes" / "rm_pairs_non_reasoning.jsonl"
NON_REASONING = REPO / "r1data" / "data" / "prompts" / "non_reasoning.jsonl"


def test_mixed_prompts_with_a_trained_reward_model(tiny_dir, tmp_path):
    rm_model, rm_tokenizer = load_reward_model(tiny_dir)
    train(RMConfig(model="tiny", pairs=str(PAIRS), max_length=64, batch_size=16, max_steps=4,
                   optim=OptimConfig(lr=1e-3, warmup_ratio=0.0),
                   output=OutputConfig(dir=str(tmp_path / "rm"))),
          model=rm_model, tokenizer=rm_tokenizer)
    rm = tmp_path / "rm" / "final"

    prompts = [{"id": f"math/{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i),
                "domain": "math"} for i in range(2, 6)]
    general = [json.loads(line) for line in NON_REASONING.read_text().splitlines()][:6]
    prompts += [{**row, "kind": "non_reasoning"} for row in general]
    prompts.append({"id": "math/nogold", "problem": "What is 9 + 9?", "domain": "math"})
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in prompts))

    recipe = yaml.safe_load((REPO / "trainers" / "recipes" / "grpo_r1_all_scenarios.yaml").read_text())
    recipe.update(
        model=tiny_dir, prompts=str(data), prompts_per_step=4, max_steps=3, micro_batch=8,
        rollout="transformers", minibatches=1, ref_refresh_every=0,
        rewards={"reasoning": "accuracy + format + language_consistency",
                 "general": f"rm:{rm}@summary + 0.5 * rm:{rm}@full"},
        sampling={"n": 3, "temperature": 1.0, "top_p": 1.0, "max_tokens": 8},
        runtime={"device": "cpu", "dtype": "fp32", "seed": 0},
        output={"dir": str(tmp_path / "grpo"), "save_every": 0},
        eval_every=3, eval_prompts=str(data), eval_limit=6)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    done = subprocess.run([sys.executable, "-m", "r1data", "train", "grpo", "--config",
                           str(tmp_path / "recipe.yaml")], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    rows = [json.loads(line) for line in (tmp_path / "grpo" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    terms = ["accuracy", "format", "language_consistency", f"rm:{rm}@summary", f"rm:{rm}@full"]
    for term in terms:  # every term scored some outputs over the run
        assert any(r.get(f"reward/{term}") is not None for r in rows), term
    # The gold-less reasoning prompt cannot be judged by accuracy: set aside, with the reason.
    rejected = [json.loads(line) for line in (tmp_path / "grpo" / "rejected.jsonl").read_text().splitlines()]
    assert [r["reason"].split(":")[0] for r in rejected] == ["no_gold"]
    # The general prompts had no gold and were trained on: their rewards are the RM's scores,
    # which differ within a group, so the step has a gradient.
    assert all(r["grad_norm"] > 0 for r in rows if r.get(f"reward/rm:{rm}@summary") is not None)
    # Held-out evaluation inside the loop (eval_every 3: the last step), with the same rewards.
    assert "eval/accuracy" not in rows[0]
    last = rows[-1]
    assert 0 <= last["eval/accuracy"] <= 1 and last["eval/completion_length"] > 0
    assert last["eval/reward"] is not None and last["eval/kl"] >= 0
    assert (tmp_path / "grpo" / "final" / "model.safetensors").exists()
