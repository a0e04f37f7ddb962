"""Options that the generating stage commands (cold-start, rejection-sampling, non-reasoning)
share, declared once so that their names and help read the same everywhere; each command keeps
its own defaults.

The teacher and sampling block (--backend, --model, --base-url, --n, --temperature, --max-tokens,
--seed, --limit, --num-shards, --shard-index) is one decorator, `@teacher_options(...)`: it adds those options to the
command's signature (typer reads `__signature__`) and hands the command one `Teacher` holding
them, which gives the `teacher` and `sampling` mappings of the stage config.
"""

import functools
import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Callable

import typer

Backend = Annotated[str, typer.Option(help="transformers, openai or vllm.")]
BaseUrl = Annotated[str, typer.Option(help="OpenAI-compatible server URL, or several comma-separated (openai backend).")]
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


def backend_options(backend: str, *, base_url: str | None = None, device: str | None = None,
                    dtype: str | None = None, tensor_parallel_size: int | None = None) -> dict[str, Any]:
    """The `backend_options` mapping of generate's and eval's configs from their flags: the
    server URL for openai, device and dtype for transformers, tensor_parallel_size for vllm."""
    options: dict[str, Any] = {"base_url": base_url} if backend == "openai" and base_url else {}
    options.update({k: v for k, v in (("device", device), ("dtype", dtype),
                                      ("tensor_parallel_size", tensor_parallel_size)) if v})
    return options


@dataclass
class Teacher:
    """What `@teacher_options` collects: the teacher model and how it samples."""

    backend: str
    model: str
    base_url: str | None
    n: int
    temperature: float
    max_tokens: int
    seed: int
    limit: int | None
    num_shards: int = 1
    shard_index: int = 0

    @property
    def shards(self) -> dict[str, int]:
        """The stage config's `num_shards` / `shard_index` (r1data.sharding)."""
        return {"num_shards": self.num_shards, "shard_index": self.shard_index}

    @property
    def teacher(self) -> dict[str, Any]:
        """The stage config's `teacher` mapping (steps.TeacherConfig)."""
        return {"backend": self.backend, "model": self.model,
                "options": {"base_url": self.base_url} if self.base_url else {}}

    @property
    def sampling(self) -> dict[str, Any]:
        """The stage config's `sampling` mapping (backends.base.SamplingConfig)."""
        return {"n": self.n, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "seed": self.seed}


def teacher_options(*, model_help: str, n: int, temperature: float, max_tokens: int,
                    n_help: str = "Samples per prompt.") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a stage command that takes `teacher: Teacher`: the teacher and sampling options
    become options of the command, with these defaults and help."""
    options = {
        "backend": (Backend, "transformers"),
        "model": (Annotated[str, typer.Option(help=model_help)], "smollm2-135m"),
        "base_url": (BaseUrl, None),
        "n": (Annotated[int, typer.Option("--n", "-n", help=n_help)], n),
        "temperature": (Temperature, temperature),
        "max_tokens": (MaxTokens, max_tokens),
        "seed": (Seed, 0),
        "limit": (Limit, None),
        "num_shards": (NumShards, 1),
        "shard_index": (ShardIndex, 0),
    }

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name, default) for name, (_, default) in options.items()}
            return func(*args, teacher=Teacher(**values), **kwargs)

        own = [p for name, p in inspect.signature(func).parameters.items() if name != "teacher"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                   annotation=annotation)
                 for name, (annotation, default) in options.items()]
        wrapper.__signature__ = inspect.signature(func).replace(parameters=[*own, *added])
        wrapper.__annotations__ = {**{k: v for k, v in getattr(func, "__annotations__", {}).items()
                                      if k != "teacher"},
                                   **{name: annotation for name, (annotation, _) in options.items()}}
        return wrapper

    return decorate
