"""GRPO seconds per step, r1data vs TRL 1.16's `GRPOTrainer`, on the embedded SmolLM2-135M.

    python benchmarks/grpo.py [--steps 5] [--repeat 3] [--prompts 2] [--g 4] [--max-tokens 32]

Fairness rules, point by point:
1. Model: the embedded SmolLM2-135M (its real weights, float32), the same folder for both.
2. Gradient checkpointing is OFF on both sides: TRL 1.16 turns it on by default, so
   `gradient_checkpointing=False` is passed explicitly; r1data's runtime default is off.
3. Same prompts in the same order (R1-Zero-templated GSM8K), same G, same completion cap,
   same sampling (temperature 1, top-p 1, no top-k), the same loss configuration (TRL:
   loss_type="grpo", use_bias_correction_kl=False, beta, epsilon), one optimizer step per rollout
   batch (mu 1), the whole batch in one micro-batch, the same reward (R1-Zero format check).
4. Each run does `--steps` steps (at least 5) after one warm-up step that is not timed.
5. Each side runs in its own process, alternating r1data, TRL, ... `--repeat` times (at least
   3); the table shows the median of the per-run mean step time with its min-max.
6. The split is over the same work on both sides: rollout = generation + reward + advantages;
   update = the reference model's forward pass + the policy's forward/backward + the optimizer
   step. TRL computes the reference log-probs inside its rollout function: that time is
   measured separately and moved to its update column, where r1data counts it.

Printed: seconds per step of each (median, min-max), split into rollout and update, completion
tokens per step (sampled lengths differ between runs: compare ms/token too), and the ratio
r1data / TRL (goal <= 1.0x the time). GPU throughput needs a GPU machine (`--device cuda`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
    from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

    records, _ = _prompts(args.prompts * (args.steps + 1))
    config = GRPOConfig(
        model=path, template="r1-zero", rewards="format_r1_zero", prompts_per_step=args.prompts,
        sampling=SamplingConfig(n=args.g, temperature=1.0, top_p=1.0, max_tokens=args.max_tokens),
        beta=args.beta, epsilon=0.2, mu=1, micro_batch=args.prompts * args.g,
        max_steps=args.steps + 1, resume=False,
        optim=OptimConfig(lr=1e-6, min_lr_ratio=1.0, warmup_ratio=0.0),
        runtime=RuntimeConfig(device=args.device, seed=0, gradient_checkpointing=False),
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
        save_strategy="no", shuffle_dataset=False, seed=0, disable_dropout=True,
        gradient_checkpointing=False)  # TRL's default is True: off, as on the r1data side
    fmt = get("format_r1_zero")

    def format_r1_zero(completions, **_):
        return fmt(completions)

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    trainer = GRPOTrainer(model=model, reward_funcs=[format_r1_zero], args=config,
                          train_dataset=Dataset.from_list([{"prompt": t} for t in texts]),
                          processing_class=load_tokenizer(path))
    rollout_times: list[float] = []
    ref_times: list[float] = []
    step_times: list[float] = []
    tokens: list[float] = []
    original = trainer._generate_and_score_completions
    logps = trainer._get_per_token_logps_and_entropies
    in_rollout = [False]

    def timed_logps(model, *a, **k):
        # inside the rollout function this is the reference (or old-policy) forward pass
        t0 = time.perf_counter()
        out = logps(model, *a, **k)
        if in_rollout[0]:
            ref_times[-1] += time.perf_counter() - t0
        return out

    def timed(batch):
        ref_times.append(0.0)
        in_rollout[0] = True
        t0 = time.perf_counter()
        try:
            out = original(batch)
        finally:
            in_rollout[0] = False
        rollout_times.append(time.perf_counter() - t0 - ref_times[-1])
        tokens.append(float(out["completion_mask"].sum()))
        return out

    trainer._generate_and_score_completions = timed
    trainer._get_per_token_logps_and_entropies = timed_logps

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.t0)

    trainer.add_callback(Clock())
    trainer.train()
    steps, rolls, toks = step_times[1:], rollout_times[1:], tokens[1:]
    return {"step_s": sum(steps) / len(steps), "rollout_s": sum(rolls) / len(rolls),
            "update_s": (sum(steps) - sum(rolls)) / len(steps), "tokens": sum(toks) / len(toks),
            "ref_s": sum(ref_times[1:]) / len(steps)}


def spread(values: list[float], fmt: str = ".2f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="smollm2-135m, a folder, or tiny")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side")
    parser.add_argument("--prompts", type=int, default=2, help="prompts per step (B)")
    parser.add_argument("--g", type=int, default=4, help="outputs per prompt (G)")
    parser.add_argument("--max-tokens", type=int, default=32)
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

    results: dict[str, list[dict]] = {"r1data": [], "trl": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = _model(args.model, work)
        for _ in range(args.repeat):
            for side in ("r1data", "trl"):
                with tempfile.TemporaryDirectory(dir=tmp) as run_dir:
                    cmd = [sys.executable, __file__, "--_run", side, "--_path", path, "--_work", run_dir,
                           "--steps", str(args.steps), "--prompts", str(args.prompts), "--g", str(args.g),
                           "--max-tokens", str(args.max_tokens), "--beta", str(args.beta),
                           "--device", args.device]
                    done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{side} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
                results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{side}: {json.dumps(results[side][-1])}", flush=True)

    print(f"GRPO step time, {args.model}, B={args.prompts} G={args.g} max_tokens={args.max_tokens} "
          f"beta={args.beta}, {args.steps} steps after 1 warm-up, {args.repeat} runs of each side, "
          f"gradient checkpointing off on both, device {args.device}")
    print(f"{'':8} {'s/step':>20} {'rollout s':>20} {'update s':>20} {'tokens':>7} {'ms/token':>9}")
    for side, runs in results.items():
        col = lambda key: spread([r[key] for r in runs])  # noqa: E731
        tokens = statistics.median(r["tokens"] for r in runs)
        ms = statistics.median(1000 * r["step_s"] / max(r["tokens"], 1) for r in runs)
        print(f"{side:8} {col('step_s'):>20} {col('rollout_s'):>20} {col('update_s'):>20} {tokens:7.0f} {ms:9.1f}")
    print("TRL's reference forward, moved from its rollout to its update column: "
          + spread([r["ref_s"] for r in results["trl"]]) + " s/step")
    ratio = [o["step_s"] / t["step_s"] for o, t in zip(results["r1data"], results["trl"])]
    per_token = [(o["step_s"] / max(o["tokens"], 1)) / (t["step_s"] / max(t["tokens"], 1))
                 for o, t in zip(results["r1data"], results["trl"])]
    med = lambda side, key: statistics.median(r[key] for r in results[side])  # noqa: E731
    print(f"ratio r1data/TRL (time): step {spread(ratio)}, rollout "
          f"{med('r1data', 'rollout_s') / med('trl', 'rollout_s'):.2f}x, update "
          f"{med('r1data', 'update_s') / med('trl', 'update_s'):.2f}x, per token {spread(per_token)}")
    emit(f"GRPO step, {args.model}, B={args.prompts}, G={args.g}, {args.max_tokens} tokens, {args.steps} steps "
         f"after warm-up, checkpointing off on both, median of {args.repeat}",
         f"{med('r1data', 'step_s'):.1f} s/step (rollout {med('r1data', 'rollout_s'):.1f}, update "
         f"{med('r1data', 'update_s'):.1f})",
         f"TRL `GRPOTrainer` {med('trl', 'step_s'):.1f} s/step ({med('trl', 'rollout_s'):.1f} / "
         f"{med('trl', 'update_s'):.1f})",
         f"**{statistics.median(ratio):.2f}x** the time ({min(ratio):.2f}-{max(ratio):.2f})", "<= 1.0x")


if __name__ == "__main__":
    main()
