"""The bundled recipes validate without running (`r1data run --dry-run`), and recipes are strict."""

import subprocess
import sys
from pathlib import Path

import pytest

from r1data.config import ConfigError
from r1data.pipelines import recipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "pipelines" / "recipes").glob("*.yaml"))


def test_recipes_are_shipped():
    names = {p.name for p in RECIPES}
    assert {"r1_small.yaml", "r1_full.yaml", "mix_small.yaml", "publish_small.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_bundled_recipe_validates(path):
    steps = recipe.load(path)
    assert steps and all(step.stage in recipe.STAGES for step in steps)


def test_r1_sized_recipe_has_r1_sizes():
    steps = {s.stage: s.config for s in recipe.load(next(p for p in RECIPES if p.name == "r1_full.yaml"))}
    assert steps["mix"].reasoning_size == 600_000 and steps["mix"].non_reasoning_size == 200_000
    assert steps["rejection_sampling"].sampling.n == 16
    assert steps["rejection_sampling"].teacher.backend == "openai"
    assert steps["publish"].dry_run


def _dry_run(name):
    path = next(p for p in RECIPES if p.name == name)
    return subprocess.run([sys.executable, "-m", "r1data", "run", str(path), "--dry-run"],
                          capture_output=True, text=True, timeout=300)


def test_dry_run_from_the_command_line():
    proc = _dry_run("r1_small.yaml")  # its inputs ship with the package
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(": valid") == 5
    assert "every input of" in proc.stdout and "is readable" in proc.stdout


def test_dry_run_names_the_inputs_that_cannot_be_read():
    proc = _dry_run("r1_full.yaml")  # R1-sized: the user brings the prompt files
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the keys are valid but 3 input(s) cannot be read" in proc.stderr
    assert "data/reasoning_prompts.jsonl" in proc.stderr and "data/non_reasoning_prompts.jsonl" in proc.stderr


@pytest.mark.parametrize("data,message", [
    ({"stage": "mix", "inputs": ["a"], "reasoning_sise": 5}, "unknown key reasoning_sise"),
    ({"stage": "mixing"}, "unknown stage 'mixing'"),
    ({"inputs": ["a"]}, "missing the `stage:` key"),
    ({"stages": [{"stage": "mix", "inputs": ["a"]}], "seed": 1}, "nothing else"),
    ({"stages": [{"stage": "rejection_sampling", "input": "p", "sampling": {"temprature": 1}}]},
     "stages[0].sampling"),
    ({"stage": "rejection_sampling", "input": "p", "teacher": {"backend": "foo"}}, "teacher.backend"),
])
def test_bad_recipes_are_refused(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        recipe.load(data)


def test_bundled_paths_resolve():
    path = recipe.package_path("r1data://data/prompts/non_reasoning.jsonl")
    assert Path(path).is_file()
    assert recipe.package_path("out/mix") == "out/mix"


def test_every_recipe_stage_is_a_cli_command_that_owns_its_output():
    """Stage names have one home each: the recipe's stages are the CLI's pipeline commands (under
    their dashed names), and each claims its output folder with the records location the
    manifest table gives it."""
    from r1data import cli, manifest

    commands = {name for name, _ in cli.COMMANDS}
    for stage in recipe.STAGES:
        assert stage.replace("_", "-") in commands & cli.OWNS_OUTPUT & set(manifest.RECORDS)
