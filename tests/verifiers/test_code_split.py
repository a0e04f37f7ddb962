"""Split mode: the child only evaluates CALL expressions, the trusted comparer decides with
Python's equality semantics for plain data, and expected values never reach the sandbox."""

import json

import pytest

from r1data.verifiers import verify_code
from r1data.verifiers.code_split import IN_PROCESS, SPLIT, split_humaneval, split_tests
from r1data.verifiers.sandbox import available_isolations

PROGRAM = '''
import collections, math
def true(): return True
def one_float(): return 1.0
def pair_tuple(): return (1, 2)
def pair_list(): return [1, 2]
def nan(): return float("nan")
def big(): return 2 ** 4000 + 1
class Sly(int):
    def __eq__(self, other): return True
    __hash__ = int.__hash__
def sly(): return Sly(0)
def counter(): return collections.Counter("aab")
def keyed(): return {(1, 2): {3}, "x": frozenset([1])}
def third(): return 1 / 3
def empty(): return []
def zero_list(): return [0]
def raises(): raise ValueError("no")
def text(): return "caf\\u00e9\\ud800"
'''
# (assert, passes in Python, passes here)
CASES = [
    ("assert true() == 1", True),
    ("assert one_float() == 1 == True", True),
    ("assert pair_tuple() == [1, 2]", False),
    ("assert pair_list() == (1, 2)", False),
    ("assert pair_tuple() == (1, 2)", True),
    ("assert nan() == float('nan')", False),
    ("assert nan() != nan()", True),
    ("assert big() == 2 ** 4000 + 1", True),
    ("assert big() == " + str(2 ** 4000), False),
    ("assert sly() == 5", False),  # Python says True: a subclass is not plain data, so it fails
    ("assert counter() == {'a': 2, 'b': 1}", True),
    ("assert keyed() == {(1, 2): {3}, 'x': frozenset({1})}", True),
    ("assert abs(third() - 0.3333) <= 1e-3", True),
    ("assert abs(third() - 0.3) <= 1e-3", False),
    ("assert math.isclose(third(), 0.33333333, rel_tol=1e-6)", True),
    ("assert not empty()", True),
    ("assert not zero_list()", False),
    ("assert pair_list()", True),
    ("assert one_float() in [1, 2]", True),
    ("assert set(pair_list()) == set([2, 1])", True),
    ("assert raises() == 1", False),
    ("assert raises() is None or True", False),
    ("assert text() == 'caf\\u00e9\\ud800'", True),
]


@pytest.mark.skipif(not available_isolations(), reason="no sandbox isolation on this machine")
def test_python_equality_semantics_for_plain_data():
    verdict = verify_code(f"```python\n{PROGRAM}\n```", [c for c, _ in CASES])
    got = [t["ok"] for t in verdict.details["tests"]]
    assert [t["mode"] for t in verdict.details["tests"]] == [SPLIT] * len(CASES)
    assert got == [ok for _, ok in CASES], [c for (c, ok), g in zip(CASES, got) if ok != g]


def test_expected_values_never_reach_the_child():
    plan = split_tests(["assert f(1) == 'EXPECTED-1'", "assert abs(g(2) - 0.125) <= 1e-9",
                        "assert math.isclose(h(3), 0.75, rel_tol=1e-3)", "assert not k(4)",
                        "x = f(5)\nassert x == 'SEEN-IN-PROCESS'"])
    assert plan.holes == ["f(1)", "g(2)", "h(3)", "k(4)"]
    job = json.dumps({"holes": plan.holes, "tests": plan.in_process})
    assert "EXPECTED-1" not in job and "0.125" not in job and "0.75" not in job
    assert [t.mode for t in plan.tests] == [SPLIT] * 4 + [IN_PROCESS]
    assert plan.share_split() == (4, 5)


def test_humaneval_check_is_split_up_to_its_first_other_statement():
    test = ("METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n"
            "    assert abs(candidate(2) - 4.0) < 1e-6, 'msg'\n    x = 3\n    assert candidate(x) == 6\n")
    plan, setup = split_humaneval(test, "double")
    assert plan.holes == ["candidate(1)", "candidate(2)"]
    assert [t.mode for t in plan.tests] == [SPLIT, SPLIT, IN_PROCESS]
    assert "METADATA" in setup and "def check" not in setup
    assert "check(double)" in plan.in_process[0]
    good = verify_code("```python\ndef double(x):\n    return 2 * x\n```",
                       {"test": test, "entry_point": "double"})
    bad = verify_code("```python\ndef double(x):\n    return 2 * x if x < 3 else 0\n```",
                      {"test": test, "entry_point": "double"}, partial=True)
    assert good.correct is True and good.details["asserts_outside"] == 2
    assert bad.correct is False and bad.score == pytest.approx(2 / 3)
