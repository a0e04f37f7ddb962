"""Where the processes of a run live and how they cooperate. `init_distributed` joins the
process group that `torchrun`/`deepspeed` set up (gloo on CPU, NCCL on GPUs); `setup_device`
picks this rank's device and dtype. Data parallelism without DeepSpeed is torch
`DistributedDataParallel` (`wrap_ddp`: bucketed all-reduce overlapped with backward); with
`zero_stage: 2|3` the model and optimiser go into a DeepSpeed engine (`deepspeed_config`,
`init_deepspeed`; `import deepspeed` selects its CPU accelerator, so ZeRO-2/3 runs on CPU with
gloo and is testable without a GPU). Under ZeRO-3 a rank holds only shards of each parameter:
`full_state_dict` and `gathered_named_parameters` gather whole weights (for the final model,
the reference refresh and the vLLM weight sync). Small collectives (`all_reduce_sum`,
`all_gather_objects`, `barrier`) are no-ops in a single process.

DDP and DeepSpeed average gradients over ranks; the trainers normalise their losses by the
global count (tokens or outputs of the whole step) and multiply by the world size, so N ranks
produce exactly the gradient of one process on the combined batch.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1data.config import ConfigError
from r1data.models import best_device, best_dtype
from r1data.optional import require
from r1data.trainers.config import OptimConfig, RuntimeConfig


@dataclass
class Dist:
    """This process's place among the data-parallel ranks."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Dist:
    """Join the process group when launched by torchrun/deepspeed (RANK and WORLD_SIZE set)."""
    import torch.distributed as dist  # lazy: heavy import

    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return info


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup_device(runtime: RuntimeConfig, local_rank: int = 0) -> tuple[str, torch.dtype]:
    """(device, dtype) for this rank: its own GPU when there are several."""
    device = best_device(runtime.device)
    if device == "cuda":
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    return device, best_dtype(device, runtime.dtype)


def all_reduce_sum(value: float | torch.Tensor, dist_info: Dist) -> float:
    """The sum of a number over all ranks (the number itself with one process)."""
    if dist_info.world_size == 1:
        return float(value)
    import torch.distributed as dist  # lazy: heavy import

    tensor = torch.as_tensor(value, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return float(tensor.item())


def all_gather_objects(value: Any, dist_info: Dist) -> list[Any]:
    """Every rank's `value`, in rank order (a list of one in a single process)."""
    if dist_info.world_size == 1:
        return [value]
    import torch.distributed as dist  # lazy: heavy import

    gathered: list[Any] = [None] * dist_info.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(dist_info: Dist) -> None:
    if dist_info.world_size > 1:
        import torch.distributed as dist  # lazy: heavy import

        dist.barrier()


def wrap_ddp(module: torch.nn.Module, dist_info: Dist, device: str) -> torch.nn.Module:
    """`module` in torch DistributedDataParallel when there are several ranks, else itself."""
    if dist_info.world_size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel  # lazy: heavy import

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return DistributedDataParallel(module, device_ids=ids)


def no_sync(model: torch.nn.Module, last: bool):
    """DDP's `no_sync` on every micro-batch but the last of an accumulation (one all-reduce
    per optimizer step); a no-op elsewhere."""
    from torch.nn.parallel import DistributedDataParallel  # lazy: heavy import

    if last or not isinstance(model, DistributedDataParallel):
        return nullcontext()  # DeepSpeed engines accumulate by themselves
    return model.no_sync()


# -- DeepSpeed -------------------------------------------------------------------------------


def deepspeed_config(runtime: RuntimeConfig, optim: OptimConfig, *, micro_batch: int,
                     grad_accum: int, dtype: torch.dtype) -> dict[str, Any]:
    """The DeepSpeed config for these settings, or the recipe's JSON with "auto" filled in.

    The optimizer and scheduler are created by us and handed to `deepspeed.initialize`, so the
    config holds neither: one schedule implementation for both paths.
    """
    auto = {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": optim.max_grad_norm,
        "bf16": {"enabled": dtype == torch.bfloat16},
        "fp16": {"enabled": dtype == torch.float16},
    }
    if runtime.deepspeed_config:
        path = Path(runtime.deepspeed_config)
        if not path.exists():
            raise ConfigError(f"runtime.deepspeed_config: no such file {path}")
        config = json.loads(path.read_text())
        for key, value in auto.items():
            if config.get(key) == "auto":
                config[key] = value
            elif isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {k: (value.get(k) if v == "auto" else v)
                               for k, v in config[key].items()}
        return config
    zero: dict[str, Any] = {"stage": runtime.zero_stage, "overlap_comm": True,
                            "contiguous_gradients": True}
    if runtime.offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if runtime.zero_stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    if runtime.zero_stage == 3:
        # Save a consolidated 16-bit state dict so the final folder loads with from_pretrained.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {**auto, "zero_optimization": zero, "steps_per_print": 10**9,
            "wall_clock_breakdown": False}


def init_deepspeed(model, optimizer, scheduler, config: dict[str, Any]):
    """A DeepSpeed engine around our model, optimizer and scheduler."""
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    if "RANK" not in os.environ:  # one process without a launcher: a group of one
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(free_port()))

    deepspeed = require("deepspeed", "ZeRO (runtime.zero_stage 2 or 3)")
    # DeepSpeed caches process groups module-wide and releases them only when its own teardown
    # destroys the world. A world torn down by someone else in this process (an in-process vLLM
    # engine shut down: r1data.backends.vllm.shutdown) leaves the cache pointing at dead groups,
    # and the next engine fails with "Group ... is not registered". Dropping the cache before an
    # engine is built is harmless: DeepSpeed makes the groups it needs again from the live world.
    groups = sys.modules.get("deepspeed.utils.groups")
    release = getattr(groups, "_release_process_group_references", None)
    if release is not None:
        release(None)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer,
                                           lr_scheduler=scheduler, config=config)
    return engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_state_dict(model) -> dict[str, torch.Tensor] | None:
    """The whole model's weights on every path (ZeRO-3 gathers its shards; rank 0 gets them)."""
    if hasattr(model, "zero_optimization_partition_weights") and \
            model.zero_optimization_partition_weights():
        return model._zero3_consolidated_16bit_state_dict()
    module = getattr(model, "module", model)
    return module.state_dict()


def is_zero3(model: Any) -> bool:
    return hasattr(model, "zero_optimization_partition_weights") and \
        bool(model.zero_optimization_partition_weights())


def gathered_named_parameters(model: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """(name, full weight) for every parameter, on every rank; `prefix` is removed from names.

    Under ZeRO-3 each parameter is gathered from its shards for the time its value is consumed
    (`GatheredParameters` on one parameter at a time, so at most one whole weight is ever
    materialised besides the shards); the consumer must copy it before asking for the next.
    Elsewhere the parameters are read as they are. Every rank must iterate to the end: a
    gather is a collective.
    """
    module = getattr(model, "module", model)
    zero3 = is_zero3(model)
    for name, param in module.named_parameters():
        key = name.removeprefix(prefix)
        if zero3:
            import deepspeed  # lazy: optional dependency

            with deepspeed.zero.GatheredParameters([param]):
                yield key, param.data
        else:
            yield key, param.data

