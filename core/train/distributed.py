"""Multi-process (DDP) training under ``torchrun``; a single process never touches torch.distributed.

``torchrun --nproc_per_node=N -m core train ...`` starts N copies with RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT in their environment. With WORLD_SIZE > 1 the trainer
joins a process group (gloo for CPU tensors, NCCL for CUDA ones, one group serving both), each
rank trains on its share of every global P x K batch, and only rank 0 writes checkpoints,
metrics and the run's files. ``torchrun --nproc_per_node=1`` (WORLD_SIZE=1), like a plain
``python -m core train``, runs as a single process without a process group (OpenGait needs one
even then; we do not).

This module is the process group only (the trainer uses it); starting a run on every rank is
``core.train.launch``, which sits above the trainer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from core.errors import ConfigError


@dataclass(frozen=True)
class LaunchEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launch_env(environ: dict[str, str] | None = None) -> LaunchEnv:
    """Rank and world size from torchrun's variables (absent: one process)."""
    env = os.environ if environ is None else environ

    def num(key: str, default: int) -> int:
        raw = env.get(key)
        if raw in (None, ""):
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"environment variable {key}={raw!r} is not an integer") from None

    out = LaunchEnv(rank=num("RANK", 0), world_size=num("WORLD_SIZE", 1), local_rank=num("LOCAL_RANK", 0))
    if out.world_size < 1 or not 0 <= out.rank < out.world_size:
        raise ConfigError(f"RANK={out.rank} does not fit WORLD_SIZE={out.world_size}")
    return out


def _backend() -> str:
    # One group for both: CPU tensors (control messages, metrics) go through gloo, CUDA tensors
    # (gradients, gathered embeddings) through NCCL.
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


def ensure_process_group(env: LaunchEnv) -> bool:
    """Join the group if not yet joined; True if this call created it."""
    if not env.distributed:
        raise RuntimeError("ensure_process_group called for a single process")
    if dist.is_initialized():
        return False
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise ConfigError(f"WORLD_SIZE={env.world_size} but {', '.join(missing)} not set; launch with torchrun")
    if torch.cuda.is_available():
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=_backend(), init_method="env://", rank=env.rank, world_size=env.world_size)
    return True


class Distributed:
    """The trainer's view of the process group (only built when WORLD_SIZE > 1)."""

    def __init__(self, env: LaunchEnv):
        self.env = env
        self.rank, self.world = env.rank, env.world_size
        self.owns_group = ensure_process_group(env)

    @classmethod
    def from_env(cls) -> "Distributed | None":
        env = launch_env()
        return cls(env) if env.distributed else None

    def device(self, device: torch.device) -> torch.device:
        if device.type == "cuda":
            return torch.device("cuda", self.env.local_rank % torch.cuda.device_count())
        return device

    def any(self, flag: bool) -> bool:
        """True on every rank if it is True on any (a stop request seen by rank 0 stops all)."""
        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(t)
        return {k: float(v) / self.world for k, v in zip(keys, t.tolist())}

    def all_gather_with_grad(self, x: Tensor) -> Tensor:
        """Concatenate every rank's ``x`` (rank 0 first); gradients flow into this rank's part only,
        as in OpenGait, which then scales the loss by the world size to undo DDP's averaging."""
        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.detach().contiguous())
        parts[self.rank] = x
        return torch.cat(parts, 0)

    def barrier(self) -> None:
        # A CPU all-reduce rather than dist.barrier(): with one group serving gloo and NCCL, it
        # stays on gloo and never needs a CUDA stream.
        self.any(False)

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
