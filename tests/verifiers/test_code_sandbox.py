"""The code sandbox: stdin/stdout semantics, C++, isolation modes, the refusal without one.
Hostile programs: test_code_hostile.py runs cases/hostile*.yaml."""

import os
import shutil
import subprocess
import time

import pytest

from r1data.verifiers import verify_code
from r1data.verifiers.code import extract_code, output_matches
from r1data.verifiers.sandbox import Limits, Sandbox, SandboxUnavailable, detect_isolation


def _fenced(code, lang="python"):
    return f"<think>\nwriting code\n</think>\n\n```{lang}\n{code}\n```"


def test_sandbox_is_available_and_says_which():
    assert detect_isolation() in ("bwrap", "unshare")
    verdict = verify_code(_fenced("def f():\n    return 1"), ["assert f() == 1"])
    assert verdict.correct and verdict.details["isolation"] == detect_isolation()


def test_no_sandbox_processes_outlive_a_run():
    """A daemon (setsid, then exec of a distinctive command) is gone once the verdict is in,
    although the fork server that ran it lives on."""
    program = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n"
               "    os.execvp('sleep', ['sleep', '613.5'])\ndef f():\n    time.sleep(0.2)\n"
               "    return 1\n")
    assert verify_code(_fenced(program), ["assert f() == 1"]).correct is True
    time.sleep(0.2)
    leftover = subprocess.run(["pgrep", "-f", "sleep 613.5|r1data-sandbox"],
                              capture_output=True, text=True).stdout.split()
    assert [pid for pid in leftover if int(pid) != os.getpid()] == []


def test_unsafe_mode_needs_an_explicit_flag():
    with pytest.raises(SandboxUnavailable) as refused:
        Sandbox(isolation="none")
    message = str(refused.value)
    assert "\n" not in message
    assert "apt-get install bubblewrap" in message and "--allow-unsafe-code" in message
    sandbox = Sandbox(Limits(wall_s=5), isolation="none", allow_unsafe=True)
    workdir = sandbox.workdir()
    try:
        result = sandbox.run(["/bin/echo", "hi"], workdir=workdir)
    finally:
        shutil.rmtree(workdir)
    assert result.ok and result.stdout == b"hi\n" and result.isolation == "none"


# -- stdin/stdout ---------------------------------------------------------------------------

SUM_PY = "a, b = map(int, input().split())\nprint(a + b)\nprint(a * b)"
CASES = [{"input": "2 3\n", "output": "5\n6\n"}, {"input": "10 -1\n", "output": "9\n-10"}]


def test_python_stdio_passes_and_reports_counts():
    verdict = verify_code(_fenced(SUM_PY), CASES)
    assert verdict.correct and verdict.details["passed"] == verdict.details["total"] == 2


def test_expected_output_as_a_prefix_fails():
    longer = SUM_PY + "\nprint('extra line')"
    shorter = "a, b = map(int, input().split())\nprint(a + b)"
    assert verify_code(_fenced(longer), CASES).correct is False
    assert verify_code(_fenced(shorter), CASES).correct is False


def test_partial_credit_and_the_inputs_outputs_form():
    half = "a, b = map(int, input().split())\nprint(a + b)\nprint(6)"
    tests = {"inputs": [c["input"] for c in CASES], "outputs": [c["output"] for c in CASES]}
    verdict = verify_code(_fenced(half), tests, partial=True)
    assert verdict.correct is False and verdict.score == 0.5
    assert verdict.details["passed"] == 1


def test_output_comparison_rules():
    assert output_matches("5  \n6\n\n\n", "5\n6")
    assert not output_matches("5\n6", "5\n 6")
    assert not output_matches("5\n6\n7", "5\n6")
    assert not output_matches("5", "5\n6")


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_cpp_stdio():
    code = ("#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;"
            "std::cout<<a+b<<\"\\n\"<<a*b<<std::endl;return 0;}")
    assert verify_code(_fenced(code, "cpp"), CASES, language="cpp").correct is True
    wrong = code.replace("a*b", "a-b")
    assert verify_code(_fenced(wrong, "cpp"), CASES, language="cpp").reason == "tests_failed"
    broken = verify_code(_fenced("int main( {", "cpp"), CASES, language="c++")
    assert broken.reason == "compile_error" and broken.correct is False


def test_extraction_takes_the_last_block_after_thinking():
    completion = ("<think>\n```python\ndef f(): return 0\n```\n</think>\n\nFirst try:\n"
                  "```python\ndef f(): return 1\n```\nBetter:\n```python\ndef f(): return 2\n```")
    assert extract_code(completion).strip() == "def f(): return 2"
    assert verify_code(completion, ["assert f() == 2"]).correct is True
    assert verify_code("<think>\nno code\n</think>\n\nI cannot.", ["assert f() == 2"]).reason == "no_code"
    assert verify_code("<think>\n```python\ndef f(): return 2\n```", ["assert f() == 2"]).reason == "no_code"


def test_bad_tests_are_an_error():
    with pytest.raises(ValueError):
        verify_code(_fenced("x = 1"), [])
    with pytest.raises(ValueError):
        verify_code(_fenced("x = 1"), ["assert x"], language="rust")
