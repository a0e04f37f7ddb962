"""The three readability rules of R1's rejection sampling (section 2.3.3): chains of thought with
"mixed languages, long paragraphs, and code blocks" are filtered out.

Only the chain of thought (`Record.reasoning`) is judged: the answer after the think block may
legitimately hold code (a code task) or a long summary. A record without a chain of thought (a
non-reasoning sample) passes these three filters.
"""

from __future__ import annotations

import re

from r1data.verifiers import language_consistency

from .base import RecordFilter, count_words, record_of


class LanguageMixFilter(RecordFilter):
    """Drops a chain of thought whose language-consistency score (R1 section 2.3.2: the share of
    words in the record's target language, `Record.language`) is below `min_consistency`.

    Args:
        min_consistency: the lowest accepted share of target-language words. 0.95 tolerates a
            few foreign terms (a name, a quoted title) but not a switch of language mid-thought.
    """

    name = "language_mix"

    def __init__(self, min_consistency: float = 0.95, exclusion_writer=None):
        super().__init__(exclusion_writer)
        if not 0.0 <= min_consistency <= 1.0:
            raise ValueError("min_consistency must be in [0, 1]")
        self.min_consistency = min_consistency

    def filter(self, doc):
        record = record_of(doc)
        if not record.reasoning:
            return True
        score = language_consistency(record.reasoning, record.language or "en")
        if score < self.min_consistency:
            return False, "mixed_language"
        return True


class LongParagraphFilter(RecordFilter):
    """Drops a chain of thought with a paragraph (text between blank lines) that is too long.

    Args:
        max_words: most words in one paragraph; a CJK character counts as one word. R1 gives no
            number; 400 words is far above the paragraphs of readable long-CoT traces (a few
            sentences each, between "Wait," and re-checks), and well below the walls of text of
            unreadable ones.
        max_chars: most characters in one paragraph (catches long runs of formulas, which hold
            few words).
    """

    name = "long_paragraph"
    _BLANK_LINE = re.compile(r"\n\s*\n")

    def __init__(self, max_words: int = 400, max_chars: int = 4000, exclusion_writer=None):
        super().__init__(exclusion_writer)
        if max_words < 1 or max_chars < 1:
            raise ValueError("max_words and max_chars must be positive")
        self.max_words = max_words
        self.max_chars = max_chars

    def filter(self, doc):
        reasoning = record_of(doc).reasoning
        if not reasoning:
            return True
        for paragraph in self._BLANK_LINE.split(reasoning):
            if len(paragraph) > self.max_chars or (
                len(paragraph) > self.max_words and count_words(paragraph) > self.max_words
            ):
                return False, "long_paragraph"
        return True


class CodeBlockFilter(RecordFilter):
    """Drops a chain of thought holding a fenced code block (``` or ~~~) when the record's domain
    is not a code domain.

    Args:
        code_domains: domains where code in the reasoning is expected and kept.
    """

    name = "code_block"
    _FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)

    def __init__(self, code_domains: tuple[str, ...] = ("code",), exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.code_domains = tuple(code_domains)

    def filter(self, doc):
        record = record_of(doc)
        if not record.reasoning or record.domain in self.code_domains:
            return True
        reasoning = record.reasoning
        # a fence needs three backticks or tildes: a substring test (memchr speed) rules most
        # traces out before the line-anchored regex scans them (0.24 ms on 4,000 words)
        if ("```" in reasoning or "~~~" in reasoning) and self._FENCE.search(reasoning):
            return False, "code_block_in_cot"
        return True
