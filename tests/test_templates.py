"""Templates: the exact R1-Zero text, chat / readable / few-shot conversations, and the helpers
that keep a pre-filled think block and split the readable format."""

import json

import pytest

from r1data.record import Record
from r1data.templates import (
    R1_ZERO_TEMPLATE, TemplateError, build_prompt, load_fewshot, restore_think, split_readable,
    think_prefill,
)

R1_ZERO_TEXT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves "
    "it. The assistant first thinks about the reasoning process in the mind and then provides the "
    "user with the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> "
    "answer here </answer>. User: What is 2+2?. Assistant:"
)


def test_r1_zero_is_the_papers_text():
    assert build_prompt("What is 2+2?", "r1-zero") == R1_ZERO_TEXT
    assert R1_ZERO_TEMPLATE.format(prompt="What is 2+2?") == R1_ZERO_TEXT
    with pytest.raises(TemplateError):
        build_prompt("What is 2+2?", "r1-zero", system="be brief")


def test_chat_keeps_the_conversation_and_adds_the_system_prompt():
    record = Record.from_prompt("What is 2+2?", id="q1")
    record = record.with_completion("4")  # an answered record: its assistant turn is not resent
    assert build_prompt(record, "chat") == [{"role": "user", "content": "What is 2+2?"}]
    assert build_prompt(record, "chat", system="Be brief.") == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]


def test_readable_asks_for_the_configured_special_token():
    messages = build_prompt("What is 2+2?", "readable", special_token="<SEP>")
    assert messages[0]["role"] == "system" and messages[0]["content"].count("<SEP>") >= 2
    assert "|special_token|" not in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "What is 2+2?"}


def test_fewshot_puts_examples_before_the_question(tmp_path):
    examples = [{"problem": "1+1?", "reasoning": "one and one", "answer": "2"},
                {"question": "2+3?", "solution": "<think>\nadd\n</think>\n\n5"}]
    messages = build_prompt("What is 2+2?", "few-shot", fewshot=examples)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == "<think>\none and one\n</think>\n\n2"
    assert messages[3]["content"].startswith("<think>") and messages[-1]["content"] == "What is 2+2?"
    with pytest.raises(TemplateError):
        build_prompt("What is 2+2?", "few-shot")
    with pytest.raises(TemplateError):
        build_prompt("What is 2+2?", "few-shot", fewshot=[{"problem": "no solution"}])


def test_load_fewshot_is_reproducible_and_reads_records(tmp_path):
    path = tmp_path / "examples.jsonl"
    rows = [Record.from_prompt(f"q{i}", id=f"e{i}").with_completion(f"<think>\nr{i}\n</think>\n\na{i}").to_dict()
            for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = load_fewshot(path, 3, seed=1)
    assert first == load_fewshot(path, 3, seed=1) and len(first) == 3
    messages = build_prompt("new question", "few-shot", fewshot=first)
    assert all(m["content"].startswith("<think>") for m in messages if m["role"] == "assistant")
    with pytest.raises(TemplateError):
        load_fewshot(path, 7)


def test_unknown_template_is_refused():
    with pytest.raises(TemplateError, match="unknown template"):
        build_prompt("q", "alpaca")


@pytest.mark.parametrize("rendered, expected", [
    ("<|im_start|>assistant\n<think>\n", "<think>\n"),
    ("<|im_start|>assistant\n<think>", "<think>"),
    ("<|im_start|>assistant\n", ""),
    ("User: think about <think> </think> tags. Assistant:", ""),
])
def test_think_prefill(rendered, expected):
    assert think_prefill(rendered) == expected


def test_restore_think_puts_the_opening_tag_back():
    assert restore_think("add\n</think>\n\n4", "<think>\n") == "<think>\nadd\n</think>\n\n4"
    assert restore_think("add\n</think>\n\n4", None) == "<think>\nadd\n</think>\n\n4"
    assert restore_think("<think>\nadd\n</think>\n\n4", None) == "<think>\nadd\n</think>\n\n4"
    assert restore_think("4", "") == "4"


def test_split_readable():
    assert split_readable("|special_token|2+2 is 4|special_token|It is 4.") == ("2+2 is 4", "It is 4.")
    assert split_readable("<S>r<S>s", "<S>") == ("r", "s")
    assert split_readable("no markers") == (None, "no markers")
    assert split_readable("text |special_token|a|special_token|b") == (None, "text |special_token|a|special_token|b")
