"""Rule-based verifiers: plain functions that return a `Verdict`.

    from r1data.verifiers import Verdict, verify_math, verify_code, verify_choice, check_format, \
        language_consistency

The same functions serve the GRPO rewards (`r1data.rewards`), rejection sampling and evaluation
(`r1data.verifiers.dispatch.verify_record` routes a record to the right one). Heavy modules (sympy for math,
the sandbox for code) are imported on first use, so importing this package stays cheap for a
filter that only needs `language_consistency`.
"""

from importlib import import_module
from typing import Any

from r1data.verifiers.verdict import Verdict

_LAZY = {
    "verify_math": "r1data.verifiers.math",
    "extract_math_answer": "r1data.verifiers.math",
    "verify_code": "r1data.verifiers.code",
    "extract_code": "r1data.verifiers.code",
    "verify_choice": "r1data.verifiers.choice",
    "check_format": "r1data.verifiers.format",
    "language_consistency": "r1data.verifiers.language",
    "judge": "r1data.verifiers.judge",
    "parse_judgement": "r1data.verifiers.judge",
}

__all__ = ["Verdict", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'r1data.verifiers' has no attribute {name!r}")
