"""Fuzzy prompt dedup with rapidfuzz, blocked by MinHash LSH so it is not quadratic.

Each new prompt id's normalised prompt gets 16 MinHash values over its word 3-grams
(`filters/minhash.py`, the filters' one near-duplicate mechanism), grouped in 8 bands of 2; only earlier prompts that share a band are compared with `rapidfuzz.fuzz.ratio`.
Two prompts with 3-gram Jaccard similarity 0.7 (typical of a 95-ratio rewording) share a band
with probability 1 - (1 - 0.7^2)^8 = 0.995. As with exact prompt dedup, the samples of one prompt
id are never duplicates of each other; later prompt ids near-identical to an earlier one are
dropped. Prompts whose numbers differ are different problems however close the wording ("add
2 and 3" vs "add 2 and 4"), so near-duplicates must also have the same numbers in the same order.
The filter must see the whole corpus in one task (the chain's final stage).
"""

from __future__ import annotations

from rapidfuzz import fuzz

from . import minhash
from .base import RecordFilter, normalize, numbers, record_of


class FuzzyPromptDedupFilter(RecordFilter):
    """Drops samples whose prompt nearly repeats an earlier prompt (`near_duplicate_prompt`).

    Args:
        min_ratio: rapidfuzz ratio (0-100) of the normalised prompts at or above which two
            prompts are the same question.
        bands / rows: LSH blocking shape (bands x rows MinHash values over word 3-grams).
    """

    name = "fuzzy_prompt_dedup"

    def __init__(self, min_ratio: float = 95.0, bands: int = 8, rows: int = 2, seed: int = 1,
                 exclusion_writer=None):
        super().__init__(exclusion_writer)
        if not 0 < min_ratio <= 100:
            raise ValueError("min_ratio must be in (0, 100]")
        self.min_ratio = min_ratio
        self.bands, self.rows = bands, rows
        self._a, self._b = minhash.permutations(bands * rows, seed)
        self._decided: dict[str, bool] = {}
        self._prompts: list[str] = []
        self._buckets: dict[tuple[int, bytes], list[int]] = {}

    def _band_keys(self, norm: str) -> list[tuple[int, bytes]]:
        values = minhash.signature(minhash.shingles(norm, 3), self._a, self._b)
        return [(band, values[band * self.rows:(band + 1) * self.rows].tobytes())
                for band in range(self.bands)]

    def filter(self, doc):
        record = record_of(doc)
        pid = record.prompt_id or record.id
        if pid not in self._decided:
            self._decided[pid] = self._is_new(normalize(record.prompt))
        return True if self._decided[pid] else (False, "near_duplicate_prompt")

    def _is_new(self, norm: str) -> bool:
        keys = self._band_keys(norm)
        seen: set[int] = set()
        for key in keys:
            for index in self._buckets.get(key, ()):
                if index not in seen:
                    seen.add(index)
                    other = self._prompts[index]
                    if (fuzz.ratio(norm, other, score_cutoff=self.min_ratio)
                            and numbers(norm) == numbers(other)):
                        return False
        index = len(self._prompts)
        self._prompts.append(norm)
        for key in keys:
            self._buckets.setdefault(key, []).append(index)
        return True
