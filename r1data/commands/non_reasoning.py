from pathlib import Path

import typer

from r1data.commands.input_options import reads_input

from r1data.commands import stage_options as opt


@reads_input
def command(
    input: str = typer.Argument("r1data://data/prompts/non_reasoning.jsonl",
                                help="Non-reasoning prompts (default: the bundled set)."),
    output: Path = typer.Option(..., "--output", "-o", help="Stage folder (kept/, dropped/, stats.json)."),
    backend: opt.Backend = "transformers",
    model: str = typer.Option("smollm2-135m", help="The teacher (spec or served model name)."),
    base_url: opt.BaseUrl = None,
    n: opt.Samples = 1,
    temperature: opt.Temperature = 0.7,
    max_tokens: opt.MaxTokens = 4096,
    seed: opt.Seed = 0,
    limit: opt.Limit = None,
    from_file: str = typer.Option(None, "--from", help="An existing SFT set (any layout r1data reads) whose answers are kept, as R1 reused DeepSeek-V3's; rows without an answer are answered by the teacher."),
    add_cot: bool = typer.Option(False, "--add-cot", help="With --from: the teacher writes a chain of thought for each kept answer of a non-trivial prompt."),
    direct_format: str = typer.Option("empty_think", help="Trivial prompts: empty_think or none."),
    max_trivial_words: int = typer.Option(3, help="Short prompts with no task are trivial up to this length."),
) -> None:
    """The non-reasoning half (R1 2.3.3): writing, factual QA, self-cognition, translation.

    Trivial prompts ("hello") get a direct answer with no chain of thought; the others go to the
    teacher prompted to think before answering.
    """
    from rich.console import Console

    from r1data.config import from_dict
    from r1data.pipelines import non_reasoning as stage
    from r1data.pipelines.summary import render

    options = {"base_url": base_url} if base_url else {}
    config = from_dict(stage.NonReasoningConfig, dict(
        input=from_file or input, output=str(output), limit=limit, direct_format=direct_format,
        reference_answers=from_file is not None, add_cot=add_cot,
        max_trivial_words=max_trivial_words,
        teacher={"backend": backend, "model": model, "options": options},
        sampling={"n": n, "temperature": temperature, "max_tokens": max_tokens, "seed": seed},
    ))
    summary = stage.run(config, progress=True)
    console = Console()
    console.print(render([summary], title="r1data non-reasoning"))
    console.print("routes: " + ", ".join(f"{k} {v}" for k, v in summary.extra["routes"].items()))
