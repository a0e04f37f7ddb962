"""Two corpora on which the filter chain's decisions are pinned: the benchmark's generated corpus
(`benchmarks/filter_chain.py generate`, small) and random text built to reach every decision
path (CJK and accented words, thousands separators, LaTeX, several samples per prompt, exact and
near copies, reworded prompts and prompts whose numbers changed, crowded fuzzy bands, verdicts
for the per-prompt cap).

`chain_decisions.json` holds {corpus: {record id: "kept" or "filter/reason"}} as the chain
decided before issue #31 (every sample through each step in one process, full records between
stages); `test_chain_decisions.py` checks that today's chain decides the same. Regenerate only
when a decision is meant to change:

    .venv/bin/python tests/filters/chain_decisions.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).with_name("chain_decisions.json")

# recipe per corpus: a small max_bucket puts the fuzzy dedup's crowded bands to work
CONFIGS = {
    "benchmark": {"tasks": 2},
    "random": {"tasks": 3, "decontamination": {"benchmarks": ["gsm8k"]},
               "fuzzy_dedup": {"max_bucket": 3},
               "correctness": {"require_verdict": False, "max_per_prompt": 2},
               "minhash": {"n_grams": 5, "num_buckets": 4, "hashes_per_bucket": 8}},
}
_WORDS = ("number term sum product value equation side angle circle square root prime factor "
          "digit total first second third check again compute multiply divide subtract add "
          "result answer case count ways choose order remainder integer fraction ratio point "
          "line slope area volume length width height triangle base exponent power series").split()
_PIECES = ("1,000", "2 500", "$x^2 + 1$", "\\frac{1}{2}", "3.14", "it's", "well-known", "(a)",
           "Wait,", "\n", "—", "café", "naïve", "ΣΑΣ", "İstanbul", "ﬁne", "①", "数", "答案")


def _text(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        out.append(rng.choice(_PIECES) if rng.random() < 0.03 else rng.choice(_WORDS))
        if rng.random() < 0.06:
            out[-1] += rng.choice(".,;?!")
        if rng.random() < 0.02:
            out[-1] += "\n\n"
    return " ".join(out)


def _mutate(rng: random.Random, text: str, changes: int) -> str:
    tokens = text.split(" ")
    for j in rng.sample(range(len(tokens)), min(changes, len(tokens))):
        tokens[j] = rng.choice(_WORDS)
    return " ".join(tokens)


def random_corpus(path: Path, n: int = 360, seed: int = 7) -> None:
    """Random records (see the module docstring), written to `path` as JSONL."""
    sys.path.insert(0, str(ROOT))
    from r1data import benchmark_sets
    from r1data.record import Record

    rng = random.Random(seed)
    problems = [item["prompt"] for item in benchmark_sets.load("gsm8k")[:50]]
    prompts: list[str] = []
    completions: list[str] = []
    with open(path, "w", encoding="utf-8") as fh:
        p = 0
        while p < n:
            roll = rng.random()
            if prompts and roll < 0.08:  # a reworded earlier prompt
                prompt = rng.choice(prompts).upper().replace(" ", "  ", 2) + " Explain."
            elif prompts and roll < 0.12:  # an earlier prompt with other numbers
                prompt = rng.choice(prompts).replace("7", "8").replace("1", "4")
            elif prompts and roll < 0.16:  # a one-word change
                prompt = _mutate(rng, rng.choice(prompts), 1)
            else:  # a template: its fixed words crowd a few fuzzy bands
                prompt = (f"Problem: {_text(rng, rng.randint(4, 12))} if it has {rng.randint(2, 99)}"
                          f" parts and {rng.randint(2, 99)} more?")
            prompts.append(prompt)
            base = Record.from_prompt(prompt, id=f"p{p}")
            own: list[str] = []
            for k in range(rng.choice((1, 1, 2, 3, 4))):
                roll = rng.random()
                if own and roll < 0.15:  # a close copy of this prompt's own sample
                    reasoning = _mutate(rng, own[-1], 6)
                elif completions and roll < 0.08:
                    reasoning = rng.choice(completions).upper().replace(" ", "  ")
                elif completions and roll < 0.16:
                    reasoning = _mutate(rng, rng.choice(completions), 3)
                elif completions and roll < 0.19:  # equal once normalised; MinHash sees 0 0
                    reasoning = " ".join(f"{w} {k},{k * 7 % 1000:03d}" for k, w in enumerate(_WORDS[:40], 1))
                    if rng.random() < 0.5:
                        reasoning = reasoning.replace(",", "")
                elif roll < 0.21:
                    reasoning = _text(rng, 100) + " Recall: " + rng.choice(problems)
                elif roll < 0.25:
                    reasoning = _text(rng, 150) + "\n\n" + " so the total is the sum again" * 40
                else:
                    reasoning = _text(rng, rng.randint(120, 500))
                completions.append(reasoning)
                own.append(reasoning)
                answer = f"The answer is {rng.randint(0, 3000):,}. " + _text(rng, rng.randint(0, 20))
                if reasoning.startswith(_WORDS[0]):  # the copies equal once normalised
                    answer = "The answer is 1,000."
                verdict = rng.choice(([{"verifier": "math", "correct": True, "score": 1.0}],
                                      [{"verifier": "math", "correct": True, "score": 1.0}],
                                      [{"verifier": "math", "correct": False, "score": 0.0}], []))
                record = base.with_completion(f"<think>\n{reasoning}\n</think>\n\n{answer}",
                                              sample_index=k, verdicts=verdict, language="en")
                fh.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            p += 1


def benchmark_corpus(path: Path, n: int = 500) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from filter_chain import generate

    generate(path, n, seed=3, words=900)


def decisions(output: Path) -> dict[str, str]:
    """{record id: "kept" or "filter/reason"} of a finished chain's output folder."""
    sys.path.insert(0, str(ROOT))
    from r1data import io
    from r1data.record import META_DROP_FILTER, META_DROP_REASON

    found = {r.id: "kept" for r in io.read_records(output / "kept")}
    for record in io.read_records(output / "dropped"):
        found[record.id] = f"{record.metadata[META_DROP_FILTER]}/{record.metadata[META_DROP_REASON]}"
    return dict(sorted(found.items()))


def run(corpus: str, work: Path) -> dict[str, str]:
    """The chain's decisions on one of the two corpora, built and run under `work`."""
    sys.path.insert(0, str(ROOT))
    from r1data.config import from_dict
    from r1data.filters.chain import FilterChainConfig, run_chain

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{corpus}.jsonl"
    (benchmark_corpus if corpus == "benchmark" else random_corpus)(path)
    run_chain(from_dict(FilterChainConfig, CONFIGS[corpus]), path, work / f"{corpus}_out")
    return decisions(work / f"{corpus}_out")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = {name: run(name, Path(tmp)) for name in CONFIGS}
    EXPECTED.write_text(json.dumps(result, indent=0, sort_keys=True) + "\n")
    for name, found in result.items():
        reasons: dict[str, int] = {}
        for value in found.values():
            reasons[value] = reasons.get(value, 0) + 1
        print(name, len(found), reasons)
