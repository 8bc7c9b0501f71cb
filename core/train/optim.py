"""Optimizer and learning-rate schedule from the config's sections (stepped once per iteration)."""

from __future__ import annotations

from typing import Iterable

import torch

from core.train.sections import OptimizerConfig, SchedulerConfig


def build_optimizer(cfg: OptimizerConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.name]
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)


def build_scheduler(cfg: SchedulerConfig, optimizer: torch.optim.Optimizer,
                    iterations: int) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.name == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.milestones), gamma=cfg.gamma)
    if cfg.name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.max_lr, total_steps=cfg.total_steps or iterations, pct_start=cfg.pct_start,
            anneal_strategy=cfg.anneal_strategy, cycle_momentum=cfg.cycle_momentum,
            base_momentum=cfg.base_momentum, max_momentum=cfg.max_momentum, div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor, three_phase=cfg.three_phase)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.t_max or iterations, eta_min=cfg.eta_min)
