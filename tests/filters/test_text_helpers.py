"""The filters' fast text helpers decide exactly as the plain versions they replaced.

`base.words` splits with `str.translate` + `split` and keeps the regex for non-ASCII tokens;
`repetition_filter.duplicate_ngram_fraction` counts n-grams in numpy; `minhash.word_hashes` hashes
the words of `str.split` from the text's bytes, and `minhash.shingles` reads its words from the
bytes of an ASCII text. Each is checked here
against the obvious implementation on random texts drawn from characters that stress the
boundaries (CJK, accents, odd whitespace, superscripts, underscores, zero-width spaces).
"""

import random
import re

from filtercase_helpers import make_record
from r1data.filters import base, minhash
from r1data.filters.adapters import document_of
from r1data.filters.repetition_filter import duplicate_ngram_fraction

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


def _same_partition(words, hashes):
    """Equal words have equal hashes and different words different ones."""
    assert len(words) == len(hashes)
    seen = {}
    for word, value in zip(words, hashes.tolist()):
        assert seen.setdefault(word, value) == value, word
    assert len(set(seen.values())) == len(seen)


def test_word_hashes_hash_the_words_of_str_split():
    texts = _texts(20_000, seed=4)
    for text in texts:
        _same_partition(text.split(), minhash.word_hashes(text))
    vocabulary = sorted({word for text in texts for word in text.split()})
    _same_partition(vocabulary, minhash.word_hashes(" ".join(vocabulary)))  # no collisions
    # the same word hashes alike wherever it stands, in any text
    assert minhash.word_hashes("x é")[1] == minhash.word_hashes("é")[0] == minhash.word_hashes("\u3000é\t")[0]


def test_shingles_hash_the_words_the_plain_pipeline_reads(monkeypatch):
    # shingles read an ASCII text's words off its bytes and look their hashes up in a numpy
    # table; the plain pipeline: base.words of the lower-cased text, digit runs as 0, each word
    # through the hash function
    import numpy as np

    def plain(text, n, word_hash):
        tokens = base.words(re.sub(r"\d+", "0", text.lower()))
        hashes = np.array([word_hash(t) & 0xFFFFFFFFFFFFFFFF for t in tokens], dtype=np.uint64)
        return minhash.gram_hashes(hashes, n) if tokens else hashes

    def short_hash(word):  # another hash function gets its own table
        return len(word) * 1_000_003 + ord(word[0])

    monkeypatch.setattr(minhash._WordTable, "BITS", 9)  # 512 slots: the table starts afresh often
    monkeypatch.setattr(minhash, "_TABLES", {})
    texts = _texts(20_000, seed=5) + ["Problem 12: 1,000 apples; x^2=49?", "A1b22c333 D"]
    for text in texts:
        for n, word_hash in ((1, base.text_hash), (3, short_hash), (5, base.text_hash)):
            assert minhash.shingles(text, n, word_hash).tolist() == plain(text, n, word_hash).tolist(), repr(text)


def test_count_words_counts_the_words_of_words():
    for text in _texts(20_000, seed=6) + ["", "a", " a", "a ", "1,000 x"]:
        assert base.count_words(text) == len(base.words(text)), repr(text)
