"""Decontamination against the bundled benchmarks: prompt, reasoning AND answer are checked.

Public reproductions check only the question column (R1_REFERENCE.md); a chain of thought that
recites a benchmark problem is contamination too. Two checks, on `base.normalize`d text (so
spacing, casing, punctuation, LaTeX markup and number formatting do not hide a copy):
- word n-gram overlap (default 8-grams, as open-r1) between any of the three fields and any
  benchmark problem. N-grams that occur in more than `max_item_frequency` different benchmark
  items ("which of the following is true about the") are boilerplate, not a problem, and are not
  indexed;
- a rapidfuzz check of the prompt against the benchmark problems, for near-verbatim copies that
  change a word every few words or are shorter than n words. Candidates are blocked by shared
  word 3-grams, so each prompt is compared with a handful of items, not thousands. Problems
  shorter than `SHORT_ITEM_CHARS` normalised characters must match exactly: one word changed in
  "simplify sqrt 242" is another problem, and so is a copy whose numbers were changed.
The matched item is written into `Record.metadata[META_CONTAMINATION]`, which the decontamination
report lists.
"""

from __future__ import annotations

from collections import Counter

from rapidfuzz import fuzz

from r1data.record import META_CONTAMINATION

from .base import RecordFilter, normalize, numbers, record_of
from .minhash import gram_hashes, token_hashes

FIELDS = ("prompt", "reasoning", "answer")
SHORT_ITEM_CHARS = 40  # problems this short match the fuzzy check only when equal


class BenchmarkIndex:
    """N-gram and 3-gram indexes of the benchmark problems (built once per worker process)."""

    def __init__(self, benchmarks: list[str], ngram: int = 8, max_item_frequency: int = 2,
                 max_block_frequency: int = 50):
        from r1data import benchmark_sets as bench

        self.ngram = ngram
        self.items: list[dict] = []
        for name in benchmarks:
            for item in bench.load(name):
                self.items.append({"benchmark": name, "id": item["id"],
                                   "norm": normalize(item["prompt"])})
        owners: dict[int, set[int]] = {}
        blocks: dict[tuple, set[int]] = {}
        for index, item in enumerate(self.items):
            tokens = tuple(item["norm"].split())
            if len(tokens) >= ngram:
                for key in gram_hashes(token_hashes(tokens), ngram).tolist():
                    owners.setdefault(key, set()).add(index)
            for gram in _grams(tokens, 3):
                blocks.setdefault(gram, set()).add(index)
        # n-gram hash -> the item it belongs to: a text's n-grams are hashed all at once
        # (`gram_hashes` over its words' hashes) and tested against the keys in one C-level
        # `isdisjoint`, not one tuple at a time. The hashes live in this process only (the index
        # is built lazily per worker).
        self.ngram_items = {key: min(ids) for key, ids in owners.items() if len(ids) <= max_item_frequency}
        self.blocks = {hash(g): ids for g, ids in blocks.items() if len(ids) <= max_block_frequency}

    def ngram_match(self, tokens: list[str]) -> tuple[int, str] | None:
        """(item index, the matching n-gram) of the first benchmark n-gram found, or None."""
        n, index = self.ngram, self.ngram_items
        if len(tokens) < n:
            return None
        grams = gram_hashes(token_hashes(tokens), n).tolist()
        if index.keys().isdisjoint(grams):  # almost every sample: no benchmark n-gram at all
            return None
        first = next(i for i, gram in enumerate(grams) if gram in index)
        return index[grams[first]], " ".join(tokens[first:first + n])

    def fuzzy_match(self, norm: str, min_ratio: float) -> tuple[int, float] | None:
        """(item index, score) of the best near-verbatim benchmark problem, or None."""
        tokens = tuple(norm.split())
        shared: Counter[int] = Counter()
        for gram in _grams(tokens, 3):
            shared.update(self.blocks.get(hash(gram), ()))
        best = None
        for index, _ in shared.most_common(8):
            other = self.items[index]["norm"]
            if len(other) < SHORT_ITEM_CHARS and other != norm:
                continue  # one changed word in "simplify sqrt 242" is another problem
            if numbers(other) != numbers(norm):
                continue  # changed numbers make another problem; changed formatting does not
            score = fuzz.ratio(norm, other, score_cutoff=min_ratio)
            if score and (best is None or score > best[1]):
                best = (index, score)
        return best


def _grams(tokens: tuple | list, n: int):
    if len(tokens) < n:
        return [tuple(tokens)] if tokens and n <= 3 else []
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


class DecontaminationFilter(RecordFilter):
    """Drops samples that overlap a benchmark problem (reason `contamination`).

    Args:
        benchmarks: names from `r1data.benchmark_sets.BENCHMARKS` (default: all of them).
        ngram: word n-gram size of the overlap check (8, as open-r1).
        min_ratio: rapidfuzz ratio (0-100) of prompt vs problem that counts as a copy.
        max_item_frequency: n-grams shared by more benchmark items than this are boilerplate.
    """

    name = "decontamination"

    def __init__(self, benchmarks: list[str] | None = None, ngram: int = 8,
                 min_ratio: float = 90.0, max_item_frequency: int = 2, exclusion_writer=None):
        super().__init__(exclusion_writer)
        from r1data.benchmark_sets import BENCHMARKS

        if ngram < 3:
            raise ValueError("ngram must be at least 3")
        self.benchmarks = list(benchmarks or BENCHMARKS)
        self.ngram = ngram
        self.min_ratio = min_ratio
        self.max_item_frequency = max_item_frequency
        self._index: BenchmarkIndex | None = None  # built lazily: not pickled to workers

    @property
    def index(self) -> BenchmarkIndex:
        if self._index is None:
            self._index = BenchmarkIndex(self.benchmarks, self.ngram, self.max_item_frequency)
        return self._index

    def filter(self, doc):
        record = record_of(doc)
        index = self.index
        prompt_norm = ""
        for field in FIELDS:
            text = getattr(record, field) or ""
            norm = normalize(text)
            if field == "prompt":
                prompt_norm = norm
            hit = index.ngram_match(norm.split())
            if hit:
                return self._drop(record, hit[0], field, "ngram", hit[1])
        hit = index.fuzzy_match(prompt_norm, self.min_ratio) if prompt_norm else None
        if hit:
            return self._drop(record, hit[0], "prompt", "fuzzy", round(hit[1], 1))
        return True

    def _drop(self, record, item_index: int, field: str, method: str, evidence):
        item = self.index.items[item_index]
        record.metadata[META_CONTAMINATION] = {
            "benchmark": item["benchmark"], "item_id": item["id"], "field": field,
            "method": method, "evidence": evidence,
        }
        return False, "contamination"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_index"] = None
        return state
