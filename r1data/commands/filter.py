from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    input: Path = typer.Option(..., "--input", "-i", help="Records: .jsonl[.gz|.zst], .parquet, or a folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: kept/, dropped/, stats.json."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML recipe (FilterChainConfig); flags override it."),
    executor: str = typer.Option(None, help="local, ray or slurm (default: local)."),
    tasks: int = typer.Option(None, help="Shards of the per-sample stages."),
    workers: int = typer.Option(None, help="Tasks run at once."),
    output_format: str = typer.Option(None, "--format", help="jsonl, parquet, or verl (kept/ as "
                                 "Parquet in verl's prompt layout, which OpenRLHF also reads)."),
    disable: list[str] = typer.Option([], help="Turn a filter off (repeatable): format, length, "
                                      "code_blocks, paragraphs, repetition, decontamination, "
                                      "language, minhash, exact_dedup, fuzzy_dedup."),
    correct_only: bool = typer.Option(False, help="Keep only samples whose verdict is correct."),
    max_per_prompt: int = typer.Option(None, help="With --correct-only: keep at most k diverse "
                                       "correct samples per prompt."),
    wait: bool = typer.Option(False, "--wait", help="slurm: block until the jobs end, then print "
                              "the summary as a local run does."),
    collect: bool = typer.Option(False, "--collect", help="slurm: submit nothing; wait for the jobs "
                                 "an earlier run submitted into OUTPUT and print the summary."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Filter records: readability (language mix, long paragraphs, code blocks, repetition),
    format, length, correctness, decontamination and dedup, as a datatrove chain.

    Writes OUTPUT/kept/, OUTPUT/dropped/<filter>/ (each record with its drop reason) and
    OUTPUT/stats.json. Rerun the same command to resume: finished tasks are skipped.
    """
    from r1data import config as cfg
    from r1data.config import ConfigError
    from r1data.filters.chain import FilterChainConfig

    data = cfg.load_yaml(config) if config else {}
    flags = {"executor": executor, "tasks": tasks, "workers": workers, "output_format": output_format}
    data.update({k: v for k, v in flags.items() if v is not None})
    for name in disable:
        if name not in FilterChainConfig.__dataclass_fields__ or name in flags:
            raise ConfigError(f"--disable {name}: not a filter of the chain")
        data[name] = None
    if correct_only or max_per_prompt:
        data["correctness"] = {**(data.get("correctness") or {}), "max_per_prompt": max_per_prompt}
    _run(cfg.from_dict(FilterChainConfig, data), input, output, "r1data filter", wait=wait,
         collect=collect, read_options=read_options)


def _run(chain_config, input: Path, output: Path, title: str, wait: bool = False,
         collect: bool = False, read_options=None) -> None:
    """Run a chain with a progress display and print the summary table (shared with
    `r1data decontaminate`). On Slurm: submit, then wait (`wait`), or only wait (`collect`), or
    print the command that collects the results later."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from r1data.filters.chain import ChainIncomplete, collect_chain, run_chain, stats_table
    from r1data.launch.console import collect_command

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("stages", total=None)

        def on_stage(name: str, index: int, count: int) -> None:
            progress.update(bar, description=f"stage {index + 1}/{count}: {name}", completed=index,
                            total=count)

        def on_progress(done: dict[str, int]) -> None:  # Slurm: finished tasks per stage
            running = next((name for name, count in done.items() if count == 0), "")
            progress.update(bar, description=f"slurm tasks finished {running}".strip(),
                            completed=sum(done.values()), total=None)

        try:
            if collect:
                stats = collect_chain(chain_config, output, on_progress=on_progress)
            else:
                stats = run_chain(chain_config, input, output, on_stage=on_stage, wait=wait,
                                  on_progress=on_progress, read_options=read_options)
        except ChainIncomplete as exc:
            progress.stop()
            console.print(str(exc), style="red", soft_wrap=True, markup=False, highlight=False)
            raise SystemExit(1) from None
        progress.update(bar, completed=progress.tasks[0].total or 1)
    if "submitted" in stats:
        console.print(f"submitted to Slurm: jobs {', '.join(stats['submitted'])}\n"
                      f"collect the results (waits for the jobs, then prints the summary):\n  "
                      f"{collect_command()}", soft_wrap=True, highlight=False)
        return
    Console().print(stats_table(stats, title=f"{title}: {input}"))
    console.print(f"kept {stats['kept']} of {stats['input']} -> {output / 'kept'}; "
                  f"stats in {output / 'stats.json'}")
