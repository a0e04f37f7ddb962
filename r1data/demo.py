"""`r1data demo`: the whole DeepSeek-R1 data loop, for real, on the embedded model and a CPU.

Stages, each a call into the same library the commands use:
    1. cold start          the embedded SmolLM2-135M as teacher writes readable long-CoT answers
                           (few-shot and reflection prompting); verify, keep correct + readable
    2. SFT                 the teacher fine-tuned on the cold-start samples
    3. GRPO                a few steps from the SFT checkpoint, accuracy + format + language rewards
    4. rejection sampling  n samples per prompt from the RL checkpoint; verify, readability and
                           language filters, dedup, decontamination against the bundled benchmarks
    5. non-reasoning       bundled writing/QA/self-cognition/translation prompts; trivial ones
                           ("hello") answered with no chain of thought
    6. mix + publish       the SFT corpus, and a Hub-ready folder (card, statistics, plots), dry run
    7. distill             SFT of a student (the base model) on the mix
    8. evaluate            base vs student on a held-out slice of GSM8K test: pass@1 over k
                           samples and cons@k

The reasoning prompts are one- and two-step arithmetic word problems generated from a seed (see
`arithmetic_problems`): GSM8K itself is nearly always failed by a 135M model (its pass@1 is in the
README), and rejection sampling and GRPO need a pass rate above zero to show anything. The
numbers are small and honest: a 135M model demonstrates the machinery, not reasoning.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMBEDDED = "smollm2-135m"

NAMES = ["Ava", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lea"]
THINGS = ["apples", "marbles", "books", "stickers", "coins", "pencils", "cookies", "shells"]


def arithmetic_problems(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` seeded word problems with integer answers: a + b, a - b, a * b with small numbers.

    >>> arithmetic_problems(1, 0)[0]["problem"]
    'Gus has 6 cookies and gets 10 more. How many cookies does Gus have now?'
    """
    rng = random.Random(seed)
    problems = []
    for index in range(n):
        name, thing = rng.choice(NAMES), rng.choice(THINGS)
        kind = rng.choice(["add", "add", "sub", "mul"])
        if kind == "add":
            a, b = rng.randint(2, 15), rng.randint(2, 15)
            text, answer = f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?", a + b
        elif kind == "sub":
            a = rng.randint(8, 20)
            b = rng.randint(1, a - 1)
            text, answer = f"{name} has {a} {thing} and gives away {b}. How many {thing} are left?", a - b
        else:
            a, b = rng.randint(2, 6), rng.randint(2, 5)
            text, answer = f"{name} has {a} bags with {b} {thing} in each bag. How many {thing} are there in all?", a * b
        problems.append({"id": f"arith-s{seed}/{index}", "problem": text, "answer": str(answer),
                         "source": f"arithmetic_seed{seed}", "domain": "math"})
    return problems


@dataclass
class DemoConfig:
    """Sizes of the demo. `quick()` gives the CI-sized variant.

    output: where every stage writes (`<output>/<stage>/`) and the report (`<output>/report/`).
    seed: seeds the prompts, sampling and training.
    cold_start_prompts / rl_prompts / rs_prompts: arithmetic problems per stage (disjoint seeds).
    samples: n per prompt for cold start and rejection sampling; grpo_group: G.
    grpo_steps / grpo_prompts_per_step: GRPO rollout steps and prompts per step. sft_epochs: epochs of both SFT runs.
    non_reasoning_prompts: bundled non-reasoning prompts used.
    eval_questions / eval_samples: the held-out GSM8K test slice and k.
    max_tokens: completion cap of every generation; eval_max_tokens for evaluation.
    batch_size: sequences generated together.
    """

    # Sized from the --quick run's stage times (266 s on 2 cores) to land near 15 minutes.
    output: str = "runs/demo"
    seed: int = 0
    cold_start_prompts: int = 16
    rl_prompts: int = 8
    rs_prompts: int = 16
    samples: int = 4
    grpo_group: int = 4
    grpo_steps: int = 4
    grpo_prompts_per_step: int = 2
    sft_epochs: float = 2.0
    non_reasoning_prompts: int = 24
    eval_questions: int = 12
    eval_samples: int = 4
    max_tokens: int = 128
    eval_max_tokens: int = 160
    batch_size: int = 16
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls, output: str = "runs/demo-quick", seed: int = 0) -> "DemoConfig":
        return cls(output=output, seed=seed, cold_start_prompts=6, rl_prompts=4, rs_prompts=6,
                   samples=2, grpo_group=2, grpo_steps=2, grpo_prompts_per_step=4, sft_epochs=1.0,
                   non_reasoning_prompts=6, eval_questions=4, eval_samples=2, max_tokens=96,
                   eval_max_tokens=96, batch_size=12)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


class Demo:
    """Runs the stages in order, keeping one row per stage for the closing table."""

    def __init__(self, config: DemoConfig, console=None):
        from rich.console import Console

        self.config = config
        self.out = Path(config.output)
        self.console = console or Console()
        self.rows: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _stage(self, number: int, title: str) -> float:
        self.console.rule(f"[bold]{number}. {title}")
        return time.time()

    def _record(self, stage: str, started: float, inputs: int, kept: int,
                dropped: dict[str, int] | None = None, note: str = "") -> None:
        self.rows.append({"stage": stage, "in": inputs, "kept": kept, "dropped": dropped or {},
                          "note": note, "seconds": time.time() - started})

    def _teacher(self, model: str):
        from r1data.pipelines.steps import TeacherConfig

        return TeacherConfig(backend="transformers", model=model,
                             options={"batch_size": self.config.batch_size})

    def _sampling(self, n: int, temperature: float = 0.7, max_tokens: int | None = None):
        from r1data.backends.base import SamplingConfig

        return SamplingConfig(n=n, temperature=temperature, top_p=0.95,
                              max_tokens=max_tokens or self.config.max_tokens, seed=self.config.seed)

    # -- the stages ------------------------------------------------------------------------

    def cold_start(self) -> None:
        from r1data.pipelines import cold_start

        c = self.config
        started = self._stage(1, "Cold start: the teacher writes readable long-CoT answers")
        prompts = _write_jsonl(self.out / "prompts" / "cold_start.jsonl",
                               arithmetic_problems(c.cold_start_prompts, c.seed + 1))
        summary = cold_start.run(cold_start.ColdStartConfig(
            input=str(prompts), output=str(self.out / "cold_start"), methods=["few_shot", "reflection"],
            teacher=self._teacher(EMBEDDED), sampling=self._sampling(max(1, c.samples // 2)),
            keep_per_prompt=1, accept_plain=True,
        ), progress=True)
        self._record("cold start", started, summary.inputs, summary.kept, summary.dropped,
                     "correct + readable, 1 per prompt")
        self.facts["cold_start_kept"] = summary.kept

    def sft_teacher(self) -> None:
        started = self._stage(2, "SFT on the cold-start data")
        kept = self.out / "cold_start" / "kept"
        if not self.facts.get("cold_start_kept"):
            # Nothing to train on: say so, and let GRPO start from the embedded model itself.
            self._record("SFT (cold start)", started, 0, 0, None, "skipped: cold start kept no sample")
            return
        result = self._sft(kept, self.out / "sft_cold_start", EMBEDDED)
        self.facts["sft_model"] = str(result.model_dir)
        loss = [h["loss"] for h in result.history if "loss" in h]
        note = f"loss {loss[0]:.3f} -> {loss[-1]:.3f}" if loss else ""
        self._record("SFT (cold start)", started, result.samples, result.samples, result.rejected, note)

    def _sft(self, data: Path, out: Path, model: str):
        from r1data.trainers import config as common, sft

        c = self.config
        config = sft.SFTConfig(
            model=model,
            data=sft.DataConfig(path=str(data), max_seq_len=512, packing=True, micro_batch_size=2,
                                grad_accum=1, epochs=c.sft_epochs),
            optim=common.OptimConfig(lr=2e-5, warmup_ratio=0.1, min_lr_ratio=0.1),
            runtime=common.RuntimeConfig(seed=c.seed),
            output=common.OutputConfig(dir=str(out), save_every=0),
        )
        return sft.train(config)

    def grpo(self) -> None:
        from r1data.trainers import config as common, grpo

        c = self.config
        started = self._stage(3, "GRPO: accuracy + format + language-consistency rewards")
        prompts = _write_jsonl(self.out / "prompts" / "grpo.jsonl",
                               arithmetic_problems(c.rl_prompts, c.seed + 2))
        config = grpo.GRPOConfig(
            model=self.facts.get("sft_model") or EMBEDDED, prompts=str(prompts), template="chat",
            rewards="accuracy + 0.5 * format + 0.1 * language_consistency",
            sampling=self._sampling(c.grpo_group, temperature=1.0),
            prompts_per_step=max(1, min(c.grpo_prompts_per_step, c.rl_prompts)), max_steps=c.grpo_steps,
            beta=0.001, epsilon=0.2, micro_batch=8,
            optim=common.OptimConfig(lr=1e-5, min_lr_ratio=1.0, warmup_ratio=0.0),
            runtime=common.RuntimeConfig(seed=c.seed),
            output=common.OutputConfig(dir=str(self.out / "grpo"), save_every=0),
        )
        result = grpo.GRPOTrainer(config).train()
        self.facts["rl_model"] = str(result.model_dir)
        self.facts["grpo_log"] = str(self.out / "grpo" / "log.jsonl")
        rewards = [h.get("reward/total", h.get("reward")) for h in result.history]
        rewards = [r for r in rewards if isinstance(r, (int, float))]
        note = f"reward {rewards[0]:.2f} -> {rewards[-1]:.2f}" if rewards else ""
        self._record("GRPO", started, result.prompts, result.steps, None, f"{result.steps} steps, {note}")

    def rejection_sampling(self) -> None:
        from r1data.pipelines import rejection_sampling

        c = self.config
        started = self._stage(4, "Rejection sampling from the RL checkpoint")
        prompts = _write_jsonl(self.out / "prompts" / "rejection_sampling.jsonl",
                               arithmetic_problems(c.rs_prompts, c.seed + 3))
        summary = rejection_sampling.run(rejection_sampling.RejectionSamplingConfig(
            input=str(prompts), output=str(self.out / "rejection_sampling"),
            teacher=self._teacher(self.facts.get("rl_model") or EMBEDDED),
            sampling=self._sampling(c.samples), keep_per_prompt=2, accept_plain=True,
        ), progress=True)
        rate = summary.extra.get("pass_rate_mean")
        note = f"mean pass rate {rate:.2f}" if isinstance(rate, (int, float)) else ""
        self._record("rejection sampling", started, summary.inputs, summary.kept, summary.dropped, note)

    def non_reasoning(self) -> None:
        from r1data.pipelines import non_reasoning

        c = self.config
        started = self._stage(5, "The non-reasoning half")
        summary = non_reasoning.run(non_reasoning.NonReasoningConfig(
            output=str(self.out / "non_reasoning"), limit=c.non_reasoning_prompts,
            teacher=self._teacher(EMBEDDED), sampling=self._sampling(1),
        ), progress=True)
        routes = summary.extra.get("routes") or {}
        note = ", ".join(f"{k} {v}" for k, v in routes.items())
        self._record("non-reasoning", started, summary.inputs, summary.kept, summary.dropped, note)

    def mix_and_publish(self) -> None:
        from r1data.pipelines import mix, publish

        c = self.config
        started = self._stage(6, "Mix, and publish --dry-run")
        summary = mix.run(mix.MixConfig(
            inputs=[str(self.out / s) for s in ("cold_start", "rejection_sampling", "non_reasoning")],
            output=str(self.out / "mix"), reasoning_size=None, non_reasoning_size=None,
            test_size=0.0, seed=c.seed,
        ), progress=True)
        self._record("mix", started, summary.inputs, summary.kept, summary.dropped)
        self.facts["mix_rows"] = summary.kept
        started = time.time()
        if not summary.kept:
            self._record("publish --dry-run", started, 0, 0, None, "skipped: the mix is empty")
            return
        pub = publish.run(publish.PublishConfig(
            input=str(self.out / "mix"), repo_id="your-org/r1data-demo",
            output=str(self.out / "hub"), dry_run=True,
        ), progress=True)
        self.facts["hub_folder"] = pub.output
        self._record("publish --dry-run", started, pub.inputs, pub.kept, pub.dropped, pub.output)

    def distill(self) -> None:
        started = self._stage(7, "Distill: SFT a student on the mix")
        if not self.facts.get("mix_rows"):
            self._record("distill (SFT)", started, 0, 0, None, "skipped: the mix is empty")
            return
        result = self._sft(self.out / "mix" / "train", self.out / "student", EMBEDDED)
        self.facts["student"] = str(result.model_dir)
        loss = [h["loss"] for h in result.history if "loss" in h]
        note = f"loss {loss[0]:.3f} -> {loss[-1]:.3f}" if loss else ""
        self._record("distill (SFT)", started, result.samples, result.samples, result.rejected, note)

    def evaluate(self) -> None:
        from r1data import evaluate
        from r1data.backends.base import SamplingConfig

        c = self.config
        started = self._stage(8, "Evaluate before and after on held-out GSM8K test questions")
        for label, model in (("base", EMBEDDED), ("student", self.facts.get("student") or EMBEDDED)):
            results = evaluate.run(evaluate.EvalConfig(
                benchmarks=["gsm8k"], output=str(self.out / "eval" / label), limit=c.eval_questions,
                model=model, batch_size=c.batch_size,
                sampling=SamplingConfig(n=c.eval_samples, temperature=0.6, top_p=0.95,
                                        max_tokens=c.eval_max_tokens, seed=c.seed),
            ), progress=True)
            metrics = results["benchmarks"]["gsm8k"]
            self.facts[f"eval_{label}"] = metrics
        base, student = self.facts["eval_base"], self.facts["eval_student"]
        k = c.eval_samples
        note = (f"pass@1 {base['pass_at_1']:.3f} -> {student['pass_at_1']:.3f}, "
                f"cons@{k} {base['cons_at_k']:.3f} -> {student['cons_at_k']:.3f}")
        self._record("evaluate (gsm8k)", started, c.eval_questions, c.eval_questions, None, note)

    # -- the end ---------------------------------------------------------------------------

    def report(self) -> Path:
        from r1data.pipelines.report import build_report

        folder = self.out / "report"
        folder.mkdir(parents=True, exist_ok=True)
        parts = ["# r1data demo report\n", self.summary_markdown()]
        for name, source in (("grpo", self.facts.get("grpo_log")), ("mix", self.out / "mix"),
                             ("rejection_sampling", self.out / "rejection_sampling")):
            if source and Path(source).exists():
                build_report(source, folder / name)
                parts.append(f"- [{name}]({name}/report.md)")
        (folder / "README.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
        return folder / "README.md"

    def summary_markdown(self) -> str:
        lines = ["| stage | in | kept | dropped (by reason) | seconds | notes |",
                 "|---|---:|---:|---|---:|---|"]
        for row in self.rows:
            dropped = ", ".join(f"{k} {v}" for k, v in row["dropped"].items()) or "-"
            lines.append(f"| {row['stage']} | {row['in']} | {row['kept']} | {dropped} | "
                         f"{row['seconds']:.0f} | {row['note']} |")
        return "\n".join(lines) + "\n"

    def table(self):
        from rich.table import Table

        table = Table(title="r1data demo: the R1 data loop on SmolLM2-135M (CPU)")
        for name, justify in (("stage", "left"), ("in", "right"), ("kept", "right"),
                              ("dropped (by reason)", "left"), ("time", "right"), ("notes", "left")):
            table.add_column(name, justify=justify)
        for row in self.rows:
            dropped = ", ".join(f"{k} {v}" for k, v in row["dropped"].items()) or "-"
            table.add_row(row["stage"], str(row["in"]), str(row["kept"]), dropped,
                          f"{row['seconds']:.0f}s", row["note"])
        total = sum(r["seconds"] for r in self.rows)
        table.add_row("total", "", "", "", f"{total:.0f}s", "")
        return table

    def run(self) -> dict[str, Any]:
        started = time.time()
        for stage in (self.cold_start, self.sft_teacher, self.grpo, self.rejection_sampling,
                      self.non_reasoning, self.mix_and_publish, self.distill, self.evaluate):
            stage()
        report = self.report()
        self.console.rule("[bold]Summary")
        self.console.print(self.table())
        self.console.print(f"report: {report}")
        self.console.print(f"Hub-ready dataset folder: {self.facts.get('hub_folder')}")
        self.console.print("[dim]A 135M model on a CPU demonstrates the machinery, not reasoning: "
                           "expect small numbers.")
        result = {"stages": self.rows, "facts": self.facts, "report": str(report),
                  "seconds": time.time() - started}
        from r1data.io import write_json

        write_json(self.out / "demo_summary.json", result)
        return result


def run(config: DemoConfig) -> dict[str, Any]:
    return Demo(config).run()
