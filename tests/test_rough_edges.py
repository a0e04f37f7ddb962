"""Small promises of the CLI: a filter that keeps nothing still creates kept/, and a resumed
generate keeps the figures of the runs before it in generate_summary.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from r1data import benchmark_sets


# What `quiet_libraries` sets: a command run in-process by an earlier test leaves them in this
# process's environment, and a child would inherit a quiet that it did not choose.
QUIET_VARIABLES = ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY",
                   "TRANSFORMERS_NO_ADVISORY_WARNINGS")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in QUIET_VARIABLES}
    return subprocess.run([sys.executable, "-m", "r1data", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**env, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})


def test_a_filter_that_keeps_nothing_still_creates_kept(tmp_path):
    question = benchmark_sets.load("gsm8k")[0]["prompt"]  # a test question: decontamination drops it
    rows = [{"id": "leak", "prompt": question, "completion": "<think>\nadd\n</think>\n\n18"}]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = cli("filter", "--input", "r.jsonl", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "kept 0 of 1 -> out/kept" in proc.stdout + proc.stderr
    assert (tmp_path / "out" / "kept").is_dir() and not list((tmp_path / "out" / "kept").iterdir())


def test_a_resumed_generate_keeps_the_earlier_figures(tmp_path, tiny_dir):
    from r1data.generate import GenerateConfig, run

    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"{i}+{i}?"}) + "\n" for i in range(3)))
    config = GenerateConfig(input=str(tmp_path / "p.jsonl"), output=str(tmp_path / "out"), model=tiny_dir,
                            limit=2, sampling={"n": 2, "max_tokens": 3})
    run(config, progress=False)
    first = json.loads((tmp_path / "out" / "generate_summary.json").read_text())
    assert first["samples_written"] == 4 and first["tokens_out"] == 12

    again = run(config, progress=False)  # all done: nothing generated
    assert again.samples_written == 0 and again.prompts_resumed == 2
    saved = json.loads((tmp_path / "out" / "generate_summary.json").read_text())
    assert saved["samples_written"] == 4 and saved["tokens_out"] == 12 and saved["runs"] == 2
    assert saved["last_run"]["samples_written"] == 0 and saved["prompts_resumed"] == 2

    more = GenerateConfig(**{**config.__dict__, "limit": 3})
    run(more, progress=False)
    assert json.loads((tmp_path / "out" / "generate_summary.json").read_text())["samples_written"] == 6


def test_piped_help_and_tables_are_not_cut_at_80_columns(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run([sys.executable, "-m", "r1data", "generate", "--help"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0
    assert "--tensor-parallel-size" in proc.stdout and "--max-error-rate" in proc.stdout  # cut at 80 columns


def test_dry_run_names_the_inputs_it_cannot_read(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("stages:\n"
                      "  - {stage: rejection_sampling, input: prompts.jsonl, output: out/rs}\n"
                      "  - {stage: mix, inputs: [out/rs, extra], output: out/mix}\n")
    proc = cli("run", str(recipe), "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {recipe}: the keys are valid but 2 input(s) cannot be read: ")
    # out/rs is written by the recipe's first stage, so it is not missing
    assert "rejection_sampling: prompts.jsonl (no such file" in line and "mix: extra (no such file" in line
    assert "out/rs (" not in line
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "1+1?", "gold": "2"}\n')
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "part-00000.jsonl").write_text('{"prompt": "hi"}\n')
    ok = cli("run", str(recipe), "--dry-run", cwd=tmp_path)
    assert ok.returncode == 0 and f"every input of {recipe} is readable" in ok.stdout


def test_a_bad_json_line_is_reported_once_in_plain_words(tmp_path):
    from r1data import io

    (tmp_path / "bad.jsonl").write_text('{"prompt": "unterminated\n')
    with io.RejectLog(tmp_path / "rejected.jsonl") as rejects:
        assert list(io.read_records(tmp_path / "bad.jsonl", rejects)) == []
    (reason,) = [json.loads(line)["reason"] for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert reason == "bad_json: Invalid control character at (column 25)"  # not "at at column"


def test_mix_sets_bad_rows_aside_in_rejected_and_its_table_counts_them(tmp_path):
    from rich.console import Console

    from r1data.pipelines import mix
    from r1data.pipelines.summary import render

    rows = [json.dumps({"id": f"r{i}", "prompt": f"{i}+{i}?", "reasoning": "add", "answer": str(2 * i)})
            for i in range(4)] + ['{"broken": ']
    (tmp_path / "in.jsonl").write_text("\n".join(rows) + "\n")
    summary = mix.run(mix.MixConfig(inputs=[str(tmp_path / "in.jsonl")], output=str(tmp_path / "mix"),
                                    reasoning_size=None, non_reasoning_size=None, tokenizer="none"))
    assert summary.kept == 4
    rejected = (tmp_path / "mix" / "rejected" / "rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 1 and json.loads(rejected[0])["reason"].startswith("bad_json")
    console = Console(width=200, record=True)
    console.print(render([summary]))
    text = console.export_text()
    assert "rejected" in text and "errored" in text
    (row,) = [line for line in text.splitlines() if line.startswith("│ mix")]
    assert [cell.strip() for cell in row.strip("│").split("│")][1:4] + [row.split("│")[6].strip()] == ["4", "4", "0", "1"]  # in, kept, dropped; rejected


def test_model_loading_bars_only_under_verbose(tmp_path, tiny_dir):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "q", "prompt": "1+1?"}) + "\n")
    args = ["generate", "--input", "p.jsonl", "--model", tiny_dir, "--max-tokens", "2", "--no-progress"]
    quiet = cli(*args, "--output", "quiet", cwd=tmp_path)
    loud = cli("--verbose", *args, "--output", "loud", cwd=tmp_path)
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr[-2000:] + loud.stderr[-2000:]
    assert "Loading weights" in loud.stderr and "Loading weights" not in quiet.stderr + quiet.stdout


@pytest.mark.parametrize("command", ["generate", "cold-start", "rejection-sampling", "non-reasoning"])
def test_samples_per_prompt_is_n_in_every_command(command, tmp_path):
    from r1data.cli import app

    for spelling in ("--n", "-n"):  # one name across commands, with the short form
        result = CliRunner().invoke(app, [command, spelling, "0", "--output", str(tmp_path / "o"), "x"])
        assert "No such option" not in result.output, result.output


def test_deepspeed_cpu_warning_only_under_verbose():
    """DeepSpeed, imported by transformers when installed, warns "Setting accelerator to CPU" on
    every CPU run; the quiet default drops it, --verbose (no quiet_libraries) keeps it."""
    pytest.importorskip("deepspeed")
    env = {**{k: v for k, v in os.environ.items() if k not in QUIET_VARIABLES}, "OMP_NUM_THREADS": "1"}
    env.pop("DS_ACCELERATOR", None)  # a set accelerator skips the detection that warns

    def child(quiet: bool) -> str:
        code = ("from r1data.cli import quiet_libraries; quiet_libraries()\n" if quiet else "") + "import deepspeed\n"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    assert "Setting accelerator to CPU" in child(quiet=False)
    assert "Setting accelerator to CPU" not in child(quiet=True)
