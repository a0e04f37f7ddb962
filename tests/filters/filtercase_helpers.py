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


CORRECT = [{"verifier": "math", "correct": True, "score": 1.0}]


def chain_corpus(path, benchmark_prompt: str) -> dict[str, str]:
    """Writes a small corpus with one planted sample per drop reason of the default chain (plus
    the correctness cap) to `path`; returns {record id: expected reason or "kept"}."""
    import json

    expected: dict[str, str] = {}
    records = []

    def add(reason, prompt, completion, prompt_id=None, sample_index=0, **fields):
        fields.setdefault("verdicts", CORRECT)
        record = make_record({"prompt": prompt, "completion": completion, "prompt_id": prompt_id,
                              "sample_index": sample_index, **fields})
        records.append(record)
        expected[record.id] = reason

    def trace(seed, words=300):
        return f"<think>\n{varied_text(words, seed)}\n</think>\n\nThe answer is {seed}."

    for i in range(12):
        add("kept", f"Clean question {i}: {varied_text(20, 1000 + i)}", trace(i), prompt_id=f"q{i}")
    add("kept", "清洁的问题：计算这个数字的平方，然后再加上第二个数字。", "<think>\n我们需要先计算这个数字的平方，然后再加上第二个数字，最后得到答案。\n</think>\n\n答案是十二。",
        prompt_id="zh", language="zh")
    add("truncated", "Truncated question", trace(50), prompt_id="t", finish_reason="length")
    add("bad_format", "Bad format question", "<think>\nx\n</think>\n</think>\n\n4", prompt_id="b")
    add("code_block_in_cot", "Code question", "<think>\nCheck:\n```python\nprint(4)\n```\n</think>\n\n4",
        prompt_id="c", domain="math")
    add("long_paragraph", "Long paragraph question",
        "<think>\n" + varied_text(600, 51).replace("\n", " ") + "\n</think>\n\n4", prompt_id="lp")
    add("repetition", "Looping question",
        "<think>\n" + "So the total is the sum of the first and the second term here.\n\n" * 40
        + "</think>\n\n4", prompt_id="r")
    add("mixed_language", "Mixed question",
        "<think>\nLet me compute the sum first and check it. 我们需要先计算这个数字的平方，然后再加上第二个数字，最后得到答案。\n</think>\n\n4",
        prompt_id="m")
    add("incorrect", "Wrong question", trace(52), prompt_id="w",
        verdicts=[{"verifier": "math", "correct": False, "score": 0.0}])
    add("contamination", benchmark_prompt, trace(53), prompt_id="bench")
    # near-duplicate completion of q0 under another prompt: MinHash
    near = trace(0).replace("The answer is 0.", "The answer is zero.")
    add("near_duplicate", "Another question entirely about sheep", near, prompt_id="nd")
    add("duplicate_prompt", "clean QUESTION 1: " + varied_text(20, 1001), trace(60), prompt_id="dp")
    add("near_duplicate_prompt", "Clean question 2 " + varied_text(20, 1002) + " please", trace(61),
        prompt_id="fp")
    # three more correct samples of q3: with max_per_prompt=2, one fits, one is a near copy of
    # sample 0 (MinHash removes it before the cap sees it), one is over the cap
    add("kept", records[3].prompt, trace(70), prompt_id="q3", sample_index=1)
    add("near_duplicate", records[3].prompt,
        records[3].completion.replace("The answer is 3.", "So the answer is 3."),
        prompt_id="q3", sample_index=2)
    add("prompt_cap", records[3].prompt, trace(71), prompt_id="q3", sample_index=3)
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        fh.write("{not json\n")
    return expected
