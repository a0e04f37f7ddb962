"""`r1data demo`: the whole DeepSeek-R1 data loop, for real, on the embedded model and a CPU.

Stages, each a call into the same library the commands use:
    1. cold start          the embedded SmolLM2-135M as teacher writes readable long-CoT answers
                           (few-shot and reflection prompting); verify, keep correct + readable
    2. SFT                 the teacher fine-tuned on the cold-start samples
    3. GRPO                from the SFT checkpoint, rule reward = answer accuracy; held-out
                           accuracy measured before the first step and every few steps
    4. rejection sampling  n samples per prompt from the RL checkpoint; verify, readability and
                           language filters, dedup, decontamination against the bundled benchmarks
    5. non-reasoning       bundled writing/QA/self-cognition/translation prompts; trivial ones
                           ("hello") answered with no chain of thought
    6. mix + publish       the SFT corpus, and a Hub-ready folder (card, statistics, plots), dry run
    7. distill             SFT of a student (the base model) on the mix
    8. evaluate            base vs student on the held-out arithmetic set and on a slice of
                           GSM8K test: pass@1 over k samples (with its standard error) and cons@k

The task family: seeded arithmetic word problems of one operation (`arithmetic_problems`), each
ending with one answer line (`INSTRUCTION`). SmolLM2-135M solves roughly one in ten of them at
the demo's sampling settings: weak but not hopeless, which is what GRPO and rejection sampling
need (GSM8K itself is nearly always failed at this size; it stays as a second, harder held-out
set). Every stage draws its problems from its own seed; the held-out
problems come from a fixed string seed no stage can draw, and any training problem whose text
equals a held-out one is removed.

`<output>/summary.json` holds the figures the closing table shows (see `Demo.summary`).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMBEDDED = "smollm2-135m"
# The answer line every demo question ends with, in training and in evaluation (`r1data eval
# --instruction`), so RL and rejection sampling optimise the format the evaluation reads. Not R1's
# "Please reason step by step, and put your final answer within \\boxed{}.": with that line the
# 135M model writes step-by-step text that seldom reaches a box within a CPU token budget
# (held-out pass@1 0.031 at 64 and 80 tokens, measured), so GRPO sees groups of all-zero rewards.
# With this one the base model scored 0.09-0.25 on the held-out set (README, "What the demo prints").
INSTRUCTION = 'End your reply with "The answer is N." where N is a number.'
# GRPO's rollouts and rejection sampling end at the first blank line: the task's answer is one
# paragraph. Without it the policy learned to state the answer and keep writing to the token cap
# (rewarded, since the verifier finds the answer line inside), and rejection sampling, which keeps
# no truncated sample, then kept 3 of 384 (seed 1, measured). `r1data eval` samples without it.
ONE_PARAGRAPH = ["\n\n"]
# Fixed before any tuning. A string, so no integer training seed (`--seed` + stage) can equal it.
HELDOUT_SEED = "r1data-demo-heldout-v1"
HELDOUT = "demo_heldout"  # the benchmark name the held-out file is registered under

NAMES = ["Ava", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lea"]
THINGS = ["apples", "marbles", "books", "stickers", "coins", "pencils", "cookies", "shells"]


def arithmetic_problems(n: int, seed: int | str, exclude: set[str] | frozenset[str] = frozenset()
                        ) -> list[dict[str, Any]]:
    """`n` seeded word problems with integer answers: a + b, a - b, a * b with small numbers,
    none whose text is in `exclude` (the held-out problems).

    >>> arithmetic_problems(1, 0)[0]["problem"]
    'Gus has 6 cookies and gets 10 more. How many cookies does Gus have now?'
    """
    rng = random.Random(seed)
    problems: list[dict[str, Any]] = []
    while len(problems) < n:
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
        if text in exclude:
            continue
        problems.append({"id": f"arith-s{seed}/{len(problems)}", "problem": text, "answer": str(answer),
                         "source": f"arithmetic_seed{seed}", "domain": "math"})
    return problems


def heldout_problems(n: int) -> list[dict[str, Any]]:
    """The held-out set: the same `n` problems whatever `--seed` is."""
    return arithmetic_problems(n, HELDOUT_SEED)


def with_instruction(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**p, "problem": f"{p['problem']}\n\n{INSTRUCTION}"} for p in problems]


# The bundled prompt set `arithmetic` (r1data/data/prompts/arithmetic.jsonl), read by the GRPO CPU
# recipe and by r1_small.yaml, is this generator's output and nothing else: tests/test_demo.py
# checks the file against it, and `write_bundled_arithmetic()` rewrites it after a change here.
BUNDLED_ARITHMETIC = (256, 1234)  # (problems, seed)


def bundled_arithmetic() -> list[dict[str, Any]]:
    n, seed = BUNDLED_ARITHMETIC
    return with_instruction(arithmetic_problems(n, seed))


def write_bundled_arithmetic(path: str | Path | None = None) -> Path:
    path = Path(path or Path(__file__).parent / "data" / "prompts" / "arithmetic.jsonl")
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in bundled_arithmetic()),
                    encoding="utf-8")
    return path


@dataclass
class DemoConfig:
    """Sizes of the demo. `quick()` gives the CI-sized variant.

    output: where every stage writes (`<output>/<stage>/`) and the report (`<output>/report/`).
    seed: seeds the training prompts, sampling and training (never the held-out set).
    cold_start_prompts / rl_prompts / rs_prompts: arithmetic problems per stage (disjoint seeds).
    cold_start_samples: n per prompt and method in cold start.
    grpo_group / grpo_prompts_per_step / grpo_steps: G, B and rollout steps of GRPO;
        grpo_lr its constant learning rate, grpo_max_tokens the rollout cap, grpo_eval_every
        the held-out evaluation period (in steps).
    rs_samples / rs_keep: n per prompt in rejection sampling and the most kept per prompt.
    sft_epochs / distill_lr: epochs of both SFT runs, learning rate of the student's.
    non_reasoning_prompts: bundled non-reasoning prompts used.
    heldout_questions / eval_samples: held-out arithmetic problems and k for the final evaluation
        (GRPO's in-loop evaluation draws one sample per problem at the same settings).
    gsm8k_questions: the GSM8K test slice.
    max_tokens: completion cap of cold start and non-reasoning; eval_max_tokens of evaluation
        and rejection sampling.
    batch_size: sequences generated together.
    """

    # Sized for the 20-minute budget on 2 cores, timed: 18 min 26 s for the demo (seed 0) in a
    # fresh-clone `make demo`; GRPO (6 steps of 64 rollouts, ~65 s each) is almost half of it.
    output: str = "runs/demo"
    seed: int = 0
    cold_start_prompts: int = 12
    cold_start_samples: int = 1
    rl_prompts: int = 256
    grpo_group: int = 8
    grpo_prompts_per_step: int = 8
    grpo_steps: int = 6
    grpo_lr: float = 3e-5
    grpo_max_tokens: int = 48
    grpo_eval_every: int = 3
    rs_prompts: int = 48
    rs_samples: int = 8
    rs_keep: int = 4
    sft_epochs: float = 1.0
    distill_lr: float = 5e-5
    non_reasoning_prompts: int = 12
    heldout_questions: int = 48
    eval_samples: int = 4
    gsm8k_questions: int = 6
    max_tokens: int = 128
    eval_max_tokens: int = 48
    batch_size: int = 32
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls, output: str = "runs/demo-quick", seed: int = 0) -> "DemoConfig":
        """Every stage, a few prompts each: shows the machinery runs, not that it learns."""
        return cls(output=output, seed=seed, cold_start_prompts=3, rl_prompts=8, grpo_group=2,
                   grpo_prompts_per_step=2, grpo_steps=2, grpo_max_tokens=32, grpo_eval_every=1,
                   rs_prompts=4, rs_samples=2, rs_keep=1, sft_epochs=1.0, non_reasoning_prompts=4,
                   heldout_questions=4, eval_samples=1, gsm8k_questions=2, max_tokens=64,
                   eval_max_tokens=48, batch_size=16)


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
        heldout = heldout_problems(config.heldout_questions)
        self.heldout_texts = frozenset(p["problem"] for p in heldout)
        # Bare problems for `r1data eval` (it appends INSTRUCTION itself); with it for GRPO.
        self.heldout_file = _write_jsonl(self.out / "prompts" / f"{HELDOUT}.jsonl", heldout)
        self.heldout_prompts = _write_jsonl(self.out / "prompts" / "heldout_with_instruction.jsonl",
                                            with_instruction(heldout))

    # -- helpers ---------------------------------------------------------------------------

    def _stage(self, number: int, title: str) -> float:
        self.console.rule(f"[bold]{number}. {title}")
        return time.time()

    def _record(self, stage: str, started: float, inputs: int, kept: int,
                dropped: dict[str, int] | None = None, note: str = "") -> None:
        self.rows.append({"stage": stage, "in": inputs, "kept": kept, "dropped": dropped or {},
                          "note": note, "seconds": time.time() - started})

    def _teacher(self, model: str):
        from r1data.pipelines.stage_parts import TeacherConfig

        return TeacherConfig(backend="transformers", model=model,
                             options={"batch_size": self.config.batch_size})

    def _sampling(self, n: int, temperature: float = 0.7, max_tokens: int | None = None,
                  stop: list[str] | None = None):
        from r1data.backends.base import SamplingConfig

        return SamplingConfig(n=n, temperature=temperature, top_p=0.95, stop=stop or [],
                              max_tokens=max_tokens or self.config.max_tokens, seed=self.config.seed)

    def _problems(self, name: str, n: int, stage_seed: int) -> Path:
        """A training stage's prompts: its own seed, held-out texts excluded, with INSTRUCTION."""
        problems = arithmetic_problems(n, self.config.seed * 10 + stage_seed, self.heldout_texts)
        return _write_jsonl(self.out / "prompts" / f"{name}.jsonl", with_instruction(problems))

    # -- the stages ------------------------------------------------------------------------

    def cold_start(self) -> None:
        from r1data.pipelines import cold_start

        c = self.config
        started = self._stage(1, "Cold start: the teacher writes readable long-CoT answers")
        summary = cold_start.run(cold_start.ColdStartConfig(
            input=str(self._problems("cold_start", c.cold_start_prompts, 1)),
            output=str(self.out / "cold_start"), methods=["few_shot", "reflection"],
            teacher=self._teacher(EMBEDDED), sampling=self._sampling(c.cold_start_samples),
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
        result = self._sft(kept, self.out / "sft_cold_start", EMBEDDED, lr=2e-5)
        self.facts["sft_model"] = str(result.model_dir)
        loss = [h["loss"] for h in result.history if "loss" in h]
        note = f"loss {loss[0]:.3f} -> {loss[-1]:.3f}" if loss else ""
        self._record("SFT (cold start)", started, result.samples, result.samples, result.rejected, note)

    def _sft(self, data: Path, out: Path, model: str, lr: float):
        from r1data.trainers import config as common, sft

        c = self.config
        config = sft.SFTConfig(
            model=model,
            data=sft.DataConfig(path=str(data), max_seq_len=512, packing=True, micro_batch_size=2,
                                grad_accum=1, epochs=c.sft_epochs),
            optim=common.OptimConfig(lr=lr, warmup_ratio=0.1, min_lr_ratio=0.1),
            runtime=common.RuntimeConfig(seed=c.seed),
            output=common.OutputConfig(dir=str(out), save_every=0),
        )
        return sft.train(config)

    def grpo(self) -> None:
        from r1data.backends.base import SamplingConfig
        from r1data.trainers import config as common, grpo

        c = self.config
        started = self._stage(3, "GRPO: accuracy reward, held-out accuracy every few steps")
        # Why these settings: the reward is accuracy alone (the 135M model never writes think
        # tags, so R1's format reward would be 0 for every output and add nothing); β = 0 as in
        # DAPO/Dr. GRPO (no reference forward: the budget goes to rollouts); a constant lr of
        # 3e-5, larger than R1's 3e-6, because the demo has a few steps, not thousands;
        # rollouts at R1's evaluation setting (T 0.6, top-p 0.95), not its training T 1.0: at 1.0
        # all 32 rollouts of a measured step ran past 64 tokens without an answer, and at T 0.7,
        # top-p 1 a measured run drew 2 right answers in 192 rollouts over 6 steps (no signal),
        # where T 0.6, top-p 0.95 drew 6% right at step 1 and 42% at step 3 (README).
        config = grpo.GRPOConfig(
            model=self.facts.get("sft_model") or EMBEDDED,
            prompts=str(self._problems("grpo", c.rl_prompts, 2)), template="chat",
            rewards="accuracy",
            sampling=SamplingConfig(n=c.grpo_group, temperature=0.6, top_p=0.95,
                                    max_tokens=c.grpo_max_tokens, seed=c.seed, stop=ONE_PARAGRAPH),
            prompts_per_step=c.grpo_prompts_per_step, max_steps=c.grpo_steps,
            beta=0.0, epsilon=0.2, micro_batch=16, log_entropy=False, resume=False,
            eval_every=c.grpo_eval_every, eval_prompts=str(self.heldout_prompts),
            eval_limit=c.heldout_questions,
            optim=common.OptimConfig(lr=c.grpo_lr, min_lr_ratio=1.0, warmup_ratio=0.0),
            runtime=common.RuntimeConfig(seed=c.seed),
            output=common.OutputConfig(dir=str(self.out / "grpo"), save_every=0),
        )
        trainer = grpo.GRPOTrainer(config)
        before = trainer.evaluate()  # the in-loop evaluation, run once before the first step
        self.console.print(f"held-out accuracy before the first step: {_fmt(before.get('eval/accuracy'))}")

        def on_step(step: int, m: dict[str, Any]) -> None:
            held = m.get("eval/accuracy")
            self.console.print(
                f"step {step}/{c.grpo_steps}  reward {m['reward']:.3f}  rollout accuracy "
                f"{m.get('accuracy', 0):.3f}  length {m['completion_length']:.0f}  zero-variance groups "
                f"{m['zero_variance_groups']}/{c.grpo_prompts_per_step}"
                + ("" if held is None else f"  held-out accuracy {held:.3f}") + f"  ({m['time/step']:.0f} s)")

        result = trainer.train(on_step=on_step)
        evals = [h["eval/accuracy"] for h in result.history if h.get("eval/accuracy") is not None]
        after = evals[-1] if evals else None
        self.facts.update(rl_model=str(result.model_dir), grpo_log=str(self.out / "grpo" / "log.jsonl"),
                          grpo_steps=result.steps, grpo_history=result.history,
                          heldout_before=before.get("eval/accuracy"), heldout_after=after)
        rewards = [h["reward"] for h in result.history if isinstance(h.get("reward"), (int, float))]
        note = f"{result.steps} steps, held-out acc {_fmt(before.get('eval/accuracy'))} -> {_fmt(after)}"
        if rewards:
            note += f", reward {rewards[0]:.2f} -> {rewards[-1]:.2f}"
        self._record("GRPO", started, result.prompts, result.steps, None, note)

    def rejection_sampling(self) -> None:
        from r1data.pipelines import rejection_sampling

        c = self.config
        started = self._stage(4, "Rejection sampling from the RL checkpoint")
        summary = rejection_sampling.run(rejection_sampling.RejectionSamplingConfig(
            input=str(self._problems("rejection_sampling", c.rs_prompts, 3)),
            output=str(self.out / "rejection_sampling"),
            teacher=self._teacher(self.facts.get("rl_model") or EMBEDDED),
            sampling=self._sampling(c.rs_samples, max_tokens=c.eval_max_tokens, stop=ONE_PARAGRAPH),
            keep_per_prompt=c.rs_keep, accept_plain=True,
        ), progress=True)
        self.facts["rs_kept"] = summary.kept
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
        started = self._stage(7, "Distill: SFT a student (the base model) on the mix")
        if not self.facts.get("mix_rows"):
            self._record("distill (SFT)", started, 0, 0, None, "skipped: the mix is empty")
            return
        result = self._sft(self.out / "mix" / "train", self.out / "student", EMBEDDED,
                           lr=self.config.distill_lr)
        self.facts["student"] = str(result.model_dir)
        loss = [h["loss"] for h in result.history if "loss" in h]
        note = f"loss {loss[0]:.3f} -> {loss[-1]:.3f}" if loss else ""
        self._record("distill (SFT)", started, result.samples, result.samples, result.rejected, note)

    def evaluate(self) -> None:
        from r1data import benchmark_sets, evaluate
        from r1data.backends.base import SamplingConfig

        c = self.config
        self._stage(8, "Evaluate base and student on held-out arithmetic and GSM8K")
        heldout = benchmark_sets.register_file(self.heldout_file)
        sets = ((heldout, c.heldout_questions, c.eval_max_tokens), ("gsm8k", c.gsm8k_questions, 2 * c.max_tokens))
        seconds = {"heldout": 0.0, "gsm8k": 0.0}
        for label, model in (("base", EMBEDDED), ("student", self.facts.get("student") or EMBEDDED)):
            for name, limit, max_tokens in sets:
                began = time.time()
                results = evaluate.run(evaluate.EvalConfig(
                    benchmarks=[name], output=str(self.out / "eval" / label / name), limit=limit,
                    model=model, batch_size=c.batch_size, instruction=INSTRUCTION,
                    sampling=SamplingConfig(n=c.eval_samples, temperature=0.6, top_p=0.95,
                                            max_tokens=max_tokens, seed=c.seed),
                ), progress=True)
                key = "heldout" if name == heldout else name
                self.facts[f"eval_{label}_{key}"] = results["benchmarks"][name]
                seconds[key] += time.time() - began
        k = c.eval_samples
        for name, limit in (("heldout", c.heldout_questions), ("gsm8k", c.gsm8k_questions)):
            base, student = self.facts[f"eval_base_{name}"], self.facts[f"eval_student_{name}"]
            note = (f"pass@1 {_pm(base)} -> {_pm(student)}, "
                    f"cons@{k} {_fmt(base.get('cons_at_k'))} -> {_fmt(student.get('cons_at_k'))}")
            # each row gets the time of its own two evaluations
            self._record(f"evaluate ({name})", time.time() - seconds[name], limit, limit, None, note)

    # -- the end ---------------------------------------------------------------------------

    def summary(self, wall_s: float) -> dict[str, Any]:
        """The figures of `summary.json`: held-out accuracies are pass@1 fractions in [0, 1]
        (GRPO's: one sample per held-out problem; base and student: the mean over k samples)."""
        f = self.facts

        def model(label: str) -> dict[str, Any]:
            heldout, gsm8k = f.get(f"eval_{label}_heldout") or {}, f.get(f"eval_{label}_gsm8k") or {}
            return {"heldout": heldout.get("pass_at_1"), "heldout_stderr": heldout.get("pass_at_1_stderr"),
                    "gsm8k": gsm8k.get("pass_at_1"), "samples": self.config.eval_samples}

        return {"stages": [row["stage"] for row in self.rows],
                "grpo": {"heldout_before": f.get("heldout_before"), "heldout_after": f.get("heldout_after"),
                         "steps": f.get("grpo_steps", 0)},
                "base": model("base"), "student": model("student"), "wall_s": round(wall_s, 1)}

    def learning_curves(self, folder: Path) -> Path | None:
        """learning_curves.png: GRPO's rollout accuracy and reward per step, and the held-out
        accuracy at each evaluation (step 0 is the evaluation before training)."""
        history = self.facts.get("grpo_history")
        if not history:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [h["step"] for h in history]
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.plot(steps, [h.get("reward") for h in history], label="reward (rollouts)", alpha=0.6)
        ax.plot(steps, [h.get("accuracy") for h in history], label="accuracy (rollouts)", alpha=0.6)
        points = [(0, self.facts.get("heldout_before"))] + [
            (h["step"], h["eval/accuracy"]) for h in history if h.get("eval/accuracy") is not None]
        points = [(s, a) for s, a in points if a is not None]
        if points:
            ax.plot(*zip(*points), "o-", color="black", label="held-out accuracy")
        ax.set_xlabel("GRPO step")
        ax.set_ylim(0, 1)
        ax.set_title("GRPO on SmolLM2-135M: arithmetic word problems")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        path = folder / "learning_curves.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def report(self) -> Path:
        from r1data.pipelines.report import build_report

        folder = self.out / "report"
        folder.mkdir(parents=True, exist_ok=True)
        parts = ["# r1data demo report\n", self.summary_markdown()]
        curves = self.learning_curves(folder)
        if curves:
            parts.append(f"![GRPO learning curves]({curves.name})\n")
        # A stage that kept nothing has no records to report on (its table row says so).
        sources = (("grpo", self.facts.get("grpo_log"), True),
                   ("mix", self.out / "mix", self.facts.get("mix_rows")),
                   ("rejection_sampling", self.out / "rejection_sampling", self.facts.get("rs_kept")))
        for name, source, has_rows in sources:
            if has_rows and source and Path(source).exists():
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

    def scoreboard(self, summary: dict[str, Any]):
        """The summary.json figures, as printed."""
        from rich.table import Table

        g, base, student = summary["grpo"], summary["base"], summary["student"]
        table = Table(title="held-out arithmetic, pass@1 (summary.json)")
        for name in ("measure", "before", "after", "change"):
            table.add_column(name, justify="left" if name == "measure" else "right")
        table.add_row(f"GRPO, {g['steps']} steps (1 sample per problem)", _fmt(g["heldout_before"]),
                      _fmt(g["heldout_after"]), _diff(g["heldout_before"], g["heldout_after"]))
        table.add_row(f"base -> student (k={base['samples']}, ± SE)",
                      _pm({"pass_at_1": base["heldout"], "pass_at_1_stderr": base["heldout_stderr"]}),
                      _pm({"pass_at_1": student["heldout"], "pass_at_1_stderr": student["heldout_stderr"]}),
                      _diff(base["heldout"], student["heldout"]))
        table.add_row("base -> student on GSM8K (harder)", _fmt(base["gsm8k"]), _fmt(student["gsm8k"]),
                      _diff(base["gsm8k"], student["gsm8k"]))
        return table

    def run(self) -> dict[str, Any]:
        started = time.time()
        for stage in (self.cold_start, self.sft_teacher, self.grpo, self.rejection_sampling,
                      self.non_reasoning, self.mix_and_publish, self.distill, self.evaluate):
            stage()
        report = self.report()
        summary = self.summary(time.time() - started)
        from r1data.io import write_json

        write_json(self.out / "summary.json", summary)
        self.console.rule("[bold]Summary")
        self.console.print(self.table())
        self.console.print(self.scoreboard(summary))
        self.console.print(f"report: {report}")
        self.console.print(f"Hub-ready dataset folder: {self.facts.get('hub_folder')}")
        self.console.print(f"figures: {self.out / 'summary.json'} (wall {summary['wall_s']:.0f} s)")
        facts = {k: v for k, v in self.facts.items() if k != "grpo_history"}
        result = {"stages": self.rows, "facts": facts, "report": str(report),
                  "seconds": time.time() - started}
        write_json(self.out / "demo_summary.json", result)
        return result


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pm(metrics: dict[str, Any]) -> str:
    """pass@1 ± its standard error."""
    se = metrics.get("pass_at_1_stderr")
    return _fmt(metrics.get("pass_at_1")) + ("" if se is None else f" ± {se:.3f}")


def _diff(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{b - a:+.3f}"


def run(config: DemoConfig) -> dict[str, Any]:
    return Demo(config).run()
