"""Fuzzy prompt dedup with rapidfuzz, blocked by MinHash LSH so it is not quadratic.

Each new prompt id's normalised prompt gets 16 MinHash values over its word 3-grams
(`filters/minhash.py`, the filters' one near-duplicate mechanism), grouped in 8 bands of 2; only earlier prompts that share a band are compared with `rapidfuzz.fuzz.ratio`.
Two prompts with 3-gram Jaccard similarity 0.7 (typical of a 95-ratio rewording) share a band
with probability 1 - (1 - 0.7^2)^8 = 0.995. As with exact prompt dedup, the samples of one prompt
id are never duplicates of each other; later prompt ids near-identical to an earlier one are
dropped. Prompts whose numbers differ are different problems however close the wording ("add
2 and 3" vs "add 2 and 4"), so near-duplicates must also have the same numbers in the same order.
The filter must see the whole corpus in one task; the chain runs the same logic from compact
keys in its `decide` stage (`keys.fuzzy_duplicates`).
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz

from . import minhash
from .base import RecordFilter, normalized, numbers, record_of


class FuzzyPromptDedupFilter(RecordFilter):
    """Drops samples whose prompt nearly repeats an earlier prompt (`near_duplicate_prompt`).

    Args:
        min_ratio: rapidfuzz ratio (0-100) of the normalised prompts at or above which two
            prompts are the same question.
        bands / rows: LSH blocking shape (bands x rows MinHash values over word 3-grams).
        max_bucket: a band value shared by more earlier prompts than this comes from a
            template's fixed words ("if it has", "what is the"), not from a shared question:
            it is no longer compared or grown. Without this cap a templated corpus makes
            candidate lists grow with the corpus and the filter quadratic (20,000 prompts of
            the filter-chain benchmark's template: 8.0 s, 4x the time of 10,000); a true
            near-duplicate shares most of its 8 bands, so it still meets its copy in another.
    """

    name = "fuzzy_prompt_dedup"

    def __init__(self, min_ratio: float = 95.0, bands: int = 8, rows: int = 2, seed: int = 1,
                 max_bucket: int = 100, exclusion_writer=None):
        super().__init__(exclusion_writer)
        if not 0 < min_ratio <= 100:
            raise ValueError("min_ratio must be in (0, 100]")
        self.min_ratio = min_ratio
        self.bands, self.rows = bands, rows
        if max_bucket < 1:
            raise ValueError("max_bucket must be at least 1")
        self.max_bucket = max_bucket
        self._a, self._b = minhash.permutations(bands * rows, seed)
        self._fold, self._salt = minhash.permutations(max(rows, bands), seed + 1)
        self._decided: dict[str, bool] = {}
        self._prompts: list[str] = []
        self._buckets = PromptBuckets(max_bucket)

    def band_keys(self, norm: str) -> list[int]:
        """The LSH band keys of a normalised prompt: a band's `rows` MinHash values folded into
        one int (odd multipliers, a salt per band); a collision only adds a candidate that
        rapidfuzz then rejects."""
        values = minhash.signature(minhash.shingles(norm, 3), self._a, self._b)
        with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
            keys = (values.reshape(self.bands, self.rows) * self._fold[0, :self.rows]).sum(
                axis=1, dtype=np.uint64) + self._salt[0, :self.bands]
        return keys.tolist()

    def same_prompt(self, norm: str, other: str) -> bool:
        """Whether two normalised prompts are one question: close wording, same numbers."""
        return bool(fuzz.ratio(norm, other, score_cutoff=self.min_ratio)) and numbers(norm) == numbers(other)

    def filter(self, doc):
        record = record_of(doc)
        pid = record.prompt_id or record.id
        if pid not in self._decided:
            self._decided[pid] = self._is_new(normalized(doc, "prompt"))
        return True if self._decided[pid] else (False, "near_duplicate_prompt")

    def _is_new(self, norm: str) -> bool:
        keys = self.band_keys(norm)
        if any(self.same_prompt(norm, self._prompts[i]) for i in self._buckets.candidates(keys)):
            return False
        self._buckets.add(keys, len(self._prompts))
        self._prompts.append(norm)
        return True


class PromptBuckets:
    """Band key -> the earlier kept prompts with it: the fuzzy dedup's state, shared by the
    streaming filter above and the chain's keyed decisions (`keys.fuzzy_duplicates`), which
    holds only the band keys that more than one prompt of the corpus has.

    A bucket holds one prompt as an int, more as a list: ints, not tuples of bytes and lists,
    because the streaming filter holds 8 per distinct prompt of the whole corpus. A bucket with
    more than `max_bucket` prompts is crowded (a template's words): no longer compared or grown.
    """

    def __init__(self, max_bucket: int):
        self.max_bucket = max_bucket
        self.members: dict[int, int | list[int]] = {}

    def candidates(self, keys):
        """The earlier prompts sharing an uncrowded bucket with `keys`, each once."""
        seen: set[int] = set()
        for key in keys:
            members = self.members.get(key, ())
            if isinstance(members, int):
                members = (members,)
            elif len(members) > self.max_bucket:
                continue  # a template's band: its copy shares other bands
            for index in members:
                if index not in seen:
                    seen.add(index)
                    yield index

    def add(self, keys, index: int) -> None:
        for key in keys:
            members = self.members.get(key)
            if members is None:
                self.members[key] = index
            elif isinstance(members, int):
                self.members[key] = [members, index]
            elif len(members) <= self.max_bucket:  # one past the cap marks the band as crowded
                members.append(index)
