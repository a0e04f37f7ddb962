"""Recipes are validated by pydantic at load time: every shipped recipe loads, and a wrong type or
unknown key gives one line naming the key, the expected type and the file (exit 2 at the CLI)."""

import subprocess
import sys
from pathlib import Path

import pytest

from r1data.config import from_dict, load
from r1data.config import ConfigError
from r1data.pipelines import recipe
from r1data.trainers.grpo import GRPOConfig
from r1data.trainers.sft import SFTConfig

ROOT = Path(__file__).resolve().parents[1]
STAGE_RECIPES = sorted((ROOT / "pipelines" / "recipes").glob("*.yaml"))
TRAIN_RECIPES = sorted((ROOT / "trainers" / "recipes").glob("*.yaml"))


def test_every_recipe_is_found():
    assert len(STAGE_RECIPES) >= 7 and len(TRAIN_RECIPES) >= 9


@pytest.mark.parametrize("path", STAGE_RECIPES + TRAIN_RECIPES, ids=lambda p: p.name)
def test_shipped_recipe_loads(path):
    if path.parent.parent.name == "pipelines":
        assert recipe.load(path)
    else:
        from r1data.trainers.reward_model import RMConfig

        cls = {"grpo": GRPOConfig, "sft": SFTConfig, "rm": RMConfig}[path.name.split("_")[0]]
        assert isinstance(load(cls, path), cls)


def _write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_unquoted_exponent_is_a_number(tmp_path):
    # YAML 1.1 reads `3e-6` (no dot) as a string: the rule is that a string spelling a number is
    # read as that number, so both spellings give the same float.
    for spelled in ("3e-6", '"3e-6"', "3.0e-6"):
        path = _write(tmp_path, f"model: m\noptim:\n  lr: {spelled}\n")
        assert load(SFTConfig, path).optim.lr == pytest.approx(3e-6)


@pytest.mark.parametrize("text,message", [
    ("model: m\noptim:\n  lr: fast\n", "optim.lr: expected float, got 'fast' (str)"),
    ("model: m\nmax_steps: 1.5\n", "max_steps: expected int, got 1.5 (float)"),
    ("model: m\noptim:\n  betas: 0.9\n", "optim.betas: expected list[float], got 0.9 (float)"),
    ("model: m\ndata:\n  path: x\n  limit: ten\n", "data.limit: expected int | None, got 'ten'"),
    ("model: m\noptim:\n  lrr: 1.0e-5\n", "unknown key optim.lrr (known: "),
    ("model: m\noptim:\n  lrr: 1.0e-5\n", "did you mean lr?"),
])
def test_bad_value_names_file_key_and_type(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(SFTConfig, path)
    line = str(info.value)
    assert line.startswith(f"{path}: ") and message in line and "\n" not in line


def test_stage_recipe_error_names_file_and_stage_path(tmp_path):
    path = _write(tmp_path, "stages:\n  - stage: mix\n    inputs: [a]\n    test_size: tenth\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml: stages\[0\]\.test_size: expected float"):
        recipe.load(path)


def test_post_init_refusal_is_one_line():
    with pytest.raises(ConfigError, match=r"^sampling\.n \(G\) must be at least 2"):
        from_dict(GRPOConfig, {"sampling": {"n": 1}})


def test_cli_reports_one_line_and_exit_2(tmp_path):
    path = _write(tmp_path, "stage: mix\ninputs: [a]\nseed: first\n")
    proc = subprocess.run([sys.executable, "-m", "r1data", "run", str(path), "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {path}: seed: expected int, got 'first' (str)"


def test_several_mistakes_are_named_on_one_line(tmp_path):
    path = _write(tmp_path, "model: m\nmax_steps: many\noptim:\n  lr: fast\n  lrr: 1\n")
    with pytest.raises(ConfigError) as info:
        load(SFTConfig, path)
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"{path}: ")
    for part in ("max_steps: expected int", "optim.lr: expected float", "unknown key optim.lrr"):
        assert part in line
