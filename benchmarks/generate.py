"""r1data's generation backends against a plain `model.generate` loop: tokens/s and the ratio.

    python benchmarks/generate.py --prompts 16 --batch-size 8 --max-tokens 64
    python benchmarks/generate.py --r1-shape --prompts 8 --repeats 3 --json r1_shape.json

Default: r1data's transformers backend against the plain loop. Same model object, same prompts
(GSM8K training questions rendered with the model's chat template), same batch size, same
sampling parameters, in one process. Two settings:

- greedy: both produce the same tokens, so the ratio is the engine's overhead exactly;
- sampled (temperature 0.6, top-p 0.95): the baseline draws from torch's global generator, r1data
  from one generator per sample (reproducible whatever the batch); outputs differ, so lengths
  differ a little; with a small --max-tokens most samples are truncated and the work is close.

The baseline pads each batch on the left and calls `model.generate`; tokens counted are the
generated tokens up to and including EOS (as r1data counts them). Runs alternate (baseline,
r1data, baseline, ...) so that a drift in machine load hits both. Goal: ratio >= 0.95.

`--r1-shape`: long samples at R1's sampling, three sides. n = 8 samples per prompt, 512 new
tokens at most, temperature 0.6, top-p 0.95, no top-k, one seed per sample. The same prompts
(the first --prompts GSM8K questions, chat template, no special tokens added), the same model
folder and the same dtype on every side (--dtype: fp32 by default, r1data's CPU default; bf16
runs all three in bfloat16). The sides:

- `vllm`: r1data's vLLM backend (`VLLMBackend`, what `generate --backend vllm` builds) with its
  CPU settings: the engine in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`; vLLM binds
  OpenMP threads only in its multi-process executor, so torch keeps the machine's threads),
  enforce_eager=True, max_model_len 2048 (more if a prompt needs it), max_num_seqs 256 and
  max_num_batched_tokens 4096 (vLLM's CPU defaults; 256 is above prompts x n, so every sample of
  a call runs in one continuous batch), prefix caching on (the n samples of a prompt share its
  KV blocks), and a KV cache that holds every row at full length (`kv_cache_memory_bytes` =
  rows x (longest prompt + max tokens) x the model's KV bytes per token x 1.25, at least 1 GiB),
  so no request waits for the cache or is preempted. Prompts go in the chunks the CLI hands
  over (`chunk_size`: 64 samples per call on a CPU). No LD_PRELOAD of tcmalloc or Intel OpenMP,
  which vLLM's CPU guide recommends: tcmalloc is not installed here, and every side then runs
  on the same allocator and OpenMP. Engine start-up (`LLM(...)`, model load included) is timed
  apart and reported, never counted.
- `transformers`: r1data's transformers backend (`TransformersBackend`, its per-sample seeded
  sampler), --batch-size rows per batch (default every row in one batch, as in the hand
  measurement of issue #26), in the chunks the CLI hands over.
- `plain`: `AutoModelForCausalLM.from_pretrained` and `model.generate` with
  `num_return_sequences=n`, do_sample, the same temperature and top-p, top_k 0, KV cache on,
  left padding, prompts sorted longest first (as r1data sorts them), --batch-size // n prompts
  per call.

Tokens are counted alike on every side: each sample's generated tokens up to and including its
first EOS, or all of them when it reached the cap (r1data's `completion_tokens` is that count;
the plain loop counts its rows by the same rule). Each run is its own process (load, one
untimed 4-token warm-up, one timed pass over every prompt), so that no side inherits the
threading state a vLLM engine leaves behind. Runs alternate, the order rotated each repeat
(plain, transformers, vllm; transformers, vllm, plain; ...). Printed: tokens/s of each side
(median of --repeats, min-max), tokens per sample, the share of truncated samples, vLLM's
start-up, and each r1data side's ratio to its best peer (per repeat; median, min-max); one
table row per r1data side. Goal: >= 1.0x the best peer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from table_row import emit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def load_prompts(k: int) -> list[str]:
    path = ROOT / "r1data" / "data" / "prompts" / "gsm8k_train_1k.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:k]]
    return [row["problem"] for row in rows]


def baseline(model, tokenizer, texts: list[str], batch_size: int, max_tokens: int,
             temperature: float, top_p: float, n: int = 1) -> list[int]:
    """A plain loop: tokenize `batch_size` prompts with left padding, `model.generate` n samples
    of each (`num_return_sequences`); the generated tokens of each row, up to its first EOS."""
    import torch

    tokenizer.padding_side = "left"
    eos = tokenizer.eos_token_id
    counts = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(model.device)
        sample = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0} \
            if temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=max_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=eos, num_return_sequences=n, **sample)
        counts += [count_tokens(row, {eos}) for row in out[:, batch["input_ids"].shape[1]:].tolist()]
    return counts


def count_tokens(row: list[int], eos_ids: set[int]) -> int:
    """Generated tokens up to and including the first EOS, or all of them (r1data's rule)."""
    return next((k + 1 for k, token in enumerate(row) if token in eos_ids), len(row))


def engine(backend, prompts, sampling) -> int:
    return sum(c.completion_tokens for samples in backend.generate(prompts, sampling) for c in samples)


# --- R1's shape: three sides, each run in its own process ----------------------------------------

R1_SAMPLING = {"n": 8, "max_tokens": 512, "temperature": 0.6, "top_p": 0.95}
SIDES = ("plain", "transformers", "vllm")
PEERS = {"vllm": ("transformers", "plain"), "transformers": ("plain",)}  # r1data side -> its peers
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def kv_cache_bytes(config, rows: int, tokens_per_row: int, dtype: str) -> int:
    """A KV cache that holds every row at full length, with a quarter to spare, >= 1 GiB."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    per_token = config.num_hidden_layers * 2 * heads * head_dim * (4 if dtype == "fp32" else 2)
    return max(1 << 30, int(rows * tokens_per_row * per_token * 1.25))


def run_side(side: str, args) -> dict:
    """One timed pass of one side over every prompt: what a child process prints."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from r1data import models
    from r1data.backends import SamplingConfig

    sampling = SamplingConfig(**{**R1_SAMPLING, "n": args.n or R1_SAMPLING["n"], "max_tokens": args.max_tokens})
    prompts = [[{"role": "user", "content": q}] for q in load_prompts(args.prompts)]
    rows = args.prompts * sampling.n
    batch_rows = args.batch_size or rows
    path = models.resolve(args.model)
    tokenizer = models.load_tokenizer(path)
    warm = SamplingConfig(n=1, temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=4)
    info: dict = {"side": side}
    start = time.perf_counter()
    if side == "plain":
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, DTYPES[args.dtype])).eval()
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        texts.sort(key=lambda t: -len(tokenizer(t, add_special_tokens=False)["input_ids"]))
        per_call = max(1, batch_rows // sampling.n)
        info["batch_rows"] = per_call * sampling.n
        run = lambda s: baseline(model, tokenizer, texts, per_call, s.max_tokens, s.temperature, s.top_p, s.n)
        warm_up = lambda: baseline(model, tokenizer, texts[:1], 1, warm.max_tokens, warm.temperature, warm.top_p)
    else:
        if side == "transformers":
            from r1data.backends.transformers import TransformersBackend

            backend = TransformersBackend(path, batch_size=batch_rows, dtype=args.dtype)
            info["batch_rows"] = batch_rows
        else:
            from r1data.backends.vllm import VLLMBackend

            longest = max(len(tokenizer(tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True),
                                        add_special_tokens=False)["input_ids"]) for p in prompts)
            kv = kv_cache_bytes(AutoConfig.from_pretrained(path), rows, longest + sampling.max_tokens, args.dtype)
            options = {"dtype": DTYPES[args.dtype], "max_model_len": max(2048, longest + sampling.max_tokens),
                       "max_num_seqs": 256, "max_num_batched_tokens": 4096, "enable_prefix_caching": True,
                       "enforce_eager": True, "kv_cache_memory_bytes": kv}
            backend = VLLMBackend(path, **options)
            info.update(startup_s=time.perf_counter() - start, vllm_options=backend.options)
        per_call = backend.chunk_size(sampling.n)
        info["prompts_per_call"] = per_call

        def run(s) -> list[int]:
            counts = []
            for at in range(0, len(prompts), per_call):  # as generate_records hands them over
                counts += [c.completion_tokens for samples in backend.generate(prompts[at:at + per_call], s)
                           for c in samples]
            return counts

        warm_up = lambda: backend.generate(prompts[:1], warm)
    info["load_s"] = time.perf_counter() - start
    warm_up()
    start = time.perf_counter()
    counts = run(sampling)
    seconds = time.perf_counter() - start
    return {**info, "seconds": seconds, "tokens": sum(counts), "samples": len(counts),
            "tokens_per_s": sum(counts) / seconds, "truncated": sum(c >= sampling.max_tokens for c in counts) / len(counts),
            "threads": torch.get_num_threads()}


def ratio_to_best_peer(side: str, runs: dict[str, list[dict]]) -> dict | None:
    """The side's tokens/s over its best peer's (the peer with the highest median), per repeat."""
    peers = [p for p in PEERS[side] if runs.get(p)]
    if not runs.get(side) or not peers:
        return None
    rate = lambda name: statistics.median(r["tokens_per_s"] for r in runs[name])
    best = max(peers, key=rate)
    ratios = sorted(a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(runs[side], runs[best]))
    return {"peer": best, "ratio": statistics.median(ratios), "range": [ratios[0], ratios[-1]]}


def r1_shape(args) -> None:
    sides = [s for s in args.sides.split(",") if s]
    unknown = set(sides) - set(SIDES)
    if unknown:
        sys.exit(f"unknown side(s) {sorted(unknown)}; choose from {', '.join(SIDES)}")
    n = args.n or R1_SAMPLING["n"]
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "VLLM_NO_USAGE_STATS": "1"}
    env.pop("VLLM_CPU_KVCACHE_SPACE", None)  # it would override the KV cache sized for the work
    for k in range(args.repeats):
        for side in sides[k % len(sides):] + sides[:k % len(sides)]:  # the order rotates each repeat
            cmd = [sys.executable, __file__, "--_side", side, "--model", args.model, "--prompts", str(args.prompts),
                   "--max-tokens", str(args.max_tokens), "--dtype", args.dtype, "--n", str(n)]
            if args.batch_size:
                cmd += ["--batch-size", str(args.batch_size)]
            done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
            if done.returncode:
                sys.exit(f"{side} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
            runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = runs[side][-1]
            print(f"repeat {k + 1} {side:12s} {r['tokens_per_s']:8.1f} tok/s  {r['tokens']} tokens in "
                  f"{r['seconds']:.1f} s" + (f"  (engine start {r['startup_s']:.1f} s)" if "startup_s" in r else ""),
                  flush=True)

    spread = lambda v: f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"
    shape = (f"{args.prompts} prompts x n={n}, {args.max_tokens} tokens, T {R1_SAMPLING['temperature']}, "
             f"top-p {R1_SAMPLING['top_p']}, {args.dtype}")
    print(f"generation at R1's shape, {args.model}, {shape}, median of {args.repeats} (min-max)")
    summary: dict = {}
    for side in sides:
        rs = runs[side]
        summary[side] = {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in rs),
                         "tokens_per_s_range": [min(r["tokens_per_s"] for r in rs), max(r["tokens_per_s"] for r in rs)],
                         "tokens_per_sample": statistics.median(r["tokens"] / r["samples"] for r in rs),
                         "truncated": statistics.median(r["truncated"] for r in rs)}
        extra = ""
        if side == "vllm":
            summary[side]["startup_s"] = statistics.median(r["startup_s"] for r in rs)
            extra = f"   engine start {spread([r['startup_s'] for r in rs])} s (not timed)"
        print(f"{side:12s} {spread([r['tokens_per_s'] for r in rs]):>24} tok/s   "
              f"{summary[side]['tokens_per_sample']:6.1f} tokens/sample   "
              f"{100 * summary[side]['truncated']:3.0f}% truncated{extra}")
    for side in ("vllm", "transformers"):
        ratio = ratio_to_best_peer(side, runs)
        if ratio is None:
            continue
        summary[side]["vs_best_peer"] = ratio
        print(f"{side} / {ratio['peer']} (best peer): {ratio['ratio']:.2f}x "
              f"({ratio['range'][0]:.2f}-{ratio['range'][1]:.2f}), per repeat")
        others = ", ".join(f"{PEER_NAMES[p]} {summary[p]['tokens_per_s']:.1f}" for p in PEERS[side]
                           if p in summary)
        startup = f" (engine start {summary[side]['startup_s']:.0f} s, not timed)" if side == "vllm" else ""
        emit(f"generation at R1's shape, embedded model, {shape}", f"{SIDE_NAMES[side]} "
             f"{summary[side]['tokens_per_s']:.1f} tokens/s{startup}", f"{others} tokens/s",
             f"**{ratio['ratio']:.2f}x** the best peer ({ratio['range'][0]:.2f}-{ratio['range'][1]:.2f}), "
             f"median of {args.repeats}", ">= 1.0x")
    if args.json:
        setup = {"model": args.model, "prompts": args.prompts, **R1_SAMPLING, "n": n, "max_tokens": args.max_tokens,
                 "dtype": args.dtype, "batch_size": args.batch_size or args.prompts * n, "repeats": args.repeats,
                 "cpus": os.cpu_count()}
        args.json.write_text(json.dumps({"setup": setup, "summary": summary, "runs": runs}, indent=2))


SIDE_NAMES = {"vllm": "`--backend vllm`", "transformers": "`--backend transformers`"}
PEER_NAMES = {"transformers": "`--backend transformers`", "plain": "plain `model.generate` loop"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=None, help="default 16, or 8 with --r1-shape")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="rows per batch; default 8, or every row at once with --r1-shape")
    parser.add_argument("--max-tokens", type=int, default=None, help="default 64, or 512 with --r1-shape")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (median, min-max)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--r1-shape", action="store_true",
                        help="R1's sampling (n 8, 512 tokens, T 0.6, top-p 0.95): vLLM, transformers, plain loop")
    parser.add_argument("--sides", default=",".join(SIDES), help="with --r1-shape: which sides run")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="fp32", help="with --r1-shape: every side's dtype")
    parser.add_argument("--n", type=int, default=None, help="with --r1-shape: samples per prompt (default 8)")
    parser.add_argument("--_side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._side or args.r1_shape:
        args.prompts = args.prompts or 8
        args.max_tokens = args.max_tokens or R1_SAMPLING["max_tokens"]
        if args._side:  # one run of one side, in its own process
            print(json.dumps(run_side(args._side, args)))
        else:
            r1_shape(args)
        return
    args.prompts, args.batch_size, args.max_tokens = args.prompts or 16, args.batch_size or 8, args.max_tokens or 64

    from r1data import models
    from r1data.backends import SamplingConfig
    from r1data.backends.transformers import TransformersBackend

    model, tokenizer = models.load_model(args.model, device=args.device)
    backend = TransformersBackend(args.model, batch_size=args.batch_size, model_obj=model, tokenizer=tokenizer)
    questions = load_prompts(args.prompts)
    prompts = [[{"role": "user", "content": q}] for q in questions]
    texts = [backend.render(p) for p in prompts]
    # r1data sorts rows by prompt length; give the baseline the same order so padding is equal.
    order = sorted(range(len(texts)), key=lambda i: -len(tokenizer(texts[i], add_special_tokens=False)["input_ids"]))
    texts = [texts[i] for i in order]
    engine(backend, prompts[:1], SamplingConfig(max_tokens=4))  # warm-up: first-call allocations

    results = {}
    for name, temperature in (("greedy", 0.0), ("sampled", 0.6)):
        sampling = SamplingConfig(n=1, temperature=temperature, top_p=0.95, max_tokens=args.max_tokens)
        rates = {"baseline": [], "r1data": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            n_tokens = sum(baseline(model, tokenizer, texts, args.batch_size, args.max_tokens, temperature, 0.95))
            rates["baseline"].append(n_tokens / (time.perf_counter() - start))
            start = time.perf_counter()
            n_tokens = engine(backend, prompts, sampling)
            rates["r1data"].append(n_tokens / (time.perf_counter() - start))
        base, ours = statistics.median(rates["baseline"]), statistics.median(rates["r1data"])
        ratios = sorted(o / b for o, b in zip(rates["r1data"], rates["baseline"]))  # per repeat
        results[name] = {"baseline_tokens_per_s": base, "r1data_tokens_per_s": ours,
                         "ratio": statistics.median(ratios), "ratio_range": [ratios[0], ratios[-1]]}
        print(f"{name:8s} baseline {base:8.1f} tok/s   r1data {ours:8.1f} tok/s   ratio "
              f"{statistics.median(ratios):.3f} ({ratios[0]:.3f}-{ratios[-1]:.3f}), medians of {args.repeats}")
    setup = {"model": args.model, "device": str(model.device), "dtype": str(model.dtype), "prompts": args.prompts,
             "batch_size": args.batch_size, "max_tokens": args.max_tokens, "repeats": args.repeats,
             "cpus": os.cpu_count()}
    print(json.dumps(setup))
    greedy = results["greedy"]
    emit(f"generation, embedded model, {args.prompts} prompts, batch {args.batch_size}, "
         f"{args.max_tokens} tokens, greedy", f"{greedy['r1data_tokens_per_s']:.1f} tokens/s",
         f"plain `model.generate` loop {greedy['baseline_tokens_per_s']:.1f} tokens/s",
         f"{greedy['ratio']:.3f} ({greedy['ratio_range'][0]:.3f}-{greedy['ratio_range'][1]:.3f}), "
         f"median of {args.repeats}", ">= 0.95")
    if args.json:
        args.json.write_text(json.dumps({"setup": setup, "results": results}, indent=2))


if __name__ == "__main__":
    main()
