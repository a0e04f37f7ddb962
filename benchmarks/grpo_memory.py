"""GRPO loss-step peak memory and time, r1data vs TRL 1.16's `GRPOTrainer`, on the embedded
SmolLM2-135M at 8 sequences x 1,024 tokens.

    python benchmarks/grpo_memory.py [--sequences 8] [--tokens 1024] [--repeat 2] [--steps 2]
                                     [--model smollm2-135m|tiny]
                                     [--gradient-checkpointing] [--device cpu|cuda]

What one "step" is, on both sides: the policy's forward over the sequences, the GRPO loss with
a KL to given reference log-probs, and the backward (the part whose memory grows with
batch x length x vocabulary; generation and the optimizer are the same on both sides and left
out). Fairness rules:
1. Same model folder (the embedded model's real weights, fp32), same token ids (8 x 1,024:
   a 64-token prompt and 960 completion tokens per sequence), same advantages, π_old and π_ref
   log-probs, the same loss (TRL: loss_type="grpo", use_bias_correction_kl=False, β 0.04,
   ε 0.2, temperature 1), all sequences in one micro-batch.
2. Gradient checkpointing equal on both sides (off by default; `--gradient-checkpointing` turns
   it on for both).
3. Each side runs alone in a fresh process (so peak memory is its own): on CPU the peak
   resident size sampled every 2 ms during the steps minus the size right before them (after
   `malloc_trim`, so memory freed earlier is not reused unseen), on GPU the peak allocated
   CUDA memory minus the allocation right before them. One untimed warm-up step, then the mean
   of `--steps` timed steps; sides alternate `--repeat` times and the median is shown.
Measured on 2 CPU cores shared with other jobs (times are not comparable between runs),
`--model tiny --gradient-checkpointing --repeat 1 --steps 1`, 8 x 1,024 tokens: r1data 1,059 MB,
TRL 4,389 MB (0.24x), 45 s vs 42 s per step. On the embedded model (8 x 1,024, checkpointing on
both) TRL's side was killed by the kernel's OOM killer at 12.9 GB resident on the shared 24 GB
machine, while r1data's whole process stayed at about 4.5 GB resident (ps): no ratio printed.
Goal: r1data's peak memory <= TRL's. r1data computes log-probs in chunks of 1,024 tokens
(`trainers/logprobs.py`); TRL 1.16 materialises the micro-batch's logits.
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
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
BETA, EPSILON = 0.04, 0.2


def _inputs(args, tokenizer):
    import torch

    g = torch.Generator().manual_seed(0)
    n, prompt = args.sequences, 64
    completion = args.tokens - prompt
    x = {
        "prompt_ids": torch.randint(100, 20000, (n, prompt), generator=g),
        "completion_ids": torch.randint(100, 20000, (n, completion), generator=g),
        "advantages": torch.randn(n, generator=g),
    }
    x["prompt_mask"] = torch.ones_like(x["prompt_ids"])
    x["completion_mask"] = torch.ones_like(x["completion_ids"])
    x["old"] = -5 + 0.1 * torch.randn(n, completion, generator=g)
    x["ref"] = -5 + 0.1 * torch.randn(n, completion, generator=g)
    return {k: v.to(args.device) for k, v in x.items()}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _release_free_memory() -> None:
    """Hand memory freed by earlier work (model loading, the warm-up) back to the OS, so the
    resident size before the step is what is really in use and the step's growth is its own."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _measure(args, step) -> dict:
    import threading

    import torch

    step()  # warm-up (allocator, kernels)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        _release_free_memory()
        base = _rss_mb()
    # On CPU a thread samples the resident size while the steps run (ru_maxrss would also count
    # model loading, which happened before).
    peak, running = [base], [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.002)

    sampler = None if cuda else threading.Thread(target=sample, daemon=True)
    if sampler:
        sampler.start()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    running[0] = False
    if sampler:
        sampler.join()
    top = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak[0]
    return {"peak_mb": top - base, "step_s": sum(times) / len(times)}


def _model_path(args) -> str:
    """The embedded model's folder, or (`--model tiny`) a 2-layer model with its 49,152-token
    vocabulary saved once: the backbone then costs little and the logits dominate."""
    import tempfile

    from r1data import models

    if args.model != "tiny":
        return models.resolve(models.EMBEDDED)
    path = Path(tempfile.gettempdir()) / "r1data-grpo-memory-tiny"
    if not (path / "config.json").exists():
        model, tokenizer = models.tiny_model(seed=0)
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return str(path)


def run_r1data(args) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from r1data import models
    from r1data.trainers.grpo import grpo_loss
    from r1data.trainers.logprobs import PolicyLogps

    path = _model_path(args)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(args.device)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    net = PolicyLogps(model)
    x = _inputs(args, models.load_tokenizer(path))

    def step():
        logps, _ = net(x["prompt_ids"], x["prompt_mask"], x["completion_ids"], x["completion_mask"],
                       1.0, False)
        per_output, _ = grpo_loss(logps, x["old"], x["ref"], x["advantages"], x["completion_mask"],
                                  BETA, EPSILON)
        (per_output.sum() / per_output.numel()).backward()
        model.zero_grad(set_to_none=True)

    return _measure(args, step)


def run_trl(args) -> dict:
    import tempfile

    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from r1data import models

    path = _model_path(args)
    tokenizer = models.load_tokenizer(path)
    n = args.sequences
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(), loss_type="grpo", beta=BETA, epsilon=EPSILON,
        use_bias_correction_kl=False, importance_sampling_level="token", temperature=1.0,
        num_generations=n, per_device_train_batch_size=n, max_completion_length=args.tokens - 64,
        use_cpu=not args.device.startswith("cuda"), report_to=[], bf16=False,
        gradient_checkpointing=args.gradient_checkpointing,
        model_init_kwargs={"dtype": torch.float32})
    trainer = GRPOTrainer(model=path, reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                          args=config, train_dataset=Dataset.from_list([{"prompt": "2+2?"}] * n),
                          processing_class=tokenizer)
    model = trainer.model
    model.train()
    trainer.current_gradient_accumulation_steps = 1
    x = _inputs(args, tokenizer)
    inputs = {k: x[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask",
                                "advantages")}
    inputs.update(old_per_token_logps=x["old"], ref_per_token_logps=x["ref"])

    def step():
        trainer._compute_loss(model, inputs).backward()
        model.zero_grad(set_to_none=True)

    return _measure(args, step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per run (after a warm-up)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="smollm2-135m", choices=["smollm2-135m", "tiny"])
    parser.add_argument("--side", choices=["r1data", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps({"r1data": run_r1data, "trl": run_trl}[args.side](args)))
        return
    results: dict[str, list[dict]] = {"r1data": [], "trl": []}
    for _ in range(max(1, args.repeat)):
        for side in results:
            cmd = [sys.executable, __file__, "--side", side, "--sequences", str(args.sequences),
                   "--tokens", str(args.tokens), "--device", args.device, "--steps", str(args.steps),
                   "--model", args.model]
            if args.gradient_checkpointing:
                cmd.append("--gradient-checkpointing")
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent)
            if done.returncode:
                sys.exit(f"{side} failed:\n{done.stderr[-3000:]}")
            results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    med = {side: {k: statistics.median(r[k] for r in rows) for k in ("peak_mb", "step_s")}
           for side, rows in results.items()}
    gc = "on" if args.gradient_checkpointing else "off"
    print(f"GRPO loss step, {args.model}, {args.sequences} x {args.tokens} tokens, "
          f"gradient checkpointing {gc} for both, {args.device}, median of {args.repeat}")
    for side, m in med.items():
        print(f"{side:8} peak {m['peak_mb']:9.0f} MB   {m['step_s']:7.2f} s/step")
    mem = med["r1data"]["peak_mb"] / med["trl"]["peak_mb"]
    speed = med["r1data"]["step_s"] / med["trl"]["step_s"]
    print(f"ratio r1data/TRL: memory {mem:.2f}x, time {speed:.2f}x")
    emit(f"GRPO loss step peak memory, {args.model}, {args.sequences}x{args.tokens} tokens, "
         f"gradient checkpointing {gc}, {args.device}",
         f"{med['r1data']['peak_mb']:.0f} MB", f"{med['trl']['peak_mb']:.0f} MB (TRL)",
         f"{mem:.2f}x", "<= 1.0x")
    emit(f"GRPO loss step time, {args.model}, {args.sequences}x{args.tokens} tokens, "
         f"gradient checkpointing {gc}, {args.device}",
         f"{med['r1data']['step_s']:.2f} s", f"{med['trl']['step_s']:.2f} s (TRL)",
         f"{speed:.2f}x")


if __name__ == "__main__":
    main()
