"""Acceptance: every HumanEval and MBPP canonical solution passes in the sandbox, and the same
solution with one line broken (the first statement of the entry point replaced by a `raise`)
fails."""

import ast
import warnings

import pytest

from r1data import benchmark_sets
from r1data.verifiers.code import verify_code_many

WORKERS = 4  # process start-up dominates; more runs in flight than cores keeps both cores busy


def break_one_line(code: str, entry_point: str) -> str:
    """Replace the first statement of `entry_point`'s body (after its docstring) by a raise."""
    code = code.replace("\r\n", "\n").expandtabs(8) if "\t" in code else code.replace("\r\n", "\n")
    with warnings.catch_warnings():  # old MBPP solutions have invalid escapes: not our concern
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = ast.parse(code)
    func = next(node for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef) and node.name == entry_point)
    body = func.body[1:] if ast.get_docstring(func) is not None and len(func.body) > 1 else func.body
    lines = code.split("\n")
    line = lines[body[0].lineno - 1]
    indent = line[:len(line) - len(line.lstrip())]
    lines[body[0].lineno - 1] = indent + "raise RuntimeError('broken line')"
    return "\n".join(lines)


def _fenced(code):
    return f"<think>\nsolve it\n</think>\n\n```python\n{code}\n```"


def _check(items, solutions, broken):
    jobs = [{"completion": _fenced(code), "tests": item["gold"], "setup": item.get("setup", "")}
            for item, code in zip(items, solutions)]
    jobs += [{"completion": _fenced(code), "tests": item["gold"], "setup": item.get("setup", "")}
             for item, code in zip(items, broken)]
    verdicts = verify_code_many(jobs, workers=WORKERS, timeout=30.0)
    n = len(items)
    failed = [(items[i]["id"], v.reason, v.details.get("error")) for i, v in enumerate(verdicts[:n])
              if not v.correct]
    passed_broken = [items[i]["id"] for i, v in enumerate(verdicts[n:]) if v.correct is not False]
    assert failed == []
    assert passed_broken == []


def test_humaneval_canonical_pass_and_broken_fail():
    items = benchmark_sets.load("humaneval")
    assert len(items) == 164
    solutions = [item["prompt"] + item["canonical_solution"] for item in items]
    _check(items, solutions, [break_one_line(s, i["entry_point"]) for s, i in zip(solutions, items)])


@pytest.mark.slow
def test_mbpp_canonical_pass_and_broken_fail():
    items = benchmark_sets.load("mbpp")
    assert len(items) == 974
    solutions = [item["canonical_solution"] for item in items]
    _check(items, solutions, [break_one_line(s, i["entry_point"]) for s, i in zip(solutions, items)])
