"""The process that runs math-verify (sympy) for `r1data.verifiers.math`, one request at a time.

Why a process: sympy cannot be interrupted from another thread, and math-verify's own timeouts
use `signal.alarm`, which only works in the main thread. A caller that gives up on a request kills
this process (SIGKILL) and starts a fresh one, so a pathological expression costs at most the
caller's time limit and never hangs or crashes the caller.

Protocol (JSON lines on stdin/stdout): it prints `{"ready": true}` once its imports are done, then
answers each `{"gold", "pred"}` with `{"gold_ok", "pred_ok", "equal"}` (or `{"error"}`).
Parsed gold answers are cached: rejection sampling compares many samples with the same gold.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from functools import lru_cache

MEMORY_LIMIT = 4 << 30  # a huge power must fail with MemoryError, not take the machine down


def _is_math(value) -> bool:
    from sympy import Basic, MatrixBase

    return isinstance(value, (Basic, MatrixBase))


@lru_cache(maxsize=4096)
def _parse_gold(gold: str):
    from math_verify import parse

    return parse(f"${gold}$", parsing_timeout=None)


@lru_cache(maxsize=16384)
def _parse_pred(pred: str):
    from math_verify import parse

    return parse(f"\\boxed{{{pred}}}", parsing_timeout=None)


def compare(gold: str, pred: str) -> dict:
    from math_verify import verify

    gold_parsed = _parse_gold(gold)
    if not any(_is_math(g) for g in gold_parsed):
        return {"gold_ok": False, "pred_ok": False, "equal": False}
    pred_parsed = _parse_pred(pred)
    pred_ok = any(_is_math(p) for p in pred_parsed)
    equal = bool(pred_parsed) and verify(gold_parsed, pred_parsed, timeout_seconds=None)
    return {"gold_ok": True, "pred_ok": pred_ok, "equal": bool(equal)}


def main() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):
        pass  # a lower hard limit is already in place
    sys.setrecursionlimit(5000)
    logging.disable(logging.CRITICAL)  # math-verify warns that its timeout is off: it is ours now
    import math_verify  # noqa: F401  (the slow import happens before "ready")

    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = compare(request["gold"], request["pred"])
        except (Exception, RecursionError) as exc:  # noqa: BLE001: any sympy failure is an answer
            reply = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
