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
# ASCII bytes as `shingles` reads them: letters lower-cased, every digit 0, any other byte
# (punctuation, whitespace) a word boundary, as `base.words` has it
_SHINGLE_BYTES = np.full(256, ord(" "), dtype=np.uint8)
for _c in range(128):
    if chr(_c).isalpha():
        _SHINGLE_BYTES[_c] = ord(chr(_c).lower())
    elif chr(_c).isdigit():
        _SHINGLE_BYTES[_c] = ord("0")


def shingles(text: str, n: int, word_hash=text_hash) -> np.ndarray:
    """uint64 hashes of the word n-grams of `text` (one for a text shorter than n words): the
    words of `base.words` on the lower-cased text with each run of digits replaced by 0, each
    hashed by `word_hash` (cached per process).

    >>> len(shingles("one two three four five six", 5))
    2
    >>> bool((shingles("One, TWO three", 3) == shingles("one two three", 3)).all())
    True
    >>> bool((shingles("x = 1,234", 3) == shingles("X=9 0", 3)).all())
    True
    """
    if text.isascii():
        # the same words read off the bytes in numpy: no lower(), regex or split over the text
        data = _SHINGLE_BYTES[np.frombuffer(text.encode(), dtype=np.uint8)]
        zeros = data == ord("0")
        keep = np.ones(len(data), dtype=bool)
        keep[1:] = ~(zeros[1:] & zeros[:-1])  # a run of digits is one 0
        data = data[keep]
    else:
        data = np.frombuffer(" ".join(words(_DIGITS.sub("0", text.lower()))).encode(), dtype=np.uint8)
    hashes, starts, ends = _byte_words(data)
    if not len(hashes):
        return hashes
    table = _TABLES.get(word_hash)
    if table is None:
        table = _TABLES[word_hash] = _WordTable(word_hash)
    return gram_hashes(table.lookup(hashes, lambda i: data[starts[i]:ends[i]].tobytes().decode()), n)


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
    """uint64 per token (`word_hashes` of the tokens joined by spaces)."""
    return word_hashes(" ".join(tokens))


# Word hashes in numpy: a word's hash is a polynomial of its UTF-8 bytes over uint64 (wrapping),
# read off prefix sums of the whole text (sum of b_i P^i over the word, times P^-start), plus its
# length, then mixed by MurmurHash3's finaliser. No Python object per word: 0.22 against 0.41 ms
# for `str.split` + `hash()` on a 4,000-word trace. Deterministic, so keys written by one process
# mean the same in another.
_P = 0x100000001B3  # FNV's 64-bit prime: odd, so invertible modulo 2^64
_SPACES = np.zeros(256, dtype=bool)
_SPACES[list(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f")] = True  # the ASCII bytes `str.split` splits at
_POWERS = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]  # P^i and P^-i, grown on demand


def word_hashes(text: str) -> np.ndarray:
    """uint64 per word of `text.split()`: equal words, equal hashes, in any process.

    >>> h = word_hashes("b a  b\\tc")
    >>> len(h), bool(h[0] == h[2]), bool(h[0] == h[1])
    (4, True, False)
    """
    if not text.isascii():
        # Unicode whitespace becomes single spaces; UTF-8 bytes of other characters are >= 0x80
        text = " ".join(text.split())
    return _byte_words(np.frombuffer(text.encode(), dtype=np.uint8))[0]


def _byte_words(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(`word_hashes`, start and end offsets of each word) of a text given as its UTF-8 bytes."""
    if not len(data):
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    # word boundaries: where a run of non-space bytes starts and ends
    edges = np.flatnonzero(np.diff(np.concatenate(([1], _SPACES[data].view(np.int8), [1]))))
    starts, ends = edges[0::2], edges[1::2]
    powers, inverses = _powers(len(data) + 1)
    prefix = np.zeros(len(data) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(data * powers[:len(data)], out=prefix[1:])
        out = (prefix[ends] - prefix[starts]) * inverses[starts]
        out += (ends - starts).astype(np.uint64) * _MIX[0]
        out ^= out >> np.uint64(33)
        out *= _MIX[4]
        out ^= out >> np.uint64(33)
        out *= _MIX[5]
        out ^= out >> np.uint64(33)
    return out, starts, ends


def _powers(n: int) -> list[np.ndarray]:
    """[P^i, P^-i] for i < n (at least), uint64."""
    if len(_POWERS[0]) < n:
        size = max(n, 2 * len(_POWERS[0]))
        with np.errstate(over="ignore"):
            for k, base in enumerate((_P, pow(_P, -1, 2**64))):
                steps = np.full(size, base, dtype=np.uint64)
                steps[0] = 1
                _POWERS[k] = np.multiply.accumulate(steps)
    return _POWERS


def _coefficient(j: int) -> np.uint64:
    """The multiplier of the j-th word of an n-gram: distinct odd constants, so that n-grams
    with the same words in another order hash apart (splitmix64 of j past the table)."""
    if j < len(_MIX):
        return _MIX[j]
    z = (j * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return np.uint64((z ^ (z >> 31)) | 1)


class _WordTable:
    """Our word hash -> `word_hash(word)`, per process: an open-addressing table in numpy, so that
    the words of a text are looked up in a few vectorised passes (not one dict lookup per word),
    and `word_hash`, datatrove's or ours, runs once per distinct word. MinHash signatures stay
    those of `word_hash` (the same decisions as hashing each word's string). Starts afresh when
    half full (bounded memory: 2^21 slots, 32 MB)."""

    BITS = 21

    def __init__(self, word_hash):
        self.word_hash = word_hash
        self.keys = np.zeros(1 << self.BITS, dtype=np.uint64)
        self.values = np.zeros(1 << self.BITS, dtype=np.uint64)
        self.used = np.zeros(1 << self.BITS, dtype=bool)
        self.size = 0

    def lookup(self, hashes: np.ndarray, word_at) -> np.ndarray:
        """`word_hash` of each word, given our hashes and `word_at(i)`, the i-th word's text."""
        out = np.empty(len(hashes), dtype=np.uint64)
        home = (hashes >> np.uint64(64 - self.BITS)).astype(np.int64)
        pending, probe = np.arange(len(hashes)), 0
        while len(pending):
            slots = (home[pending] + probe) & ((1 << self.BITS) - 1)
            used = self.used[slots]
            hit = used & (self.keys[slots] == hashes[pending])
            out[pending[hit]] = self.values[slots[hit]]
            missing = pending[~used]
            if len(missing):  # words not seen yet in this process: hash their strings
                for i in np.unique(hashes[missing], return_index=True)[1].tolist():
                    self._insert(hashes[missing[i]], self.word_hash(word_at(missing[i])))
                return self.lookup(hashes, word_at)  # now every word is in the table
            pending, probe = pending[used & ~hit], probe + 1
        return out

    def _insert(self, key: np.uint64, value: int) -> None:
        if self.size >= len(self.keys) // 2:
            self.used[:] = False
            self.size = 0
        slot = int(key >> np.uint64(64 - self.BITS))
        while self.used[slot]:
            if self.keys[slot] == key:
                return
            slot = (slot + 1) & (len(self.keys) - 1)
        self.keys[slot], self.values[slot], self.used[slot] = key, value & 0xFFFFFFFFFFFFFFFF, True
        self.size += 1


_TABLES: dict = {}


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
