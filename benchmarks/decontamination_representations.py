"""Which representation retrieves a reworded benchmark item best (issue #30)?

On `benchmarks/data/decontamination_paraphrases.jsonl` (67 rewordings, 500 clean training
prompts), against every bundled benchmark item (6,075 with HumanEval), for each representation:
top1 (the true item ranked first), top3, the share of rewordings whose best score is above the
clean prompts' 99th percentile (what a score threshold alone can flag at 1% false flags), and ms
per prompt on one core.

    python benchmarks/decontamination_representations.py [--embedded]

`--embedded` adds the embedded SmolLM2-135M's mean-pooled hidden state (layer 15 of 30, cosine):
embedding the 6,075 items takes ~15 minutes on one shared core.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

PARAPHRASES = Path(__file__).parent / "data" / "decontamination_paraphrases.jsonl"


def evaluate(name: str, search, rows: list[dict], ids: list[str]) -> dict:
    """`search(row) -> [(item index, score), ...]` best first."""
    start = time.perf_counter()
    found = [search(row) for row in rows]
    ms = (time.perf_counter() - start) / len(rows) * 1e3
    rew = [(f, r) for f, r in zip(found, rows) if r["kind"] == "rewording"]
    clean = sorted(f[0][1] if f else 0.0 for f, r in zip(found, rows) if r["kind"] == "clean")
    cut = clean[int(len(clean) * 0.99)]
    return {"representation": name,
            "top1": round(float(np.mean([bool(f) and ids[f[0][0]] == r["item_id"] for f, r in rew])), 3),
            "top3": round(float(np.mean([r["item_id"] in [ids[i] for i, _ in f[:3]] for f, r in rew])), 3),
            "above_clean_p99": round(float(np.mean([bool(f) and f[0][1] > cut for f, _ in rew])), 3),
            "ms_per_prompt": round(ms, 2)}


def _embedded(items: list[str]):
    import torch

    from r1data import models

    torch.set_num_threads(1)
    model, tok = models.load_model(device="cpu", dtype="float32")
    tok.pad_token = tok.pad_token or tok.eos_token

    def embed(texts):
        out = []
        for s in range(0, len(texts), 32):
            enc = tok(texts[s:s + 32], return_tensors="pt", padding=True, truncation=True, max_length=128)
            with torch.no_grad():
                hidden = model(**enc, output_hidden_states=True).hidden_states[15]
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy())
        return np.concatenate(out)

    matrix = embed(items)

    def search(row):
        scores = matrix @ embed([row["prompt"]])[0]
        top = np.argsort(-scores)[:3]
        return [(int(i), float(scores[i])) for i in top]
    return search


def main() -> None:
    from rapidfuzz import fuzz, process

    import r1data.filters.benchmark_retrieval as retrieval
    from r1data import benchmark_sets
    from r1data.filters.base import normalize

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedded", action="store_true", help="also the embedded model (slow)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(PARAPHRASES, encoding="utf-8")]
    items = [i for name in benchmark_sets.BENCHMARKS for i in benchmark_sets.load(name)]
    ids, norms = [i["id"] for i in items], [normalize(i["prompt"]) for i in items]
    word = retrieval.TfidfRetriever(norms)
    results = [evaluate("word 1-2-gram TF-IDF", lambda r: [(n.item, n.score) for n in
                                                           word.nearest(normalize(r["prompt"]), 3)], rows, ids)]

    def char_terms(norm: str) -> Counter:
        text = f" {norm} "
        return Counter(text[i:i + k] for k in (3, 4, 5) for i in range(len(text) - k + 1))

    saved, retrieval.word_terms = retrieval.word_terms, char_terms  # the same index, other terms
    try:
        char = retrieval.TfidfRetriever(norms)
        results.append(evaluate("char 3-5-gram TF-IDF", lambda r: [(n.item, n.score) for n in
                                                                   char.nearest(normalize(r["prompt"]), 3)], rows, ids))
    finally:
        retrieval.word_terms = saved
    results.append(evaluate("rapidfuzz token_set_ratio", lambda r: [
        (i, s / 100) for _, s, i in process.extract(normalize(r["prompt"]), norms,
                                                    scorer=fuzz.token_set_ratio, limit=3)], rows, ids))
    if args.embedded:
        results.append(evaluate("SmolLM2-135M layer 15 mean", _embedded([i["prompt"] for i in items]), rows, ids))
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
