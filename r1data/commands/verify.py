from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    input: Path = typer.Option(..., "--input", "-i", help="Generated records: .jsonl[.gz|.zst], .parquet, or a folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: records with verdicts, verify_summary.json."),
    workers: int = typer.Option(1, help="Processes verifying in parallel."),
    math_timeout: float = typer.Option(5.0, help="Seconds for one symbolic math check."),
    code_timeout: float = typer.Option(10.0, help="Wall seconds for one program's tests."),
    code_memory_mb: int = typer.Option(1024, help="Memory limit of a program, in MB."),
    partial_code_credit: bool = typer.Option(False, help="Code score = tests passed / total."),
    allow_unsafe_code: bool = typer.Option(False, help="Run code even without a sandbox "
                                           "(bubblewrap or unshare): resource limits only."),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    accept_plain: bool = typer.Option(False, help="Also accept plain step-by-step answers (no think block), for small teachers: give them R1's form, reasoning + summary, before verifying."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Verify generated records: math, code (sandboxed) and multiple choice, routed by gold.

    Appends a verdict to each record's `verdicts` and writes the records to OUTPUT, with a summary
    table (correct rate per source/domain, timeouts, undecided) and OUTPUT/verify_summary.json.
    Rerun the same command to resume: records already in OUTPUT are skipped.
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from r1data.verifiers import dispatch as verify
    from r1data.config import ConfigError
    from r1data.verifiers.sandbox import detect_isolation

    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    try:
        options = verify.VerifyOptions(math_timeout, code_timeout, code_memory_mb,
                                       partial_code_credit, allow_unsafe_code)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} records"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("verifying", total=None)
        summary = verify.verify_file(input, output, workers=workers, options=options,
                                         read_options=read_options,
                                     fmt=output_format, accept_plain=accept_plain,
                                     on_record=lambda _: progress.advance(task))
    Console().print(verify.summary_table(summary, title=f"r1data verify: {input}"))
    console.print(f"{summary['written']} verified, {summary['resumed']} already done"
                  + (f", {summary['unreadable']} unreadable rows in {output / 'rejected'}"
                     if summary["unreadable"] else "")
                  + f"; code isolation: {detect_isolation()}; summary in {output / verify.SUMMARY_FILE}")
