from r1data.pipelines.cold_start import shape
from r1data.record import split_plain
from r1data.record import Record


def _sample(text: str, finish_reason: str = "stop") -> Record:
    record = Record.from_prompt("Gus has 6 cookies and gets 10 more. How many?", id="p1", gold="16")
    return record.with_completion(text, finish_reason=finish_reason)


def test_split_plain_takes_the_final_statement_as_summary():
    assert split_plain("6 + 10 = 16.\n\nThe answer is \\boxed{16}.") == ("6 + 10 = 16.", "The answer is \\boxed{16}.")
    assert split_plain("He adds.\nSo 6 + 10 = 16") == ("He adds.", "So 6 + 10 = 16")
    assert split_plain("The answer is 16.") is None  # nothing to call reasoning
    assert split_plain("He adds them.\n\nCookies are nice.") is None  # no final statement
    # one line: its sentences (the RL checkpoint's usual reply), never at a decimal point
    assert split_plain("Kofi has 15 + 9 = 24 marbles. The answer is 24.") == (
        "Kofi has 15 + 9 = 24 marbles.", "The answer is 24.")
    assert split_plain("Each costs 2.5 dollars, so 2 cost 5.0. The answer is 5.") == (
        "Each costs 2.5 dollars, so 2 cost 5.0.", "The answer is 5.")
    assert split_plain("It is 3.5 and so the answer is 3.5.") is None


def test_plain_answers_are_refused_unless_accepted():
    text = "First, 6 + 10 = 16.\n\nSo the answer is 16."
    assert shape(_sample(text))[1] == "not_readable"
    record, reason = shape(_sample(text), accept_plain=True)
    assert reason is None
    assert record.reasoning == "First, 6 + 10 = 16." and record.answer == "So the answer is 16."
    assert record.messages[-1]["content"].startswith("<think>\nFirst, 6 + 10 = 16.\n</think>\n\n")


def test_truncated_plain_answers_are_never_split():
    text = "First, 6 + 10 = 16.\n\nSo the answer is 16."
    assert shape(_sample(text, finish_reason="length"), accept_plain=True)[1] == "not_readable"
