from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


def _pairs(items: list[str], cast, what: str) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{what} must look like GROUP=VALUE, got {item!r}")
        try:
            out[name] = cast(value)
        except ValueError:
            raise typer.BadParameter(f"{what} {item!r}: {value!r} is not a {cast.__name__}") from None
    return out


@reads_input
def command(
    inputs: list[Path] = typer.Argument(..., help="Record files or stage output folders."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for train/, test/, stats.json."),
    reasoning_size: int = typer.Option(600_000, help="Target reasoning rows (-1: all available)."),
    non_reasoning_size: int = typer.Option(200_000, help="Target non-reasoning rows (-1: all)."),
    total: int = typer.Option(None, help="Total rows instead of the two sizes, split by --reasoning-share."),
    reasoning_share: float = typer.Option(0.75, help="Share of reasoning rows when --total is given."),
    group_by: str = typer.Option("domain", help="What quotas and weights name: domain or source."),
    quota: list[str] = typer.Option(None, help="GROUP=ROWS taken exactly (repeatable)."),
    weight: list[str] = typer.Option(None, help="GROUP=WEIGHT sharing the rest (repeatable)."),
    max_duplication: float = typer.Option(1.0, help="Most copies of one row (1 = never repeat)."),
    test_size: float = typer.Option(0.0, help="Share (<1) or number of prompts held out for test."),
    seed: int = typer.Option(0, help="Seeds the sampling and the split."),
    tokenizer: str = typer.Option("smollm2-135m", help="Counts token lengths the rows lack ('none')."),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl, parquet, or verl (Parquet "
                                      "in verl's prompt layout)."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Mix records into an SFT corpus at target sizes (R1: 600K reasoning + 200K non-reasoning).

    Quotas or weights per domain/source, seeded, split by prompt into train/test. Up-sampling
    never repeats a row more than --max-duplication times; a shortfall is reported, not filled.
    """
    from rich.console import Console

    from r1data.config import from_dict
    from r1data.pipelines import mix
    from r1data.pipelines.summary import render

    config = from_dict(mix.MixConfig, dict(
        inputs=[str(p) for p in inputs], output=str(output),
        reasoning_size=None if reasoning_size < 0 else reasoning_size,
        non_reasoning_size=None if non_reasoning_size < 0 else non_reasoning_size,
        total=total, reasoning_share=reasoning_share, group_by=group_by,
        quotas=_pairs(quota, int, "--quota"), weights=_pairs(weight, float, "--weight"),
        max_duplication=max_duplication, test_size=test_size, seed=seed, tokenizer=tokenizer,
        output_format=output_format,
    ))
    summary = mix.run(config, progress=True, read_options=read_options)
    console = Console()
    console.print(render([summary], title="r1data mix"))
    console.print(mix.plan_table(summary))
    for kind, missing in summary.extra["shortfall"].items():
        console.print(f"[yellow]{kind}: {missing:,} rows short of the target "
                      f"(max duplication {config.max_duplication:g})")
