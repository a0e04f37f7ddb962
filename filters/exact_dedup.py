"""Exact dedup on the normalised prompt and on the normalised completion.

Normalisation (`base.normalize`) ignores spacing, casing, punctuation and number formatting, so
"What is 1,000 + 1?" and "what is 1000+1" are one prompt. Prompt dedup works per prompt id: the
several samples of one prompt (rejection sampling draws many) are not duplicates of each other;
the samples of a *second* prompt id with the same text are (the same question from two sources).

The filter keeps a set of 64-bit hashes (about 70 bytes per distinct text), so it must see the
whole corpus in one task. The chain instead computes the hashes in its parallel stage
(`base.normalized_hashes`, into `keys.KeyWriter`'s keys) and decides by sorting them
(`keys.exact_duplicates`, the same decisions): no Python object per sample in any process.
"""

from __future__ import annotations

from .base import RecordFilter, normalized_hashes, record_of


class ExactDedupFilter(RecordFilter):
    """Drops exact duplicates (reasons `duplicate_prompt`, `duplicate_completion`).

    Args:
        prompt: dedup on the normalised prompt across prompt ids.
        completion: dedup on the normalised completion (reasoning and answer).
    """

    name = "exact_dedup"

    def __init__(self, prompt: bool = True, completion: bool = True, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.prompt = prompt
        self.completion = completion
        self._prompts: dict[int, str] = {}
        self._completions: set[int] = set()

    def filter(self, doc):
        record = record_of(doc)
        hashes = normalized_hashes(doc)
        if self.prompt:
            key = hashes["prompt"]
            owner = self._prompts.setdefault(key, record.prompt_id or record.id)
            if owner != (record.prompt_id or record.id):
                return False, "duplicate_prompt"
        if self.completion and record.completion:
            key = hashes["completion"]
            if key in self._completions:
                return False, "duplicate_completion"
            self._completions.add(key)
        return True
