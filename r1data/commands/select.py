from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    input: Path = typer.Option(..., "--input", "-i", help="Answers (several per question, with "
                               "verdicts or gold): rejection sampling's kept/ or generate's output."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: kept/, dropped/, "
                                "selection.json, README.md (the card)."),
    pass_rate: str = typer.Option(None, help="Keep questions whose pass rate is in LOW:HIGH "
                                  "(inclusive), e.g. 0.1:0.6."),
    pass_rates: Path = typer.Option(None, help="A pass_rates.jsonl to reuse (rejection sampling "
                                    "writes one); else the input's verdicts, else --model samples."),
    mean_length: str = typer.Option(None, help="Keep questions whose mean answer length (words) "
                                    "is in LOW:HIGH, e.g. 200: for long answers only."),
    max_answers: int = typer.Option(None, help="At most N answers per question."),
    min_answers: int = typer.Option(None, help="Only questions with at least N answers."),
    outliers: str = typer.Option(None, help="Drop answers whose length is an outlier for their "
                                 "'question' or 'domain'."),
    outlier_z: float = typer.Option(3.5, help="Modified z-score of the log length that makes an outlier."),
    backend: str = typer.Option("transformers", help="Backend that samples questions without a pass rate."),
    model: str = typer.Option(None, help="Model that samples questions without a pass rate "
                              "(k answers each, verified by the same verifiers)."),
    base_url: str = typer.Option(None, help="The server URL for --backend openai."),
    k: int = typer.Option(8, "-k", help="Samples per question for a pass rate."),
    max_tokens: int = typer.Option(1024, help="Tokens per sample for a pass rate."),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl, parquet, or verl (kept/ as "
                                      "Parquet in verl's prompt layout, which OpenRLHF also reads)."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Select questions by pass rate and answer length, and answers per question (OpenThoughts3,
    open-r1: difficulty and several answers per question moved the student most).

    Writes OUTPUT/kept/ (train grpo reads it as prompts; train sft as answers),
    OUTPUT/dropped/<filter>/ (each answer with its reason), OUTPUT/selection.json and a card
    OUTPUT/README.md with each choice and histograms of pass rate and answer length.
    """
    from rich.console import Console
    from rich.table import Table

    from r1data import config as cfg
    from r1data.config import ConfigError
    from r1data.pipelines.select import SelectConfig, parse_range, run

    try:
        ranges = {"pass_rate": parse_range(pass_rate), "mean_length": parse_range(mean_length)}
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    sampler = None
    if model:
        sampler = {"backend": backend, "model": model, "max_tokens": max_tokens,
                   **({"base_url": base_url} if base_url else {})}
    config = cfg.from_dict(SelectConfig, {
        **ranges, "pass_rates": str(pass_rates) if pass_rates else None, "max_answers": max_answers,
        "min_answers": min_answers, "outliers": outliers, "outlier_z": outlier_z,
        "sampler": sampler, "k": k, "output_format": output_format})
    console = Console(stderr=True)
    with console.status("selecting") as status:
        summary = run(config, input, output, read_options,
                      on_stage=lambda name: status.update(name))
    table = Table(title=f"r1data select: {input}")
    for column in ("filter", "seen", "dropped", "reasons"):
        table.add_column(column)
    for name, c in summary["filters"].items():
        reasons = ", ".join(f"{k[len('dropped_'):]} {v}" for k, v in c.items() if k.startswith("dropped_"))
        table.add_row(name, str(c.get("total", 0)), str(c.get("dropped", 0)), reasons)
    Console().print(table)
    q, a = summary["questions"], summary["answers"]
    console.print(f"kept {q['kept']} of {q['input']} questions, {a['kept']} of {a['input']} answers "
                  f"-> {output / 'kept'}; card {output / 'README.md'}", highlight=False)
    if summary["rejected_rows"]:
        console.print(f"{summary['rejected_rows']} unreadable row(s) set aside with their reason -> "
                      f"{output / 'rejected'}", style="yellow", highlight=False)
