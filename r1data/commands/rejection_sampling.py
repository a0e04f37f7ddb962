from pathlib import Path

import typer

from r1data.commands.input_options import reads_input

from r1data.commands import stage_options as opt


@reads_input
@opt.teacher_options(model_help="The RL checkpoint (spec or served model name).", n=16,
                     temperature=0.6, max_tokens=32768)
def command(
    teacher: opt.Teacher,
    input: Path = typer.Argument(..., help="Prompts with gold answers or tests."),
    output: Path = typer.Option(..., "--output", "-o", help="Stage folder (kept/, dropped/, stats.json)."),
    keep: opt.Keep = 4,
    domain: opt.Domain = "math",
    min_vote_share: float = typer.Option(0.6, help="Vote share a majority answer needs to become a pseudo-label."),
    drop_solved_by_all: bool = typer.Option(False, help="Drop prompts every sample solved."),
    drop_solved_by_none: bool = typer.Option(False, help="Drop prompts no sample solved."),
    accept_plain: opt.AcceptPlain = False,
    judge: str = typer.Option(None, help="A generative judge model for answers no rule can check (R1: DeepSeek-V3)."),
    judge_backend: opt.Backend = "openai",
    judge_base_url: str = typer.Option(None, help="The judge's OpenAI-compatible server URL."),
    judge_domain: list[str] = typer.Option([], help="A domain whose samples the judge always decides (repeatable)."),
    plan: bool = typer.Option(False, "--plan", help="Run a small pilot and print the budget of the full run."),
    pilot_prompts: int = typer.Option(16, help="Prompts in the --plan pilot."),
    target: int = typer.Option(600_000, help="Kept samples the full run should yield (for --plan)."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Rejection sampling (R1 2.3.3): n samples per prompt, verify, filter, keep up to k correct.

    Prompts without a gold get a majority-vote pseudo-label (flagged) when the vote is clear.
    With --judge, a model judges the samples that rules cannot (free-text references).
    Per-prompt pass rates go to OUT/pass_rates.jsonl. --plan prints the cost of a full run
    measured on a small pilot.
    """
    from rich.console import Console

    from r1data.config import from_dict
    from r1data.pipelines import rejection_sampling as stage
    from r1data.pipelines.summary import render

    judge_config = None
    if judge:
        judge_config = {"backend": judge_backend, "model": judge,
                        "options": {"base_url": judge_base_url} if judge_base_url else {}}
    config = from_dict(stage.RejectionSamplingConfig, dict(
        input=str(input), output=str(output), limit=teacher.limit, domain=domain, **teacher.shards,
        teacher=teacher.teacher, sampling=teacher.sampling,
        keep_per_prompt=keep, min_vote_share=min_vote_share, drop_solved_by_all=drop_solved_by_all,
        drop_solved_by_none=drop_solved_by_none, accept_plain=accept_plain, judge=judge_config, judge_domains=list(judge_domain),
        pilot_prompts=pilot_prompts, target_samples=target,
    ))
    console = Console()
    if plan:
        console.print(stage.plan_table(stage.plan(config, progress=True, read_options=read_options)))
        return
    console.print(render([stage.run(config, progress=True, read_options=read_options)], title="r1data rejection-sampling"))
