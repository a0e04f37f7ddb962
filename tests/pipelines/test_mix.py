"""The mixer: sizes, quotas, weights, the duplication cap, seeded reproducibility, the split."""

import json
from collections import Counter

import pytest

from r1data.config import from_dict
from r1data.config import ConfigError
from r1data.io import read_records, write_records
from r1data.pipelines.mix import DUPLICATE_OF, MixConfig, allocate, run
from r1data.record import Record


def _read(folder):
    return list(read_records(folder))


def _mix(corpus, tmp_path, name="mix", **kw):
    folder, _ = corpus
    kw.setdefault("tokenizer", "none")
    return run(MixConfig(inputs=[str(folder)], output=str(tmp_path / name), **kw))


def test_natural_mix_takes_targets_and_sets_aside_unanswered(corpus, tmp_path):
    summary = _mix(corpus, tmp_path, reasoning_size=50, non_reasoning_size=6)
    rows = _read(tmp_path / "mix" / "train")
    kinds = Counter(r.kind for r in rows)
    assert kinds == {"reasoning": 50, "non_reasoning": 6}
    # natural proportions: math has 60 samples, code 20 -> 3:1
    domains = Counter(r.domain for r in rows if r.kind == "reasoning")
    assert domains == {"math": 38, "code": 12} or domains == {"math": 37, "code": 13}
    assert summary.kept == 56 and summary.inputs == 91
    assert summary.dropped == {"no_completion": 1}
    dropped = _read(tmp_path / "mix" / "dropped")
    assert [r.metadata["drop_reason"] for r in dropped] == ["no_completion"]
    assert not summary.extra["shortfall"] and summary.extra["repeated_rows"] == 0
    # every row is ready for SFT: the conversation ends with the assistant turn
    assert all(r.messages[-1]["role"] == "assistant" and r.messages[0]["role"] == "user" for r in rows)
    assert json.loads((tmp_path / "mix" / "stats.json").read_text())["kept"] == 56


def test_same_seed_same_corpus_other_seed_other_sample(corpus, tmp_path):
    ids = [sorted(r.id for r in _read(tmp_path / name / "train"))
           for name, seed in (("a", 1), ("b", 1), ("c", 2))
           if _mix(corpus, tmp_path, name, reasoning_size=20, non_reasoning_size=4, seed=seed)]
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]


def test_upsampling_is_capped_and_the_shortfall_reported(corpus, tmp_path):
    summary = _mix(corpus, tmp_path, reasoning_size=200, non_reasoning_size=None, max_duplication=2)
    rows = _read(tmp_path / "mix" / "train")
    reasoning = [r for r in rows if r.kind == "reasoning"]
    assert len(reasoning) == 160  # 80 samples, each at most twice
    copies = Counter(r.metadata.get(DUPLICATE_OF, r.id) for r in reasoning)
    assert max(copies.values()) == 2
    assert summary.extra["shortfall"] == {"reasoning": 40}
    assert summary.extra["repeated_rows"] == 80
    assert len({r.id for r in rows}) == len(rows)  # copies get their own ids
    # null size = everything available, never more
    assert sum(r.kind == "non_reasoning" for r in rows) == 10


def test_quotas_and_weights(corpus, tmp_path):
    _mix(corpus, tmp_path, "q", reasoning_size=30, non_reasoning_size=0, quotas={"code": 5})
    domains = Counter(r.domain for r in _read(tmp_path / "q" / "train"))
    assert domains == {"code": 5, "math": 25}
    _mix(corpus, tmp_path, "w", reasoning_size=30, non_reasoning_size=0,
         weights={"math": 1, "code": 1})
    domains = Counter(r.domain for r in _read(tmp_path / "w" / "train"))
    assert domains == {"code": 15, "math": 15}
    # by source, a group not weighted contributes nothing
    summary = _mix(corpus, tmp_path, "s", reasoning_size=30, non_reasoning_size=0,
                   group_by="source", weights={"math_src": 1})
    assert Counter(r.source for r in _read(tmp_path / "s" / "train")) == {"math_src": 30}
    plan = {p["group"]: p for p in summary.extra["plan"]}
    assert plan["code_src"]["taken"] == 0 and plan["code_src"]["left_out"] == 20


def test_split_is_by_prompt(corpus, tmp_path):
    summary = _mix(corpus, tmp_path, reasoning_size=None, non_reasoning_size=None, test_size=0.25)
    train, test = _read(tmp_path / "mix" / "train"), _read(tmp_path / "mix" / "test")
    assert len(train) + len(test) == 90
    assert not {r.prompt_id for r in train} & {r.prompt_id for r in test}
    assert len({r.prompt_id for r in test}) == round(0.25 * 50)  # 50 prompts in all
    assert all(r.metadata["split"] == "test" for r in test)
    assert summary.extra["splits"] == {"train": len(train), "test": len(test)}


def test_statistics_match_the_written_rows(corpus, tmp_path):
    summary = _mix(corpus, tmp_path, reasoning_size=40, non_reasoning_size=10, test_size=0.2,
                   tokenizer="smollm2-135m")
    rows = _read(tmp_path / "mix" / "train") + _read(tmp_path / "mix" / "test")
    stats = summary.extra["statistics"]
    assert stats["rows"] == len(rows)
    assert stats["domains"] == dict(Counter(r.domain for r in rows))
    assert stats["languages"] == dict(Counter(r.language for r in rows))
    assert stats["with_reasoning"] == sum(r.reasoning is not None for r in rows)
    lengths = sorted(r.completion_tokens for r in rows)
    assert stats["completion_tokens"]["p100"] == lengths[-1]
    rates = {r.prompt_id: r.metadata["pass_rate"] for r in rows if "pass_rate" in r.metadata}
    assert stats["pass_rate"]["prompts"] == len(rates)
    assert stats["pass_rate"]["mean"] == pytest.approx(sum(rates.values()) / len(rates))
    assert {p.name for p in (tmp_path / "mix" / "plots").iterdir()} == {
        "token_lengths.png", "domains.png", "pass_rates.png"}


def test_allocate_shares_what_capped_groups_cannot_give():
    config = MixConfig(inputs=["x"], weights={"a": 1, "b": 1, "c": 2})
    assert allocate(100, {"a": 10, "b": 50, "c": 100}, config) == {"a": 10, "b": 30, "c": 60}
    assert allocate(None, {"a": 10, "b": 50}, MixConfig(inputs=["x"], quotas={"a": 3})) == {"a": 3, "b": 50}


@pytest.mark.parametrize("bad", [
    {"inputs": ["x"], "max_duplication": 0.5},
    {"inputs": ["x"], "group_by": "language"},
    {"inputs": ["x"], "quotas": {"math": -1}},
    {"inputs": ["x"], "test_size": 2.5},
    {"inputs": ["x"], "reasoning_sizes": 5},
    {"inputs": []},
])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ConfigError):
        from_dict(MixConfig, bad)


def test_a_stage_that_kept_nothing_is_an_empty_input(corpus, tmp_path):
    (tmp_path / "empty_stage" / "kept").mkdir(parents=True)
    folder, _ = corpus
    summary = run(MixConfig(inputs=[str(folder), str(tmp_path / "empty_stage")], output=str(tmp_path / "m"),
                            reasoning_size=None, non_reasoning_size=None, tokenizer="none"))
    assert summary.kept == 90
    assert summary.extra["empty_inputs"] == [str(tmp_path / "empty_stage" / "kept")]
    with pytest.raises(Exception, match="no such file"):
        run(MixConfig(inputs=[str(tmp_path / "missing")], output=str(tmp_path / "m2"), tokenizer="none"))


def test_one_question_under_two_ids_never_leaks_into_test(tmp_path):
    """Cold start and rejection sampling both answer the same 40 questions, under their own ids
    and with other spacing and casing; one sample is also read twice. However the split falls,
    a question lands on one side only, and the repeated sample is kept once."""
    cold, rs = [], []
    for i in range(40):
        question = f"What is {i} times {i + 3}?"
        a = Record.from_prompt(question, id=f"cs-{i}", domain="math", source="cold_start")
        b = Record.from_prompt(f"  what is {i} TIMES {i + 3} ", id=f"rs-{i}", domain="math",
                               source="rejection_sampling")
        cold.append(a.with_completion(f"<think>\nMultiply: {i * (i + 3)}.\n</think>\n\n{i * (i + 3)}"))
        rs.append(b.with_completion(f"<think>\n{i} groups of {i + 3}.\n</think>\n\n{i * (i + 3)}"))
    write_records(cold, tmp_path / "cold_start" / "kept")
    write_records(rs + cold[:1], tmp_path / "rejection_sampling" / "kept")
    summary = run(MixConfig(inputs=[str(tmp_path / "cold_start"), str(tmp_path / "rejection_sampling")],
                            output=str(tmp_path / "mix"), reasoning_size=None, non_reasoning_size=None,
                            test_size=0.5, tokenizer="none"))
    train, test = _read(tmp_path / "mix" / "train"), _read(tmp_path / "mix" / "test")
    question = lambda r: " ".join(r.prompt.lower().rstrip("?").split())  # noqa: E731
    assert not {question(r) for r in train} & {question(r) for r in test}
    assert len({question(r) for r in test}) == 20 and len(test) == 40  # both traces of each
    assert len(train) == 40
    assert summary.dropped == {"duplicate": 1}
    assert [r.id for r in _read(tmp_path / "mix" / "dropped")] == [cold[0].id]
