from pathlib import Path

import typer

from r1data.commands.input_options import reads_input

from r1data.commands import stage_options as opt


@reads_input
@opt.teacher_options(model_help="The teacher (spec or served model name).", n=4, temperature=0.6,
                     max_tokens=32768, n_help="Samples per prompt and method.")
def command(
    teacher: opt.Teacher,
    input: Path = typer.Argument(None, help="Reasoning prompts with gold answers."),
    output: Path = typer.Option(..., "--output", "-o", help="Stage folder (kept/, dropped/, stats.json)."),
    method: list[str] = typer.Option(["few_shot", "reflection"], help="few_shot, reflection, refine (repeatable)."),
    refine_input: Path = typer.Option(None, help="R1-Zero outputs to refine (method refine)."),
    fewshot: str = typer.Option("r1data://data/prompts/cold_start_examples.jsonl", help="Long-CoT example solutions."),
    keep: opt.Keep = 1,
    domain: opt.Domain = "math",
    accept_plain: opt.AcceptPlain = False,
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Cold start (R1 2.3.1): few-shot long CoT, reflective answers, refined R1-Zero outputs.

    Keeps only correct samples in a readable form (a chain of thought closed by a summary),
    filtered for readability, in the SFT form <think>reasoning</think> summary.
    """
    from rich.console import Console

    from r1data.config import from_dict
    from r1data.pipelines import cold_start as stage
    from r1data.pipelines.summary import render

    config = from_dict(stage.ColdStartConfig, dict(
        input=str(input) if input else "", output=str(output), methods=list(method),
        refine_input=str(refine_input) if refine_input else None, fewshot=fewshot,
        limit=teacher.limit, domain=domain, teacher=teacher.teacher, sampling=teacher.sampling,
        **teacher.shards,
        keep_per_prompt=keep, accept_plain=accept_plain,
    ))
    Console().print(render([stage.run(config, progress=True, read_options=read_options)], title="r1data cold-start"))
