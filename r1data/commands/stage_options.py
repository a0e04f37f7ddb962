"""Options that the generating stage commands (cold-start, rejection-sampling, non-reasoning)
share, declared once so that their names and help read the same everywhere; each command keeps
its own defaults."""

from typing import Annotated

import typer

Backend = Annotated[str, typer.Option(help="transformers, openai or vllm.")]
BaseUrl = Annotated[str, typer.Option(help="OpenAI-compatible server URL (openai backend).")]
Samples = Annotated[int, typer.Option("-n", help="Samples per prompt.")]
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
