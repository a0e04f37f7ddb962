"""`r1data train sft`: the CPU recipe trains the embedded model into a loadable folder; a bad
recipe ends in one line and exit code 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "trainers" / "recipes"
R1DATA = [sys.executable, "-m", "r1data"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_every_recipe_loads_into_the_config():
    from r1data.config import load
    from r1data.trainers.sft import SFTConfig

    recipes = sorted(RECIPES.glob("sft_*.yaml"))
    assert len(recipes) == 7  # six R1 students and the CPU recipe
    for path in recipes:
        cfg = load(SFTConfig, path)
        assert cfg.data.max_seq_len >= 512 and cfg.optim.lr > 0


def test_unknown_recipe_key_is_one_line_and_exit_2(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model: smollm2-135m\ndata: {path: x.jsonl, max_seq_lenn: 10}\n")
    done = subprocess.run(R1DATA + ["train", "sft", "--config", str(recipe)], env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "data.max_seq_lenn" in done.stderr


@pytest.mark.slow
def test_cpu_recipe_trains_the_embedded_model_into_a_loadable_folder(tmp_path, embedded_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    out = tmp_path / "run"
    done = subprocess.run(
        R1DATA + ["train", "sft", "--config", str(RECIPES / "sft_smollm2_135m_cpu.yaml"),
                  "--max-steps", "2", "--limit", "6", "--output", str(out)],
        env=ENV, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "samples trained" in done.stdout and "6" in done.stdout
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2]
    assert all(k in log[0] for k in ("loss", "lr", "grad_norm", "tokens_per_s"))
    model = AutoModelForCausalLM.from_pretrained(out / "final")
    tokenizer = AutoTokenizer.from_pretrained(out / "final")
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert GenerationConfig.from_pretrained(out / "final").eos_token_id == tokenizer.eos_token_id
    assert model.num_parameters() > 100e6
