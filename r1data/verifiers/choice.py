"""Multiple choice (MMLU-STEM, GPQA): the answer is a letter, or the text of one option.

The letter is taken after the think block from, in order: `\\boxed{C}`, `<answer>C</answer>`,
"answer is (C)" / "Answer: C", a reply that is only a letter, and finally the text of exactly one
option. A gold may be a letter ("C", "(C)") or the option's text when `choices` are given.
"""

from __future__ import annotations

import re

from r1data.record import split_completion
from r1data.verifiers.verdict import GOLD_UNPARSEABLE, NO_ANSWER, Verdict

LETTERS = "ABCDEFGHIJ"
_LETTER = r"\(?([A-J])\)?"
_PATTERNS = [
    re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*" + _LETTER + r"\s*\}?\s*\}"),
    re.compile(r"<answer>\s*" + _LETTER + r"[\s.:)]*(?:</answer>|\s)", re.DOTALL),
    re.compile(r"answer\s*(?:is|:)\s*(?:option\s*)?\**\s*" + _LETTER + r"(?![A-Za-z])", re.I),
    re.compile(r"^\s*\**" + _LETTER + r"\**\s*[.:)]?\s*$"),
    re.compile(r"^\s*" + _LETTER + r"[.:)]\s", re.M),
]


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def gold_letter(gold: str | int, choices: list[str] | None = None) -> str | None:
    """The gold as a letter: from a letter, "(C)", an index, or the text of one of `choices`."""
    if isinstance(gold, int) and not isinstance(gold, bool):
        return LETTERS[gold] if 0 <= gold < len(choices or LETTERS) else None
    text = str(gold).strip()
    match = re.fullmatch(r"\(?([A-Ja-j])\)?\.?", text)
    if match:
        return match.group(1).upper()
    if choices:
        hits = [i for i, c in enumerate(choices) if _norm(c) == _norm(text)]
        if len(hits) == 1:
            return LETTERS[hits[0]]
    return None


def extract_choice(completion: str, choices: list[str] | None = None) -> str | None:
    """The chosen letter of a completion, or None."""
    _, text = split_completion(completion)
    if not text:
        return None
    for pattern in _PATTERNS:
        found = pattern.findall(text)
        if found:
            letter = found[-1].upper()
            if choices is None or LETTERS.index(letter) < len(choices):
                return letter
    if choices:
        said = f" {_norm(text)} "
        hits = [i for i, c in enumerate(choices) if _norm(c) and f" {_norm(c)} " in said]
        if len(hits) == 1:
            return LETTERS[hits[0]]
    return None


def verify_choice(completion: str, gold: str, choices: list[str] | None = None) -> Verdict:
    """Is the chosen option the gold one?

    >>> verify_choice("<think>...</think>\\n\\nThe answer is (C).", "C").correct
    True
    >>> verify_choice("Paris", "B", ["London", "Paris", "Rome"]).correct
    True
    """
    want = gold_letter(gold, choices)
    if want is None:
        return Verdict.undecided(GOLD_UNPARSEABLE)
    got = extract_choice(completion, choices)
    if got is None:
        return Verdict.wrong(NO_ANSWER)
    return Verdict.ok(got) if got == want else Verdict.wrong(extracted=got)
