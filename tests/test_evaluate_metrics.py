"""Evaluation metrics on hand-computed cases: pass@1 and its standard error, the unbiased pass@k
against its closed form, cons@k with ties and equivalent answers, and `compare`."""

import math

import pytest

from r1data import evaluate
from r1data.evaluate import (benchmark_metrics, majority_vote, mean_and_stderr, pass_at_k,
                             question_metrics)


def test_pass_at_k_matches_closed_form_everywhere():
    for n in range(1, 21):
        for c in range(n + 1):
            for k in range(1, n + 1):
                closed = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(closed, abs=1e-12), (n, c, k)


def test_pass_at_k_hand_values_and_bad_input():
    assert pass_at_k(4, 0, 4) == 0.0
    assert pass_at_k(4, 4, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(64, 1, 64) == 1.0
    assert pass_at_k(200, 10, 100) == pytest.approx(1 - math.comb(190, 100) / math.comb(200, 100))
    for bad in ((4, 5, 1), (4, 1, 5), (4, 1, 0)):
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def _samples(correct, extracted=None, finish=None, tokens=None):
    extracted = extracted or [None] * len(correct)
    finish = finish or ["stop"] * len(correct)
    tokens = tokens or [10] * len(correct)
    return [{"correct": c, "extracted": e, "finish_reason": f, "completion_tokens": t}
            for c, e, f, t in zip(correct, extracted, finish, tokens)]


def test_pass_at_1_is_the_mean_over_samples_then_questions_with_its_stderr():
    questions = []
    for correct in ([True, True, False, False], [True] * 4, [False] * 4):
        samples = _samples(correct)
        questions.append({"samples": samples, **question_metrics(samples, [1, 2, 4], "code")})
    assert [q["pass_at_1"] for q in questions] == [0.5, 1.0, 0.0]
    m = benchmark_metrics(questions, [1, 2, 4], "code")
    assert m["pass_at_1"] == pytest.approx(0.5)
    # per-question values 0.5, 1, 0: sample variance 0.25, se = sqrt(0.25 / 3)
    assert m["pass_at_1_stderr"] == pytest.approx(math.sqrt(0.25 / 3))
    # pass@2 per question: 1 - C(2,2)/C(4,2) = 5/6, 1, 0
    assert m["pass_at_k"]["2"] == pytest.approx((5 / 6 + 1 + 0) / 3)
    assert m["pass_at_k"]["4"] == pytest.approx(2 / 3)
    assert m["pass_at_k"]["1"] == pytest.approx(m["pass_at_1"])
    assert m["cons_at_k"] is None  # code: nothing to vote on


def test_undecided_samples_count_as_wrong_and_are_reported():
    samples = _samples([True, None, False, None])
    q = question_metrics(samples, [1], "choice")
    assert q["pass_at_1"] == 0.25
    m = benchmark_metrics([{"samples": samples, **q}], [1], "choice")
    assert m["undecided"] == 2 and m["pass_at_1_stderr"] is None  # one question: no error bar


def test_stderr_hand_value():
    mean, se = mean_and_stderr([1.0, 0.0, 0.5, 0.5])
    assert mean == 0.5 and se == pytest.approx(math.sqrt((0.25 + 0.25) / 3 / 4))
    assert mean_and_stderr([]) == (0.0, None)


@pytest.mark.parametrize("answers, expected", [
    (["3", "4", "4", "3"], (0, 2)),          # tie 2-2: the group formed first wins
    (["4", "3", "3", "4"], (0, 2)),          # same tie, other order: still the first
    (["1", "2", "3"], (0, 1)),               # all different: the first sample
    ([None, "5", "4", "4"], (2, 2)),         # None does not vote
    ([None, None], (None, 0)),               # nobody voted
    (["7", "8", "8", "7", "7"], (0, 3)),
])
def test_majority_vote_ties_are_deterministic(answers, expected):
    assert majority_vote(answers) == expected


def test_votes_go_by_math_equivalence_not_by_string():
    # "0.5", "1/2" and "\frac{1}{2}" are one answer with three votes; "2" and "2.0" another.
    extracted = ["2", "0.5", "\\frac{1}{2}", "2.0", "1/2"]
    correct = [False, True, True, False, True]
    q = question_metrics(_samples(correct, extracted), [1], "math")
    assert q["vote"] == {"answer": "0.5", "votes": 3, "sample": 1, "correct": True}
    # a 2-2 tie between equivalence classes goes to the class seen first ("2")
    q = question_metrics(_samples([False, True, False, True], ["2", "\\frac{1}{2}", "2.0", "0.5"]),
                         [1], "math")
    assert q["vote"] == {"answer": "2", "votes": 2, "sample": 0, "correct": False}


def test_choice_votes_by_letter_and_no_votes_is_wrong():
    q = question_metrics(_samples([False, True, True], ["A", "C", "C"]), [1], "choice")
    assert q["vote"]["answer"] == "C" and q["vote"]["correct"] is True
    q = question_metrics(_samples([False, False], [None, None]), [1], "math")
    assert q["vote"] == {"answer": None, "votes": 0, "sample": None, "correct": False}


def test_cons_truncation_and_tokens_over_a_benchmark():
    rows = []
    for correct, extracted, finish, tokens in (
        ([True, False, True, False], ["4", "5", "4.0", "5"], ["stop", "length", "stop", "stop"],
         [10, 20, 30, 40]),   # tie 4 vs 5: "4" first -> correct
        ([False, False, True, False], ["1", "1", "2", None], ["stop"] * 4, [5, 5, 5, 5]),  # "1" wins
    ):
        samples = _samples(correct, extracted, finish, tokens)
        rows.append({"samples": samples, **question_metrics(samples, [1, 4], "math")})
    m = benchmark_metrics(rows, [1, 4], "math")
    assert m["cons_at_k"] == 0.5
    assert m["pass_at_1"] == pytest.approx((0.5 + 0.25) / 2)
    assert m["truncation_rate"] == pytest.approx(1 / 8)
    assert m["mean_tokens"] == pytest.approx((100 + 20) / 8)
    assert m["no_answer"] == 1 and m["pass_at_k"]["4"] == 1.0


def test_default_ks():
    assert evaluate.EvalConfig(sampling={"n": 1}).ks == [1]
    assert evaluate.EvalConfig(sampling={"n": 4}).ks == [1, 2, 4]
    assert evaluate.EvalConfig(sampling={"n": 6}).ks == [1, 2, 4, 6]
    assert evaluate.EvalConfig(sampling={"n": 64}).ks == [1, 2, 4, 8, 16, 32, 64]
    with pytest.raises(ValueError):
        evaluate.EvalConfig(sampling={"n": 4}, pass_k=[8])
    with pytest.raises(ValueError):
        evaluate.EvalConfig(benchmarks="gsm8k,nope")


def _results(pass1, se, cons, tokens):
    return {"schema": evaluate.SCHEMA, "benchmarks": {"gsm8k": {
        "pass_at_1": pass1, "pass_at_1_stderr": se, "cons_at_k": cons, "truncation_rate": 0.1,
        "mean_tokens": tokens, "pass_at_k": {"1": pass1, "4": pass1 + 0.1}}}}


def test_compare_flags_differences_beyond_the_standard_error():
    a, b = _results(0.30, 0.03, 0.4, 200.0), _results(0.40, 0.04, 0.5, 180.0)
    rows = {r["metric"]: r for r in evaluate.compare(a, b)}
    p1 = rows["pass_at_1"]
    assert p1["diff"] == pytest.approx(0.10) and p1["se"] == pytest.approx(0.05)  # hypot(.03, .04)
    assert p1["z"] == pytest.approx(2.0) and p1["exceeds_se"] is True
    assert rows["cons_at_k"]["diff"] == pytest.approx(0.1) and rows["cons_at_k"]["se"] is None
    assert rows["mean_tokens"]["diff"] == pytest.approx(-20.0)
    assert "pass_at_k/4" in rows and "pass_at_k/1" not in rows
    close = {r["metric"]: r for r in evaluate.compare(a, _results(0.33, 0.03, 0.4, 200.0))}
    assert close["pass_at_1"]["exceeds_se"] is False
