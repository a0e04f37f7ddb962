"""Token-length bounds on the chain of thought and on the answer.

Token counts come from a tokenizer when one is given (`r1data.models.load_tokenizer` spec), else
they are estimated without one: 4/3 tokens per word, one per CJK character, which is close for
BPE vocabularies on English prose and conservative on math. `Record.completion_tokens` is not
used because it counts the whole completion, not reasoning and answer apart.
"""

from __future__ import annotations

from r1data.models import load_tokenizer

from .base import RecordFilter, count_words, record_of


class LengthFilter(RecordFilter):
    """Drops samples whose reasoning or answer is too short or too long (`too_short`, `too_long`).

    Args:
        min_reasoning_tokens / max_reasoning_tokens: bounds on the chain of thought. The upper
            default is R1's maximum generation length (32,768 tokens); a longer trace could not
            have come from the model and cannot be trained on at that context. Non-reasoning
            samples (no think block) skip the reasoning bounds.
        min_answer_tokens / max_answer_tokens: bounds on the answer after the think block.
        tokenizer: a tokenizer spec for exact counts (loaded once per worker), or None to
            estimate.
    """

    name = "length"

    def __init__(self, min_reasoning_tokens: int = 0, max_reasoning_tokens: int = 32768,
                 min_answer_tokens: int = 1, max_answer_tokens: int = 8192,
                 tokenizer: str | None = None, exclusion_writer=None):
        super().__init__(exclusion_writer)
        if min_reasoning_tokens > max_reasoning_tokens or min_answer_tokens > max_answer_tokens:
            raise ValueError("a minimum length is above its maximum")
        self.bounds = {"reasoning": (min_reasoning_tokens, max_reasoning_tokens),
                       "answer": (min_answer_tokens, max_answer_tokens)}
        self.tokenizer = tokenizer
        self._tok = None

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return round(count_words(text) * 4 / 3)
        if self._tok is None:
            self._tok = load_tokenizer(self.tokenizer)
        return len(self._tok(text, add_special_tokens=False)["input_ids"])

    def filter(self, doc):
        record = record_of(doc)
        for part in ("reasoning", "answer"):
            text = getattr(record, part)
            if text is None and part == "reasoning":
                continue
            low, high = self.bounds[part]
            tokens = self.count(text or "")
            if tokens < low:
                return False, "too_short"
            if tokens > high:
                return False, "too_long"
        return True
