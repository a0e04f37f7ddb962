from pathlib import Path

import typer

from r1data.commands.input_options import reads_input


@reads_input
def command(
    config: Path = typer.Option(..., "--config", "-c",
                                help="GRPO recipe (YAML), e.g. trainers/recipes/grpo_smollm2_135m_cpu.yaml."),
    prompts: str = typer.Option(None, help="Override prompts: records with gold answers, or a bundled set."),
    output: Path = typer.Option(None, help="Override output.dir."),
    model: str = typer.Option(None, help="Override the policy model spec."),
    max_steps: int = typer.Option(None, help="Override max_steps (rollout steps)."),
    rewards: str = typer.Option(None, help='Override rewards, e.g. "accuracy + format".'),
    no_resume: bool = typer.Option(False, "--no-resume", help="Start over even if checkpoints exist."),
    local_rank: int = typer.Option(-1, "--local_rank", hidden=True,
                                   help="Set by the deepspeed launcher."),
    read_options: "schemas.ReadOptions | None" = None,  # from @reads_input
) -> None:
    """Reinforcement learning with GRPO (DeepSeekMath/R1), rule rewards and reward models.

    Samples G outputs per prompt, scores them with the reward functions, normalises rewards per
    group and updates the policy with the clipped objective and a k3 KL to the reference. Writes
    OUTPUT/final (a model folder `r1data generate` and `r1data eval` load), OUTPUT/log.jsonl
    (plot it with `r1data report`), OUTPUT/checkpoints/ and OUTPUT/rejected.jsonl. A rerun of the
    same command resumes from the latest checkpoint. Several ranks: launch with `torchrun
    --nproc_per_node N -m r1data train grpo ...` or `deepspeed` (ZeRO-2/3 from the recipe).
    """
    import time

    from rich.console import Console
    from rich.table import Table

    from r1data.config import from_dict, load_yaml
    from r1data.trainers.grpo import GRPOConfig, GRPOTrainer

    raw = load_yaml(config)
    overrides = {"model": model, "max_steps": max_steps, "prompts": prompts, "rewards": rewards}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("prompts", "eval_prompts"):  # a prompt file may be relative to the recipe
        value = raw.get(key)
        if isinstance(value, str) and not Path(value).exists() and (config.parent / value).exists():
            raw[key] = str(config.parent / value)
    if output is not None:
        raw["output"] = {**(raw.get("output") or {}), "dir": str(output)}
    if no_resume:
        raw["resume"] = False
    cfg = from_dict(GRPOConfig, raw)

    started = time.time()
    trainer = GRPOTrainer(cfg, read_options=read_options)
    start_step = trainer.step
    result = trainer.train()
    if not trainer.dist.is_main:
        return
    history = result.history
    table = Table(title=f"r1data train grpo: {cfg.model}")
    table.add_column("")
    table.add_column("", justify="right")

    def mean(key: str, rows: list) -> str:
        values = [r[key] for r in rows if r.get(key) is not None]
        return f"{sum(values) / len(values):.3f}" if values else "-"

    k = max(1, len(history) // 4)
    rows = [
        ("prompts", result.prompts),
        ("steps (this run)", f"{result.steps - start_step} (to step {result.steps})"),
        ("outputs per step", cfg.prompts_per_step * cfg.sampling.n),
        ("reward, first quarter", mean("reward", history[:k])),
        ("reward, last quarter", mean("reward", history[-k:])),
        ("zero-variance groups", f"{sum(r.get('zero_variance_groups', 0) for r in history)} "
                                 f"(mean share {mean('zero_variance_share', history)})"),
        ("mean KL (last step)", mean("kl", history[-1:])),
        ("wall time", f"{time.time() - started:.1f} s"),
        ("model", str(result.model_dir)),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    Console().print(table)
