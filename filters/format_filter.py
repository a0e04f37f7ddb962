"""Structural checks on a completion: was it cut off, and is its think block well formed?

`truncated`: the backend stopped at its length limit (`finish_reason == "length"`), or the think
block was opened and never closed. `bad_format`: more than one opening or closing think tag, a
closing tag before the opening one, an empty chain of thought in a reasoning sample, or an empty
answer (R1's readable format closes every response with a summary).
"""

from __future__ import annotations

from r1data.record import NON_REASONING, THINK_CLOSE, THINK_OPEN

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
        if record.finish_reason == "length":
            return False, "truncated"
        opens, closes = text.count(THINK_OPEN), text.count(THINK_CLOSE)
        if opens > 1 or closes > 1:
            return False, "bad_format"
        if opens == 1 and closes == 0:
            return False, "truncated"
        if opens == 1 and text.find(THINK_CLOSE) < text.find(THINK_OPEN):
            return False, "bad_format"
        if record.kind != NON_REASONING:
            if self.require_think and closes == 0:
                return False, "bad_format"
            if closes and not (record.reasoning or "").strip():
                return False, "bad_format"
        if not (record.answer or "").strip():
            return False, "bad_format"
        return True
