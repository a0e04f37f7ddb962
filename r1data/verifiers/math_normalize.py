"""Normalisation and the fast path of `verify_math`: decide (gold, answer) without sympy.

This module owns the pure-Python, bounded comparison of two answer strings. `normalize` gives a
canonical string (no spaces, `\\left`/`\\right`, `\\dfrac`, dollars, thousands separators,
degree marks or trailing units); `fast_compare` returns True/False when that is enough to decide
and None when sympy must: equal normalised strings; two plain numbers compared exactly as
fractions; one value against several (a tuple) is wrong; two expressions of a small LaTeX subset
(\\frac, \\sqrt, \\pi, powers, implicit products, `i`, one-letter variables) evaluated at two
points, where a different value proves them different and equal constants are equal. Text answers
(`\\text{Monday}`, `(C)`) compare as normalised text (`is_textual`, `text_key`), since sympy would
read "Monday" as m*o*n*d*a*y. Percentages of plain numbers are decided here (`12.5\\%` equals
12.5 and 0.125). Whenever a rewrite could change the meaning (digits separated by a space, a
one-letter unit that may be a variable, a percentage of an expression) the fast path says None
and math-verify decides. The fast path departs from math-verify only where math-verify is wrong
(see tests/verifiers/cases/math_hard.yaml: `12.5\\%` against 12.5, `1\\,000`, `18 dollars`).
"""

from __future__ import annotations

import re
from fractions import Fraction

FAST_PATH_MAX_CHARS = 200  # longer strings go to the worker, where a deadline protects us

_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textit|mathrm|mbox|mathbf|operatorname)\s*\{([^{}]*)\}")
# A trailing unit: inside \text{}/\mbox{}, or a bare unit word of two letters or more. A bare
# single letter is left alone: in `3m` it may be metres or the variable m (see `_letter_tail`).
_UNIT_TAIL = re.compile(
    r"(?<=\d)\s*(?:\\text\{\s*[a-zA-Z ]*\}|\\mbox\{\s*[a-zA-Z ]*\}|"
    r"(?:cm|mm|km|sec|seconds|minutes|hours|days|dollars|cents|units|"
    r"square units|sq units|meters|inches|feet|degrees|mph|miles|pounds)\.?)(?:\^\{?[23]\}?)?$")
_LETTER_TAIL = re.compile(r"^[+-]?\d+(?:\.\d+)?\s*[a-zA-Z]$")
# \left( and \right) are sizing only; \leftarrow, \rightarrow, \leftrightarrow are symbols.
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])|\\displaystyle")
# Space between two digits: "1 2" is not 12, but "1\,000" and "1 000" are thousands groups.
_DIGIT_GAP = re.compile(r"(?<=\d)(?:\s|\\[,;:! ]|~)+(?=\d)")
_GAP = "\u2423"  # a placeholder outside the evaluator's tokens: such a string goes to sympy
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|°")
_SPACES = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\s+")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:[,\u2423]\d{3})+(?:\.\d+)?$")
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
    s = _SIZING.sub("", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = s.replace("\\$", "").replace("$", "").replace("{,}", ",")
    s = _DEGREES.sub("", s)
    s = _UNIT_TAIL.sub("", s.strip())
    s = _DIGIT_GAP.sub(_GAP, s)
    s = _SPACES.sub("", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "").replace(_GAP, "")
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


def text_key(s: str) -> str:
    s = _TEXT_WRAP.sub(r"\1", s)
    s = re.sub(r"[\s.()'\"$\\]", "", s).lower()
    return s


def is_textual(gold: str) -> bool:
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


def _letter_tail(g: str, p: str) -> bool:
    """`3m` against `3`: metres or the variable m? math-verify reads a unit; let it decide."""
    return bool(_LETTER_TAIL.match(g) and re.fullmatch(r"[+-]?[\d.]+", p)
                or _LETTER_TAIL.match(p) and re.fullmatch(r"[+-]?[\d.]+", g))


def _percent(g: str, p: str) -> bool | None:
    """`12.5\\%` against `12.5` or `0.125`: both readings are right (the question asked for a
    percentage, or for the fraction it is), as math-verify mostly accepts. Only two plain numbers
    are decided here; anything else goes to sympy."""
    gn, pn = _number(re.sub(r"\\?%$", "", g)), _number(re.sub(r"\\?%$", "", p))
    if gn is None or pn is None or not (gn[1] and pn[1]):
        return None
    if ("%" in g) == ("%" in p):
        return gn[0] == pn[0]  # both percentages (or neither): the numbers themselves
    percent, other = (gn[0], pn[0]) if "%" in g else (pn[0], gn[0])
    return other in (percent, percent / 100)


def fast_compare(gold: str, pred: str) -> bool | None:
    """True/False when decided without sympy, None to ask sympy."""
    g, p = normalize(gold), normalize(pred)
    if "=" not in g and _VARIABLE_EQ.match(p):
        p = p[p.index("=") + 1:]
    if "=" not in p and _VARIABLE_EQ.match(g):
        g = g[g.index("=") + 1:]
    if g == p and g:
        return True
    if _letter_tail(g, p):
        return None
    if "%" in g or "%" in p:
        return _percent(g, p)
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
