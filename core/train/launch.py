"""Starting one training run on every rank of a ``torchrun`` launch (the CLI's train verb uses it).

Only rank 0 may create the run in the catalog: ``announce`` (rank 0) sends the config and run
folder to the others, which call ``follow_leader`` instead and train the same run alongside.
The process group itself is ``core.train.distributed``; this module sits above the trainer.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from core.train.distributed import ensure_process_group, launch_env
from core.train.trainer import train


def _destroy_at_exit() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_follower() -> bool:
    """True on ranks > 0 of a multi-process launch: they must not create runs or touch the catalog."""
    env = launch_env()
    return env.distributed and not env.is_main


def announce(cfg: Any, run_dir: str | Path) -> None:
    """Rank 0: send the run's config and folder to the other ranks (no-op for one process)."""
    env = launch_env()
    if not env.distributed:
        return
    if ensure_process_group(env):
        atexit.register(_destroy_at_exit)
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    dist.broadcast_object_list([data, str(run_dir)], src=0, device=torch.device("cpu"))


def follow_leader(on_trained: Any = None) -> dict[str, Any]:
    """Ranks > 0: receive rank 0's run and train it alongside; returns a small summary.
    ``on_trained`` is passed to ``train``."""
    env = launch_env()
    created = ensure_process_group(env)
    box: list[Any] = [None, None]
    dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
    cfg, run_dir = box
    try:
        res = train(cfg, run_dir, resume=True, on_trained=on_trained)
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()
    return {"rank": env.rank, "world_size": env.world_size, "run_dir": str(run_dir), "step": res.step,
            "stopped": res.stopped}
