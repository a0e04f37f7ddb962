"""The one near-duplicate mechanism of the filters: MinHash over word n-gram shingles.

Three filters ask "are these two texts nearly the same?" at three scales, and all three use the
functions here, so a shingle means the same thing everywhere:
- `minhash_dedup.py`: completions across the whole corpus, through datatrove's four MinHash
  steps (signatures per shard, buckets, clusters, filter): the only one that must scale past one
  process, so it keeps datatrove's on-disk stages;
- `fuzzy_dedup.py`: prompts, corpus-wide in one task: MinHash bands (LSH) only *block*
  the candidates that rapidfuzz then compares exactly;
- `correctness_filter.py`: the few kept samples of one prompt: the share of equal MinHash
  values of two signatures estimates their Jaccard similarity directly.

Shingles: lower-cased words (`base.words`: letters/digits runs, each CJK character a word), digits
mapped to 0 as datatrove's `norm_numbers` does; each distinct word is hashed once per process and
an n-gram's hash is a fixed polynomial of its words' hashes over uint64 (wrapping), for all
n-grams at once (`gram_hashes`, which the decontamination and repetition filters use too).
Permutations are multiply-add over uint64 (wrapping, no modulo): the minimum is decided by the
high bits, which multiply-shift hashing mixes well, so the probability that two signatures agree
at a position still estimates the Jaccard similarity of the shingle sets.
"""

from __future__ import annotations

import re

import numpy as np

from .base import text_hash, words

_DIGITS = re.compile(r"\d+")
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                 0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
                 0x2545F4914F6CDD1D, 0x94D049BB133111EB], dtype=np.uint64)
_EMPTY = np.iinfo(np.uint64).max


def shingles(text: str, n: int, word_hash=text_hash) -> np.ndarray:
    """uint64 hashes of the word n-grams of `text` (one for a text shorter than n words).

    >>> len(shingles("one two three four five six", 5))
    2
    >>> bool((shingles("One, TWO three", 3) == shingles("one two three", 3)).all())
    True
    """
    tokens = words(_DIGITS.sub("0", text.lower()))
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    hashes = _word_hashes(word_hash)
    # a C-level pass of dict lookups: only words never seen in this process are hashed
    return gram_hashes(np.fromiter(map(hashes.__getitem__, tokens), dtype=np.uint64,
                                   count=len(tokens)), n)


def gram_hashes(token_hashes: np.ndarray, n: int) -> np.ndarray:
    """uint64 hashes of every run of n consecutive tokens, given one uint64 per token: a fixed
    polynomial of the token hashes, for all n-grams at once (one hash for fewer than n tokens).
    The filters' n-gram checks (MinHash shingles, benchmark n-grams, repeated n-grams) all use it.

    >>> grams = gram_hashes(np.array([1, 2, 3, 1, 2], dtype=np.uint64), 2)
    >>> bool(grams[0] == grams[3]), bool(grams[0] == grams[1])
    (True, False)
    """
    token_hashes = token_hashes.astype(np.uint64, copy=False)
    n = min(n, len(token_hashes))
    count = len(token_hashes) - n + 1
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        out = token_hashes[:count] * _MIX[0]
        for j in range(1, n):
            out += token_hashes[j:count + j] * _coefficient(j)
    return out


def token_hashes(tokens: list[str] | tuple) -> np.ndarray:
    """uint64 per token from Python's `hash`: for n-grams compared within one process only
    (decontamination, repetition); MinHash signatures, written to disk, use `shingles`."""
    return np.fromiter(map(hash, tokens), dtype=np.int64, count=len(tokens)).view(np.uint64)


def _coefficient(j: int) -> np.uint64:
    """The multiplier of the j-th word of an n-gram: distinct odd constants, so that n-grams
    with the same words in another order hash apart (splitmix64 of j past the table)."""
    if j < len(_MIX):
        return _MIX[j]
    z = (j * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return np.uint64((z ^ (z >> 31)) | 1)


class _HashCache(dict):
    """word -> uint64 hash, computed once per process per word (bounded: starts afresh past
    MAX_WORDS words). Long chains of thought reuse a small vocabulary, so almost every lookup
    is a hit and hashing costs a dict lookup per word."""

    MAX_WORDS = 1_000_000

    def __init__(self, word_hash):
        super().__init__()
        self.word_hash = word_hash

    def __missing__(self, word: str) -> int:
        if len(self) >= self.MAX_WORDS:
            self.clear()
        value = self[word] = self.word_hash(word) & 0xFFFFFFFFFFFFFFFF
        return value


_CACHES: dict = {}


def _word_hashes(word_hash) -> _HashCache:
    cache = _CACHES.get(word_hash)
    if cache is None:
        cache = _CACHES[word_hash] = _HashCache(word_hash)
    return cache


def permutations(num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b), each shaped (1, num): the multiply-add permutations (a odd, so each is a bijection)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(1, 2**61 - 1, size=(1, num), dtype=np.uint64) | np.uint64(1)
    b = gen.randint(0, 2**61 - 1, size=(1, num), dtype=np.uint64)
    return a, b


def signature(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MinHash signature (one uint64 per permutation) of a set of shingle hashes."""
    if not len(hashes):
        return np.full(a.shape[1], _EMPTY, dtype=np.uint64)
    # one row per permutation: the minimum runs along contiguous memory, 5x faster than down
    # the columns of (shingles, permutations) on a 4,000-word trace (0.32 against 1.61 ms)
    with np.errstate(over="ignore"):
        values = a.reshape(-1, 1) * hashes.reshape(1, -1)
        values += b.reshape(-1, 1)
        return values.min(axis=1)


def similarity(x: np.ndarray, y: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures.

    >>> a, b = permutations(32, 1)
    >>> similarity(signature(shingles("a b c d e f", 5), a, b), signature(shingles("a b c d e f", 5), a, b))
    1.0
    """
    return float(np.mean(x == y))
