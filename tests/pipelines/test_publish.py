"""Publishing: the Hub folder loads back with `datasets` unchanged, the card's statistics equal
the data's, and a push without a token or network fails in one line leaving the folder intact."""

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from r1data.io import read_records
from r1data.pipelines.mix import MixConfig
from r1data.pipelines.mix import run as run_mix
from r1data.pipelines.publish import PublishConfig, PublishError, build, push, run
from r1data.record import Record


@pytest.fixture
def mixed(corpus, tmp_path):
    folder, _ = corpus
    out = tmp_path / "mix"
    run_mix(MixConfig(inputs=[str(folder)], output=str(out), reasoning_size=60, non_reasoning_size=8,
                      max_duplication=1.5, test_size=0.2, tokenizer="none"))
    return out


def card_tables(text: str) -> dict[str, list[list[str]]]:
    """{section title: rows} of the Markdown tables of a card."""
    tables, title = {}, None
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip()
        elif line.startswith("|") and not line.startswith("|---"):
            tables.setdefault(title, []).append([c.strip() for c in line.strip("|").split("|")])
    return {k: v[1:] for k, v in tables.items()}  # drop header rows


def test_folder_loads_back_and_card_matches_data(mixed, tmp_path):
    import datasets

    summary = run(PublishConfig(input=str(mixed), repo_id="org/r1-mini", dry_run=True,
                                tokenizer="none", shard_rows=20))
    hub = Path(summary.output)
    assert hub == tmp_path / "mix-hub"
    loaded = datasets.load_dataset(str(hub))
    assert set(loaded) == {"train", "test"}
    assert len(list((hub / "data").glob("train-*-of-*.parquet"))) == 3  # 20 rows a shard
    for split in ("train", "test"):
        expected = {r.id: r for r in read_records(mixed / split)}
        got = {row["id"]: Record.from_row(row) for row in loaded[split]}
        assert got.keys() == expected.keys()
        for rid, record in expected.items():
            assert got[rid].to_dict() == record.to_dict()
        assert all(row["messages"][-1]["role"] == "assistant" for row in loaded[split])

    text = (hub / "README.md").read_text()
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["license"] == "apache-2.0" and header["task_categories"] == ["text-generation"]
    assert header["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"},
                                                  {"split": "test", "path": "data/test-*"}]
    assert header["size_categories"] == ["n<1K"]
    rows = [r for split in loaded.values() for r in split]
    assert sorted(header["language"]) == sorted({r["language"] for r in rows})

    tables = card_tables(text)
    num = lambda s: int(s.replace(",", ""))  # noqa: E731
    assert {s: num(n) for s, n in tables["Rows per split"]} == {s: len(d) for s, d in loaded.items()}
    assert {(k, d): num(n) for k, d, n in tables["Rows per kind and domain"]} == dict(
        Counter((r["kind"], r["domain"]) for r in rows))
    assert {s: num(n) for s, n in tables["Rows per source"]} == dict(Counter(r["source"] for r in rows))
    assert {s: num(n) for s, n in tables["Rows per language"]} == dict(Counter(r["language"] for r in rows))
    lengths = sorted(r["completion_tokens"] for r in rows)
    completion = dict(zip(["p0", "p10", "p50", "p90", "p99", "p100", "mean"],
                          next(r for r in tables["Token lengths"] if r[0] == "completion")[1:]))
    assert float(completion["p100"]) == lengths[-1] and float(completion["p0"]) == lengths[0]
    metadata = {r["prompt_id"]: Record.from_row(r).metadata for r in rows}
    rates = {p: m["pass_rate"] for p, m in metadata.items() if "pass_rate" in m}
    [[prompts, mean, *_]] = tables["Pass rates (per prompt)"]
    assert num(prompts) == len(rates)
    assert float(mean) == pytest.approx(sum(rates.values()) / len(rates), abs=1e-3)
    # how it was built: the mix stage with its drop counts and its recipe
    [stage_row] = tables["How it was built"]
    assert stage_row[0] == "mix" and "no_completion: 1" in stage_row[4]
    assert "max_duplication: 1.5" in text
    # the recipe names its folders relative to the run, never this machine's absolute paths
    assert str(tmp_path) not in text and "output: mix\n" in text
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (hub / image).stat().st_size > 1000


def test_push_without_token_or_network_keeps_the_folder(mixed, tmp_path, monkeypatch):
    config = PublishConfig(input=str(mixed), repo_id="org/r1-mini", tokenizer="none",
                           token_env="R1DATA_TEST_NO_SUCH_TOKEN")
    summary = build(config)
    before = {p: p.read_bytes() for p in config.folder.rglob("*") if p.is_file()}
    with pytest.raises(PublishError, match="no Hugging Face token"):
        push(config, summary)
    monkeypatch.setenv("R1DATA_TEST_NO_SUCH_TOKEN", "hf_not_a_real_token")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network in the tests
    with pytest.raises(PublishError, match="push to org/r1-mini failed.*intact"):
        push(config, summary)
    after = {p: p.read_bytes() for p in config.folder.rglob("*") if p.is_file()}
    assert after == before


def test_cli_error_is_one_line_exit_2(mixed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"} | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "r1data", "publish", str(mixed), "--repo-id", "org/x",
                           "--tokenizer", "none", "--output", str(tmp_path / "hub")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: no Hugging Face token in $HF_TOKEN: set it, or use --dry-run; "
        f"the dataset folder is ready at {tmp_path / 'hub'}"]
    assert (tmp_path / "hub" / "README.md").exists()


def test_publish_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError):
        PublishConfig(input="x", repo_id="no-org")
    with pytest.raises(PublishError, match="no readable records"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "bad.jsonl").write_text("not json\n")
        build(PublishConfig(input=str(tmp_path / "empty"), repo_id="o/n", tokenizer="none"))
