"""check_format and verify_choice against their case tables, and MMLU-STEM golds end to end."""

import json
from pathlib import Path

import pytest
import yaml

from r1data.verifiers import check_format, verify_choice

HERE = Path(__file__).parent / "cases"
FORMAT = yaml.safe_load((HERE / "format.yaml").read_text("utf-8"))
CHOICE = yaml.safe_load((HERE / "choice.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", FORMAT, ids=[c["completion"][:40] for c in FORMAT])
def test_format_cases(case):
    verdict = check_format(case["completion"], style=case["style"])
    assert (verdict.correct, verdict.reason) == (case["correct"], case["reason"])


def test_unknown_style_is_an_error():
    with pytest.raises(ValueError, match="unknown format style"):
        check_format("<think>\na\n</think>\nb", style="r2")


@pytest.mark.parametrize("case", CHOICE, ids=[c["completion"][:40] for c in CHOICE])
def test_choice_cases(case):
    verdict = verify_choice(case["completion"], case["gold"], case.get("choices"))
    assert verdict.correct is case["correct"], verdict
    if "reason" in case:
        assert verdict.reason == case["reason"]


def test_mmlu_stem_gold_letters_and_texts(package_data):
    rows = [json.loads(line) for line in open(package_data / "benchmarks" / "mmlu_stem.jsonl", encoding="utf-8")]
    for row in rows[:300]:
        gold, choices = row["answer"], row["choices"]
        right = f"<think>\nthinking\n</think>\n\nThe answer is ({gold})."
        wrong = "ABCD"[(row["answer_index"] + 1) % len(choices)]
        assert verify_choice(right, gold, choices).correct is True
        assert verify_choice(f"The answer is {wrong}.", gold, choices).correct is False
        assert verify_choice(right, choices[row["answer_index"]], choices).correct is True


def test_r1_format_reads_the_parts_its_regex_reads():
    # check_format("r1") finds the think and answer parts with string searches; the regex it
    # replaced is the definition, on random texts built from the tags, whitespace and letters
    import random
    import re

    from r1data.verifiers.format import _r1_parts

    r1 = re.compile(r"\A\s*<think>\n(?P<think>.*?)\n</think>(?P<answer>.*)\Z", re.DOTALL)
    pool = ["<think>", "\n", " ", "\t", "\x1c", "\u3000", "\x85", "\u200b", "a", "4", "<", ">", "/think>"]
    rng = random.Random(0)
    matched = 0
    for _ in range(30_000):
        def some(k):
            return "".join(rng.choice(pool) for _ in range(rng.randint(0, k)))

        text = (some(2) + rng.choice(["<think>\n", "<think>", "<think>\n\n", ""]) + some(6)
                + rng.choice(["\n</think>", "</think>", "\n\n</think>"]) + some(4))
        if text.count("</think>") != 1:
            continue  # check_format calls it with one closing tag
        match = r1.match(text)
        matched += bool(match)
        assert _r1_parts(text) == (match.group("think", "answer") if match else None), repr(text)
    assert matched > 1_000
