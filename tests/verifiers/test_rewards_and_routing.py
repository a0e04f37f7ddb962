"""verify_record routing, the reward registry and weighted combinations (TRL signature)."""

import pytest

from r1data import rewards
from r1data.record import Record
from r1data.verifiers.dispatch import VerifyOptions, route, verify_record

THINK = "<think>\nworking it out\n</think>\n\n"


def _record(completion, gold, domain="math", **metadata):
    return Record.from_prompt("q", id="q1", gold=gold, domain=domain,
                              metadata=metadata).with_completion(completion)


@pytest.mark.parametrize("gold,domain,metadata,expected", [
    ("\\frac{1}{2}", "math", {}, "math"),
    ("42", None, {}, "math"),
    (["assert f(1) == 2"], "code", {}, "code"),
    ([{"input": "1\n", "output": "2\n"}], "code", {}, "code"),
    ({"test": "def check(c): pass", "entry_point": "f"}, "code", {}, "code"),
    ("C", "science", {}, "choice"),
    ("B", "math", {"choices": ["1", "2"]}, "choice"),
    ("C", "math", {}, "math"),
    (None, "math", {}, None),
    ([], "code", {}, None),
])
def test_route(gold, domain, metadata, expected):
    assert route(gold, domain, metadata) == expected


def test_verify_record_each_kind():
    math = verify_record(_record(THINK + "\\boxed{\\frac{2}{4}}", "0.5"))
    code = verify_record(_record(THINK + "```python\ndef f(x):\n    return x + 1\n```",
                                 ["assert f(1) == 2", "assert f(2) == 3"], "code"))
    choice = verify_record(_record(THINK + "The answer is (B).", "B", "science",
                                   choices=["a", "b", "c", "d"]))
    none = verify_record(_record("hi", None, "general"))
    assert (math.correct, math.details["verifier"]) == (True, "math")
    assert (code.correct, code.details["passed"], code.details["verifier"]) == (True, 2, "code")
    assert (choice.correct, choice.details["verifier"]) == (True, "choice")
    assert (none.correct, none.reason) == (None, "no_gold")


def test_verify_record_mbpp_setup_comes_from_metadata():
    setup = "class Pair(object):\n    def __init__(self, a, b):\n        self.a = a\n        self.b = b"
    solution = "def first(p):\n    return p.a"
    record = _record(THINK + f"```python\n{solution}\n```", ["assert first(Pair(3, 4)) == 3"],
                     "code", setup=setup)
    assert verify_record(record).correct is True


def test_registry_names_and_unknown():
    assert {"accuracy", "format", "format_r1_zero", "language_consistency"} <= set(rewards.names())
    with pytest.raises(KeyError, match="known"):
        rewards.get("acuracy")


def test_accuracy_reward_trl_signature():
    completions = [THINK + "\\boxed{4}", THINK + "\\boxed{5}", "no answer here", "anything",
                   [{"role": "assistant", "content": THINK + "\\boxed{4}"}]]
    values = rewards.get("accuracy")(completions, gold=["4", "4", "4", None, "4"],
                                     prompts=["p"] * 5, completion_ids=[[1]] * 5)
    assert values == [1.0, 0.0, 0.0, None, 1.0]


def test_accuracy_unparseable_gold_is_not_a_reward():
    assert rewards.accuracy([THINK + "\\boxed{5}"], gold=["\\frac{"]) == [None]


def test_format_rewards_and_the_multiline_bug():
    zero = rewards.get("format_r1_zero")
    assert zero(["<think>a</think> <answer>4</answer>",
                 "<think>a</think> <answer>4</answer>\ntrailing text"]) == [1.0, 0.0]
    assert rewards.get("format")([THINK + "4", "4</think>\n\n4"]) == [1.0, 0.0]


def test_language_consistency_reward_scores_the_reasoning():
    mixed = "<think>\nLet me add the numbers carefully. 然后我们检查一下这个答案是否正确。\n</think>\n\n4"
    clean = "<think>\nLet me add the numbers carefully and then check.\n</think>\n\n答案是四"
    values = rewards.get("language_consistency")([mixed, clean], language=["en", "en"])
    assert values[1] == 1.0 and values[0] < 0.8


def test_combined_reward_and_components():
    combined = rewards.combine("accuracy + format + 0.1 * language_consistency")
    assert combined.__name__ == "accuracy+format+language_consistency"
    completions = [THINK + "\\boxed{4}", "\\boxed{4}", THINK + "\\boxed{5}"]
    totals, parts = combined.components(completions, gold=["4", "4", None])
    assert parts["accuracy"] == [1.0, 1.0, None]
    assert parts["format"] == [1.0, 0.0, 1.0]
    # No gold for the third: its accuracy cannot be judged, so its sum is not applicable.
    assert totals[:2] == pytest.approx([2.1, 1.1]) and totals[2] is None
    assert combined(completions, gold=["4", "4", None]) == totals


@pytest.mark.parametrize("expression", ["accuracy +", "2 x accuracy", "accuracy + nope", ""])
def test_bad_weight_expressions(expression):
    with pytest.raises((ValueError, KeyError)):
        rewards.parse_weights(expression)


def test_weights_parse():
    assert rewards.parse_weights("0.5*accuracy + -1e-1 * format") == [(0.5, "accuracy"),
                                                                       (-0.1, "format")]


def test_verify_options_validate():
    with pytest.raises(ValueError):
        VerifyOptions(math_timeout=0)


def test_cosine_length_reward_is_clamped_and_ranks_wrong_below_correct():
    fn = rewards.cosine_length_reward(max_len=100)
    lengths = [0, 10, 50, 99, 100, 150, 199, 400]
    right = fn([THINK + "\\boxed{4}"] * len(lengths), gold=["4"] * len(lengths),
               completion_ids=[[0] * n for n in lengths])
    wrong = fn([THINK + "\\boxed{5}"] * len(lengths), gold=["4"] * len(lengths),
               completion_ids=[[0] * n for n in lengths])
    assert right == sorted(right, reverse=True)  # shorter correct is better
    assert wrong == sorted(wrong)  # a short wrong answer is the worst
    assert right[4:] == [pytest.approx(0.5)] * 4 and wrong[4:] == [pytest.approx(-0.5)] * 4
    assert min(right) > max(wrong)
    assert right[0] == pytest.approx(1.0) and wrong[0] == pytest.approx(-1.0)
    assert rewards.get("cosine_length")(["x"], gold=[None]) == [None]
    with pytest.raises(ValueError):
        rewards.cosine_length_reward(correct=(0.5, 1.0))
