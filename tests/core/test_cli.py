import json
import subprocess
import sys
import time

import pytest

R1DATA = [sys.executable, "-m", "r1data"]


def run(*args, **kwargs):
    return subprocess.run([*R1DATA, *args], capture_output=True, text=True, **kwargs)


def test_help_is_instant_and_lists_commands():
    start = time.perf_counter()
    result = run("--help")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0
    assert "stats" in result.stdout
    # heavy libraries (torch, transformers, datatrove) are imported inside commands only
    probe = subprocess.run([sys.executable, "-X", "importtime", "-m", "r1data", "--help"],
                           capture_output=True, text=True)
    heavy = [line for line in probe.stderr.splitlines()
             if line.rstrip().endswith((" torch", " transformers", " datatrove", " datasets"))]
    assert heavy == [], heavy
    assert elapsed < 10  # generous: a cold interpreter on a loaded CI core


def test_version():
    from r1data import __version__

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"r1data {__version__}"


def test_stats_same_on_jsonl_and_parquet(package_data, tmp_path):
    import polars as pl

    source = package_data / "prompts" / "gsm8k_train_1k.jsonl"
    pl.read_ndjson(source).write_parquet(tmp_path / "gsm8k_train.parquet")
    figures = []
    for path in (source, tmp_path / "gsm8k_train.parquet"):
        out = tmp_path / f"{path.suffix}.json"
        result = run("stats", str(path), "--json", str(out))
        assert result.returncode == 0, result.stderr
        assert "1,000" in result.stdout
        figures.append(json.loads(out.read_text()))
    assert figures[0] == figures[1]
    assert figures[0]["rows"] == 1000 and figures[0]["sources"] == {"gsm8k_train": 1000}


@pytest.mark.parametrize("name,message", [
    ("missing.jsonl", "no such file"),
    ("data.tsv", "unknown format"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, name, message):
    if name.endswith(".tsv"):
        (tmp_path / name).write_text("a\tb\n")
    result = run("stats", str(tmp_path / name), "--tokenizer", "none")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
