from pathlib import Path

import typer

from r1data.commands.input_options import reads_input

from r1data.commands import stage_options as opt


@reads_input
@opt.teacher_options(model_help="The teacher (spec or served model name).", n=1, temperature=0.7,
                     max_tokens=4096)
def command(
    teacher: opt.Teacher,
    input: str = typer.Argument("r1data://data/prompts/non_reasoning.jsonl",
                                help="Non-reasoning prompts (default: the bundled set)."),
    output: Path = typer.Option(..., "--output", "-o", help="Stage folder (kept/, dropped/, stats.json)."),
    from_file: str = typer.Option(None, "--from", help="An existing SFT set (any layout r1data reads) whose answers are kept, as R1 reused DeepSeek-V3's; rows without an answer are answered by the teacher."),
    add_cot: bool = typer.Option(False, "--add-cot", help="With --from: the teacher writes a chain of thought for each kept answer of a non-trivial prompt."),
    direct_format: str = typer.Option("empty_think", help="Trivial prompts: empty_think or none."),
    max_trivial_words: int = typer.Option(3, help="Short prompts with no task are trivial up to this length."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """The non-reasoning half (R1 2.3.3): writing, factual QA, self-cognition, translation.

    Trivial prompts ("hello") get a direct answer with no chain of thought; the others go to the
    teacher prompted to think before answering.
    """
    from rich.console import Console

    from r1data.config import from_dict
    from r1data.pipelines import non_reasoning as stage
    from r1data.pipelines.summary import render

    config = from_dict(stage.NonReasoningConfig, dict(
        input=from_file or input, output=str(output), limit=teacher.limit, **teacher.shards,
        direct_format=direct_format, reference_answers=from_file is not None, add_cot=add_cot,
        max_trivial_words=max_trivial_words, teacher=teacher.teacher, sampling=teacher.sampling,
    ))
    summary = stage.run(config, progress=True, read_options=read_options)
    console = Console()
    console.print(render([summary], title="r1data non-reasoning"))
    console.print("routes: " + ", ".join(f"{k} {v}" for k, v in summary.extra["routes"].items()))
