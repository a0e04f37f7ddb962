"""Builders shared by the filter tests: records from case data, and varied filler text."""

from __future__ import annotations

import random

from r1data.record import Record

VOCAB = ("number term sum product value equation side angle circle square root prime factor "
         "digit total first second third check again compute multiply divide subtract add "
         "result answer case count ways choose order remainder integer fraction ratio point "
         "line slope area volume length width height triangle base exponent power series "
         "sequence limit bound estimate assume suppose consider note since because therefore "
         "hence thus so we it this that which each every both either neither only also then").split()


def varied_text(words: int, seed: int = 0) -> str:
    """Sentences of random vocabulary words: no 10-gram repeats, like a real trace's prose."""
    rng = random.Random(seed)
    out = []
    while sum(len(s.split()) for s in out) < words:
        out.append(" ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 16))).capitalize() + ".")
    return " ".join(out)


def varied_with_waits(paragraphs: int = 60, seed: int = 0) -> str:
    """A long-CoT-like trace: varied paragraphs, each followed by the same short re-check lines."""
    parts = []
    for i in range(paragraphs):
        parts.append(varied_text(30, seed + i))
        parts.append("Wait, let me double-check that.")
    return "\n".join(parts)


def build_text(spec) -> str:
    if isinstance(spec, str):
        return spec
    pieces = spec["repeat"]
    text = ""
    for piece, count in zip(pieces[::2], pieces[1::2]):
        piece = {"{varied}": varied_text(800), "{varied_with_waits}": varied_with_waits()}.get(piece, piece)
        text += piece * count
    return text


def make_record(fields: dict, index: int = 0) -> Record:
    fields = dict(fields)
    completion = build_text(fields.pop("completion"))
    prompt = build_text(fields.pop("prompt", f"Question {index}: what is 2 + 2?"))
    sample_index = fields.pop("sample_index", 0)
    base = Record.from_prompt(prompt, id=fields.pop("prompt_id", None))
    return base.with_completion(completion, sample_index=sample_index, **fields)
