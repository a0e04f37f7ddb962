"""GRPO seconds per step, r1data vs TRL 1.16's `GRPOTrainer`, in one run on the same machine.

    python benchmarks/grpo.py --model smollm2-135m --steps 4 --prompts 2 --g 8 --max-tokens 64

Both get the same policy weights, the same R1-Zero-templated GSM8K prompts (in the same order),
the same G, completion cap, sampling (temperature 1, top-p 1, no top-k), the same loss
configuration (TRL: loss_type="grpo", use_bias_correction_kl=False, beta, epsilon), one
optimizer step per rollout batch (mu 1), the whole batch in one micro-batch, and the same
reward (R1-Zero format check). Each runs `--steps` steps after one warm-up step, in its own
process one after the other (so neither competes with the other for the cores).

Printed: seconds per step of each, split into rollout (generation + reward) and update (log-probs
of policy/reference + loss + backward + optimizer), completion tokens per step, and the ratio
r1data / TRL (goal: <= 1.0). Times of sampled runs vary with completion lengths: compare the
per-token columns too. GPU throughput for a ~0.5B model needs a GPU machine (`--device cuda`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table_row import emit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _prompts(n: int) -> list[str]:
    from r1data.io import read_records
    from r1data.templates import r1_zero
    from r1data.trainers.grpo import prompt_path

    records = []
    for record in read_records(prompt_path("gsm8k_train_1k")):
        records.append(record)
        if len(records) == n:
            break
    return records, [r1_zero(r.prompt) for r in records]


def _model(spec: str, workdir: Path) -> str:
    """A folder both trainers load: the embedded model, or a fresh tiny one ("tiny")."""
    from r1data import models

    if spec != "tiny":
        return models.resolve(spec)
    model, tokenizer = models.tiny_model(layers=4, hidden=256, heads=4)
    model.save_pretrained(workdir / "tiny")
    tokenizer.save_pretrained(workdir / "tiny")
    return str(workdir / "tiny")


def run_r1data(args, path: str, workdir: Path) -> dict:
    from r1data.backends.base import SamplingConfig
    from r1data.rewards import get
    from r1data.trainers.common import OptimConfig, OutputConfig, RuntimeConfig
    from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

    records, _ = _prompts(args.prompts * (args.steps + 1))
    config = GRPOConfig(
        model=path, template="r1-zero", rewards="format_r1_zero", prompts_per_step=args.prompts,
        sampling=SamplingConfig(n=args.g, temperature=1.0, top_p=1.0, max_tokens=args.max_tokens),
        beta=args.beta, epsilon=0.2, mu=1, micro_batch=args.prompts * args.g,
        max_steps=args.steps + 1, resume=False,
        optim=OptimConfig(lr=1e-6, min_lr_ratio=1.0, warmup_ratio=0.0),
        runtime=RuntimeConfig(device=args.device, seed=0),
        output=OutputConfig(dir=str(workdir / "r1data"), save_every=0))
    trainer = GRPOTrainer(config, prompts=records, reward_fns={"format_r1_zero": get("format_r1_zero")})
    # Keep the prompt order of TRL's run: the batch of step k is prompts[k*B:(k+1)*B].
    trainer.batch_records = lambda step: records[step * args.prompts:(step + 1) * args.prompts]
    history = trainer.train().history[1:]  # the first step warms up
    return {
        "step_s": sum(r["time/step"] for r in history) / len(history),
        "rollout_s": sum(r["time/rollout"] + r["time/reward"] for r in history) / len(history),
        "update_s": sum(r["time/update"] for r in history) / len(history),
        "tokens": sum(r["completion_length"] * args.prompts * args.g for r in history) / len(history),
    }


def run_trl(args, path: str, workdir: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from r1data.models import load_tokenizer
    from r1data.rewards import get

    _, texts = _prompts(args.prompts * (args.steps + 1))
    n = args.prompts * args.g
    config = GRPOConfig(
        output_dir=str(workdir / "trl"), loss_type="grpo", beta=args.beta, epsilon=0.2,
        use_bias_correction_kl=False, num_iterations=1, num_generations=args.g,
        per_device_train_batch_size=n, generation_batch_size=n, gradient_accumulation_steps=1,
        max_completion_length=args.max_tokens, temperature=1.0, top_p=1.0, top_k=0,
        learning_rate=1e-6, lr_scheduler_type="constant", max_steps=args.steps + 1,
        use_cpu=args.device == "cpu", bf16=False, report_to=[], logging_steps=1,
        save_strategy="no", shuffle_dataset=False, seed=0, disable_dropout=True)
    fmt = get("format_r1_zero")

    def format_r1_zero(completions, **_):
        return fmt(completions)

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    trainer = GRPOTrainer(model=model, reward_funcs=[format_r1_zero], args=config,
                          train_dataset=Dataset.from_list([{"prompt": t} for t in texts]),
                          processing_class=load_tokenizer(path))
    rollout_times: list[float] = []
    step_times: list[float] = []
    tokens: list[float] = []
    original = trainer._generate_and_score_completions

    def timed(batch):
        t0 = time.perf_counter()
        out = original(batch)
        rollout_times.append(time.perf_counter() - t0)
        tokens.append(float(out["completion_mask"].sum()))
        return out

    trainer._generate_and_score_completions = timed

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.t0)

    trainer.add_callback(Clock())
    trainer.train()
    steps, rolls, toks = step_times[1:], rollout_times[1:], tokens[1:]
    return {"step_s": sum(steps) / len(steps), "rollout_s": sum(rolls) / len(rolls),
            "update_s": (sum(steps) - sum(rolls)) / len(steps), "tokens": sum(toks) / len(toks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="smollm2-135m, a folder, or tiny")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=2, help="prompts per step (B)")
    parser.add_argument("--g", type=int, default=8, help="outputs per prompt (G)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--beta", type=float, default=0.04)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--_run", choices=("r1data", "trl"), help=argparse.SUPPRESS)
    parser.add_argument("--_path", help=argparse.SUPPRESS)
    parser.add_argument("--_work", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._run:  # one side, in its own process
        fn = run_r1data if args._run == "r1data" else run_trl
        print(json.dumps(fn(args, args._path, Path(args._work))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = _model(args.model, work)
        results = {}
        for side in ("r1data", "trl"):
            cmd = [sys.executable, __file__, "--_run", side, "--_path", path, "--_work", tmp,
                   "--steps", str(args.steps), "--prompts", str(args.prompts), "--g", str(args.g),
                   "--max-tokens", str(args.max_tokens), "--beta", str(args.beta),
                   "--device", args.device]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{side} failed:\n{done.stderr[-4000:]}")
            results[side] = json.loads(done.stdout.strip().splitlines()[-1])

    print(f"GRPO step time, {args.model}, B={args.prompts} G={args.g} max_tokens={args.max_tokens} "
          f"beta={args.beta}, {args.steps} steps after 1 warm-up, device {args.device}")
    print(f"{'':8} {'s/step':>8} {'rollout s':>10} {'update s':>9} {'tokens':>7} {'ms/token':>9}")
    for side, r in results.items():
        print(f"{side:8} {r['step_s']:8.2f} {r['rollout_s']:10.2f} {r['update_s']:9.2f} "
              f"{r['tokens']:7.0f} {1000 * r['step_s'] / max(r['tokens'], 1):9.1f}")
    ours, theirs = results["r1data"], results["trl"]
    print(f"ratio r1data/TRL: step {ours['step_s'] / theirs['step_s']:.2f}x, "
          f"rollout {ours['rollout_s'] / theirs['rollout_s']:.2f}x, "
          f"update {ours['update_s'] / theirs['update_s']:.2f}x, "
          f"per token {ours['step_s'] / max(ours['tokens'], 1) / (theirs['step_s'] / max(theirs['tokens'], 1)):.2f}x")
    emit(f"GRPO step, {args.model} model, B={args.prompts}, G={args.g}, {args.max_tokens} tokens",
         f"{ours['step_s']:.1f} s/step (rollout {ours['rollout_s']:.1f}, update {ours['update_s']:.1f})",
         f"TRL `GRPOTrainer` {theirs['step_s']:.1f} s/step ({theirs['rollout_s']:.1f} / {theirs['update_s']:.1f})",
         f"**{ours['step_s'] / theirs['step_s']:.2f}x** the time", "<= 1.0x")


if __name__ == "__main__":
    main()
