"""The teacher and sampling options of the generating stage commands are declared once
(`stage_options.teacher_options`) and reach each stage's config."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from r1data.commands import stage_options as opt

COMMANDS = {"cold-start": 4, "rejection-sampling": 16, "non-reasoning": 1}  # each keeps its -n


@pytest.mark.parametrize("name,n", COMMANDS.items())
def test_stage_command_hands_its_teacher_options_to_the_config(tmp_path, name, n):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "a", "problem": "What is 1 + 1?", "answer": "2"}\n')
    proc = subprocess.run([sys.executable, "-m", "r1data", name, str(prompts), "--output",
                           str(tmp_path / "out"), "--backend", "nope", "--limit", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "teacher.backend must be one of transformers, openai, vllm, got 'nope'" in proc.stderr
    help_text = subprocess.run([sys.executable, "-m", "r1data", name, "--help"], capture_output=True,
                               text=True, timeout=60, env={"COLUMNS": "200", "PATH": ""}).stdout
    assert f"[default: {n}]" in help_text and help_text.count("--max-tokens") == 1


def test_decorator_collects_the_block_into_one_teacher():
    seen = {}
    app = typer.Typer()

    @app.command()
    @opt.teacher_options(model_help="The teacher.", n=3, temperature=0.5, max_tokens=64)
    def command(teacher: opt.Teacher, keep: int = typer.Option(1)) -> None:
        seen.update(teacher=teacher, keep=keep)

    result = CliRunner().invoke(app, ["--model", "m", "--base-url", "http://h/v1", "--seed", "7",
                                      "--keep", "2"])
    assert result.exit_code == 0, result.output
    assert seen["keep"] == 2
    assert seen["teacher"].teacher == {"backend": "transformers", "model": "m",
                                       "options": {"base_url": "http://h/v1"}}
    assert seen["teacher"].sampling == {"n": 3, "temperature": 0.5, "max_tokens": 64, "seed": 7}
    assert seen["teacher"].limit is None
