"""Degenerate repetition in a chain of thought: a model stuck in a loop.

Long chains of thought repeat on purpose ("Wait,", "Let me double-check", the same equation
re-derived), so datatrove's Gopher thresholds, tuned on web text (10-gram duplicate fraction
0.10, duplicate lines 0.30 by count), reject good traces. The checks here look for what a loop
leaves behind instead:
- many long lines repeated verbatim (short lines such as "Wait," are not counted);
- a large share of the words inside word n-grams seen more than once (n = 10 by default: a
  re-check rephrases, a loop copies);
- a tail that is almost all repeated n-grams (a loop that ran to the length limit), which the
  whole-text share would dilute in a long trace.
"""

from __future__ import annotations

import numpy as np

from .base import RecordFilter, record_of
from .minhash import gram_hashes, token_hashes, word_hashes


def duplicate_ngram_fraction(tokens: list[str], n: int) -> float:
    """Share of tokens covered by an n-gram that occurs more than once.

    >>> duplicate_ngram_fraction("a b c a b c".split(), 3)
    1.0
    >>> duplicate_ngram_fraction("a b c d e f".split(), 3)
    0.0
    """
    return hashed_duplicate_ngram_fraction(token_hashes(tokens), n)


def hashed_duplicate_ngram_fraction(hashes: np.ndarray, n: int) -> float:
    """`duplicate_ngram_fraction` of the tokens with these hashes (one uint64 per token)."""
    if len(hashes) < n or n < 1:
        return 0.0
    return _covered_share(gram_hashes(hashes, n), len(hashes), n)


def _covered_share(grams: np.ndarray, length: int, n: int) -> float:
    """Share of `length` tokens covered by the n-grams (one hash per start) seen more than once."""
    _, inverse, counts = np.unique(grams, return_inverse=True, return_counts=True)
    repeated = counts[inverse] > 1
    # token i is covered when a repeated n-gram starts in [i - n + 1, i]: +1 at each repeated
    # start, -1 n tokens later, and a running sum
    delta = np.zeros(length + 1, dtype=np.int64)
    starts = np.flatnonzero(repeated)
    delta[starts] += 1  # starts are distinct, and so are starts + n
    delta[starts + n] -= 1
    return float(np.count_nonzero(np.cumsum(delta[:length]))) / length


class RepetitionFilter(RecordFilter):
    """Drops chains of thought that loop (reason `repetition`).

    Args:
        max_duplicate_line_fraction: most lines (of those with `min_line_words` words or more)
            that repeat an earlier line verbatim.
        min_line_words: shorter lines ("Wait,", "So x = 4.") are not counted as lines.
        ngram_size: word n-gram size for the duplicate-n-gram share.
        max_duplicate_ngram_fraction: most words covered by repeated n-grams, over the whole
            trace. 0.3 is three times Gopher's web-text threshold.
        tail_words / max_tail_duplicate_fraction: the same share over the last `tail_words`
            words only, where a loop that hit the length limit sits.
    """

    name = "repetition"

    def __init__(self, max_duplicate_line_fraction: float = 0.3, min_line_words: int = 8,
                 ngram_size: int = 10, max_duplicate_ngram_fraction: float = 0.3,
                 tail_words: int = 300, max_tail_duplicate_fraction: float = 0.8,
                 exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.max_duplicate_line_fraction = max_duplicate_line_fraction
        self.min_line_words = min_line_words
        self.ngram_size = ngram_size
        self.max_duplicate_ngram_fraction = max_duplicate_ngram_fraction
        self.tail_words = tail_words
        self.max_tail_duplicate_fraction = max_tail_duplicate_fraction

    def filter(self, doc):
        reasoning = record_of(doc).reasoning
        if not reasoning:
            return True
        lines = [line.strip() for line in reasoning.splitlines()]
        lines = [line for line in lines if len(line.split()) >= self.min_line_words]
        if len(lines) >= 4 and 1 - len(set(lines)) / len(lines) > self.max_duplicate_line_fraction:
            return False, "repetition"
        tokens = word_hashes(reasoning.lower())  # the words of .lower().split(), hashed in numpy
        if hashed_duplicate_ngram_fraction(tokens, self.ngram_size) > self.max_duplicate_ngram_fraction:
            return False, "repetition"
        if len(tokens) >= 2 * self.tail_words:
            tail = tokens[-self.tail_words:]
            if hashed_duplicate_ngram_fraction(tail, self.ngram_size) > self.max_tail_duplicate_fraction:
                return False, "repetition"
        return True
