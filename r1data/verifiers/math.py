"""Math answers: extract the final answer of a completion and decide whether it equals the gold.

    verify_math(completion, gold, timeout=5.0) -> Verdict

Extraction (`extract_math_answer`) looks only after the think block (a `\\boxed{}` inside the
reasoning is a draft, not the answer): the last `\\boxed{}`/`\\fbox{}` (several boxes on the last
line are one multi-part answer), else `<answer>...</answer>`, else "the answer is ...",
"Final answer: ...", "#### ...". Nothing found is `no_answer`.

Equivalence, cheapest first:
1. Text answers (`\\text{Monday}`, `(C)`) compare as normalised text: sympy would read "Monday"
   as the product m*o*n*d*a*y and accept any anagram.
2. Fast path, pure Python and bounded: equal normalised strings; two plain numbers (integers
   with commas or leading zeros, decimals, fractions, units and degrees stripped) compared
   exactly as fractions; a single value against several (a tuple) is wrong; two expressions of
   a small LaTeX subset (\\frac, \\sqrt, \\pi, powers, implicit products, `i`, one-letter
   variables) are evaluated at two points: a different value proves them different; constants
   equal to 1e-12 are equal; anything in between, and equal expressions with variables, go to
   sympy. Most rejection-sampling answers end here without sympy.
3. math-verify (sympy) in a worker process (`sympy_worker.py`) with our own deadline: the worker
   is SIGKILLed and replaced when it overruns, so `10^{10^{10^{10}}}` returns `timeout` in time.

Threads and processes: each calling process owns a small pool of worker processes (one per
concurrent caller thread, created on demand, re-created after a fork); no signals are used, so
`verify_math` works from thread pools, process pools and daemonic workers alike. Verdicts of
(gold, answer) pairs are cached per process, so n samples with the same answer cost one check.

A gold answer that math-verify cannot parse is `gold_unparseable` (correct=None), never correct.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from r1data.record import split_completion
from r1data.verifiers.verdict import (
    GOLD_UNPARSEABLE, NO_ANSWER, TIMEOUT, WRONG_ANSWER, Verdict,
)

WORKER_START_TIMEOUT = 60.0  # importing sympy on a loaded machine; not counted in `timeout`
FAST_PATH_MAX_CHARS = 200  # longer strings go to the worker, where a deadline protects us

# -- extraction -------------------------------------------------------------------------------

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_BARE = re.compile(r"\\boxed\s+([^\s${}]+)")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ANSWER_IS = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*(.+)", re.IGNORECASE)
_HASHES = re.compile(r"^####\s*(.+)$", re.MULTILINE)


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every balanced \\boxed{...} / \\fbox{...}, in order."""
    found = []
    for match in _BOX.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found.append((match.start(), i, text[match.end():i - 1]))
    return found


def _clean(answer: str) -> str:
    answer = answer.strip()
    answer = re.sub(r"^\$+|\$+$", "", answer).strip()
    answer = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", answer).strip()
    return answer.rstrip(".").strip()


def extract_math_answer(completion: str) -> str | None:
    """The final answer of a completion, outside its think block; None when there is none.

    >>> extract_math_answer("<think>maybe \\\\boxed{4}</think>\\n\\nSo \\\\boxed{5}.")
    '5'
    >>> extract_math_answer("<think>a</think> <answer>x = 3</answer>")
    'x = 3'
    >>> extract_math_answer("<think>cut off before the end \\\\boxed{4}") is None
    True
    """
    _, text = split_completion(completion)
    if not text:
        return None
    boxes = _boxes(text)
    if boxes:
        # boxes on the same line as the last one form one answer ("\\boxed{2} and \\boxed{3}")
        line_start = text.rfind("\n", 0, boxes[-1][0]) + 1
        parts = [content for start, _, content in boxes if start >= line_start]
        return _clean(", ".join(p.strip() for p in parts))
    bare = _BOX_BARE.findall(text)
    if bare:
        return _clean(bare[-1])
    tags = _ANSWER_TAG.findall(text)
    if tags:
        return _clean(tags[-1]) or None
    hashes = _HASHES.findall(text)
    if hashes:
        return _clean(hashes[-1])
    lines = [m.group(1) for line in text.splitlines() if (m := _ANSWER_IS.search(line))]
    if lines:
        return _clean(re.split(r"(?<!\d)\.(?:\s|$)", lines[-1])[0]) or None
    return None


# -- normalisation and the fast path ----------------------------------------------------------

_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textit|mathrm|mbox|mathbf|operatorname)\s*\{([^{}]*)\}")
_UNIT_TAIL = re.compile(
    r"(?<=\d)\s*(?:\\text\{\s*[a-zA-Z ]*\}|\\mbox\{\s*[a-zA-Z ]*\}|"
    r"(?:cm|mm|km|m|kg|g|s|sec|seconds|minutes|hours|days|dollars|cents|units|"
    r"square units|sq units|meters|inches|feet|degrees|mph|miles|pounds)\.?)(?:\^\{?[23]\}?)?$")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|°")
_SPACES = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\s+")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_FRAC = re.compile(r"^([+-]?)\\frac(?:\{([+-]?\d+)\}|(\d))(?:\{([+-]?\d+)\}|(\d))$")
_SLASH = re.compile(r"^([+-]?\d+)/(\d+)$")
_VARIABLE_EQ = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?=(?!=)")
_TEXTUAL = re.compile(r"^\(?[A-Za-z][A-Za-z' .\-]*\)?$")


def normalize(answer: str) -> str:
    """A canonical string for comparison: no spaces, `\\left`/`\\right`, `\\dfrac`, dollars,
    thousands separators in numbers, degree marks or trailing units.

    >>> normalize("\\\\$1{,}000 \\\\text{ dollars}")
    '1000'
    >>> normalize("\\\\dfrac{1}{2}")
    '\\\\frac{1}{2}'
    """
    s = answer.strip()
    s = s.replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = s.replace("\\$", "").replace("$", "").replace("{,}", ",")
    s = _DEGREES.sub("", s)
    s = _UNIT_TAIL.sub("", s.strip())
    s = _SPACES.sub("", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    s = s.rstrip(".")
    return s


def _number(s: str) -> tuple[Fraction, bool] | None:
    """(value, exact) of a plain number string, or None. `exact` is False for a decimal with
    many digits, which math-verify compares after rounding (0.333333 equals 1/3 there)."""
    if len(s) > FAST_PATH_MAX_CHARS:
        return None
    if _NUMBER.match(s):
        decimals = len(s.split(".")[1]) if "." in s else 0
        return Fraction(s), decimals < 5
    match = _FRAC.match(s)
    if match:
        sign, num, den = match.group(1), int(match.group(2) or match.group(3)), int(
            match.group(4) or match.group(5))
        return (Fraction(-num if sign == "-" else num, den), True) if den else None
    match = _SLASH.match(s)
    if match and int(match.group(2)):
        return Fraction(int(match.group(1)), int(match.group(2))), True
    return None


def _text_key(s: str) -> str:
    s = _TEXT_WRAP.sub(r"\1", s)
    s = re.sub(r"[\s.()'\"$\\]", "", s).lower()
    return s


def _is_textual(gold: str) -> bool:
    bare = _TEXT_WRAP.sub(r"\1", gold).strip()
    if "\\" in bare:  # a LaTeX command left outside \text{}: math (\pi, \cot x), not words
        return False
    # words ("Monday", "odd"), \text{...}, or a choice "(C)"; "p - q" is algebra, not text
    return bool(_TEXTUAL.match(bare)) and (
        bool(re.search(r"[A-Za-z]{2,}", bare)) or "\\text" in gold or bare.startswith("("))


_LATEX_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\[a-zA-Z]+|[a-zA-Z]|[-+*/^{}()\[\]]")
# Values the evaluator gives single-letter variables: two unrelated points, so that two
# different expressions almost surely differ at one of them.
_POINTS = ({c: 0.5 + 0.37 * k for k, c in enumerate("abcdfghjklmnopqrstuvwxyz")},
           {c: 1.3 - 0.11 * k for k, c in enumerate("abcdfghjklmnopqrstuvwxyz")})


class _Evaluator:
    """Numeric value of a small LaTeX subset: numbers, + - * / ^, \\frac, \\sqrt[n]{}, \\pi,
    \\cdot, \\times, braces, parentheses, implicit products, `i` (imaginary unit) and
    single-letter variables (set to the values of `point`). Anything else (a comma, `e`, a
    function, \\infty, a subscript) is None: sympy's business. Exponents are capped."""

    def __init__(self, text: str, point: dict[str, float]):
        self.tokens = _LATEX_TOKEN.findall(text)
        if "".join(self.tokens) != text:
            raise ValueError(text)  # something outside the subset
        self.point = point
        self.variables = False
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(expected)
        self.i += 1
        return token

    def value(self) -> complex:
        result = self.expr()
        if self.peek() is not None:
            raise ValueError("trailing")
        return result

    def expr(self) -> complex:
        total = self.term()
        while self.peek() in ("+", "-"):
            total = total + self.term() if self.take() == "+" else total - self.term()
        return total

    def term(self) -> complex:
        result = self.unary()
        while True:
            token = self.peek()
            if token in ("*", "\\cdot", "\\times"):
                self.take()
                result *= self.unary()
            elif token == "/":
                self.take()
                result /= self.unary()
            elif token is not None and token not in ("+", "-", "}", ")", "]", "^"):
                result *= self.power()  # implicit product: 2\sqrt{3}, 3\pi, 2x
            else:
                return result

    def unary(self) -> complex:
        if self.peek() in ("+", "-"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> complex:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            following = self.peek() or ""
            if following != "{" and len(following) > 1 and following.isdigit():
                raise ValueError("ambiguous power")  # 2^10: LaTeX says 2^1 0, a writer 2^{10}
            exponent = self.group() if self.peek() == "{" else self.atom(single=True)
            if abs(exponent) > 64 or (abs(base) > 1e6 and abs(exponent) > 8):
                raise ValueError("large power")
            return base ** exponent
        return base

    def group(self) -> complex:
        self.take("{")
        result = self.expr()
        self.take("}")
        return result

    def atom(self, single: bool = False) -> complex:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            if single and len(token) > 1 and token.isdigit():  # \frac12: one digit each
                self.tokens.insert(self.i, token[1:])
                return float(token[0])
            return float(token)
        if token == "i":
            return 1j
        if len(token) == 1 and token in self.point:
            self.variables = True
            return self.point[token]
        if token == "\\pi":
            return 3.141592653589793
        if token == "\\frac":
            num = self.group() if self.peek() == "{" else self.atom(single=True)
            den = self.group() if self.peek() == "{" else self.atom(single=True)
            return num / den
        if token == "\\sqrt":
            index = 2.0
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
            radicand = self.group() if self.peek() == "{" else self.atom(single=True)
            return radicand ** (1.0 / index)
        if token in ("{", "("):
            result = self.expr()
            self.take("}" if token == "{" else ")")
            return result
        raise ValueError(token)


def _evaluate(s: str, point: int = 0) -> tuple[complex, bool] | None:
    """(value, has_variables) of `s` at variable point `point`, or None outside the subset."""
    if len(s) > FAST_PATH_MAX_CHARS or not s:
        return None
    try:
        evaluator = _Evaluator(s, _POINTS[point])
        value = complex(evaluator.value())
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    if value != value or abs(value) == float("inf"):
        return None
    return value, evaluator.variables


def _top_level_commas(s: str) -> int:
    depth, count = 0, 0
    for ch in s:
        depth += ch in "{(["
        depth -= ch in "})]"
        count += ch == "," and depth <= 1
    return count


def _numeric(g: str, p: str) -> bool | None:
    """Compare two closed forms by value (see the module docstring)."""
    for point in (0, 1):
        gv, pv = _evaluate(g, point), _evaluate(p, point)
        if gv is None or pv is None:
            return None
        scale = max(1.0, abs(gv[0]), abs(pv[0]))
        if abs(gv[0] - pv[0]) > 1e-6 * scale:
            return False  # different values at one point: not equivalent
        if abs(gv[0] - pv[0]) > 1e-12 * scale:
            return None
        if not (gv[1] or pv[1]):
            return True  # constants equal to 1e-12: the same number written differently
    return None  # equal at both points but with variables: let sympy prove it


def _fast(gold: str, pred: str) -> bool | None:
    """True/False when decided without sympy, None to ask sympy."""
    g, p = normalize(gold), normalize(pred)
    if "=" not in g and _VARIABLE_EQ.match(p):
        p = p[p.index("=") + 1:]
    if "=" not in p and _VARIABLE_EQ.match(g):
        g = g[g.index("=") + 1:]
    if g == p and g:
        return True
    if "%" in g or "%" in p:
        return None  # 25\% is accepted for 25 and 0.25 by math-verify: keep its semantics
    gn, pn = _number(g), _number(p)
    if gn is not None and pn is not None:
        if gn[0] == pn[0]:
            return True
        if gn[1] and pn[1]:
            return False
        gap = abs(gn[0] - pn[0])
        # math-verify rounds to 6 decimals: farther apart than that, no rounding makes them equal
        return False if gap > Fraction(1, 10**5) and gap > abs(gn[0]) / 10**6 else None
    if (gn is not None and not gn[1]) or (pn is not None and not pn[1]):
        return None  # a long decimal against a closed form: math-verify's rounding decides
    if ((_top_level_commas(g) == 0) != (_top_level_commas(p) == 0)
            and not any(word in g + p for word in ("\\text", "\\pm", "\\mp", "and", "or"))):
        return False  # one value against several (a tuple, a list of answers)
    if ("matrix}" in g) != ("matrix}" in p):
        return False  # a matrix or vector against a non-matrix
    return _numeric(g, p)


# -- the sympy worker pool --------------------------------------------------------------------

class WorkerTimeout(Exception):
    pass


class _Worker:
    """One `sympy_worker` process and a line reader with a deadline over its stdout."""

    def __init__(self) -> None:
        # the worker imports r1data the way this process did, installed or not
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "r1data.verifiers.sympy_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the caller's terminal is the caller's to handle
            env=env,
        )
        self._buffer = b""
        reply = self._read(time.monotonic() + WORKER_START_TIMEOUT)
        if not reply.get("ready"):
            raise RuntimeError("sympy worker failed to start")

    def _read(self, deadline: float) -> dict:
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise WorkerTimeout
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise RuntimeError("sympy worker died")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def ask(self, gold: str, pred: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        self.proc.stdin.write((json.dumps({"gold": gold, "pred": pred}) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(deadline)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class _Pool:
    """Idle workers of this process. A thread takes one (or starts one), uses it alone, and gives
    it back; a worker that overran or died is killed instead of given back."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()

    def ask(self, gold: str, pred: str, timeout: float) -> dict:
        with self.lock:
            worker = self.idle.pop() if self.idle else None
        if worker is None:
            worker = _Worker()
        try:
            reply = worker.ask(gold, pred, timeout)
        except (WorkerTimeout, RuntimeError, OSError):
            worker.kill()
            # start the replacement now, in the background, so the next caller does not pay
            # sympy's import time inside its own time limit
            threading.Thread(target=self._spare, daemon=True).start()
            raise
        with self.lock:
            self.idle.append(worker)
        return reply

    def _spare(self) -> None:
        try:
            worker = _Worker()
        except (RuntimeError, OSError, WorkerTimeout):
            return
        with self.lock:
            self.idle.append(worker)

    def close(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
        for worker in workers:
            worker.kill()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():  # after a fork the parent's workers are not ours
            _pool = _Pool()
        return _pool


def shutdown() -> None:
    """Stop this process's sympy workers (they also exit when the process ends: stdin closes)."""
    if _pool is not None and _pool.pid == os.getpid():
        _pool.close()


@lru_cache(maxsize=65536)
def _compare_cached(gold: str, pred: str) -> tuple[str, bool]:
    """(status, equal) where status is 'ok', 'gold_unparseable' or 'error'. Timeouts raise, so
    they are not cached: a later call with a longer limit may still decide."""
    textual = _is_textual(gold)
    if textual:
        return "ok", _text_key(gold) == _text_key(pred)
    fast = _fast(gold, pred)
    if fast is not None:
        return "ok", fast
    raise LookupError  # not decided here: the caller asks the worker with its own deadline


@lru_cache(maxsize=65536)
def _slow_cached(gold: str, pred: str, _timeout_key: float) -> tuple[str, bool]:
    reply = _get_pool().ask(gold, pred, _timeout_key)
    if "error" in reply:
        return "error", False
    if not reply["gold_ok"]:
        return GOLD_UNPARSEABLE, False
    return "ok", reply["equal"]


def verify_math(completion: str, gold: str, *, timeout: float = 5.0) -> Verdict:
    """Is the final answer of `completion` equal to `gold` (a bare answer string)?

    Reasons: ok, wrong_answer, no_answer, timeout, gold_unparseable (correct=None), error
    (the checker itself failed; correct=None). `details["path"]` says which stage decided.
    `timeout` bounds the sympy check; a thread with no warm worker also waits once for one to
    start (about a second, outside the limit, so that a cold start is never a false timeout).

    >>> verify_math("<think>2+2</think>\\n\\nThe answer is \\\\boxed{4}.", "4").reason
    'ok'
    >>> verify_math("\\\\boxed{0.5}", "\\\\frac{1}{2}").correct
    True
    """
    gold = "" if gold is None else str(gold).strip()
    extracted = extract_math_answer(completion)
    if not gold or not gold.strip("$ "):
        return Verdict.undecided(GOLD_UNPARSEABLE, extracted)
    if extracted is None or not extracted.strip():
        return Verdict.wrong(NO_ANSWER, None)
    try:
        status, equal = _compare_cached(gold, extracted)
        path = "fast"
    except LookupError:
        try:
            status, equal = _slow_cached(gold, extracted, float(timeout))
        except WorkerTimeout:
            return Verdict.undecided(TIMEOUT, extracted, path="sympy")
        except (RuntimeError, OSError) as exc:
            return Verdict.undecided("error", extracted, path="sympy", error=str(exc))
        path = "sympy"
    if status == GOLD_UNPARSEABLE:
        return Verdict.undecided(GOLD_UNPARSEABLE, extracted, path=path)
    if status == "error":
        return Verdict.wrong(WRONG_ANSWER, extracted, path=path, note="answer_unparseable")
    return (Verdict.ok(extracted, path=path) if equal
            else Verdict.wrong(WRONG_ANSWER, extracted, path=path))


__all__ = ["verify_math", "extract_math_answer", "normalize", "shutdown"]
