"""r1data's transformers backend against a plain `model.generate` loop: tokens/s and the ratio.

    python benchmarks/generate.py --prompts 16 --batch-size 8 --max-tokens 64

Same model object, same prompts (GSM8K training questions rendered with the model's chat
template), same batch size, same sampling parameters, in one process. Two settings:

- greedy: both produce the same tokens, so the ratio is the engine's overhead exactly;
- sampled (temperature 0.6, top-p 0.95): the baseline draws from torch's global generator, r1data
  from one generator per sample (reproducible whatever the batch); outputs differ, so lengths
  differ a little; with a small --max-tokens most samples are truncated and the work is close.

The baseline pads each batch on the left and calls `model.generate`; tokens counted are the
generated tokens up to and including EOS (as r1data counts them). Runs alternate (baseline,
r1data, baseline, ...) so that a drift in machine load hits both. Goal: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
             temperature: float, top_p: float) -> int:
    """A plain loop: tokenize a batch with left padding, `model.generate`, count new tokens."""
    import torch

    tokenizer.padding_side = "left"
    eos = tokenizer.eos_token_id
    tokens = 0
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(model.device)
        sample = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0} \
            if temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=max_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=eos, **sample)
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            tokens += row.index(eos) + 1 if eos in row else len(row)
    return tokens


def engine(backend, prompts, sampling) -> int:
    return sum(c.completion_tokens for samples in backend.generate(prompts, sampling) for c in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (median, min-max)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

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
            n_tokens = baseline(model, tokenizer, texts, args.batch_size, args.max_tokens, temperature, 0.95)
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
