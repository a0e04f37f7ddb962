from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    input: Path = typer.Option(..., "--input", "-i", help="Records: .jsonl[.gz|.zst], .parquet, or a folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: kept/, dropped/, stats.json, "
                                "contamination_report.jsonl."),
    benchmarks: str = typer.Option("all", help="'all' or a comma list: aime24,aime25,amc23,math500,"
                                   "gsm8k,mmlu_stem,mbpp,humaneval."),
    ngram: int = typer.Option(8, help="Word n-gram size of the overlap check (8, as open-r1)."),
    min_ratio: float = typer.Option(90.0, help="rapidfuzz ratio (0-100) of a prompt vs a problem "
                                    "that counts as a near-verbatim copy."),
    executor: str = typer.Option("local", help="local, ray or slurm."),
    tasks: int = typer.Option(1, help="Shards."),
    workers: int = typer.Option(1, help="Tasks run at once."),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl, parquet, or verl (kept/ as "
                                 "Parquet in verl's prompt layout, which OpenRLHF also reads)."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Drop samples whose prompt, reasoning or answer overlaps a bundled benchmark problem.

    Word n-gram overlap plus a rapidfuzz check for near-verbatim copies. Writes OUTPUT/kept/,
    OUTPUT/dropped/decontamination/ and OUTPUT/contamination_report.jsonl (each removed sample
    with the benchmark item it matched).
    """
    from r1data import benchmark_sets as bench
    from r1data import config as cfg
    from r1data.commands.filter import _run
    from r1data.config import ConfigError
    from r1data.filters.chain import PER_SAMPLE_FILTERS, WHOLE_CORPUS_FILTERS, FilterChainConfig

    try:
        names = bench.parse_names(benchmarks)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    off = {name: None for name in [*PER_SAMPLE_FILTERS, *WHOLE_CORPUS_FILTERS, "minhash"]}
    data = {**off, "decontamination": {"benchmarks": names, "ngram": ngram, "min_ratio": min_ratio},
            "executor": executor, "tasks": tasks, "workers": workers, "output_format": output_format}
    _run(cfg.from_dict(FilterChainConfig, data), input, output, "r1data decontaminate",
         read_options=read_options)
