import json
from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    input: Path = typer.Option(..., "--input", "-i", help="Records: .jsonl[.gz|.zst], .parquet, or a folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: kept/, dropped/, stats.json, "
                                "contamination_report.jsonl, contamination_suspects.jsonl."),
    benchmarks: str = typer.Option("all", help="'all' or a comma list: aime24,aime25,amc23,math500,"
                                   "gsm8k,mmlu_stem,mbpp,humaneval."),
    ngram: int = typer.Option(8, help="Word n-gram size of the overlap check (8, as open-r1)."),
    min_coverage: float = typer.Option(0.5, help="Share of a benchmark item's words the shared "
                                       "n-grams must cover: one shared phrase is not a copy."),
    min_ratio: float = typer.Option(90.0, help="rapidfuzz ratio (0-100) of a prompt vs a problem "
                                    "that counts as a near-verbatim copy."),
    retrieval: bool = typer.Option(True, help="Retrieve each prompt's nearest benchmark item for "
                                   "rewordings: drop certain matches, judge or flag suspects."),
    embeddings: bool = typer.Option(True, help="Compare retrieved items with the sentence encoder "
                                    "(all-MiniLM-L6-v2; ~10-30 ms per prompt that has a lexical "
                                    "candidate). --no-embeddings: lexical rules only, ~1 ms."),
    judge: str = typer.Option(None, help="Model that decides each suspect and each of a prompt's "
                              "nearest items by meaning (SAME drops it), served by an "
                              "OpenAI-compatible server at --judge-base-url."),
    judge_base_url: str = typer.Option(None, help="The judge server's /v1 URL."),
    judge_top_k: int = typer.Option(3, help="With --judge: how many of a prompt's nearest benchmark "
                                    "items by the sentence encoder the judge also reads (0: the "
                                    "rules' suspects only)."),
    judge_min_cosine: float = typer.Option(0.5, help="With --judge: the encoder's cosine an item "
                                           "needs to be read."),
    executor: str = typer.Option("local", help="local, ray or slurm."),
    tasks: int = typer.Option(1, help="Shards."),
    workers: int = typer.Option(1, help="Tasks run at once."),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl, parquet, or verl (kept/ as "
                                 "Parquet in verl's prompt layout, which OpenRLHF also reads)."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Drop samples whose prompt, reasoning or answer overlaps a bundled benchmark problem.

    Word n-gram overlap covering most of a problem, a rapidfuzz check for near-verbatim copies,
    and retrieval of the nearest benchmark item for rewordings. Writes OUTPUT/kept/,
    OUTPUT/dropped/decontamination/, OUTPUT/contamination_report.jsonl (each removed sample with
    the benchmark item it matched) and OUTPUT/contamination_suspects.jsonl (kept samples whose
    nearest item is close: without --judge, for a person to read; with it, the judge's verdict).
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
    if (judge is None) != (judge_base_url is None):
        raise ConfigError("--judge and --judge-base-url go together")
    if judge_top_k < 0 or not -1.0 <= judge_min_cosine <= 1.0:
        raise ConfigError("--judge-top-k must be >= 0 and --judge-min-cosine a cosine in [-1, 1]")
    if judge is not None and not retrieval:
        raise ConfigError("--judge decides the retrieval stage's suspects: drop --no-retrieval")
    decont = {"benchmarks": names, "ngram": ngram, "min_ratio": min_ratio,
              "min_coverage": min_coverage, "retrieval": retrieval, "embeddings": embeddings}
    if judge:
        decont.update(judge={"model": judge, "base_url": judge_base_url},
                      judge_top_k=judge_top_k, judge_min_cosine=judge_min_cosine)
    off = {name: None for name in [*PER_SAMPLE_FILTERS, *WHOLE_CORPUS_FILTERS, "minhash"]}
    data = {**off, "decontamination": decont,
            "executor": executor, "tasks": tasks, "workers": workers, "output_format": output_format}
    _run(cfg.from_dict(FilterChainConfig, data), input, output, "r1data decontaminate",
         read_options=read_options)
    _write_suspects(output)


def _write_suspects(output: Path) -> None:
    """OUTPUT/contamination_suspects.jsonl from the kept records the retrieval stage flagged (a
    Slurm run that was only submitted has no kept/ yet: `--collect` writes it)."""
    from rich.console import Console

    from r1data import io
    from r1data.atomic import write_bytes
    from r1data.record import META_CONTAMINATION

    kept = output / "kept"
    if not kept.exists() or not io.shard_files(kept):
        return
    rows = []
    for record in io.read_records(kept):
        flag = record.metadata.get(META_CONTAMINATION)
        if flag:
            rows.append({"id": record.id, "prompt": record.prompt[:500], **flag})
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_bytes(output / "contamination_suspects.jsonl", text.encode("utf-8"))
    judged = sum(r["decision"] == "judged_different" for r in rows)
    Console(stderr=True).print(f"{len(rows) - judged} suspect(s) kept and flagged, {judged} judged "
                               f"different -> {output / 'contamination_suspects.jsonl'}", highlight=False)
