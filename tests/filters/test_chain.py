"""The filter chain end to end on the local executor: output layout, reasons, stats, resume."""

import json

import pytest

from r1data import benchmark_sets, io
from r1data.config import ConfigError
from r1data.config import from_dict
from r1data.filters.chain import FilterChainConfig, run_chain
from r1data.record import META_DROP_FILTER, META_DROP_REASON

from filtercase_helpers import chain_corpus

RECIPE = {"correctness": {"max_per_prompt": 2}, "decontamination": {"benchmarks": ["gsm8k"]}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "samples.jsonl"
    expected = chain_corpus(path, benchmark_sets.load("gsm8k")[7]["prompt"])
    return path, expected


@pytest.fixture(scope="module")
def result(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("chain") / "out"
    stats = run_chain(from_dict(FilterChainConfig, RECIPE), corpus[0], out)
    return out, stats


def kept_ids(out):
    return {r.id for r in io.read_records(out / "kept")}


def test_each_planted_sample_gets_its_reason(corpus, result):
    _, expected = corpus
    out, _ = result
    assert kept_ids(out) == {rid for rid, reason in expected.items() if reason == "kept"}
    dropped = {r.id: r for r in io.read_records(out / "dropped")}
    assert {rid: r.metadata[META_DROP_REASON] for rid, r in dropped.items()} == {
        rid: reason for rid, reason in expected.items() if reason != "kept"}
    for record in dropped.values():
        assert record.filters[-1] == {"filter": record.metadata[META_DROP_FILTER], "kept": False,
                                      "reason": record.metadata[META_DROP_REASON]}


def test_stats_count_per_filter_and_reason(corpus, result):
    _, expected = corpus
    out, stats = result
    assert json.loads((out / "stats.json").read_text())["kept"] == stats["kept"]
    assert stats["input"] == len(expected) and stats["rejected"] == 1
    assert stats["kept"] == sum(r == "kept" for r in expected.values())
    reasons = {}
    for entry in stats["filters"].values():
        for reason, count in entry["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    planted = {}
    for reason in expected.values():
        if reason != "kept":
            planted[reason] = planted.get(reason, 0) + 1
    assert reasons == planted
    assert stats["filters"]["correctness"]["reasons"] == {
        "incorrect": 1, "prompt_cap": 1}


def test_unreadable_rows_and_contamination_are_reported(result):
    out, _ = result
    rejected = [json.loads(line) for f in (out / "rejected").glob("*.jsonl") for line in open(f)]
    assert len(rejected) == 1 and rejected[0]["reason"].startswith("bad_json")
    report = [json.loads(line) for line in open(out / "contamination_report.jsonl")]
    assert len(report) == 1
    assert report[0]["benchmark"] == "gsm8k" and report[0]["item_id"] == benchmark_sets.load("gsm8k")[7]["id"]


def test_rerun_resumes_from_completion_markers(corpus, result):
    out, stats = result
    before = {p: p.stat().st_mtime_ns for p in (out / "kept").iterdir()}
    again = run_chain(from_dict(FilterChainConfig, RECIPE), corpus[0], out)
    assert {p: p.stat().st_mtime_ns for p in (out / "kept").iterdir()} == before  # nothing redone
    assert again["kept"] == stats["kept"] and again["filters"] == stats["filters"]


def test_sharded_run_with_parquet_output_keeps_the_same_set(corpus, result, tmp_path):
    recipe = {**RECIPE, "tasks": 3, "output_format": "parquet"}
    run_chain(from_dict(FilterChainConfig, recipe), corpus[0], tmp_path / "out")
    assert all(p.suffix == ".parquet" for p in (tmp_path / "out" / "kept").iterdir())
    assert kept_ids(tmp_path / "out") == kept_ids(result[0])
    dropped = list(io.read_records(tmp_path / "out" / "dropped"))
    assert all(r.metadata[META_DROP_REASON] for r in dropped)


@pytest.mark.parametrize("recipe, message", [
    ({"languag": {}}, "unknown key"),
    ({"language": {"min_consistancy": 0.9}}, "min_consistancy"),
    ({"minhash": {"buckets": 3}}, "buckets"),
    ({"executor": "spark"}, "executor"),
    ({"executor": "slurm"}, "partition"),
])
def test_bad_recipes_are_config_errors(recipe, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(FilterChainConfig, recipe)


def test_shipped_recipe_loads_with_every_filter_on():
    from importlib import resources

    from r1data.config import load

    path = resources.files("r1data.filters") / "r1_chain.yaml"
    config = load(FilterChainConfig, str(path))
    assert config.enabled() == ["format", "length", "correctness", "code_blocks", "paragraphs",
                                "repetition", "decontamination", "language", "minhash",
                                "exact_dedup", "fuzzy_dedup"]


def test_decontaminate_command_writes_the_report(corpus, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "r1data", "decontaminate", "-i", str(corpus[0]),
                           "-o", str(out), "--benchmarks", "gsm8k,math500"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = [json.loads(line) for line in open(out / "contamination_report.jsonl")]
    assert [r["id"] for r in report] == ["bench/0"]
    assert kept_ids(out) == set(corpus[1]) - {"bench/0"}
    assert "contamination" in proc.stdout


def test_no_stage_writes_a_copy_of_the_corpus(corpus, tmp_path):
    # at R1's scale each copy of the corpus is tens of GB: between stages only compact keys
    # (hashes, band keys, normalised prompts, MinHash signatures) are written, and the
    # signatures are gone once the decisions are made
    out = tmp_path / "out"
    present = {}

    def on_stage(name, index, count):
        work = out / ".work"
        present[name] = (sorted(p.name for p in work.iterdir()) if work.exists() else [],
                         sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) if work.exists() else 0)

    run_chain(from_dict(FilterChainConfig, RECIPE), corpus[0], out, on_stage=on_stage)
    assert present["decide"][0] == ["keys", "minhash"]
    assert present["final"][0] == ["decisions", "keys"]  # what the final stage reads
    completions = sum(len(r.completion) for r in io.read_records(corpus[0]))
    assert present["final"][1] < completions / 4
    assert not (out / ".work").exists()
