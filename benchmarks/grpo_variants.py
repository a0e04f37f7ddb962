"""GRPO's loss variants with and without dynamic sampling, at the same rollout-token budget, on the
demo task (one-step arithmetic word problems, the embedded SmolLM2-135M-Instruct on CPU).

    python benchmarks/grpo_variants.py --seeds 0 1 2 [--token-budget 20000] [--heldout 64]
        [--out benchmarks/results/grpo_variants]

Arms: loss_type grpo (DeepSeekMath), dapo (token-level mean, clip-higher 0.28) and dr_grpo (no
length normalisation, unscaled advantages), each with dynamic sampling off and on (up to
`--refill-rounds` more rollouts per step). Everything else is the demo's GRPO stage: G 8, T 0.6,
top-p 0.95, 48 tokens, one-paragraph stop, accuracy reward, β 0, constant lr 3e-5, 8 prompts per
step. Each run trains until it has sampled `--token-budget` completion tokens (refills included:
dynamic sampling pays for what it drops), then answers the held-out problems once each (the
trainer's evaluation, R1's T 0.6 / top-p 0.95). Per arm, over the seeds (mean ± standard error):
- gain per 1,000 rollout tokens: (held-out accuracy after - before) / (tokens sampled / 1,000);
- zero-variance share: of the groups trained on (the trainer's `zero_variance_share`), and of
  the groups drawn (what dynamic sampling threw away).
Writes `<out>.json` (every run and the summary), `<out>.png`, and `<out>.runs.jsonl` (each run as it
finishes: a rerun skips those, so use another `--out` for other settings). `--arms` (e.g.
`grpo,dapo+dynamic`) runs some arms only: processes with different seeds or arms and the same
`--out` share the work, and a last run over all seeds (nothing left to run) writes the summary of
the whole log. Each process reached 4.5-7.1 GB RSS with the embedded model: three fit in 24 GB, the
kernel killed a fourth. `--model tiny` swaps in a tiny
random model to check that the script runs (its numbers mean nothing).

`--rollout vllm` samples the training rollouts with the colocated vLLM engine instead of
`policy.generate` (`rollout: vllm`; needs the `vllm` extra); the held-out evaluations stay on
`policy.generate` (the trainer's `evaluate`), so both engines are scored by the same sampler and
seeds. Runs record their rollout and are summarised per rollout, so one log can hold both:
`--arms grpo --rollout vllm` against the `transformers` runs of the same seeds compares them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ARMS = [(loss, dynamic) for loss in ("grpo", "dapo", "dr_grpo") for dynamic in (False, True)]


class BudgetSpent(Exception):
    """Raised from the step callback once a run has sampled its token budget."""


def _loss(name: str):
    from r1data.trainers.grpo_loss import LossConfig

    return {"grpo": LossConfig(), "dapo": LossConfig(loss_type="dapo", epsilon_high=0.28),
            "dr_grpo": LossConfig(loss_type="dr_grpo", scale_rewards="none")}[name]


def _problems(workdir: Path, args) -> tuple[str, list]:
    """The training prompt file (held-out problems removed) and the held-out records."""
    from r1data.demo import arithmetic_problems, heldout_problems, with_instruction
    from r1data.trainers.grpo import load_prompts

    heldout = heldout_problems(args.heldout)
    train = arithmetic_problems(2000, 7, exclude={p["problem"] for p in heldout})
    paths = {}
    for name, rows in (("train", train), ("heldout", heldout)):
        paths[name] = workdir / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(p) + "\n" for p in with_instruction(rows)))
    return str(paths["train"]), load_prompts(str(paths["heldout"]), None, "accuracy")


def _rollout_of(run: dict) -> str:
    """Runs logged before `--rollout` existed sampled with transformers."""
    return run.get("rollout", "transformers")


def run_arm(loss: str, dynamic: bool, seed: int, train: str, heldout: list, args,
            workdir: Path, before: float | None = None) -> dict:
    """One training run to the token budget: accuracy before/after, tokens, zero-variance shares."""
    from r1data import models
    from r1data.backends.base import SamplingConfig
    from r1data.demo import ONE_PARAGRAPH
    from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
    from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

    config = GRPOConfig(
        model=args.model, prompts=train, template="chat", rewards="accuracy",
        sampling=SamplingConfig(n=args.g, temperature=0.6, top_p=0.95, max_tokens=args.max_tokens,
                                seed=seed, stop=ONE_PARAGRAPH),
        prompts_per_step=args.prompts_per_step, max_steps=10_000, beta=0.0, epsilon=0.2,
        loss=_loss(loss), dynamic_sampling=dynamic, max_refill_rounds=args.refill_rounds,
        micro_batch=16, log_entropy=False, resume=False, rollout=args.rollout,
        optim=OptimConfig(lr=3e-5, min_lr_ratio=1.0, warmup_ratio=0.0),
        runtime=RuntimeConfig(seed=seed),
        output=OutputConfig(dir=str(workdir / f"{args.rollout}-{loss}-{int(dynamic)}-{seed}"),
                            save_every=0))
    policy, tokenizer = models.tiny_model(seed=seed) if args.model == "tiny" else (None, None)
    trainer = GRPOTrainer(config, policy=policy, tokenizer=tokenizer, eval_prompts=heldout)
    if before is None:  # the same model on the same held-out problems for every arm of a seed
        before = trainer.evaluate()["eval/accuracy"] or 0.0
    rows: list[dict] = []

    def stop_at_budget(step: int, row: dict) -> None:
        rows.append(row)
        if sum(r["rollout_tokens"] for r in rows) >= args.token_budget:
            raise BudgetSpent

    started = time.perf_counter()
    try:
        trainer.train(on_step=stop_at_budget)
    except BudgetSpent:
        pass
    after = trainer.evaluate()["eval/accuracy"] or 0.0
    tokens = sum(r["rollout_tokens"] for r in rows)
    drawn, kept = sum(r["groups_drawn"] for r in rows), sum(r["groups_kept"] for r in rows)
    return {"loss_type": loss, "dynamic_sampling": dynamic, "rollout": args.rollout, "seed": seed,
            "steps": len(rows),
            "rollout_tokens": tokens, "accuracy_before": before, "accuracy_after": after,
            "gain_per_1k_tokens": (after - before) / (tokens / 1000) if tokens else 0.0,
            "zero_variance_share_trained": statistics.fmean(r["zero_variance_share"] for r in rows),
            "zero_variance_share_drawn": 1 - kept / drawn if drawn else 0.0,
            "seconds": time.perf_counter() - started}


def _arms(names: str | None) -> list[tuple[str, bool]]:
    """The arms named as `loss` or `loss+dynamic`, in ARMS order; all of them when None."""
    if names is None:
        return ARMS
    wanted = {(n.split("+")[0], n.endswith("+dynamic")) for n in names.split(",")}
    unknown = wanted - set(ARMS)
    if unknown:
        raise SystemExit(f"unknown arm(s) {sorted(unknown)}: use grpo, dapo or dr_grpo, each optionally +dynamic")
    return [arm for arm in ARMS if arm in wanted]


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0)


def summarise(runs: list[dict]) -> list[dict]:
    summary = []
    rollouts = sorted({_rollout_of(r) for r in runs}, key=lambda name: name != "transformers")
    for rollout in rollouts:
        for loss, dynamic in ARMS:
            mine = [r for r in runs if r["loss_type"] == loss and r["dynamic_sampling"] == dynamic
                    and _rollout_of(r) == rollout]
            if mine:
                summary.append(_summary_row(mine, loss, dynamic, rollout, len(rollouts) > 1))
    return summary


def _summary_row(mine: list[dict], loss: str, dynamic: bool, rollout: str, named: bool) -> dict:
    """One arm over its seeds; the rollout is named in the arm when the log holds several."""
    arm = f"{loss}{' + dynamic' if dynamic else ''}{f' ({rollout})' if named else ''}"
    row = {"arm": arm, "rollout": rollout, "seeds": len(mine)}
    for key in ("gain_per_1k_tokens", "accuracy_after", "zero_variance_share_trained",
                "zero_variance_share_drawn", "rollout_tokens", "steps"):
        row[key], row[key + "_se"] = _mean_se([r[key] for r in mine])
    return row


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["arm"] for s in summary]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(names, [s["gain_per_1k_tokens"] for s in summary],
             yerr=[s["gain_per_1k_tokens_se"] for s in summary], capsize=4)
    left.set_ylabel("held-out accuracy gain per 1,000 rollout tokens")
    right.bar(names, [s["zero_variance_share_trained"] for s in summary],
              yerr=[s["zero_variance_share_trained_se"] for s in summary], capsize=4)
    right.set_ylabel("zero-variance share of trained groups")
    for axis in (left, right):
        axis.tick_params(axis="x", rotation=30)
    fig.suptitle(f"GRPO variants on the demo task ({summary[0]['seeds']} seeds, mean ± SE)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--token-budget", type=int, default=20_000)
    parser.add_argument("--heldout", type=int, default=64)
    parser.add_argument("--prompts-per-step", type=int, default=8)
    parser.add_argument("--g", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--refill-rounds", type=int, default=3)
    parser.add_argument("--arms", default=None,
                        help="comma-separated arms to run, e.g. grpo,dapo+dynamic (default: all six); "
                             "two processes with different arms and the same --out share the work")
    parser.add_argument("--rollout", choices=("transformers", "vllm"), default="transformers",
                        help="the rollout sampler (GRPOConfig.rollout); vllm needs the vllm extra")
    parser.add_argument("--model", default="smollm2-135m", help='"tiny": a random model, to test the script')
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/grpo_variants"))
    args = parser.parse_args()
    arms = _arms(args.arms)

    # each finished run is appended to <out>.runs.jsonl; a rerun with the same settings skips them
    log = args.out.with_suffix(".runs.jsonl")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs = [json.loads(line) for line in log.open()] if log.exists() else []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        train, heldout = _problems(workdir, args)
        for seed in args.seeds:
            for loss, dynamic in arms:
                done = {(r["loss_type"], r["dynamic_sampling"], r["seed"], _rollout_of(r)) for r in runs}
                if (loss, dynamic, seed, args.rollout) in done:
                    continue
                # "before" is the same model on the same problems: shared by a seed's arms
                before = next((r["accuracy_before"] for r in runs
                               if r["seed"] == seed and _rollout_of(r) == args.rollout), None)
                run = run_arm(loss, dynamic, seed, train, heldout, args, workdir, before)
                runs.append(run)
                with log.open("a") as out:
                    out.write(json.dumps(run) + "\n")
                print(json.dumps(run), flush=True)
    runs = [r for r in runs if r["seed"] in args.seeds]
    summary = summarise(runs)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
         "summary": summary, "runs": runs}, indent=1))
    plot(summary, args.out.with_suffix(".png"))
    print(f"{'arm':<20} {'gain/1k tok':>14} {'acc after':>12} {'0-var trained':>14} {'0-var drawn':>12}")
    for s in summary:
        print(f"{s['arm']:<20} {s['gain_per_1k_tokens']:>8.4f}±{s['gain_per_1k_tokens_se']:.4f} "
              f"{s['accuracy_after']:>12.3f} {s['zero_variance_share_trained']:>14.2f} "
              f"{s['zero_variance_share_drawn']:>12.2f}")
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}", file=sys.stderr)


if __name__ == "__main__":
    main()
