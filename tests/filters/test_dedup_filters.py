"""Exact, fuzzy and per-prompt-cap dedup decisions on crafted samples (one task, in process)."""

from r1data.filters.adapters import document_of
from r1data.filters.correctness_filter import CorrectnessFilter
from r1data.filters.exact_dedup import ExactDedupFilter
from r1data.filters.fuzzy_dedup import FuzzyPromptDedupFilter

from filtercase_helpers import make_record, varied_text

CORRECT = [{"verifier": "math", "correct": True, "score": 1.0}]


def decide(step, record):
    result = step.filter(document_of(record))
    return "kept" if result is True else result[1]


def test_exact_prompt_dedup_keeps_all_samples_of_the_first_prompt_id():
    step = ExactDedupFilter(completion=False)
    first = [make_record({"prompt": "What is 1,000 + 1?", "prompt_id": "p1", "sample_index": i,
                          "completion": f"<think>\n{varied_text(40, i)}\n</think>\n\n1001"})
             for i in range(3)]
    copy = make_record({"prompt": "what is 1000+1", "prompt_id": "p2",
                        "completion": "<think>\nadd\n</think>\n\n1001"})
    other = make_record({"prompt": "What is 1,000 + 2?", "prompt_id": "p3",
                         "completion": "<think>\nadd\n</think>\n\n1002"})
    assert [decide(step, r) for r in first] == ["kept"] * 3
    assert decide(step, copy) == "duplicate_prompt"
    assert decide(step, other) == "kept"


def test_exact_completion_dedup_ignores_spacing_and_case():
    step = ExactDedupFilter(prompt=False)
    a = make_record({"completion": "<think>\nAdd TWO and two.\n</think>\n\nFour."})
    b = make_record({"completion": "<think>\nadd two  and two\n</think>\n\nfour"}, index=1)
    c = make_record({"completion": "<think>\nadd two and three\n</think>\n\nfive"}, index=2)
    assert [decide(step, r) for r in (a, b, c)] == ["kept", "duplicate_completion", "kept"]


def test_fuzzy_prompt_dedup_drops_rewordings_but_not_changed_numbers():
    step = FuzzyPromptDedupFilter(min_ratio=90)
    base = ("A farmer has 17 sheep and buys 5 more each week for 3 weeks. How many sheep does "
            "the farmer have at the end of the third week?")
    reworded = base.replace("A farmer", "The farmer").replace("How many", "how many")
    renumbered = base.replace("17 sheep", "19 sheep")
    unrelated = "Find the number of positive divisors of 3600 that are perfect squares."
    rows = [(base, "p1"), (base, "p1"), (reworded, "p2"), (renumbered, "p3"), (unrelated, "p4")]
    got = [decide(step, make_record({"prompt": p, "prompt_id": pid,
                                     "completion": "<think>\nx\n</think>\n\n32"}))
           for p, pid in rows]
    assert got == ["kept", "kept", "near_duplicate_prompt", "kept", "kept"]


def test_fuzzy_prompt_dedup_compares_few_candidates():
    step = FuzzyPromptDedupFilter()
    for i in range(300):
        decide(step, make_record({"prompt": varied_text(25, seed=i), "prompt_id": f"p{i}",
                                  "completion": "<think>\nx\n</think>\n\n1"}))
    sizes = [1 if isinstance(v, int) else len(v) for v in step._buckets.members.values()]
    assert max(sizes) < 10  # blocking: unrelated prompts do not share buckets


def test_per_prompt_cap_keeps_k_diverse_correct_samples():
    step = CorrectnessFilter(max_per_prompt=2)
    def sample(prompt_id, i, trace, correct=True):
        verdicts = CORRECT if correct else [{"verifier": "math", "correct": False}]
        return make_record({"prompt": f"Question {prompt_id}", "prompt_id": prompt_id,
                            "sample_index": i, "verdicts": verdicts,
                            "completion": f"<think>\n{trace}\n</think>\n\n4"})
    trace_a, trace_b, trace_c = varied_text(300, 1), varied_text(300, 2), varied_text(300, 3)
    near_a = trace_a.replace("Check", "Verify", 1) + " Done."
    got = [decide(step, s) for s in (
        sample("p1", 0, trace_a), sample("p1", 1, near_a), sample("p1", 2, trace_b, correct=False),
        sample("p1", 3, trace_b), sample("p1", 4, trace_c), sample("p2", 0, trace_a))]
    assert got == ["kept", "near_identical_sample", "incorrect", "kept", "prompt_cap", "kept"]


def test_one_minhash_estimates_jaccard_for_all_three_dedups():
    """The shared MinHash (filters/minhash.py) estimates the true 5-gram Jaccard similarity, and
    the corpus-level datatrove step gives the same signatures as the shared functions."""
    import random

    import numpy as np

    from r1data.filters import minhash
    from r1data.filters.chain import FilterChainConfig
    from r1data.filters.minhash_dedup import MinhashRecordSignature, minhash_config

    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    base = [rng.choice(vocab) for _ in range(4000)]
    a, b = minhash.permutations(256, seed=3)
    for changed in (0.01, 0.05, 0.2):
        other = list(base)
        for j in rng.sample(range(len(other)), int(len(other) * changed)):
            other[j] = "x" + str(j)
        one, two = (" ".join(t) for t in (base, other))
        s1, s2 = set(minhash.shingles(one, 5).tolist()), set(minhash.shingles(two, 5).tolist())
        true = len(s1 & s2) / len(s1 | s2)
        estimate = minhash.similarity(minhash.signature(minhash.shingles(one, 5), a, b),
                                      minhash.signature(minhash.shingles(two, 5), a, b))
        assert abs(estimate - true) < 0.1, (changed, estimate, true)

    step = MinhashRecordSignature("/tmp/unused", config=minhash_config(FilterChainConfig().minhash))
    text = " ".join(base)
    want = minhash.signature(minhash.shingles(text, 5, step._hash_func), step.parameters[0] | np.uint64(1),
                             step.parameters[1])
    assert sum(step.get_signature(step.get_shingles(text)), []) == want.tolist()


def test_fuzzy_dedup_stays_linear_on_templated_prompts_and_still_finds_rewordings():
    # every prompt shares a template's words, which put most prompts in a few LSH buckets: such
    # crowded buckets stop growing, and a rewording still meets its original in another band
    import random

    from filtercase_helpers import VOCAB

    rng = random.Random(0)
    step = FuzzyPromptDedupFilter(max_bucket=20)
    prompts = [f"Problem {i}: " + " ".join(rng.choices(VOCAB, k=25))
               + f" if it has {rng.randint(2, 999)} parts and {rng.randint(2, 999)} more?"
               for i in range(600)]
    records = [make_record({"prompt": p, "prompt_id": f"p{i}", "completion": "<think>\nx\n</think>\n\n1"})
               for i, p in enumerate(prompts)]
    assert [decide(step, r) for r in records] == ["kept"] * len(records)
    assert max(len(m) for m in step._buckets.members.values() if isinstance(m, list)) <= 21
    for i in (3, 250, 599):  # early, middle and last prompts, each in crowded bands too
        copy = make_record({"prompt": prompts[i].upper().replace(":", " -") + " Explain.",
                            "prompt_id": f"copy{i}", "completion": "<think>\ny\n</think>\n\n1"})
        assert decide(step, copy) == "near_duplicate_prompt"
