from pathlib import Path

import typer

from r1data.commands.input_options import reads_input
from r1data.commands.stage_options import (Collect, Executor, GpusPerTask, NumShards, Serve, ShardIndex,
                                           SlurmArgs, Wait, backend_options)


@reads_input
def command(
    input: Path = typer.Option(..., "--input", "-i", help="Prompts: .jsonl[.gz|.zst], .parquet, a datasets folder or a shard folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (rerun the same command to resume)."),
    backend: str = typer.Option("transformers", help="transformers, openai or vllm."),
    model: str = typer.Option("smollm2-135m", help="Model: smollm2-135m (embedded), a folder or a Hub id; for openai, the served model's name."),
    template: str = typer.Option("chat", help="chat, r1-zero, readable or few-shot."),
    n: int = typer.Option(1, "--n", "-n", help="Samples per prompt."),
    temperature: float = typer.Option(0.6, help="Sampling temperature (0: greedy)."),
    top_p: float = typer.Option(0.95, "--top-p", help="Nucleus sampling threshold."),
    max_tokens: int = typer.Option(32768, "--max-tokens", help="New tokens per sample; longer samples are marked truncated."),
    seed: int = typer.Option(0, help="Base seed: sample i of a prompt is seeded by (seed, prompt id, i)."),
    stop: list[str] = typer.Option(None, "--stop", help="Stop string (repeatable); the EOS token always stops."),
    batch_size: int = typer.Option(16, "--batch-size", help="transformers: sequences generated together."),
    concurrency: int = typer.Option(32, help="openai: requests in flight."),
    max_error_rate: float = typer.Option(0.0, "--max-error-rate", help="Share of samples that may fail after the backend's retries without failing the run (exit code 3); failed samples are retried by the next run either way."),
    shard_size: int = typer.Option(1000, "--shard-size", help="Records per output shard."),
    format: str = typer.Option("jsonl", "--format", help="Output shards: jsonl or parquet."),
    limit: int = typer.Option(None, help="Use only the first N prompts."),
    prompt_column: str = typer.Option(None, "--prompt-column", help="Input column holding the prompt (default: guessed)."),
    id_column: str = typer.Option(None, "--id-column", help="Input column holding the prompt id (default: id, else a content hash)."),
    gold_column: str = typer.Option(None, "--gold-column", help="Input column holding the reference answer (default: guessed)."),
    system: str = typer.Option(None, help="System prompt (chat templates)."),
    fewshot: Path = typer.Option(None, help="File of example solutions for the few-shot template."),
    fewshot_k: int = typer.Option(2, "--fewshot-k", help="How many examples the few-shot template shows."),
    special_token: str = typer.Option("|special_token|", "--special-token", help="Marker of the readable format."),
    base_url: str = typer.Option(None, "--base-url", help="openai: server URL, or several comma-separated (balanced, a failing one taken out); default $OPENAI_BASE_URL or http://127.0.0.1:8000/v1."),
    device: str = typer.Option(None, help="transformers: cpu, cuda, cuda:1 (default: best available)."),
    dtype: str = typer.Option(None, help="transformers: bf16, fp16 or fp32 (default: bf16 on GPUs that have it)."),
    tensor_parallel_size: int = typer.Option(None, "--tensor-parallel-size", help="vllm: GPUs per model replica."),
    progress: bool = typer.Option(True, help="Show the progress bar."),
    num_shards: NumShards = 1,
    shard_index: ShardIndex = 0,
    executor: Executor = "local",
    serve: Serve = None,
    slurm: SlurmArgs = None,
    gpus_per_task: GpusPerTask = 0,
    wait: Wait = False,
    collect: Collect = False,
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Sample a teacher (or checkpoint) n times per prompt into resumable record shards.

    Each sample is one record with the whole completion, its reasoning and answer, token counts,
    finish_reason (length = truncated) and provenance. Bad prompt rows go to
    OUTPUT/rejected/rejected.jsonl with their reason. Samples that fail after the backend's
    retries are not written (OUTPUT/errors/errors.jsonl lists them): the run exits with code 3
    and rerunning the same command retries them.
    """
    from r1data.config import from_dict
    from r1data.generate import GenerateConfig, run_and_report

    options = backend_options(backend, base_url=base_url, device=device, dtype=dtype,
                              tensor_parallel_size=tensor_parallel_size)
    config = from_dict(GenerateConfig, {
        "input": str(input), "output": str(output), "backend": backend, "model": model,
        "backend_options": options, "template": template, "batch_size": batch_size,
        "concurrency": concurrency, "max_error_rate": max_error_rate, "shard_size": shard_size,
        "format": format, "limit": limit,
        "read": read_options.mapped(prompt=prompt_column, id=id_column, gold=gold_column),
        "system": system, "fewshot": str(fewshot) if fewshot else None, "fewshot_k": fewshot_k,
        "special_token": special_token, "num_shards": num_shards, "shard_index": shard_index,
        "sampling": {"n": n, "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
                     "seed": seed, "stop": list(stop or [])},
    })
    if executor != "local" or collect:  # one task per shard (r1data.launch)
        from r1data.launch.console import run_sharded

        run_sharded(config, executor, serve=serve, sbatch=slurm, gpus_per_task=gpus_per_task,
                    wait=wait, collect=collect)
        return
    run_and_report(config, progress=progress)
