"""Extraction of a completion's final math answer (the first stage of `verify_math`).

This module owns one question: which substring of a completion is its final answer. It looks only
after the think block (a `\\boxed{}` inside the reasoning is a draft, not the answer): the last
`\\boxed{}`/`\\fbox{}` (several boxes on the same line as the last one are one multi-part
answer, joined with commas), else a bare `\\boxed 5`, else `<answer>...</answer>`, else
"#### ...", else "the answer is ..." / "Final answer: ...". The answer comes back without its
surrounding dollars, `\\(`/`\\[` and final full stop, and otherwise untouched: comparing it
with the gold is `math_normalize`'s and `math_pool`'s business. Nothing found is None.
"""

from __future__ import annotations

import re

from r1data.record import split_completion

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_BARE = re.compile(r"\\boxed\s+([^\s${}]+)")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ANSWER_IS = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*(.+)", re.IGNORECASE)
_HASHES = re.compile(r"^####\s*(.+)$", re.MULTILINE)
# Prose that follows an answer in "the answer is 5, and that is the sum of 3 and 2": a connective
# followed by a pronoun or article, or "because"/"since" (never part of a math answer), ends it.
# "x = 3, and y = 2" keeps its second half: "y" is not a prose word.
_PROSE_TAIL = re.compile(
    r"(?:,\s*|\s+)(?:(?:and|which|so|but|as|where)\s+(?:that|this|it|is|was|the|we|i|they|there|he|she)\b"
    r"|(?:because|since)\b)", re.IGNORECASE)


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every balanced \\boxed{...} / \\fbox{...}, in order."""
    found = []
    for match in _BOX.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found.append((match.start(), i, text[match.end():i - 1]))
    return found


def _clean(answer: str) -> str:
    answer = answer.strip()
    answer = re.sub(r"^\$+|\$+$", "", answer).strip()
    answer = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", answer).strip()
    inner = _boxes(answer)
    if len(inner) == 1 and inner[0][0] == 0 and inner[0][1] == len(answer):
        return _clean(inner[0][2])  # \boxed{\boxed{9}}: the box is decoration, 9 the answer
    return answer.rstrip(".").strip()


def extract_math_answer(completion: str) -> str | None:
    """The final answer of a completion, outside its think block; None when there is none.

    >>> extract_math_answer("<think>maybe \\\\boxed{4}</think>\\n\\nSo \\\\boxed{5}.")
    '5'
    >>> extract_math_answer("<think>a</think> <answer>x = 3</answer>")
    'x = 3'
    >>> extract_math_answer("<think>cut off before the end \\\\boxed{4}") is None
    True
    """
    _, text = split_completion(completion)
    if not text:
        return None
    boxes = _boxes(text)
    # a box inside another (\\boxed{\\boxed{9}}) is part of the outer one, not a second answer
    boxes = [b for b in boxes if not any(o[0] < b[0] and b[1] <= o[1] for o in boxes)]
    if boxes:
        # boxes on the same line as the last one form one answer ("\\boxed{2} and \\boxed{3}")
        line_start = text.rfind("\n", 0, boxes[-1][0]) + 1
        parts = [content for start, _, content in boxes if start >= line_start]
        return _clean(", ".join(p.strip() for p in parts))
    bare = _BOX_BARE.findall(text)
    if bare:
        return _clean(bare[-1])
    tags = _ANSWER_TAG.findall(text)
    if tags:
        return _clean(tags[-1]) or None
    hashes = _HASHES.findall(text)
    if hashes:
        return _clean(hashes[-1])
    lines = [m.group(1) for line in text.splitlines() if (m := _ANSWER_IS.search(line))]
    if lines:
        sentence = re.split(r"(?<!\d)\.(?:\s|$)", lines[-1])[0]
        return _clean(_PROSE_TAIL.split(sentence, maxsplit=1)[0]) or None
    return None
