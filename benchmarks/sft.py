"""r1data's SFT trainer against TRL's `SFTTrainer` on the embedded SmolLM2-135M, on CPU.

    python benchmarks/sft.py [--steps 20] [--repeat 3] [--seq-len 256] [--random-init]

Fairness rules, point by point:
1. Model: the embedded SmolLM2-135M (30 layers, 576 wide, 49K vocabulary), the same weights
   loaded fresh in float32 for every run (`--random-init`: a random initialisation of the same
   config, same seed on both sides, when loading is too slow; the row then says so).
2. Gradient checkpointing is OFF on both sides: TRL 1.16 turns it on by default
   (`gradient_checkpointing=True` in its base config), so it is turned off explicitly.
3. Same precision (fp32), same sequence length, packing on both (TRL's default BFD packing,
   padding-free with position ids; r1data's packing, checked exact for this attention), same
   micro-batch and gradient accumulation, same number of optimizer steps (`--steps`, at least
   20), loss on assistant tokens only, AdamW with the same betas/lr/cosine schedule/clipping.
4. Same conversations: the 64 R1-format GSM8K samples of the CPU recipe, repeated.
5. Each side runs in its own process (so neither inherits the other's allocator or threads),
   alternating r1data, TRL, r1data, TRL... `--repeat` times (at least 3); the table shows the
   median with its min-max.
6. Timed: the training loop from the end of the first optimizer step to the end of the last
   (the first step warms up allocators on both sides); model loading, tokenization and saving
   are outside. Reported as seconds per optimizer step and tokens/s (tokens of the packed
   batches: TRL's own `num_tokens` count, r1data's own per-step token count).
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

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "trainers" / "recipes" / "gsm8k_sft_sample.jsonl"


def conversations(repeat: int) -> list[list[dict[str, str]]]:
    rows = [json.loads(line)["messages"] for line in DATA.read_text().splitlines()]
    return rows * repeat


def load_model(args):
    """The same starting weights on both sides: the embedded model, or its config at random."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from r1data import models

    path = models.resolve("smollm2-135m")
    if args.random_init:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path), dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, models.load_tokenizer(path)


def _optim_configs():
    try:  # the trainers' shared configs (moved out of common.py by the trainers split)
        from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
    except ImportError:
        from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
    return OptimConfig, OutputConfig, RuntimeConfig


def run_r1data(args, workdir: Path) -> dict:
    from r1data.trainers.sft import DataConfig, SFTConfig, train

    OptimConfig, OutputConfig, RuntimeConfig = _optim_configs()
    path = workdir / "data.jsonl"
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in conversations(args.data_repeat)))
    model, tok = load_model(args)
    times, tokens = [], []

    def on_step(step, metrics):
        now = time.perf_counter()
        if times:  # r1data reports its own tokens/s per step: tokens = rate x that step's time
            tokens.append(metrics["tokens_per_s"] * (now - times[-1]))
        times.append(now)

    cfg = SFTConfig(
        data=DataConfig(path=str(path), max_seq_len=args.seq_len, packing=True,
                        micro_batch_size=args.micro_batch, grad_accum=args.grad_accum, epochs=1000),
        optim=OptimConfig(lr=args.lr, warmup_ratio=0.1, min_lr_ratio=0.1, betas=[0.9, 0.95],
                          max_grad_norm=1.0),
        runtime=RuntimeConfig(device="cpu", dtype="fp32", seed=0, gradient_checkpointing=False),
        output=OutputConfig(dir=str(workdir / "r1data")), max_steps=args.steps, resume=False)
    result = train(cfg, model=model, tokenizer=tok, on_step=on_step)
    losses = [h["loss"] for h in result.history]
    return {"times": times, "tokens": sum(tokens), "losses": losses}


def run_trl(args, workdir: Path) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    model, tok = load_model(args)
    data = Dataset.from_list([{"prompt": m[:-1], "completion": m[-1:]}
                              for m in conversations(args.data_repeat)])
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_, **__):
            times.append(time.perf_counter())

    config = TRLConfig(
        output_dir=str(workdir / "trl"), max_length=args.seq_len, packing=True,
        gradient_checkpointing=False,  # TRL's default is True: off, as on the r1data side
        per_device_train_batch_size=args.micro_batch, gradient_accumulation_steps=args.grad_accum,
        max_steps=args.steps, learning_rate=args.lr, lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1}, warmup_steps=0.1, adam_beta2=0.95,
        weight_decay=0.0, max_grad_norm=1.0, logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=True, seed=0, dataloader_num_workers=0, bf16=False,
        disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tok,
                         callbacks=[Clock()])
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    num_tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
    # tokens of steps 2..N: TRL's own cumulative count, logged at every step
    return {"times": times, "tokens": num_tokens[-1] - num_tokens[0], "losses": losses}


def summary(run: dict) -> dict:
    steps = len(run["times"]) - 1
    seconds = run["times"][-1] - run["times"][0]
    return {"s_per_step": seconds / steps, "tokens_per_s": run["tokens"] / seconds}


def spread(values: list[float], fmt: str = ".2f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--data-repeat", type=int, default=4, help="copies of the 64 samples")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--random-init", action="store_true")
    parser.add_argument("--_run", choices=("r1data", "trl"), help=argparse.SUPPRESS)
    parser.add_argument("--_work", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args._run:  # one side, in its own process
        fn = run_r1data if args._run == "r1data" else run_trl
        print(json.dumps(fn(args, Path(args._work))))
        return

    runs: dict[str, list[dict]] = {"r1data": [], "trl": []}
    passthrough = [a for a in sys.argv[1:]]
    for _ in range(args.repeat):
        for side in ("r1data", "trl"):
            with tempfile.TemporaryDirectory() as tmp:
                done = subprocess.run([sys.executable, __file__, *passthrough, "--_run", side, "--_work", tmp],
                                      capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{side} failed:\n{done.stderr[-4000:]}")
            runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))

    model = "SmolLM2-135M" + (" (random init, same config)" if args.random_init else "")
    print(f"SFT on CPU, {model}, fp32, seq {args.seq_len}, packed, micro-batch {args.micro_batch} x "
          f"accum {args.grad_accum}, {args.steps} optimizer steps, gradient checkpointing off on both, "
          f"{args.threads} threads, {args.repeat} runs of each side")
    stats = {side: [summary(r) for r in rs] for side, rs in runs.items()}
    print(f"{'':8} {'s/step median (min-max)':>26} {'tokens/s median (min-max)':>28}")
    for side, ss in stats.items():
        print(f"{side:8} {spread([s['s_per_step'] for s in ss]):>26} "
              f"{spread([s['tokens_per_s'] for s in ss], '.0f'):>28}")
    ratios = [t["s_per_step"] / o["s_per_step"] for o, t in zip(stats["r1data"], stats["trl"])]
    tps_ratios = [o["tokens_per_s"] / t["tokens_per_s"] for o, t in zip(stats["r1data"], stats["trl"])]
    print(f"speed r1data/TRL per optimizer step: {spread(ratios)}; per token: {spread(tps_ratios)}")
    ours, theirs = runs["r1data"][0]["losses"], runs["trl"][0]["losses"]
    print(f"loss, first run: r1data {ours[0]:.3f} -> {ours[-1]:.3f}, TRL {theirs[0]:.3f} -> {theirs[-1]:.3f}")
    o_tps = [s["tokens_per_s"] for s in stats["r1data"]]
    t_tps = [s["tokens_per_s"] for s in stats["trl"]]
    emit(f"SFT, {model}, fp32, seq {args.seq_len} packed, batch {args.micro_batch}x{args.grad_accum}, "
         f"{args.steps} steps, checkpointing off on both, median of {args.repeat}",
         f"{spread(o_tps, '.0f')} tokens/s", f"TRL `SFTTrainer` {spread(t_tps, '.0f')} tokens/s",
         f"**{statistics.median(ratios):.2f}x** per step ({min(ratios):.2f}-{max(ratios):.2f})", ">= 1.0")


if __name__ == "__main__":
    sys.exit(main())
