"""Filter-chain throughput, memory and planted-sample recall, side by side with plain datatrove.

    python benchmarks/filter_chain.py --sizes 10000,50000,200000 --workers 2 --work /tmp/fc
    python benchmarks/filter_chain.py --sizes 2000 --profile     # cost per step of r1data's chain

For each size, a synthetic corpus of long chains of thought (~4,000 words each) is generated
straight to disk (never held in memory), with planted samples: near-duplicate completions (1% of
the words changed), exact duplicates (changed case and spacing), reworded prompts of earlier
samples, Chinese paragraphs inside English reasoning, fenced code in math reasoning, a
benchmark problem in the prompt, the reasoning or the answer, one wall-of-text paragraph, and a
loop at the end of the trace. Then, each in its own process (so peak memory is its own):

- r1data: `filters.chain.run_chain` with the default chain (format, length, code blocks,
  paragraphs, repetition, decontamination, language, MinHash, exact and fuzzy prompt dedup);
- baseline: the same steps from datatrove's own classes wherever datatrove has them.

Fairness rules, point by point:
1. Same tasks and workers on both sides (`--workers`): the baseline's input is split into one
   file per task inside its timing, as r1data's chain shards its input inside its own.
2. Same word tokenizer: r1data's regex splitter (`filters.base.words`) is given to every
   datatrove step that tokenizes (NGramsDecontFilter, GopherRepetitionFilter, MinHash), in
   datatrove's WordTokenizer interface; datatrove's English default (spaCy) is slower.
3. Same steps: datatrove's ExactDedup{Signature,FindDedups,Filter} on the prompt (prompt-level
   exact dedup) and on the completion, both after datatrove's `simplify_text`; NGramsDecontFilter
   on a text that holds the prompt AND the completion (8-grams of every bundled benchmark's
   questions, MBPP's test split only as on r1data's side, hashed as NGramsDecontIndexer does: the indexer class itself needs lighteval and
   the network); the four MinHash steps with the same MinhashConfig (5-grams, 14 x 8) on the
   completion, the signature step at the end of the filter stage on both sides (after the
   writer, which passes documents on: no second read of the corpus); LambdaFilters calling r1data's own language-consistency score and paragraph
   rule, RegexFilter for code fences, GopherRepetitionFilter for loops. datatrove has no fuzzy
   prompt dedup: reworded prompts are the one kind the baseline has no step for.
4. Scored the same way: recall per planted kind, clean-sample retention and precision, from the
   ids each pipeline kept.

Printed per size and pipeline: wall time, MB/s per core, peak RSS (largest process, the whole
process tree, and each process's own peak with the stage running then), the CPU seconds of all
processes (sampled; steadier than wall time on a shared machine), the bytes written to
storage, the peak size of the intermediate files (anything in the output folder besides kept/
and dropped/: a copy of the corpus would show here), recall per planted kind, clean retention
and precision, the speed ratio, and an extrapolation to R1's 800K samples from the slope
between the two largest sizes.

For the issue's acceptance, on an otherwise idle machine:

    python benchmarks/filter_chain.py --sizes 2000 --baseline-up-to 2000 --work /tmp/fc  # ratio
    python benchmarks/filter_chain.py --sizes 10000,200000 --skip-baseline --work /tmp/fc
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from table_row import emit

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("near_duplicate", "exact_duplicate", "prompt_duplicate", "mixed_language",
              "code_block", "contaminated", "long_paragraph", "repetition")
RATES = {"near_duplicate": 0.02, "exact_duplicate": 0.01, "prompt_duplicate": 0.005,
         "mixed_language": 0.01, "code_block": 0.01, "contaminated": 0.01,
         "long_paragraph": 0.005, "repetition": 0.005}
CHINESE = ("我们需要先计算这个数字的平方，然后再加上第二个数字，最后得到答案。"
           "再检查一遍，这一步的结果看起来是正确的，所以可以继续下一步的推导。"
           "注意到这个方程的两边都可以同时除以二，这样就能简化后面的计算过程。")


# -- corpus --------------------------------------------------------------------------------------


def vocabulary() -> list[str]:
    words = set()
    with open(ROOT / "r1data" / "data" / "prompts" / "gsm8k_train_1k.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = " ".join(str(v) for v in row.values() if isinstance(v, str))
            words.update(w.lower() for w in re.findall(r"[A-Za-z]{2,}", text))
    return sorted(words)


def benchmark_problems() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT))
    from r1data import benchmark_sets

    return [(item["id"], item["prompt"]) for name in benchmark_sets.BENCHMARKS
            for item in benchmark_sets.scored_items(name) if len(item["prompt"].split()) >= 12]


def _paragraphs(rng: random.Random, vocab: list[str], words: int) -> list[str]:
    out, total = [], 0
    while total < words:
        n = rng.randint(30, 70)
        text = " ".join(rng.choices(vocab, k=n)).capitalize() + "."
        if rng.random() < 0.2:
            text += "\nWait, let me re-check this step."
        out.append(text)
        total += n
    return out


def _record(sid: str, prompt: str, reasoning: str, answer: str, pid: str) -> dict:
    completion = f"<think>\n{reasoning}\n</think>\n\n{answer}"
    return {"id": sid, "prompt": prompt, "prompt_id": pid, "reasoning": reasoning,
            "answer": answer, "domain": "math", "kind": "reasoning", "language": "en",
            "finish_reason": "stop",
            "messages": [{"role": "user", "content": prompt},
                         {"role": "assistant", "content": completion}]}


def generate(path: Path, n: int, seed: int = 0, words: int = 4000) -> dict[str, dict]:
    """Write n samples to `path` (JSONL); returns {id: {"category", "of"?}} (small)."""
    rng = random.Random(seed)
    vocab, problems = vocabulary(), benchmark_problems()
    recent: list[dict] = []  # a few earlier clean samples to copy from
    truth: dict[str, dict] = {}
    planted = [c for c, rate in RATES.items() for _ in range(int(n * rate))]
    rest = planted + ["clean"] * (n - 50 - len(planted))
    rng.shuffle(rest)
    plan = ["clean"] * 50 + rest  # the first samples are clean, so copies have sources
    with open(path, "w", encoding="utf-8") as fh:
        for i, category in enumerate(plan):
            sid, pid = f"s{i}", f"p{i}"
            prompt = (f"Problem {i}: " + " ".join(rng.choices(vocab, k=25))
                      + f" if it has {rng.randint(2, 999)} parts and {rng.randint(2, 999)} more?")
            paragraphs = _paragraphs(rng, vocab, words)
            answer = f"The answer is {rng.randint(0, 10**6)}. " + " ".join(rng.choices(vocab, k=20))
            entry: dict = {"category": category}
            if category in ("near_duplicate", "exact_duplicate", "prompt_duplicate") and recent:
                source = rng.choice(recent)
                entry["of"] = source["id"]
                if category == "near_duplicate":
                    tokens = source["reasoning"].split(" ")
                    for j in rng.sample(range(len(tokens)), max(1, len(tokens) // 100)):
                        tokens[j] = rng.choice(vocab)
                    paragraphs, answer = [" ".join(tokens)], source["answer"]
                elif category == "exact_duplicate":
                    paragraphs = [source["reasoning"].upper().replace(". ", ".  ")]
                    answer = source["answer"].upper()
                else:
                    prompt = source["prompt"].upper().replace(":", " -") + " Explain."
            elif category == "mixed_language":
                paragraphs.insert(len(paragraphs) // 2, CHINESE * 3)
            elif category == "code_block":
                paragraphs.insert(len(paragraphs) // 2,
                                  "```python\ntotal = 0\nfor i in range(10):\n    total += i\n```")
            elif category == "contaminated":
                item_id, problem = rng.choice(problems)
                entry["item"] = item_id
                where = i % 3
                if where == 0:
                    prompt = problem
                elif where == 1:
                    paragraphs.insert(len(paragraphs) // 3, "This reminds me of: " + problem)
                else:
                    answer += "\n\nA similar problem: " + problem
            elif category == "long_paragraph":
                paragraphs = [" ".join(p.replace("\n", " ") for p in paragraphs[:12])] + paragraphs[12:]
            elif category == "repetition":
                loop = "So the total is the sum of the first and the second term again. "
                paragraphs = paragraphs[: len(paragraphs) * 3 // 4] + [loop * 80]
            reasoning = "\n\n".join(paragraphs)
            record = _record(sid, prompt, reasoning, answer, pid)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            truth[sid] = entry
            if category == "clean":
                recent.append(record)
                if len(recent) > 100:
                    recent.pop(rng.randrange(len(recent)))
    return truth


# -- the two pipelines -------------------------------------------------------------------------


def run_ours(input: Path, out: Path, workers: int, embeddings: bool = True) -> None:
    from r1data.filters.chain import FilterChainConfig, run_chain

    decontamination = {} if embeddings else {"embeddings": False}
    run_chain(FilterChainConfig(tasks=workers, workers=workers, decontamination=decontamination),
              input, out)


def _baseline_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    # datatrove documents carry one text: the prompt and the completion together, so that
    # NGramsDecontFilter looks for benchmark n-grams in both (as r1data's decontamination does)
    completion = data["messages"][-1]["content"]
    return {"text": data["prompt"] + "\n\n" + completion, "id": data["id"],
            "metadata": {"reasoning": data.get("reasoning") or "", "prompt": data["prompt"],
                         "completion": completion}}


def _completion_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    # after the per-sample filters, dedup looks at the completion alone (as r1data's MinHash does)
    return {"text": data["metadata"]["completion"], "id": data["id"], "metadata": data["metadata"]}


def _completion_text_step():
    from datatrove.pipeline.base import PipelineStep

    class CompletionText(PipelineStep):
        """After decontamination (prompt and completion), dedup looks at the completion alone,
        as r1data's MinHash does."""

        name = "completion text"

        def run(self, data, rank: int = 0, world_size: int = 1):
            for doc in data:
                doc.text = doc.metadata["completion"]
                yield doc

    return CompletionText()


def _language_ok(doc) -> bool:
    from r1data.verifiers import language_consistency

    return language_consistency(doc.metadata["reasoning"], "en") >= 0.95


def _paragraphs_ok(doc) -> bool:
    return all(len(p.split()) <= 400 for p in re.split(r"\n\s*\n", doc.metadata["reasoning"]))


def _prompt_key(doc) -> str:
    from datatrove.utils.text import TextNormConfig, simplify_text

    return simplify_text(doc.metadata["prompt"], TextNormConfig())


def _completion_key(doc) -> str:
    from datatrove.utils.text import TextNormConfig, simplify_text

    return simplify_text(doc.text, TextNormConfig())


def _word_tokenizer():
    """r1data's word splitter (`filters.base.words`, one regex pass) in datatrove's WordTokenizer
    interface, so that both pipelines tokenize words the same way (datatrove's English default,
    spaCy, is what r1data replaced for speed)."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    from r1data.filters.base import words

    class RegexWordTokenizer(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return words(text)

        def sent_tokenize(self, text: str) -> list[str]:
            return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            spans, start = [], 0
            for sentence in self.sent_tokenize(text):
                start = text.index(sentence, start)
                spans.append((start, start + len(sentence)))
                start += len(sentence)
            return spans

    return RegexWordTokenizer()


def run_baseline(input: Path, out: Path, workers: int) -> None:
    """The same steps from datatrove's own classes, with the same tasks, workers and tokenizer."""
    import numpy as np
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, \
        ExactDedupSignature, ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, \
        MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.filters import GopherRepetitionFilter, LambdaFilter, RegexFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.text import ngrams, simplify_text

    from r1data import benchmark_sets

    tokenizer = _word_tokenizer()
    # NGramsDecontIndexer itself requires lighteval (and its task loader the network): the same
    # hashing as its `compute_hashes`, with datatrove's own helpers and the same tokenizer.
    decont = NGramsDecontConfig(n_grams=8, find_query_ngrams=True, find_overlap_ngrams=False)
    hash_func = create_hash_func(decont.hash_config)
    hashes = set()
    for name in benchmark_sets.BENCHMARKS:
        for item in benchmark_sets.scored_items(name):  # as r1data's index
            tokens = tokenizer.word_tokenize(simplify_text(item["prompt"], decont.norm_config))
            hashes.update(hash_func(" ".join(g)) for g in ngrams(tokens, decont.n_grams))
    (out / "decont_index").mkdir(parents=True, exist_ok=True)
    np.array(sorted(hashes), dtype=decont.hash_config.np_descr).tofile(
        out / "decont_index" / "benchmark_sets.index.hashes")

    # datatrove gives each task whole files: split the input into one file per task (r1data's
    # chain shards its input too, inside its own timing)
    input_dir = out / "input"
    input_dir.mkdir(parents=True, exist_ok=True)
    shards = [open(input_dir / f"{i:05d}.jsonl", "w", encoding="utf-8") for i in range(workers)]
    with open(input, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            shards[i % workers].write(line)
    for shard in shards:
        shard.close()

    def reader(folder, adapter=_completion_adapter):
        return JsonlReader(str(folder), adapter=adapter, compression=None, glob_pattern="*.jsonl")

    def local(pipeline, tasks, name, depends=None):
        return LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks),
                                     logging_dir=str(out / "logs" / name), depends=depends)

    writer = lambda folder: JsonlWriter(str(folder), compression=None)  # noqa: E731
    minhash = MinhashConfig()
    # the MinHash signatures end the filter stage (after its writer, which passes each document
    # on), as in r1data's chain: one pass over the corpus fewer than datatrove's example layout
    steps = [
        local([reader(input_dir, _baseline_adapter), LambdaFilter(_language_ok),
               LambdaFilter(_paragraphs_ok), RegexFilter(r"(?m)^\s*```"),
               GopherRepetitionFilter(language=tokenizer),
               NGramsDecontFilter(str(out / "decont_index"), config=decont, language=tokenizer),
               _completion_text_step(), writer(out / "filtered"),
               MinhashDedupSignature(str(out / "mh_sigs"), config=minhash, language=tokenizer)],
              workers, "filter"),
    ]
    steps.append(local([MinhashDedupBuckets(str(out / "mh_sigs"), str(out / "mh_buckets"), config=minhash)],
                       minhash.num_buckets, "mh2", steps[-1]))
    steps.append(local([MinhashDedupCluster(str(out / "mh_buckets"), str(out / "mh_remove"), config=minhash)],
                       1, "mh3", steps[-1]))
    steps.append(local([reader(out / "filtered"), MinhashDedupFilter(str(out / "mh_remove")),
                        writer(out / "minhash")], workers, "mh4", steps[-1]))
    source = out / "minhash"
    for key, getter in (("prompt", _prompt_key), ("completion", _completion_key)):  # exact dedup
        exact = ExactDedupConfig(content_getter=getter)
        sigs, dups = out / f"exact_{key}_sigs", out / f"exact_{key}_dups"
        kept = out / ("kept" if key == "completion" else f"exact_{key}")
        steps.append(local([reader(source), ExactDedupSignature(str(sigs), config=exact)],
                           workers, f"exact_{key}1", steps[-1]))
        steps.append(local([ExactFindDedups(str(sigs), str(dups), config=exact)], 1,
                           f"exact_{key}2", steps[-1]))
        steps.append(local([reader(source), ExactDedupFilter(str(dups), config=exact), writer(kept)],
                           workers, f"exact_{key}3", steps[-1]))
        source = kept
    steps[-1].run()


# -- measuring -----------------------------------------------------------------------------------


def _kept_ids(folder: Path) -> set[str]:
    ids = set()
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, "rb") as fh:
            for line in fh:
                match = re.search(rb'"id":\s*"([^"]+)"', line)
                if match:
                    ids.add(match.group(1).decode())
    return ids


def score(truth: dict[str, dict], kept: set[str]) -> dict:
    planted = {c: [sid for sid, e in truth.items() if e["category"] == c] for c in CATEGORIES}
    recall = {c: round(sum(sid not in kept for sid in ids) / len(ids), 4)
              for c, ids in planted.items() if ids}
    clean = [sid for sid, e in truth.items() if e["category"] == "clean"]
    clean_kept = sum(sid in kept for sid in clean)
    return {"recall": recall, "clean_retention": round(clean_kept / len(clean), 4),
            "precision": round(clean_kept / max(1, len(kept)), 4)}


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while walked
    return total


def _stage(out: Path, seen: list[str]) -> str:
    """The stage running now: datatrove makes each stage's logging folder as it starts, and the
    stages run one after the other, so it is the folder that appeared last."""
    for logs in (out / ".logs", out / "logs"):
        if logs.is_dir():
            seen += sorted(d.name for d in logs.iterdir() if d.is_dir() and d.name not in seen)
    return seen[-1] if seen else "start"


def measure(which: str, input: Path, out: Path, workers: int, embeddings: bool = True) -> dict:
    """Run one pipeline in a child process. Sampled every 0.2 s: the peak RSS of each process of
    its tree (the largest, the sum of all at once, and each process's own peak, largest first),
    the bytes they wrote to storage (/proc io counters, summed per process at its last sample),
    and every 2 s the size of the output folder besides kept/ and dropped/: the intermediate
    files, whose peak says whether a stage wrote a copy of the corpus."""
    import psutil

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--_run", which, "--_input", str(input),
                             "--_out", str(out), "--workers", str(workers)]
                            + ([] if embeddings else ["--no-embeddings"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root, total, ticks, work_peak, stages = psutil.Process(proc.pid), 0, 0, 0, []
    peaks: dict[int, tuple[int, str]] = {}  # pid -> (peak RSS, the stage running at the peak)
    written: dict[int, int] = {}
    cpu: dict[int, float] = {}  # pid -> CPU seconds at its last sample: less noisy than wall time
    while proc.poll() is None:
        rss, stage = 0, _stage(out, stages)
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            processes = []
        for p in processes:
            try:
                mine = p.memory_info().rss
                written[p.pid] = max(written.get(p.pid, 0), p.io_counters().write_bytes)
                times = p.cpu_times()
                cpu[p.pid] = times.user + times.system
            except psutil.Error:
                continue
            rss += mine
            if mine > peaks.get(p.pid, (0, ""))[0]:
                peaks[p.pid] = (mine, f"driver, {stage}" if p.pid == proc.pid else stage)
        total = max(total, rss)
        if ticks % 10 == 0 and out.exists():
            work_peak = max(work_peak, sum(_folder_bytes(d) for d in out.iterdir()
                                           if d.is_dir() and d.name not in ("kept", "dropped")))
        ticks += 1
        time.sleep(0.2)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{which} failed:\n{stderr[-3000:]}")
    per_process = sorted(((round(rss / 2**20), role) for rss, role in peaks.values()), reverse=True)
    return {"wall_s": round(wall, 1), "cpu_s": round(sum(cpu.values()), 1),
            "peak_rss_mb": per_process[0][0] if per_process else 0,
            "peak_tree_rss_mb": round(total / 2**20),
            # each process's peak and the stage running then (the largest 8)
            "peak_rss_mb_per_process": [f"{mb} {stage}" for mb, stage in per_process[:8]],
            "disk_written_mb": round(sum(written.values()) / 1e6),
            "output_mb": round(_folder_bytes(out) / 1e6),
            "peak_intermediate_mb": round(work_peak / 1e6)}


def _recall_text(result: dict) -> str:
    # two decimals would print 0.9992 as 1.00: a miss must show
    return ", ".join(f"{kind} {value:.2f}" if value in (0, 1) else f"{kind} {value:.4f}"
                     for kind, value in result["recall"].items())


def profile(input: Path, n: int) -> dict[str, float]:
    """Seconds per sample of each step of r1data's chain, run one after the other in one process
    on the first `n` samples (no executor, no I/O besides reading): where the time goes."""
    from r1data.filters.chain import PER_SAMPLE_FILTERS, WHOLE_CORPUS_FILTERS, FilterChainConfig
    from r1data.filters.adapters import document_of
    from r1data.record import Record

    config = FilterChainConfig()
    docs = []  # exact and fuzzy dedup see the warm-up documents twice: they count as duplicates
    with open(input, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i == n:
                break
            docs.append(document_of(Record.from_dict(json.loads(line))))
    costs = {}
    for name, cls in {**PER_SAMPLE_FILTERS, **WHOLE_CORPUS_FILTERS}.items():
        settings = getattr(config, name)
        if settings is None:
            continue
        step = cls(**settings)
        for doc in docs[:20]:  # warm-up outside the timing: model loads, indexes, caches
            step.filter(doc)
        start = time.perf_counter()
        for doc in docs:
            step.filter(doc)
        costs[name] = (time.perf_counter() - start) / len(docs)
    from r1data.filters.minhash_dedup import MinhashRecordSignature, minhash_config

    signature = MinhashRecordSignature(str(input.parent / "profile_sigs"), config=minhash_config(config.minhash))
    signature.get_shingles(docs[0].text)
    start = time.perf_counter()
    for doc in docs:
        signature.get_signature(signature.get_shingles(doc.text))
    costs["minhash (signature)"] = (time.perf_counter() - start) / len(docs)
    shutil.rmtree(input.parent / "profile_sigs", ignore_errors=True)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--words", type=int, default=4000)
    parser.add_argument("--work", default="/tmp/r1data_filter_bench")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-up-to", type=int, default=None,
                        help="run the (slow) baseline only on sizes up to this many samples")
    parser.add_argument("--no-embeddings", action="store_true",
                        help="decontamination without the sentence encoder (lexical rules only)")
    parser.add_argument("--profile", action="store_true",
                        help="also time each step of r1data's chain on the first 500 samples")
    parser.add_argument("--_run", help=argparse.SUPPRESS)
    parser.add_argument("--_input")
    parser.add_argument("--_out")
    args = parser.parse_args()
    if args._run:  # child: run one pipeline (the parent samples its memory)
        sys.path.insert(0, str(ROOT))
        if args._run == "ours":
            run_ours(Path(args._input), Path(args._out), args.workers, not args.no_embeddings)
        else:
            run_baseline(Path(args._input), Path(args._out), args.workers)
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        corpus = work / f"corpus_{n}.jsonl"
        start = time.perf_counter()
        truth = generate(corpus, n, words=args.words)
        mb = corpus.stat().st_size / 1e6
        print(f"\n== {n} samples, {mb:.0f} MB (generated in {time.perf_counter() - start:.0f} s)", flush=True)
        row = {"samples": n, "mb": round(mb)}
        if args.profile:
            sys.path.insert(0, str(ROOT))
            costs = profile(corpus, min(n, 500))
            total = sum(costs.values())
            print("cost per step of r1data's chain, ms per sample, one core (share of the total):")
            for name, cost in sorted(costs.items(), key=lambda kv: -kv[1]):
                print(f"  {name:22s} {1000 * cost:8.2f} ms  ({100 * cost / total:4.1f}%)")
            row["profile_ms"] = {k: round(1000 * v, 3) for k, v in costs.items()}
        baseline = not args.skip_baseline and (args.baseline_up_to is None or n <= args.baseline_up_to)
        for which in ("ours", "baseline") if baseline else ("ours",):
            out = work / f"{which}_{n}"
            result = measure(which, corpus, out, args.workers, not args.no_embeddings)
            result["mb_s_per_core"] = round(mb / result["wall_s"] / args.workers, 2)
            result.update(score(truth, _kept_ids(out / "kept")))
            row[which] = result
            print(f"{which:9s} {json.dumps(result)}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
        if "baseline" in row:
            row["speed_ratio"] = round(row["baseline"]["wall_s"] / row["ours"]["wall_s"], 2)
            print(f"speed ratio r1data/baseline: {row['speed_ratio']}", flush=True)
        results.append(row)
        corpus.unlink()
        ours, base = row["ours"], row.get("baseline")
        emit(f"filter chain (readability + language + exact + MinHash + decontamination), {n:,} synthetic "
             f"~{args.words:,}-word CoTs, {args.workers} tasks on {args.workers} workers",
             f"{ours['wall_s']} s; recall {_recall_text(ours)}; precision {ours['precision']}",
             f"the same steps from datatrove's classes, same tokenizer/tasks/workers: {base['wall_s']} s; "
             f"recall {_recall_text(base)}; precision {base['precision']}" if base else "not run",
             f"**{row['speed_ratio']}x**" if base else "-", ">= 1.0" if base else "-")
    # extrapolation from the measured slope (seconds per extra sample between the two largest
    # sizes), so that fixed start-up costs are not scaled up with the corpus
    if len(results) >= 2:
        a, b = results[-2], results[-1]
        slope = (b["ours"]["wall_s"] - a["ours"]["wall_s"]) / (b["samples"] - a["samples"])
    else:
        slope = results[-1]["ours"]["wall_s"] / results[-1]["samples"]
    minutes = (results[-1]["ours"]["wall_s"] + slope * (800_000 - results[-1]["samples"])) / 60
    print(f"extrapolated to 800K samples from the slope ({1000 * slope:.2f} ms/sample): {minutes:.0f} min "
          f"on {args.workers} workers (goal 30 min: {'met' if minutes <= 30 else f'missed by {minutes / 30:.1f}x'})")
    sizes = ", ".join(f"{r['samples']:,}" for r in results)
    source = (f"the slope between {results[-2]['samples']:,} and {results[-1]['samples']:,} samples"
              if len(results) >= 2 else f"the {sizes}-sample run's rate (start-up included)")
    emit(f"filter chain at R1's scale: 800K ~{args.words:,}-word samples on {args.workers} cores, "
         f"extrapolated from {source}",
         f"{minutes:.0f} min ({1 / slope:.0f} samples/s)", "-",
         f"{'met' if minutes <= 30 else f'**{minutes / 30:.1f}x over**'}", "<= 30 min (~450 samples/s)")
    # flat: the largest process at the largest size within 25% of the smallest size of 10K or more
    # (below 10K, start-up dominates)
    big = [r for r in results if r["samples"] >= 10_000] or results
    growth = big[-1]["ours"]["peak_rss_mb"] / big[0]["ours"]["peak_rss_mb"]
    print(f"peak RSS (largest process) {big[0]['samples']:,} -> {big[-1]['samples']:,} samples: "
          f"{big[0]['ours']['peak_rss_mb']} -> {big[-1]['ours']['peak_rss_mb']} MB ({growth:.2f}x)")
    if len(results) < 2:  # growth needs two sizes
        (work / "results.json").write_text(json.dumps(results, indent=2))
        return
    emit(f"filter chain memory, {sizes} samples",
         " / ".join(f"{r['ours']['peak_rss_mb']}" for r in results) + " MB peak RSS (largest process)",
         "plain datatrove " + " / ".join(f"{r['baseline']['peak_rss_mb']}" for r in results if "baseline" in r)
         + " MB (sizes it ran on)" if any("baseline" in r for r in results) else "not run",
         f"{growth:.2f}x from {big[0]['samples']:,} to {big[-1]['samples']:,} "
         f"({'flat' if growth <= 1.25 else '**not flat**'})", "flat (<= 1.25x)")
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
