"""r1data's SFT trainer against TRL's `SFTTrainer`, side by side in one run on CPU.

Same tiny Llama-architecture model (`models.tiny_model`, same seed), same conversations (the
64 R1-format GSM8K samples of the CPU recipe, repeated), same sequence length, packing on both,
same effective batch (micro-batch x gradient accumulation), AdamW with the same betas, lr,
cosine-with-min-lr schedule and clipping, loss on assistant tokens only (TRL gets the data as
prompt/completion conversations, its completion-only loss). Prints tokens/s of each, the ratio
(goal >= 1.0), and the two loss curves next to each other (they must agree within noise; the
data order differs, each trainer shuffles with its own sampler).

    .venv/bin/python benchmarks/sft.py [--epochs 4] [--hidden 256] [--layers 4]

tokens/s = sample tokens of the epochs run, divided by the wall time of the training loop
(first to last optimizer step, scaled by steps / (steps - 1)): start-up, tokenization and
saving are excluded on both sides.
"""

from __future__ import annotations

import argparse
import os
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
    import json

    rows = [json.loads(line)["messages"] for line in DATA.read_text().splitlines()]
    return rows * repeat


def run_r1data(args, convs, workdir: Path):
    import json

    from r1data import models
    from r1data.trainers.common import OptimConfig, OutputConfig, RuntimeConfig
    from r1data.trainers.sft import DataConfig, SFTConfig, train

    path = workdir / "data.jsonl"
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in convs))
    model, tok = models.tiny_model(layers=args.layers, hidden=args.hidden, seed=0)
    times: list[float] = []
    cfg = SFTConfig(
        data=DataConfig(path=str(path), max_seq_len=args.seq_len, packing=True,
                        micro_batch_size=args.micro_batch, grad_accum=args.grad_accum,
                        epochs=args.epochs),
        optim=OptimConfig(lr=args.lr, warmup_ratio=0.1, min_lr_ratio=0.1, betas=[0.9, 0.95]),
        runtime=RuntimeConfig(device="cpu", dtype="fp32", seed=0),
        output=OutputConfig(dir=str(workdir / "r1data")), resume=False)
    result = train(cfg, model=model, tokenizer=tok, on_step=lambda s, m: times.append(time.time()))
    return [h["loss"] for h in result.history], times


def run_trl(args, convs, workdir: Path):
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    from r1data import models

    model, tok = models.tiny_model(layers=args.layers, hidden=args.hidden, seed=0)
    data = Dataset.from_list([{"prompt": m[:-1], "completion": m[-1:]} for m in convs])
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_, **__):
            times.append(time.time())

    config = TRLConfig(
        output_dir=str(workdir / "trl"), max_length=args.seq_len, packing=True,
        per_device_train_batch_size=args.micro_batch, gradient_accumulation_steps=args.grad_accum,
        num_train_epochs=args.epochs, learning_rate=args.lr, lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1}, warmup_steps=0.1, adam_beta2=0.95,
        weight_decay=0.0, max_grad_norm=1.0, logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=True, seed=0, dataloader_num_workers=0, bf16=False,
        disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tok,
                         callbacks=[Clock()])
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses, times


def tokens_per_second(total_tokens: int, times: list[float]) -> float:
    steps = len(times)
    return total_tokens * (steps - 1) / steps / (times[-1] - times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="copies of the 64 samples")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--micro-batch", type=int, default=2)
    parser.add_argument("--grad-accum", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()

    import torch

    from r1data import models
    from r1data.trainers.sft_data import tokenize_all

    torch.set_num_threads(min(4, os.cpu_count() or 1))
    convs = conversations(args.repeat)
    samples, _ = tokenize_all(models.load_tokenizer(), convs, args.seq_len)
    tokens = int(sum(len(s) for s in samples) * args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        theirs, their_times = run_trl(args, convs, Path(tmp))
        ours, our_times = run_r1data(args, convs, Path(tmp))
    ours_tps, trl_tps = tokens_per_second(tokens, our_times), tokens_per_second(tokens, their_times)

    print(f"\nSFT on CPU, tiny Llama ({args.layers} layers, hidden {args.hidden}), {len(convs)} "
          f"conversations x {args.epochs} epochs, seq {args.seq_len}, micro-batch "
          f"{args.micro_batch} x accum {args.grad_accum}, {torch.get_num_threads()} threads")
    print(f"{'':>10} {'steps':>6} {'tokens/s':>10}")
    print(f"{'r1data':>10} {len(our_times):>6} {ours_tps:>10.0f}")
    print(f"{'TRL':>10} {len(their_times):>6} {trl_tps:>10.0f}")
    print(f"ratio r1data / TRL: {ours_tps / trl_tps:.2f}")
    print("\nloss per optimizer step")
    print(f"{'step':>5} {'r1data':>8} {'TRL':>8}")
    for i in range(max(len(ours), len(theirs))):
        a = f"{ours[i]:.3f}" if i < len(ours) else "-"
        b = f"{theirs[i]:.3f}" if i < len(theirs) else "-"
        print(f"{i + 1:>5} {a:>8} {b:>8}")
    tail = max(1, min(len(ours), len(theirs)) // 4)
    print(f"mean loss of the last {tail} steps: r1data {sum(ours[-tail:]) / tail:.3f}, "
          f"TRL {sum(theirs[-tail:]) / tail:.3f}")
    emit(f"SFT, tiny Llama ({args.layers} layers, {args.hidden} wide), {len(convs)} conversations, "
         f"packed, seq {args.seq_len}", f"{ours_tps:.0f} tokens/s", f"TRL `SFTTrainer` {trl_tps:.0f} tokens/s",
         f"**{ours_tps / trl_tps:.2f}x** (loss {ours[0]:.2f} -> {ours[-1]:.2f} vs "
         f"{theirs[0]:.2f} -> {theirs[-1]:.2f})", ">= 1.0")


if __name__ == "__main__":
    sys.exit(main())
