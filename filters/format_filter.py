"""Structural checks on a completion: was it cut off, and is its think block well formed?

`truncated`: the backend stopped at its length limit (`finish_reason == "length"`), or the think
block was opened and never closed. `bad_format`: the completion fails R1's readable format as the
format verifier defines it (`r1data.verifiers.format.check_format`, style "r1": `<think>\n` first,
one think block with non-empty reasoning, then a non-empty summary). The filter and the format
reward share that one rule, so a sample the corpus keeps is one the reward would score 1; the
verifier's finer reason (`repeated_tag`, `empty_answer`, ...) is kept in the drop reason's place
as `bad_format` so chains count one reason.

What only the filter knows: a sample's kind (a non-reasoning sample needs no think block, and may
carry an empty one, as R1's non-reasoning data does) and the template (`require_think=False`
when the prompt pre-filled `<think>`, so the completion starts inside the block).
"""

from __future__ import annotations

from r1data.record import NON_REASONING, THINK_CLOSE, THINK_OPEN
from r1data.verifiers.format import check_format

from .base import RecordFilter, record_of


class FormatFilter(RecordFilter):
    """Drops truncated and badly formatted completions (reasons `truncated`, `bad_format`).

    Args:
        require_think: a reasoning sample (`kind == "reasoning"`) must hold a think block. Turn
            off for corpora whose template pre-fills `<think>` in the prompt (the completion
            then starts inside the block and only closes it).
    """

    name = "format"

    def __init__(self, require_think: bool = True, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.require_think = require_think

    def filter(self, doc):
        record = record_of(doc)
        text = record.completion
        if record.finish_reason == "length" or (THINK_OPEN in text and THINK_CLOSE not in text):
            return False, "truncated"
        reasoning = record.kind != NON_REASONING
        if THINK_CLOSE in text and THINK_OPEN not in text and not self.require_think:
            text = f"{THINK_OPEN}\n{text}"  # the template pre-filled the opening tag
        if THINK_CLOSE not in text:  # no think block at all
            if reasoning and self.require_think:
                return False, "bad_format"
            return True if (record.answer or "").strip() else (False, "bad_format")
        verdict = check_format(text, style="r1")
        if verdict.correct or (not reasoning and verdict.reason == "empty_reasoning"):
            return True
        return False, "bad_format"
