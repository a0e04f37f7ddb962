from pathlib import Path

import typer

from r1data.commands.input_options import reads_input

from r1data.commands import stage_options as opt


@reads_input
def command(
    input: Path = typer.Argument(None, help="Reasoning prompts with gold answers."),
    output: Path = typer.Option(..., "--output", "-o", help="Stage folder (kept/, dropped/, stats.json)."),
    method: list[str] = typer.Option(["few_shot", "reflection"], help="few_shot, reflection, refine (repeatable)."),
    refine_input: Path = typer.Option(None, help="R1-Zero outputs to refine (method refine)."),
    fewshot: str = typer.Option("r1data://data/prompts/cold_start_examples.jsonl", help="Long-CoT example solutions."),
    backend: opt.Backend = "transformers",
    model: str = typer.Option("smollm2-135m", help="The teacher (spec or served model name)."),
    base_url: opt.BaseUrl = None,
    n: int = typer.Option(4, "--n", "-n", help="Samples per prompt and method."),
    keep: opt.Keep = 1,
    temperature: opt.Temperature = 0.6,
    max_tokens: opt.MaxTokens = 32768,
    seed: opt.Seed = 0,
    limit: opt.Limit = None,
    domain: opt.Domain = "math",
    accept_plain: opt.AcceptPlain = False,
) -> None:
    """Cold start (R1 2.3.1): few-shot long CoT, reflective answers, refined R1-Zero outputs.

    Keeps only correct samples in a readable form (a chain of thought closed by a summary),
    filtered for readability, in the SFT form <think>reasoning</think> summary.
    """
    from rich.console import Console

    from r1data.config import from_dict
    from r1data.pipelines import cold_start as stage
    from r1data.pipelines.summary import render

    options = {"base_url": base_url} if base_url else {}
    config = from_dict(stage.ColdStartConfig, dict(
        input=str(input) if input else "", output=str(output), methods=list(method),
        refine_input=str(refine_input) if refine_input else None, fewshot=fewshot, limit=limit,
        domain=domain, teacher={"backend": backend, "model": model, "options": options},
        sampling={"n": n, "temperature": temperature, "max_tokens": max_tokens, "seed": seed},
        keep_per_prompt=keep, accept_plain=accept_plain,
    ))
    Console().print(render([stage.run(config, progress=True)], title="r1data cold-start"))
