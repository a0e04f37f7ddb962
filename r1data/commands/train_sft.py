from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input(require_completion=True)
def command(
    config: Path = typer.Option(..., "--config", "-c",
                                help="SFT recipe (YAML), e.g. trainers/recipes/sft_smollm2_135m_cpu.yaml."),
    data: str = typer.Option(None, help="Override data.path: Records, a messages dataset, or a Hub id."),
    output: Path = typer.Option(None, help="Override output.dir."),
    model: str = typer.Option(None, help="Override the model spec."),
    max_steps: int = typer.Option(None, help="Override max_steps (0 = run the recipe's epochs)."),
    limit: int = typer.Option(None, help="Train on at most this many conversations."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Start over even if checkpoints exist."),
    local_rank: int = typer.Option(-1, "--local_rank", hidden=True,
                                   help="Set by the deepspeed launcher."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Supervised fine-tuning (R1 distillation) on chat conversations, with assistant-only loss.

    One process on CPU or one GPU; several with `torchrun` or `deepspeed` (ZeRO-2/3 when the
    recipe sets runtime.zero_stage). Writes OUTPUT/final (a model folder `from_pretrained` and
    `r1data generate` load), OUTPUT/log.jsonl, OUTPUT/checkpoints/ and OUTPUT/rejected.jsonl.
    A rerun of the same command resumes from the latest checkpoint.
    """
    from rich.console import Console
    from rich.table import Table

    from r1data.config import from_dict, load_yaml
    from r1data.trainers.sft import SFTConfig, train

    raw = load_yaml(config)
    overrides = {"model": model, "max_steps": max_steps}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    raw_data = dict(raw.get("data") or {})
    if data is not None:
        raw_data["path"] = data
    elif raw_data.get("path") and not Path(raw_data["path"]).exists() and \
            (config.parent / raw_data["path"]).exists():
        raw_data["path"] = str(config.parent / raw_data["path"])  # relative to the recipe
    if limit is not None:
        raw_data["limit"] = limit
    raw["data"] = raw_data
    if output is not None:
        raw["output"] = {**(raw.get("output") or {}), "dir": str(output)}
    if no_resume:
        raw["resume"] = False
    cfg = from_dict(SFTConfig, raw)

    result = train(cfg, read_options=read_options)
    if result.model_dir is None:  # not rank 0
        return
    table = Table(title=f"r1data train sft: {cfg.model}")
    table.add_column("")
    table.add_column("", justify="right")
    last = result.history[-1] if result.history else {}
    rows = [
        ("samples trained", result.samples),
        ("samples set aside", sum(result.rejected.values())),
        ("optimizer steps", result.steps),
        ("packing", "on" if result.packing else "off"),
        ("final loss", f"{last.get('loss', float('nan')):.4f}"),
        ("tokens/s (last step)", f"{last.get('tokens_per_s', 0):.0f}"),
        ("wall time", f"{result.seconds:.1f} s"),
        ("model", str(result.model_dir)),
    ]
    for reason, count in sorted(result.rejected.items()):
        rows.insert(2, (f"  {reason}", count))
    for name, value in rows:
        table.add_row(name, str(value))
    Console().print(table)
