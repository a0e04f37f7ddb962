"""Code answers: extract the program and run it against tests in the sandbox (`sandbox.py`).

    verify_code(completion, tests, language="python", timeout=10.0) -> Verdict

`tests` is one of:
- a list of assert strings (MBPP): the program is loaded, then each assert runs on its own;
- a list of `{"input", "output"}` (or `{"inputs": [...], "outputs": [...]}`): stdin/stdout
  cases, Python or C++ (compiled with g++ in the sandbox);
- a HumanEval dict `{"test", "entry_point", "prompt"?}`: `check(entry_point)` is one test; a
  completion that only continues the prompt's function body gets the prompt prepended.

Python tests never let the candidate report its own verdict (STYLE.md section 11):
- asserts are split by `code_split.py`: the sandboxed child (a fork of the sandbox's fork
  server, see `code_harness.py`) receives over a pipe only the program, the setup and the CALL
  expressions, evaluates them and returns their values as plain data; the expected values stay
  here, where a trusted comparer that never runs candidate code decides each test. Tests that
  cannot be split (several statements, loops) are checked in the child and marked `in_process`;
  a child that exits early, is killed or writes malformed records fails.
- stdin/stdout cases: the input goes over a pipe, the output is compared here.
Stdout comparison is exact per line after stripping trailing whitespace and trailing blank
lines: printing the expected output as a prefix of more output fails (no `zip` truncation).

`details` of the verdict: passed, total, isolation, wall_s, tests (one {"mode", "ok"} per test:
mode `split`, `in_process` or `stdio`), asserts and asserts_outside (how many asserts the
trusted side checked). `score` is 1/0, or passed/total with `partial=True`. Many samples:
`verify_code_many` runs them concurrently (each run waits on its own sandboxed child, so threads
are enough: the parallelism is the processes').
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from r1data.record import split_completion
from r1data.verifiers.code_split import (SPLIT, Plan, judge_split, read_results, split_humaneval,
                                         split_tests)
from r1data.verifiers.sandbox import Limits, RunResult, Sandbox
from r1data.verifiers.verdict import NO_CODE, OK, TESTS_FAILED, TIMEOUT, Verdict

LANGUAGES = ("python", "cpp")
_ALIASES = {"py": "python", "python3": "python", "c++": "cpp", "cxx": "cpp", "cc": "cpp"}
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
COMPILE_LIMITS = Limits(wall_s=60, cpu_s=60, memory_mb=2048)

_sandboxes: dict[tuple, Sandbox] = {}


def _language(name: str) -> str:
    lang = _ALIASES.get(name.lower(), name.lower())
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {name!r}; supported: {', '.join(LANGUAGES)}")
    return lang


def extract_code(completion: str, language: str = "python") -> str | None:
    """The last fenced code block after the think block (one tagged with `language` preferred),
    or, for Python, the whole answer when it is valid Python on its own.

    >>> extract_code("<think>```python\\nx=1\\n```</think>\\nHere:\\n```python\\nprint(2)\\n```")
    'print(2)\\n'
    """
    lang = _language(language)
    _, text = split_completion(completion)
    if not text:
        return None
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(text)]
    tagged = [body for tag, body in blocks if _ALIASES.get(tag, tag) == lang]
    chosen = tagged or [body for tag, body in blocks if not tag]
    if chosen and chosen[-1].strip():
        return chosen[-1]
    if blocks:
        return None
    if lang == "python":
        try:
            compile(text, "<answer>", "exec")
            return text
        except (SyntaxError, ValueError):
            return None
    return None


def _normalise_tests(tests: Any) -> tuple[str, Any]:
    """('asserts', [str]) | ('io', [(input, output)]) | ('humaneval', dict)."""
    if isinstance(tests, dict):
        if "test" in tests and "entry_point" in tests:
            return "humaneval", tests
        if "inputs" in tests and "outputs" in tests:
            return "io", list(zip(tests["inputs"], tests["outputs"], strict=True))
        if "asserts" in tests:
            return "asserts", list(tests["asserts"])
    if isinstance(tests, list) and tests:
        if all(isinstance(t, str) for t in tests):
            return "asserts", tests
        if all(isinstance(t, dict) and "input" in t and "output" in t for t in tests):
            return "io", [(t["input"], t["output"]) for t in tests]
    raise ValueError("tests must be a non-empty list of asserts, a list of {input, output}, "
                     "{inputs, outputs}, or a HumanEval dict {test, entry_point}")


def output_matches(got: str, expected: str) -> bool:
    """Exact per line, trailing whitespace and trailing blank lines ignored.

    >>> output_matches("1 2 \\n3\\n\\n", "1 2\\n3")
    True
    >>> output_matches("1\\n2\\n3", "1\\n2")
    False
    """
    def lines(text: str) -> list[str]:
        out = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        while out and not out[-1]:
            out.pop()
        return out

    return lines(got) == lines(expected)


def get_sandbox(limits: Limits | None = None, isolation: str = "auto",
                allow_unsafe: bool = False) -> Sandbox:
    key = (repr(limits), isolation, allow_unsafe)
    if key not in _sandboxes:
        _sandboxes[key] = Sandbox(limits, isolation=isolation, allow_unsafe=allow_unsafe)
    return _sandboxes[key]


def isolation_used() -> str | None:
    """The isolation of the code sandboxes this process has run programs in ("bwrap",
    "unshare", "none"; several joined by "+"), or None before any code was verified."""
    used = sorted({sandbox.isolation for sandbox in list(_sandboxes.values())})
    return "+".join(used) if used else None


def _run_python_tests(sandbox: Sandbox, program: str, setup: str, plan: Plan, limits: Limits,
                      bind: dict[str, str] | None = None) -> tuple[list[dict], RunResult, str]:
    """Run a split plan in a fork-server child; the trusted side here decides each test.
    Returns one {"mode", "ok"} per test, the run, and the first error."""
    nonce = secrets.token_hex(16)
    job = {"kind": "asserts", "program": program, "setup": setup, "bind": bind or {},
           "holes": plan.holes, "tests": plan.in_process, "nonce": nonce}
    with sandbox.server() as server:
        result = server.run(job, limits)
    values, checks, error, done = read_results(result.extra.get("results", b""), nonce,
                                               len(plan.holes), len(plan.in_process))
    finished = done and result.returncode == 0 and not result.timed_out
    outcomes = []
    for test in plan.tests:
        if test.mode == SPLIT:
            ok, why = judge_split(test, values)
        else:
            ok, why = checks.get(test.index, (False, "no result"))
            ok = ok and finished  # a verdict the candidate's process reported: only if it ended well
        outcomes.append({"mode": test.mode, "ok": ok})
        if not ok and not error:
            error = why
    if not finished:
        if sum(o["ok"] for o in outcomes) == len(outcomes):
            outcomes[-1]["ok"] = False  # exiting before the end is not passing
        error = error or ("timeout" if result.timed_out else "output_limit" if result.output_limited
                          else "did not finish the tests")
    return outcomes, result, error


def _run_io_tests(sandbox: Sandbox, workdir: str, argv: list[str] | None, program: str | None,
                  cases: list[tuple[str, str]], limits: Limits) -> tuple[list[dict], RunResult | None, str]:
    """Stdin/stdout cases: the program gets the input over a pipe, the comparison happens here.
    Python programs run in a fork-server child (`program`), compiled ones with `argv`."""
    outcomes, last, error = [], None, ""
    for stdin, expected in cases:
        if program is not None:
            with sandbox.server() as server:
                last = server.run({"kind": "script", "program": program}, limits, stdin=str(stdin))
        else:
            last = sandbox.run(argv, workdir=workdir, stdin=str(stdin).encode(), limits=limits)
        got = last.stdout.decode("utf-8", "replace")
        ok = last.ok and output_matches(got, str(expected))
        outcomes.append({"mode": "stdio", "ok": ok})
        if not ok and not error:
            error = ("timeout" if last.timed_out else "output_limit" if last.output_limited
                     else f"exit {last.returncode}" if last.returncode else "wrong_output")
    return outcomes, last, error


def verify_code(completion: str, tests: Any, *, language: str = "python", timeout: float = 10.0,
                setup: str = "", partial: bool = False, memory_mb: int = 1024,
                isolation: str = "auto", allow_unsafe: bool = False) -> Verdict:
    """Run the completion's program against `tests` in the sandbox (see the module docstring).

    Reasons: ok, tests_failed, timeout (too slow: correct=False), compile_error, no_code.
    Raises `SandboxUnavailable` when no isolation exists and `allow_unsafe` is False.
    """
    lang = _language(language)
    kind, normalised = _normalise_tests(tests)
    code = extract_code(completion, lang)
    if code is None:
        return Verdict.wrong(NO_CODE)
    if kind != "io" and lang != "python":
        raise ValueError(f"{kind} tests run Python programs only, not {lang}")
    limits = Limits(wall_s=timeout, cpu_s=max(1, int(timeout) + 1), memory_mb=memory_mb)
    sandbox = get_sandbox(None, isolation, allow_unsafe)
    details: dict[str, Any] = {"isolation": sandbox.isolation}
    if kind in ("humaneval", "asserts"):
        if kind == "humaneval":
            entry = normalised["entry_point"]
            if not re.search(rf"def\s+{re.escape(entry)}\s*\(", code) and normalised.get("prompt"):
                code = normalised["prompt"] + code
            plan, test_setup = split_humaneval(normalised["test"], entry)
            setup_code = "\n".join(x for x in (normalised.get("setup", ""), setup, test_setup) if x)
            bind = {"candidate": entry}
        else:
            plan, setup_code, bind = split_tests(normalised), setup, None
        outcomes, result, error = _run_python_tests(sandbox, code, setup_code, plan, limits, bind)
        passed, total = sum(o["ok"] for o in outcomes), len(outcomes)
        outside, asserts = plan.share_split()
        details.update(tests=outcomes, asserts=asserts, asserts_outside=outside)
    else:
        workdir = sandbox.workdir()
        try:
            if lang == "python":
                outcomes, result, error = _run_io_tests(sandbox, workdir, None, code, normalised,
                                                        limits)
            else:
                Path(workdir, "main.cpp").write_text(code, encoding="utf-8")
                built = sandbox.run(["g++", "-O2", "-std=c++17", "-o", "main", "main.cpp"],
                                    workdir=workdir, limits=COMPILE_LIMITS)
                if not built.ok:
                    return Verdict.wrong("compile_error", code, passed=0, total=len(normalised),
                                         isolation=sandbox.isolation,
                                         error=built.stderr.decode("utf-8", "replace")[-500:])
                outcomes, result, error = _run_io_tests(sandbox, workdir, ["./main"], None,
                                                        normalised, limits)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        passed, total = sum(o["ok"] for o in outcomes), len(outcomes)
        details["tests"] = outcomes
    details.update(passed=passed, total=total, wall_s=round(result.wall_s, 3) if result else 0.0)
    if passed == total:
        return Verdict(True, 1.0, OK, code, details)
    if error:
        details["error"] = error[:500]
    timed_out = result is not None and result.timed_out
    return Verdict(False, passed / total if partial else 0.0, TIMEOUT if timed_out else TESTS_FAILED,
                   code, details)


def verify_code_many(items: list[dict[str, Any]], *, workers: int | None = None,
                     **options: Any) -> list[Verdict]:
    """`verify_code(**item, **options)` for many items at once, in input order. Each item holds
    `completion` and `tests` (and optionally `language`, `setup`)."""
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda item: verify_code(**{**options, **item}), items))
