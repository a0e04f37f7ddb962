"""`Verdict`: what every verifier returns, so that GRPO rewards, rejection sampling and evaluation
read one shape (open-instruct's `VerificationResult` is the model: a result, a score, a reason).

`correct` is None when the verifier could not decide (timeout, unparseable gold, no sandbox):
callers must not count such a sample as correct, and may choose whether it counts as wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The reasons, as snake_case nouns. A verifier may add its own; these are the shared ones.
OK = "ok"
WRONG_ANSWER = "wrong_answer"
NO_ANSWER = "no_answer"
TIMEOUT = "timeout"
GOLD_UNPARSEABLE = "gold_unparseable"
TESTS_FAILED = "tests_failed"
NO_CODE = "no_code"
BAD_FORMAT = "bad_format"
ERROR = "error"


@dataclass(slots=True)
class Verdict:
    """correct: True/False, or None when undecidable. score: the reward in [0, 1] (for code, the
    fraction of tests passed when partial credit is asked, else 0/1). reason: why (see the
    constants above). extracted: the answer or program the verifier judged, None if none was
    found. details: verifier-specific facts (tests passed/total, sandbox isolation, timings)."""

    correct: bool | None
    score: float
    reason: str
    extracted: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Verdict":
        return cls(correct=data.get("correct"), score=float(data.get("score", 0.0)),
                   reason=str(data.get("reason", "")), extracted=data.get("extracted"),
                   details=dict(data.get("details") or {}))

    @classmethod
    def ok(cls, extracted: str | None = None, **details: Any) -> "Verdict":
        return cls(True, 1.0, OK, extracted, details)

    @classmethod
    def wrong(cls, reason: str = WRONG_ANSWER, extracted: str | None = None,
              **details: Any) -> "Verdict":
        return cls(False, 0.0, reason, extracted, details)

    @classmethod
    def undecided(cls, reason: str, extracted: str | None = None, **details: Any) -> "Verdict":
        return cls(None, 0.0, reason, extracted, details)
