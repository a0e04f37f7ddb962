"""Rejection sampling (R1 section 2.3.3): keep only samples judged correct, at most k per prompt.

The verdict is the last entry of `Record.verdicts` (written by `r1data verify`); a sample with
no verdict is `unverified` and dropped unless `require_verdict` is off (non-reasoning data has
nothing to verify). With `max_per_prompt`, a prompt keeps at most k correct samples, and a
sample whose chain of thought is near-identical to one already kept for its prompt counts once:
it is dropped as `near_identical_sample` and does not use up the quota, so the k kept are
diverse. "Near-identical" is an estimated Jaccard similarity of word 5-gram sets from a MinHash
signature of 32 values (`filters/minhash.py`, the mechanism the corpus-level dedup uses too;
256 bytes per kept sample). The cap needs every sample of a prompt in one task: the chain
writes each sample's sketch in its parallel stage and runs `CorrectnessFilter.cap` one prompt at
a time in its `decide` stage (`keys.cap_duplicates`).
"""

from __future__ import annotations

import numpy as np

from . import minhash
from .base import RecordFilter, record_of

SKETCH = 32
SHINGLE = 5
_PERMUTATIONS = minhash.permutations(SKETCH, seed=5)


def sketch(text: str) -> np.ndarray:
    """The MinHash signature (32 values) of the text's word 5-grams."""
    return minhash.signature(minhash.shingles(text, SHINGLE), *_PERMUTATIONS)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two sketches.

    >>> similarity(sketch("one two three four five six"), sketch("one two three four five six"))
    1.0
    """
    return minhash.similarity(a, b)


class CorrectnessFilter(RecordFilter):
    """Keeps correct samples (reasons `incorrect`, `unverified`, `near_identical_sample`,
    `prompt_cap`).

    Args:
        require_verdict: drop samples that carry no verdict at all.
        max_per_prompt: keep at most this many correct samples per prompt (None: no cap).
        near_identical: estimated Jaccard similarity of two chains of thought of one prompt at
            or above which they are the same trace.
    """

    name = "correctness"

    def __init__(self, require_verdict: bool = True, max_per_prompt: int | None = None,
                 near_identical: float = 0.8,
                 exclusion_writer=None):
        super().__init__(exclusion_writer)
        if max_per_prompt is not None and max_per_prompt < 1:
            raise ValueError("max_per_prompt must be at least 1 (or None for no cap)")
        self.require_verdict = require_verdict
        self.max_per_prompt = max_per_prompt
        self.near_identical = near_identical
        self._kept: dict[str, list[np.ndarray]] = {}

    def filter(self, doc):
        record = record_of(doc)
        verdict = record.verdicts[-1] if record.verdicts else None
        if verdict is None:
            if self.require_verdict:
                return False, "unverified"
        elif not verdict.get("correct"):
            return False, "incorrect"
        if self.max_per_prompt is None:
            return True
        kept = self._kept.setdefault(record.prompt_id or record.prompt, [])
        reason = self.cap(kept, sketch(record.reasoning or record.completion))
        return (False, reason) if reason else True

    def cap(self, kept: list[np.ndarray], trace: np.ndarray) -> str | None:
        """The cap's reason to drop a correct sample given the sketches kept so far for its
        prompt (`trace` joins them when kept). Shared with the chain's keyed decisions
        (`keys.cap_duplicates`), which run it one prompt at a time."""
        for other in kept:
            if similarity(trace, other) >= self.near_identical:
                return "near_identical_sample"
        if len(kept) >= self.max_per_prompt:
            return "prompt_cap"
        kept.append(trace)
        return None
