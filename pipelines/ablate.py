"""`r1data ablate`: what a data choice does to the distilled student (issue #30).

OpenThoughts ran >1,000 data ablations with scripts of its own; the question a corpus builder
has is "does this filter help the student?". An ablation here is a base corpus recipe and named
variants of it (correct answers only or all, answers per question, a pass-rate band: any
`select` choice). For each seed:

  pool      a `Task`'s training problems for the seed (the command passes the demo's: seeded
            arithmetic problems, never a held-out text), `samples` answers each from the
            teacher, verified. One pool per
            seed, shared by every variant: the variants differ only in what they keep.
  corpus    the variant's recipe applied to the pool (`pipelines.select`, datatrove filters).
  distill   SFT of the same student for the same number of optimizer steps of packed
            `max_seq_len`-token rows: the same token budget whatever the corpus size (a small
            corpus is seen for more epochs).
  evaluate  pass@1 over `eval_samples` samples on the task's held-out problems.

The table gives each variant's mean accuracy ± its standard error over seeds, and the paired
difference to the base (per seed, same pool and same held-out set) ± its SE, which is smaller
than the unpaired one because the seed's pool and the sampling noise are shared. With one seed
the SEs are the evaluation's own (over questions). `ablation.json` holds every run and the table;
`ablation.png` the plot. A run that finished leaves `runs/<variant>/seed-<s>/result.json`, so a
rerun does only what is missing; the student's weights are deleted once evaluated (each is a
full copy of the model).
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collections.abc import Callable

from r1data.atomic import write_bytes, write_json
from r1data.models import EMBEDDED
from r1data.record import Record
from r1data.verifiers.dispatch import verify_records

from r1data.pipelines import select

BASE = "base"


@dataclass
class Task:
    """What the students learn and are tested on. The pipeline layer cannot import the demo (the
    application does), so the command hands the demo's task in.

    train: seed -> problems ({"id", "problem", "answer"}), disjoint from the held-out set.
    heldout: the held-out problems (bare; `instruction` is appended at evaluation).
    instruction: the answer-format line appended to every question.
    stop: stop strings of the teacher's sampling.
    """

    train: Callable[[int], list[dict[str, Any]]]
    heldout: list[dict[str, Any]]
    instruction: str = ""
    stop: list[str] = field(default_factory=list)


@dataclass
class Recipe:
    """How a corpus is made from the pool: `select` holds `select.SelectConfig` fields
    (correct_only, max_answers, pass_rate, ...)."""

    select: dict = field(default_factory=dict)

    def config(self) -> select.SelectConfig:
        return select.SelectConfig(**self.select)


@dataclass
class AblationConfig:
    """An ablation spec (YAML maps onto it; unknown keys are errors).

    output: the ablation's folder. seeds: one run per variant and seed.
    # the pool (the demo's arithmetic task)
    prompts: problems per seed. samples: teacher answers per problem. teacher: model spec.
    temperature / max_tokens: the teacher's sampling.
    # the student
    student: model spec. train_steps: optimizer steps, each of `micro_batch_size` packed rows of
        `max_seq_len` tokens: the token budget, equal for every variant. lr: learning rate.
    # evaluation
    heldout_questions / eval_samples / eval_max_tokens: the held-out set, k, and the cap.
    batch_size: sequences generated together.
    # recipes
    base: the base recipe. variants: name -> changes to the base's `select` fields.
    # where
    executor: local, or slurm (one job per variant x seed). sbatch: #SBATCH directives.
    """

    output: str = "runs/ablation"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # the pool
    prompts: int = 48
    samples: int = 4
    teacher: str = EMBEDDED
    temperature: float = 0.7
    max_tokens: int = 48
    # the student
    student: str = EMBEDDED
    train_steps: int = 24
    micro_batch_size: int = 2
    max_seq_len: int = 512
    lr: float = 5e-5
    # evaluation
    heldout_questions: int = 48
    eval_samples: int = 4
    eval_max_tokens: int = 48
    batch_size: int = 32
    # recipes
    base: Recipe = field(default_factory=Recipe)
    variants: dict[str, dict] = field(default_factory=dict)
    # where
    executor: str = "local"
    sbatch: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: a non-empty list without repeats")
        if self.executor not in ("local", "slurm"):
            raise ValueError(f"executor: local or slurm, got {self.executor!r}")
        if BASE in self.variants:
            raise ValueError(f"variants: {BASE!r} is the base recipe's name")
        for name in self.recipes():
            self.recipe(name).config()  # a bad select field fails here, naming the variant

    def recipes(self) -> list[str]:
        return [BASE, *self.variants]

    def recipe(self, name: str) -> Recipe:
        if name == BASE:
            return self.base
        changes = self.variants[name] or {}
        unknown = set(changes) - {"select"}
        if unknown:
            raise ValueError(f"variants.{name}: unknown key(s) {', '.join(sorted(unknown))} (use select)")
        try:
            return Recipe(select={**self.base.select, **(changes.get("select") or {})})
        except TypeError as exc:
            raise ValueError(f"variants.{name}: {exc}") from None

    def token_budget(self) -> int:
        return self.train_steps * self.micro_batch_size * self.max_seq_len


# -- one seed's pool -------------------------------------------------------------------------------


def pool(config: AblationConfig, task: Task, seed: int) -> Path:
    """The seed's verified answers (built once; every variant of the seed reads it)."""
    from r1data.backends import SamplingConfig, get_backend

    path = Path(config.output) / "pools" / f"seed-{seed}.jsonl"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f"\n\n{task.instruction}" if task.instruction else ""
    prompts = [Record.from_prompt(p["problem"] + suffix, id=f"s{seed}-q{i}", gold=p["answer"], domain="math")
               for i, p in enumerate(task.train(seed)[: config.prompts])]
    backend = get_backend("transformers", config.teacher, batch_size=config.batch_size)
    sampling = SamplingConfig(n=config.samples, temperature=config.temperature, top_p=0.95,
                              max_tokens=config.max_tokens, seed=seed, stop=task.stop)
    try:
        outputs = backend.generate([p.messages for p in prompts], sampling, keys=[p.id for p in prompts])
    finally:
        backend.close()
    answers = [p.with_completion(c.text or "", sample_index=i, finish_reason=c.finish_reason)
               for p, completions in zip(prompts, outputs) for i, c in enumerate(completions)]
    verify_records(answers)
    text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in answers)
    write_bytes(path, text.encode("utf-8"))
    return path


# -- one variant x seed --------------------------------------------------------------------------


def run_folder(config: AblationConfig, variant: str, seed: int) -> Path:
    return Path(config.output) / "runs" / variant / f"seed-{seed}"


def heldout_benchmark(config: AblationConfig, task: Task) -> str:
    """The held-out problems as a registered benchmark (`benchmark_sets.register_file`)."""
    from r1data import benchmark_sets

    path = Path(config.output) / "heldout.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = task.heldout[: config.heldout_questions]
        write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8"))
    return benchmark_sets.register_file(path)


def run_one(config: AblationConfig, task: Task, variant: str, seed: int) -> dict[str, Any]:
    """Corpus, distillation and evaluation of one variant and seed; writes result.json (its
    presence is what a rerun skips)."""
    from r1data import evaluate
    from r1data.backends import SamplingConfig
    from r1data.trainers import config as common, sft

    folder = run_folder(config, variant, seed)
    result_path = folder / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    started = time.time()
    summary = select.run(config.recipe(variant).config(), pool(config, task, seed), folder / "corpus")
    result = {"variant": variant, "seed": seed, "answers": summary["answers"]["kept"],
              "questions": summary["questions"]["kept"], "token_budget": config.token_budget()}
    if summary["answers"]["kept"] == 0:  # nothing to distil: the student is the base model
        student = config.student
        result["note"] = "empty corpus: the base student was evaluated"
    else:
        trained = sft.train(sft.SFTConfig(
            model=config.student, max_steps=config.train_steps,
            data=sft.DataConfig(path=str(folder / "corpus" / "kept"), max_seq_len=config.max_seq_len,
                                packing=True, micro_batch_size=config.micro_batch_size, grad_accum=1,
                                epochs=1.0),
            optim=common.OptimConfig(lr=config.lr, warmup_ratio=0.1, min_lr_ratio=0.1),
            runtime=common.RuntimeConfig(seed=seed),
            output=common.OutputConfig(dir=str(folder / "student"), save_every=0)))
        student = str(trained.model_dir)
        result["train_tokens"] = sum(h.get("label_tokens", 0) for h in trained.history)
    name = heldout_benchmark(config, task)
    metrics = evaluate.run(evaluate.EvalConfig(
        benchmarks=[name], output=str(folder / "eval"), model=student, batch_size=config.batch_size,
        instruction=task.instruction or None,
        sampling=SamplingConfig(n=config.eval_samples, temperature=0.6, top_p=0.95,
                                max_tokens=config.eval_max_tokens, seed=seed)))["benchmarks"][name]
    result.update(accuracy=metrics.get("pass_at_1"), stderr=metrics.get("pass_at_1_stderr"),
                  seconds=round(time.time() - started, 1))
    shutil.rmtree(folder / "student", ignore_errors=True)  # a full model copy per run
    write_json(result_path, result)
    marker = Path(config.output) / ".logs" / f"{variant}-seed-{seed}" / "completions" / "00000"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()  # what launch.slurm.wait reads for a submitted run
    return result


# -- the table ----------------------------------------------------------------------------------


def _mean_se(values: list[float], fallback: float | None) -> tuple[float, float | None]:
    """Mean and its standard error over seeds (with one seed: `fallback`, the eval's SE)."""
    mean = statistics.fmean(values)
    if len(values) > 1:
        return mean, statistics.stdev(values) / math.sqrt(len(values))
    return mean, fallback


def table(config: AblationConfig, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per recipe: accuracy ± SE over seeds, and the paired difference to the base."""
    by = {(r["variant"], r["seed"]): r for r in results if r.get("accuracy") is not None}
    rows = []
    for name in config.recipes():
        seeds = [s for s in config.seeds if (name, s) in by]
        if not seeds:
            rows.append({"variant": name, "seeds": 0})
            continue
        accs = [by[name, s]["accuracy"] for s in seeds]
        mean, se = _mean_se(accs, by[name, seeds[0]].get("stderr"))
        row = {"variant": name, "seeds": len(seeds), "accuracy": mean, "se": se,
               "answers": statistics.fmean(by[name, s]["answers"] for s in seeds)}
        paired = [s for s in seeds if (BASE, s) in by]
        if name != BASE and paired:
            diffs = [by[name, s]["accuracy"] - by[BASE, s]["accuracy"] for s in paired]
            one = by[name, paired[0]].get("stderr"), by[BASE, paired[0]].get("stderr")
            fallback = math.hypot(*one) if None not in one else None
            row["diff"], row["diff_se"] = _mean_se(diffs, fallback)
            row["significant"] = bool(row["diff_se"]) and abs(row["diff"]) > 2 * row["diff_se"]
        rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Accuracy per recipe with ±1 SE bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.get("accuracy") is not None]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(shown), 3.2))
    ax.bar([r["variant"] for r in shown], [r["accuracy"] for r in shown],
           yerr=[r["se"] or 0 for r in shown], capsize=4, color="#4c72b0")
    ax.set_ylabel("held-out pass@1")
    ax.set_title(f"ablation, {max(r['seeds'] for r in shown)} seed(s), ±1 SE")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -- the ablation -------------------------------------------------------------------------------


def pending(config: AblationConfig) -> list[tuple[str, int]]:
    return [(v, s) for s in config.seeds for v in config.recipes()
            if not (run_folder(config, v, s) / "result.json").exists()]


def finish(config: AblationConfig, failed: list[str] | None = None) -> dict[str, Any]:
    """ablation.json (every run and the table) and ablation.png from the runs' result.json."""
    out = Path(config.output)
    results = [json.loads((run_folder(config, v, s) / "result.json").read_text())
               for s in config.seeds for v in config.recipes()
               if (run_folder(config, v, s) / "result.json").exists()]
    rows = table(config, results)
    image = plot(rows, out / "ablation.png")
    report = {"config": asdict(config), "token_budget": config.token_budget(), "table": rows,
              "runs": results, "missing": [f"{v}:{s}" for v, s in pending(config)],
              "failed": failed or [], "plot": str(image) if image else None}
    write_json(out / "ablation.json", report)
    return report


def run(config: AblationConfig, task: Task, only: list[tuple[str, int]] | None = None,
        on_run: Callable[[str, int, int, int], None] | None = None) -> dict[str, Any]:
    """Every variant x seed not done yet (or only `only`), here, then the table."""
    todo = [pair for pair in pending(config) if only is None or pair in only]
    for index, (variant, seed) in enumerate(todo):
        if on_run:
            on_run(variant, seed, index, len(todo))
        run_one(config, task, variant, seed)
    return finish(config)


def sbatch_script(spec: Path, variant: str, seed: int, logs: Path, sbatch: dict[str, Any]) -> str:
    """One job: `r1data ablate SPEC --only VARIANT:SEED` on a node (launch.slurm's script form)."""
    from r1data.launch import slurm
    from r1data.launch.environment import python

    directives = {"job-name": f"r1data_ablate_{variant}_{seed}", "cpus-per-task": 2, **sbatch,
                  "output": f"{logs}/slurm_logs/{variant}-seed-{seed}.out"}
    argv = [python(), "-m", "r1data", "ablate", str(spec), "--only", f"{variant}:{seed}",
            "--executor", "local"]
    return slurm.sbatch_script(directives, [f"variant {variant}, seed {seed} of the ablation in {spec}"],
                               [slurm.command_line(argv)])


def submit(config: AblationConfig, spec: Path) -> list:
    """One Slurm job per pending variant x seed; their ids are kept for `collect`."""
    from r1data.launch import slurm

    logs = Path(config.output).absolute() / ".logs"
    (logs / "slurm_logs").mkdir(parents=True, exist_ok=True)
    stages = []
    for variant, seed in pending(config):
        name = f"{variant}-seed-{seed}"
        job = slurm.submit(logs / f"{name}.sbatch",
                           sbatch_script(spec.absolute(), variant, seed, logs, config.sbatch),
                           f"{variant} seed {seed}")
        stages.append(slurm.SubmittedStage(name, str(logs / name), 1, job))
    slurm.save_jobs(logs, stages)
    return stages


def collect(config: AblationConfig, poll: float = 2.0) -> dict[str, Any]:
    """Wait for the submitted jobs, then write the table as a local run does."""
    from r1data.launch import slurm

    failed = slurm.wait(slurm.load_jobs(Path(config.output).absolute() / ".logs"), poll=poll)
    return finish(config, [f"{f.stage} (log {f.log})" for f in failed])
