"""Samples whose backend call failed after the backend's own retries: counted, reported, retried.

A failed sample is never written as a record. So its id stays missing from the output folder and
the next run of the same command generates it again, while the samples that succeeded are
resumed. `FailureLog` collects the failures of one run: their count by error type with the first
message of each type (what the closing table and the error line show), and one row per failed
sample in `<output>/errors/errors.jsonl`, rewritten by every run (it lists what the last run could
not do, not a history).

A run whose share of failed samples exceeds its `max_error_rate` (0 by default: any failure)
raises `GenerationFailed` after writing everything that succeeded; the CLI prints it in one line
and exits with code 3.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from r1data.record import META_ERROR, Record

ERRORS_FILE = Path("errors") / "errors.jsonl"


def error_type(message: str) -> str:
    """The kind of an error message as backends write them (`<Type>: <detail>`).

    >>> error_type("ConnectError: All connection attempts failed"), error_type("HTTP 503: busy")
    ('ConnectError', 'HTTP 503')
    """
    kind, sep, _ = message.partition(":")
    return kind.strip() if sep and kind.strip() else "error"


class GenerationFailed(RuntimeError):
    """Samples failed after the backend's retries, more of them than the run accepts."""

    def __init__(self, failures: "FailureLog", attempted: int, max_error_rate: float,
                 summary: Any = None):
        self.failures, self.summary = failures, summary
        where = f" (listed in {failures.path})" if failures.path else ""
        # Only runs that keep a failure file (generate and the stages) take a max error rate.
        accepted = ("" if not failures.path else
                    f" (more than --max-error-rate {max_error_rate:g} accepts)" if max_error_rate
                    else " (--max-error-rate accepts some loss)")
        super().__init__(
            f"{failures.count} of {attempted} samples failed after the backend's retries"
            f"{where}: {failures.describe()}; rerun the same command to retry them{accepted}")


class FailureLog:
    """The failed samples of one run (see the module docstring). `path=None` keeps no file."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self.by_type: Counter = Counter()
        self.first: dict[str, str] = {}
        self._fh = None
        if self.path is not None and self.path.exists():
            self.path.unlink()  # the failures of an earlier run are retried by this one

    @property
    def count(self) -> int:
        return sum(self.by_type.values())

    def add(self, record: Record) -> None:
        message = str(record.metadata.get(META_ERROR) or "error")
        kind = error_type(message)
        self.by_type[kind] += 1
        self.first.setdefault(kind, message)
        if self.path is not None:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")
            row = {"id": record.id, "prompt_id": record.prompt_id,
                   "sample_index": record.metadata.get("sample_index"), "error_type": kind,
                   "error": message}
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._fh.flush()

    def describe(self, limit: int = 3) -> str:
        """'ConnectError x2 (All connection attempts failed), HTTP 503 x1 (...)'."""
        parts = []
        for kind, count in self.by_type.most_common(limit):
            detail = self.first[kind].partition(":")[2].strip() or self.first[kind]
            parts.append(f"{kind} x{count} ({detail[:160]})")
        if len(self.by_type) > limit:
            parts.append(f"{len(self.by_type) - limit} more types")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {kind: {"count": count, "first": self.first[kind]}
                for kind, count in self.by_type.most_common()}

    def check(self, attempted: int, max_error_rate: float, summary: Any = None) -> None:
        """Raise GenerationFailed when the failed share of `attempted` samples exceeds the rate."""
        if self.count and self.count > max_error_rate * attempted:
            raise GenerationFailed(self, attempted, max_error_rate, summary)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
