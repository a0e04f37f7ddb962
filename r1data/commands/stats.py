from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    path: Path = typer.Argument(..., help="Records or prompts: .jsonl[.gz|.zst], .parquet, or a folder."),
    tokenizer: str = typer.Option("smollm2-135m", help="Tokenizer for token counts the file lacks."),
    json_out: Path = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
    rejected: Path = typer.Option(None, help="Where unreadable rows go (default: none kept)."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Row count, domains, kinds, languages, sources and token-length quantiles of a file."""
    from rich.console import Console

    from r1data import io, models, stats

    tok = models.load_tokenizer(tokenizer) if tokenizer != "none" else None
    with io.RejectLog(rejected) as rejects:
        summary = stats.file_stats(path, tok, rejects, read_options)
    Console().print(stats.render(summary, title=f"r1data stats: {path}"))
    if summary["rejected"]:
        Console(stderr=True).print(f"{summary['rejected']} unreadable rows skipped"
                                   + (f" (written to {rejected})" if rejected else "")
                                   + f": {rejects.describe()}", style="yellow", markup=False,
                                   highlight=False, soft_wrap=True)
    if json_out:
        io.write_json(json_out, summary)
