"""What every r1data filter shares: records inside datatrove Documents, and text normalisation.

A filter is a datatrove `BaseFilter` (STYLE.md section 2): it writes only `__init__` and
`filter(doc) -> bool | (False, reason)`. datatrove counts kept/dropped per reason and hands each
dropped Document to the step's `exclusion_writer`, which `adapters.DroppedRecordWriter` turns back
into a Record carrying the reason. The Record rides in `Document.metadata["record"]` (see
`adapters.document_of`); `record_of(doc)` gets it back.

Text helpers here are used by dedup and decontamination alike, so both normalise the same way:
NFKC, lower case, thousands separators removed ("1,000" == "1000"), punctuation and LaTeX
markup turned into spaces, and CJK characters counted as one word each (CJK has no spaces).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from r1data.record import Record

RECORD_KEY = "record"
TEXT_HASHES = "__text_hashes__"  # Document.metadata: {field: text_hash(normalize(field))}
NORMALIZED = "__normalized__"  # Document.metadata: {field: normalize(field)}, see `normalized`
INDEX = "__index__"  # Document.metadata: the document's position in its task's input
INPUT_METADATA = "__input_metadata__"  # Document.metadata: the record's metadata as read

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
# a digit, then a separator before exactly three digits: the separator goes (replaced by the
# captured digit; the same result as a look-behind, which is tried at every position, for half
# the time)
_THOUSANDS = re.compile(r"(\d)[,\u2009\u202f ](?=\d{3}(?!\d))")


def record_of(doc: Document) -> Record:
    """The Record a Document carries."""
    return doc.metadata[RECORD_KEY]


# every ASCII character that is not a letter or digit becomes a space
_ASCII_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def words(text: str) -> list[str]:
    """Words of a text: runs of letters/digits; each CJK character is a word of its own.

    >>> words("Wait, 2+2=4? 对的")
    ['Wait', '2', '2', '4', '对', '的']
    """
    # `translate` + `split` run in C at ~7x the speed of the regex on a 4,000-word trace; ASCII
    # punctuation and whitespace are word boundaries for the regex too, so only the tokens that
    # hold a non-ASCII character (CJK, accents, math symbols) need the regex
    tokens = text.translate(_ASCII_SEPARATORS).split()
    if text.isascii():
        return tokens
    return [word for token in tokens
            for word in ((token,) if token.isascii() else _WORD.findall(token))]


# ASCII letters and digits: the bytes of words
_ALNUM_BYTES = np.array([chr(c).isalnum() for c in range(128)] + [False] * 128)


def count_words(text: str) -> int:
    """`len(words(text))`; an ASCII text's words are counted from its bytes, without a string
    per word (0.03 against 0.15 ms on a 4,000-word trace).

    >>> count_words("Wait, 2+2=4? 对的")
    6
    """
    if not text.isascii():
        return len(words(text))
    inside = _ALNUM_BYTES[np.frombuffer(text.encode(), dtype=np.uint8)]
    return int(np.count_nonzero(inside[1:] & ~inside[:-1])) + bool(len(inside) and inside[0])


def normalize(text: str) -> str:
    """Lower-cased words joined by single spaces: spacing, casing, punctuation, LaTeX markup and
    number formatting do not change the result.

    >>> normalize("The  ANSWER is $1,000$!") == normalize("the answer is 1000")
    True
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _THOUSANDS.sub(r"\1", text)
    return " ".join(words(text))


def numbers(norm: str) -> list[str]:
    """The numbers of a normalised text, in order: two problems that differ only in their
    numbers are different problems, however close their wording.

    >>> numbers("what is 1000 plus 2")
    ['1000', '2']
    """
    return [token for token in norm.split() if token.isdigit()]


def text_hash(text: str) -> int:
    """A 64-bit hash of a text, stable across processes (unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def normalized(doc: Document, field: str) -> str:
    """`normalize` of one of the record's fields ("prompt", "reasoning", "answer", "completion"),
    computed once per document: decontamination, exact dedup and the fuzzy prompt keys all read
    it. The cache lives in `doc.metadata` while the document goes through one task; the writers
    write the Record, not the metadata, so it never reaches a file.

    A completion in R1's layout (`<think>\nreasoning\n</think>\n\nanswer`) is normalised from
    its two parts: the tags' ASCII punctuation and newlines end every word, number and casing
    context on both sides, so joining the parts' words gives `normalize(completion)` exactly."""
    cache = doc.metadata.get(NORMALIZED)
    if cache is None:
        cache = doc.metadata[NORMALIZED] = {}
    found = cache.get(field)
    if found is None:
        record = record_of(doc)
        if field == "completion" and record.completion == (
                f"<think>\n{record.reasoning}\n</think>\n\n{record.answer}"):
            parts = ("think", normalized(doc, "reasoning"), "think", normalized(doc, "answer"))
            found = " ".join(part for part in parts if part)
        else:
            found = normalize(getattr(record, field) or "")
        cache[field] = found
    return found


def normalized_hashes(doc: Document) -> dict[str, int]:
    """{"prompt", "completion"}: `text_hash(normalize(...))` of the record's prompt and
    completion, what exact dedup compares. Computed once per document and kept in its metadata:
    the chain's parallel stage computes them into its compact keys (`keys.KeyWriter`)."""
    hashes = doc.metadata.get(TEXT_HASHES)
    if not hashes:
        record = record_of(doc)
        hashes = doc.metadata[TEXT_HASHES] = {
            "prompt": text_hash(normalized(doc, "prompt")),
            "completion": text_hash(normalized(doc, "completion")) if record.completion else None}
    return hashes


class RecordFilter(BaseFilter):
    """A datatrove filter over r1data Records. Subclasses set `name` and write `filter`.

    `exclusion_writer` is where dropped samples go (an `adapters.DroppedRecordWriter`); without
    one they are counted but not kept, which the chain never does.
    """

    type = "🔻 - FILTER"
    name = "record_filter"

    def __init__(self, exclusion_writer=None):
        super().__init__(exclusion_writer)
