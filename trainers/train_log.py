"""Training metrics: one JSON line per logged step in `log.jsonl` (what `r1data report` plots),
a rich progress bar on a terminal (a plain line per step otherwise), and TensorBoard / W&B when
asked for and installed. Only rank 0 writes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from r1data.trainers.config import OutputConfig
from r1data.trainers.distributed import Dist

LOG_FILE = "log.jsonl"


class TrainLogger:
    """Metrics to a JSONL file, a rich progress bar on the console, and TensorBoard / W&B when
    asked for and installed. Only rank 0 logs."""

    def __init__(self, output: OutputConfig, total_steps: int, dist_info: Dist,
                 start_step: int = 0, config: dict[str, Any] | None = None):
        self.enabled = dist_info.is_main
        self.every = output.log_every
        self.history: list[dict[str, Any]] = []
        self._tb = self._wandb = self._progress = None
        if not self.enabled:
            return
        Path(output.dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(output.dir) / LOG_FILE
        if start_step == 0 and self.path.exists():
            self.path.unlink()  # a fresh run; a resumed one appends
        self._fh = open(self.path, "a", encoding="utf-8")
        self._start_reporters(output, config or {})

        self._progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                  disable=not sys.stderr.isatty(), transient=False)
        self._task = self._progress.add_task("train", total=total_steps, completed=start_step,
                                             info="")
        self._progress.start()

    def _start_reporters(self, output: OutputConfig, config: dict[str, Any]) -> None:
        if "tensorboard" in output.report_to:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(output.dir) / "tensorboard"))
            except ImportError:
                print("[r1data] tensorboard is not installed: not logging to it", file=sys.stderr)
        if "wandb" in output.report_to:
            try:
                import wandb

                self._wandb = wandb.init(config=config, dir=output.dir)
            except ImportError:
                print("[r1data] wandb is not installed: not logging to it", file=sys.stderr)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record the metrics of optimizer step `step` (1-based)."""
        if not self.enabled:
            return
        # Six significant digits, not six decimals: an lr of 3e-7 or a small KL must not log as 0.
        entry = {"step": step, **{k: float(f"{v:.6g}") if isinstance(v, float) else v
                                  for k, v in metrics.items()}, "time": round(time.time(), 3)}
        self.history.append(entry)
        info = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                         if k in ("loss", "lr", "grad_norm", "tokens_per_s"))
        self._progress.update(self._task, completed=step, info=info)
        if step % self.every and step != self._progress.tasks[0].total:
            return
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        if not sys.stderr.isatty():
            print(f"step {step}  {info}", file=sys.stderr, flush=True)
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(f"train/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._progress.stop()
        self._fh.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
