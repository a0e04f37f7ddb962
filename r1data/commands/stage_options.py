"""Options that the generating stage commands (cold-start, rejection-sampling, non-reasoning)
share, declared once so that their names and help read the same everywhere; each command keeps
its own defaults."""

from typing import Annotated

import typer

Backend = Annotated[str, typer.Option(help="transformers, openai or vllm.")]
BaseUrl = Annotated[str, typer.Option(help="OpenAI-compatible server URL (openai backend).")]
Samples = Annotated[int, typer.Option("--n", "-n", help="Samples per prompt.")]
Keep = Annotated[int, typer.Option("--keep", "-k", help="At most this many correct samples per prompt.")]
Temperature = Annotated[float, typer.Option(help="Sampling temperature.")]
MaxTokens = Annotated[int, typer.Option(help="New tokens per sample.")]
Seed = Annotated[int, typer.Option(help="Sampling seed.")]
Limit = Annotated[int, typer.Option(help="Use only the first LIMIT prompts.")]
Domain = Annotated[str, typer.Option(help="Domain of prompts that carry none (routes verification).")]
AcceptPlain = Annotated[bool, typer.Option(help="Also accept plain step-by-step answers (no think block), for small teachers.")]
# Sharding (r1data.sharding), the same for generate, eval and the generating stages.
NumShards = Annotated[int, typer.Option("--num-shards", help="Split the prompts into N shards by a hash of their id (run one per process or node).")]
ShardIndex = Annotated[int, typer.Option("--shard-index", help="Which shard this run generates (0..N-1), into OUTPUT/shard-<i>-of-<N>/.")]
# Where the shards run (r1data.launch.generation).
Executor = Annotated[str, typer.Option(help="local (this process), slurm (an array, one task per shard) or ray (one task per shard).")]
Serve = Annotated[str, typer.Option(help="slurm/ray: each task first starts this server on its node ({port} is filled in), e.g. 'vllm serve MODEL --port {port}', and stops it at the end.")]
Wait = Annotated[bool, typer.Option("--wait", help="slurm: block until the jobs end and print the summary, as a local run does.")]
Collect = Annotated[bool, typer.Option("--collect", help="slurm: submit nothing; wait for what an earlier run submitted into OUTPUT and print the summary.")]
SlurmArgs = Annotated[list[str], typer.Option("--slurm", help="sbatch option as KEY=VALUE (repeatable), e.g. --slurm partition=gpu --slurm time=04:00:00.")]
GpusPerTask = Annotated[float, typer.Option("--gpus-per-task", help="slurm/ray: GPUs each shard's task reserves.")]
