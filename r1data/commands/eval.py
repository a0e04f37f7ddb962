from pathlib import Path

import typer

from r1data.commands.input_options import reads_input
from r1data.commands.stage_options import NumShards, ShardIndex, backend_options


@reads_input
def command(
    model: str = typer.Option("smollm2-135m", help="Model: smollm2-135m (embedded), a folder or a Hub id; for openai, the served model's name."),
    backend: str = typer.Option("transformers", help="transformers, openai or vllm."),
    benchmark_file: Path = typer.Option(None, "--benchmark-file", help="Your own benchmark (any layout r1data reads; --columns names its prompt and gold), evaluated instead of --benchmarks."),
    verifier: str = typer.Option("math", help="How --benchmark-file answers are checked: math, code or choice."),
    benchmarks: str = typer.Option("gsm8k", help="Comma list of aime24, aime25, amc23, math500, gsm8k, mmlu_stem, mbpp, humaneval, or 'all'."),
    samples: int = typer.Option(4, "--samples", "-k", help="Samples per question (k): pass@1 is their mean, cons@k their vote."),
    temperature: float = typer.Option(0.6, help="Sampling temperature (R1: 0.6)."),
    top_p: float = typer.Option(0.95, "--top-p", help="Nucleus sampling threshold (R1: 0.95)."),
    max_tokens: int = typer.Option(32768, "--max-tokens", help="New tokens per sample (R1: 32,768); longer samples count as truncated."),
    seed: int = typer.Option(0, help="Base seed: sample i of a question is seeded by (seed, question id, i)."),
    limit: int = typer.Option(None, help="Evaluate only the first N questions of each benchmark."),
    pass_k: str = typer.Option(None, "--pass-k", help="Comma list of k for pass@k (default: 1, powers of two below k, and k)."),
    output: Path = typer.Option(Path("eval"), "--output", "-o", help="Folder for generations, results.json and details.jsonl (rerun to resume)."),
    template: str = typer.Option("chat", help="chat (the model's chat template) or r1-zero."),
    system: str = typer.Option(None, help="System prompt (chat template)."),
    instruction: str = typer.Option(None, help="Line appended to every question instead of R1's (math: 'Please reason step by step, and put your final answer within \\boxed{}.')."),
    batch_size: int = typer.Option(16, "--batch-size", help="transformers: sequences generated together."),
    concurrency: int = typer.Option(32, help="openai: requests in flight."),
    base_url: str = typer.Option(None, "--base-url", help="openai: server URL (default $OPENAI_BASE_URL or http://127.0.0.1:8000/v1)."),
    device: str = typer.Option(None, help="transformers: cpu, cuda, cuda:1 (default: best available)."),
    dtype: str = typer.Option(None, help="transformers: bf16, fp16 or fp32 (default: bf16 on GPUs that have it)."),
    verify_timeout: float = typer.Option(10.0, "--verify-timeout", help="Seconds for one math check or one program's tests."),
    compare: tuple[Path, Path] | None = typer.Option(None, "--compare", help="Compare two results files (RESULTS_A RESULTS_B) instead of running."),
    progress: bool = typer.Option(True, help="Show progress bars."),
    num_shards: NumShards = 1,
    shard_index: ShardIndex = 0,
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Evaluate a model on the bundled benchmarks under R1's protocol (pass@1 over k samples, cons@k).

    Writes OUTPUT/results.json (metrics, standard errors and everything needed to reproduce them)
    and OUTPUT/details.jsonl (each question, sample, extracted answer and verdict). A run that
    dies resumes from its samples when rerun. `--compare A B` prints two results side by side.
    """
    from rich.console import Console

    from r1data import config as cfg
    from r1data import evaluate

    console = Console()
    if compare and compare[0] is not None:
        a, b = (evaluate.load_results(p) for p in compare)
        console.print(evaluate.render_compare(evaluate.compare(a, b), str(compare[0]), str(compare[1])))
        return
    options = backend_options(backend, base_url=base_url, device=device, dtype=dtype)
    try:
        ks = [int(k) for k in pass_k.split(",") if k.strip()] if pass_k else None
    except ValueError:
        raise cfg.ConfigError(f"--pass-k takes a comma list of integers, got {pass_k!r}") from None
    if benchmark_file is not None:
        from r1data import benchmark_sets as bench

        try:
            benchmarks = bench.register_file(benchmark_file, verifier, read_options)
        except ValueError as exc:
            raise cfg.ConfigError(str(exc)) from None
    config = cfg.from_dict(evaluate.EvalConfig, {
        "benchmarks": benchmarks, "output": str(output), "limit": limit, "pass_k": ks,
        "backend": backend, "model": model, "backend_options": options, "batch_size": batch_size,
        "concurrency": concurrency, "template": template, "system": system, "instruction": instruction,
        "verify_timeout": verify_timeout, "num_shards": num_shards, "shard_index": shard_index,
        "sampling": {"n": samples, "temperature": temperature, "top_p": top_p,
                     "max_tokens": max_tokens, "seed": seed},
    })
    results = evaluate.run(config, progress=progress)
    if "shard" in results:  # a shard only generates (r1data.sharding)
        console.print(f"shard {results['shard']}: generated {results['generated']}; run the same "
                      "command without --num-shards/--shard-index to score every shard's samples")
        return
    console.print(evaluate.render_results(results))
    for name, m in results["benchmarks"].items():
        if m["errors"] or m["undecided"]:
            Console(stderr=True).print(
                f"[yellow]{name}: {m['errors']} failed samples, {m['undecided']} undecided by the "
                "verifier (both counted as wrong; see details.jsonl)")
    console.print(f"results: {output / 'results.json'}   details: {output / 'details.jsonl'}")
