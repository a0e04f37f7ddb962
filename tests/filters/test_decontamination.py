"""Decontamination: prompt, reasoning and answer are all checked; copies that only change
spacing, casing, punctuation or number formatting are caught; changed numbers are not."""

import pytest

from r1data import benchmark_sets
from r1data.filters.adapters import document_of
from r1data.filters.decontamination import DecontaminationFilter
from r1data.record import META_CONTAMINATION

from filtercase_helpers import make_record, varied_text


@pytest.fixture(scope="module")
def decont():
    return DecontaminationFilter(benchmarks=["gsm8k", "math500", "aime24"])


def gsm8k_item(index=0):
    return benchmark_sets.load("gsm8k")[index]


def decide(step, record):
    result = step.filter(document_of(record))
    return "kept" if result is True else result[1]


def test_benchmark_prompt_is_contamination(decont):
    item = gsm8k_item()
    record = make_record({"prompt": item["prompt"], "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "contamination"
    match = record.metadata[META_CONTAMINATION]
    assert (match["benchmark"], match["item_id"], match["field"]) == ("gsm8k", item["id"], "prompt")


def test_benchmark_problem_recited_in_the_reasoning_is_contamination(decont):
    item = gsm8k_item(5)
    reasoning = varied_text(200) + " I remember this one: " + item["prompt"] + " " + varied_text(50, 1)
    record = make_record({"prompt": "Solve a fresh problem about apples.",
                          "completion": f"<think>\n{reasoning}\n</think>\n\n7"})
    assert decide(decont, record) == "contamination"
    assert record.metadata[META_CONTAMINATION]["field"] == "reasoning"


def test_benchmark_problem_in_the_answer_is_contamination(decont):
    item = benchmark_sets.load("math500")[3]
    record = make_record({"prompt": "Give me a hard problem.",
                          "completion": f"<think>\nok\n</think>\n\nTry this: {item['prompt']}"})
    assert decide(decont, record) == "contamination"
    assert record.metadata[META_CONTAMINATION]["field"] == "answer"


def test_changed_spacing_casing_punctuation_and_number_format_is_still_caught(decont):
    item = next(i for i in benchmark_sets.load("gsm8k") if any(c.isdigit() for c in i["prompt"]))
    text = item["prompt"].upper().replace(" ", "   ").replace(".", " ;")
    record = make_record({"prompt": text, "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "contamination"


def test_short_near_verbatim_copy_is_caught_by_the_fuzzy_check(decont):
    # A word slipped in after every 6th: no 8-gram survives, the fuzzy check still sees a copy.
    item = next(i for i in benchmark_sets.load("gsm8k") if len(i["prompt"].split()) > 30)
    words = item["prompt"].split()
    edited = " ".join(w + (" so" if i % 6 == 5 else "") for i, w in enumerate(words))
    record = make_record({"prompt": edited, "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "contamination"
    assert record.metadata[META_CONTAMINATION]["method"] == "fuzzy"


def test_clean_samples_and_changed_numbers_are_kept(decont):
    clean = make_record({"prompt": varied_text(40), "completion": f"<think>\n{varied_text(500, 2)}\n</think>\n\n4"})
    assert decide(decont, clean) == "kept"
    short = next(i for i in benchmark_sets.load("math500") if len(i["prompt"]) < 30)
    renumbered = "".join(str((int(c) + 1) % 10) if c.isdigit() else c for c in short["prompt"])
    assert renumbered != short["prompt"]
    record = make_record({"prompt": renumbered, "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "kept"


def test_chinese_text_is_checked_without_false_positives(decont):
    record = make_record({"prompt": "计算这个数字的平方，然后再加上第二个数字。", "language": "zh",
                          "completion": "<think>\n我们需要先计算这个数字的平方，然后再加上第二个数字。\n</think>\n\n答案是十二。"})
    assert decide(decont, record) == "kept"
