"""Checkpoints with exact resume, and the final model folder. `save_checkpoint` writes weights,
optimiser, scheduler (or a DeepSpeed engine's own shards), the trainer's position and every
rank's RNG under a temporary name and renames it when complete, so a crash while saving
leaves the previous checkpoint as the latest; `load_checkpoint` restores it. `save_final_model`
writes what `from_pretrained` and `r1data generate` load: safetensors weights (gathered under
ZeRO-3), the tokenizer with its chat template, and a generation config whose EOS is the
tokenizer's.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1data.trainers.distributed import Dist, barrier, full_state_dict

CHECKPOINTS = "checkpoints"
FINAL = "final"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (a half-written one has no `state.json` yet)."""
    root = Path(output_dir) / CHECKPOINTS
    if not root.exists():
        return []
    found = [p for p in root.glob("step-*") if (p / "state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(output_dir: str | Path, step: int, model, optimizer, scheduler,
                    state: dict[str, Any], dist_info: Dist, keep: int = 2) -> Path:
    """Save everything needed to continue exactly: weights, optimizer, scheduler, the trainer's
    `state` (step, data position, ...) and every rank's RNG.

    The folder is written under a temporary name and renamed once complete, so a crash while
    saving leaves the previous checkpoint as the latest.
    """
    root = Path(output_dir) / CHECKPOINTS
    final, tmp = root / f"step-{step}", root / f"step-{step}.tmp"
    if dist_info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(dist_info)
    if hasattr(model, "save_checkpoint"):  # a DeepSpeed engine saves its own shards
        model.save_checkpoint(str(tmp), tag="engine")
    elif dist_info.is_main:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict()}, tmp / "weights.pt")
    torch.save(rng_state(), tmp / f"rng-{dist_info.rank}.pt")
    barrier(dist_info)
    if dist_info.is_main:
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in checkpoint_dirs(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(dist_info)
    return final


def load_checkpoint(path: Path, model, optimizer, scheduler, dist_info: Dist) -> dict[str, Any]:
    """Restore a checkpoint written by `save_checkpoint`; returns the trainer's state."""
    if hasattr(model, "load_checkpoint"):
        model.load_checkpoint(str(path), tag="engine")
    else:
        saved = torch.load(path / "weights.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
    rng_file = path / f"rng-{dist_info.rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    return json.loads((path / "state.json").read_text())


def save_final_model(model, tokenizer, output_dir: str | Path, dist_info: Dist,
                     dtype: torch.dtype | None = None,
                     state_dict: dict[str, torch.Tensor] | None = None) -> Path | None:
    """A folder `from_pretrained` and `r1data generate` load directly: weights (safetensors),
    tokenizer with its chat template, and a generation config whose `eos_token_id` is the
    tokenizer's EOS, so generation stops where the training taught the model to stop.
    `model` is the Hugging Face model (or an engine around it); `state_dict`, when given, holds
    its weights already gathered (e.g. with a wrapper's key prefix removed).
    """
    # Every rank takes part in a ZeRO-3 gather.
    state = state_dict if state_dict is not None else full_state_dict(model)
    if not dist_info.is_main:
        barrier(dist_info)
        return None
    module = getattr(model, "module", model)
    target = Path(output_dir) / FINAL
    tmp = target.with_name(FINAL + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    module.save_pretrained(str(tmp), state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    gen = module.generation_config
    eos = {tokenizer.eos_token_id}
    if isinstance(gen.eos_token_id, int):
        eos.add(gen.eos_token_id)
    elif gen.eos_token_id:
        eos.update(gen.eos_token_id)
    gen.eos_token_id = sorted(eos) if len(eos) > 1 else tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    gen.save_pretrained(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    barrier(dist_info)
    return target
