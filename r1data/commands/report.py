from pathlib import Path

import typer


def command(
    path: Path = typer.Argument(..., help="Any output: records file/folder, stage folder, training log."),
    output: Path = typer.Option(None, "--output", "-o", help="Report folder (default: PATH-report)."),
    tokenizer: str = typer.Option("smollm2-135m", help="Counts token lengths the rows lack ('none')."),
) -> None:
    """Statistics and plots of any output as Markdown + PNGs + one HTML page.

    Records: counts per kind/domain/source/language/split, token lengths, pass rates and the
    stages' drop counts. A GRPO/SFT JSONL training log: rewards per component, completion
    length, KL and loss against the step.
    """
    from rich.console import Console

    from r1data import io, models
    from r1data.pipelines import report

    out = output or path.with_name(path.name.split(".")[0] + "-report")
    tok = None
    if tokenizer != "none" and not report.is_training_log(path):
        tok = models.load_tokenizer(tokenizer)
    with io.RejectLog(out / "rejected" / "rejected.jsonl") as rejects:
        report.build_report(path, out, tok, rejects)
    Console().print(f"wrote {out / 'report.md'} and {out / 'report.html'}")
