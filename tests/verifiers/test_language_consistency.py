"""language_consistency: the case table, real corpora (English and Chinese), and thread safety."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from r1data.verifiers import language_consistency

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "language.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:40] + "/" + c["target"] for c in CASES])
def test_language_cases(case):
    score = language_consistency(case["text"], target=case["target"])
    assert case["min"] <= score <= case["max"], score


def _rows(path, n):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh)]


def test_real_english_math_solutions_are_english(package_data):
    solutions = [r["solution"] for r in _rows(package_data / "benchmarks" / "math500.jsonl", 200)]
    scores = [language_consistency(s, "en") for s in solutions]
    assert sum(scores) / len(scores) > 0.98
    assert sum(s < 0.9 for s in scores) <= 2


def test_real_chinese_is_chinese_not_english(test_data):
    rows = _rows(test_data / "zh_prose.jsonl", 40)
    zh = [language_consistency(r["text"], "zh") for r in rows]
    en = [language_consistency(r["text"], "en") for r in rows]
    assert sum(zh) / len(zh) > 0.9
    assert sum(en) / len(en) < 0.15


def test_mixing_lowers_the_score_in_proportion(package_data, test_data):
    en = " ".join(r["problem"] for r in _rows(package_data / "benchmarks" / "gsm8k_test.jsonl", 40))
    zh = " ".join(r["text"] for r in _rows(test_data / "zh_prose.jsonl", 40))
    pure, mixed = language_consistency(en, "en"), language_consistency(en + "\n" + zh, "en")
    assert pure > 0.95 and 0.1 < mixed < pure - 0.2


def test_threads_give_the_same_scores():
    texts = [c["text"] for c in CASES] * 8
    serial = [language_consistency(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(language_consistency, texts)) == serial
