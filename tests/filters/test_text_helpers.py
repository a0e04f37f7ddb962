"""The filters' fast text helpers decide exactly as the plain versions they replaced.

`base.words` splits with `str.translate` + `split` and keeps the regex for non-ASCII tokens;
`repetition_filter.duplicate_ngram_fraction` counts n-grams in numpy. Each is checked here
against the obvious implementation on random texts drawn from characters that stress the
boundaries (CJK, accents, odd whitespace, superscripts, underscores, zero-width spaces).
"""

import random

from r1data.filters import base
from r1data.filters.adapters import document_of
from r1data.filters.repetition_filter import duplicate_ngram_fraction

from filtercase_helpers import make_record

POOL = list("abcXYZ019 _-,.!?\n\t'\"$\\{}") + [
    "é", "ß", "对", "的", "×", "≤", "—", "\u00a0", "\u2009", "\u3000", "ا", "한", "ｱ", "²", "①",
    "\u200b", "Ⅻ", "ǅ", "\U00020000", "\x1c", "\x85", "\u2028", "١", "1,000", "Wait,"]


def _texts(count, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(0, 30))) for _ in range(count)]


def test_words_matches_the_word_pattern_on_any_text():
    for text in _texts(20_000):
        assert base.words(text) == base._WORD.findall(text), repr(text)


def _plain_duplicate_fraction(tokens, n):
    if len(tokens) < n or n < 1:
        return 0.0
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    covered = [False] * len(tokens)
    for i, gram in enumerate(grams):
        if grams.count(gram) > 1:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(tokens)


def test_duplicate_ngram_fraction_matches_a_plain_count():
    rng = random.Random(1)
    for _ in range(2_000):
        tokens = [str(rng.randint(0, rng.randint(1, 6))) for _ in range(rng.randint(0, 50))]
        n = rng.randint(1, 12)  # past 8, where the n-gram hash's multipliers run out of the table
        assert duplicate_ngram_fraction(tokens, n) == _plain_duplicate_fraction(tokens, n), (tokens, n)


def test_a_completion_is_normalised_from_its_parts_exactly():
    # decontamination normalises the reasoning and the answer; exact dedup's completion hash
    # joins their words instead of normalising the whole completion again (`base.normalized`)
    rng = random.Random(2)
    texts = _texts(3_000, seed=3) + ["ΑΣ", "Σ", "1,", "000 x", "\u0301a", "ﬁ", "①,000"]
    for _ in range(3_000):
        reasoning, answer = rng.choice(texts).strip(), rng.choice(texts).strip()
        record = make_record({"completion": f"<think>\n{reasoning}\n</think>\n\n{answer}"})
        doc = document_of(record)
        assert base.normalized(doc, "completion") == base.normalize(record.completion), repr(record.completion)
        assert base.normalized(doc, "prompt") == base.normalize(record.prompt)
