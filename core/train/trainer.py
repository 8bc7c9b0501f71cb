"""The training loop: single process, resumable to the exact batch, reporting through callbacks."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core.atomic import write_json
from core.data.packed import PackedDataset
from core.errors import ConfigError, StudioError
from core.models import build_model
from core.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from core.train.config import TrainConfig, load_config
from core.train.device import Precision, resolve_device, resolve_precision
from core.train.inputs import to_model_input
from core.train.losses import scaled_cross_entropy, triplet_loss
from core.train.sampler import PKSampler

Report = Callable[[dict[str, Any]], Any]


@dataclass
class TrainResult:
    step: int
    stopped: bool
    run_dir: Path
    checkpoint: Path | None
    seconds: float
    device: str
    precision: str
    num_classes: int
    resumed_from: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


def _numpy_rng_state() -> list[Any]:
    # As plain lists, so checkpoints load with torch.load(weights_only=True).
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_numpy_rng_state(s: list[Any]) -> None:
    np.random.set_state((s[0], np.array(s[1], dtype=np.uint32), s[2], s[3], s[4]))


class _Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, report: Report | None, should_stop: Callable[[], bool] | None):
        self.cfg, self.run_dir = cfg, run_dir
        self.report = report or (lambda ev: None)
        self.should_stop = should_stop or (lambda: False)
        self.device = resolve_device(cfg.device)
        self.prec: Precision = resolve_precision(cfg.amp, self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True   # training shapes never change
        if not cfg.dataset:
            raise ConfigError("dataset: no dataset given to train on")
        self.dataset = PackedDataset(cfg.dataset)
        self.sampler = PKSampler(self.dataset, cfg.batch_ids, cfg.batch_seqs, cfg.frames, seed=cfg.seed)
        if self.sampler.num_classes < 2:
            raise StudioError(f"{cfg.dataset}: training needs at least 2 identities in the train split, "
                              f"found {self.sampler.num_classes}")
        self.model_args = {**cfg.model_args, "num_classes": self.sampler.num_classes}
        self.model = build_model(cfg.model, **self.model_args).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(cfg.milestones), gamma=cfg.gamma)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.prec.scaler)
        self.step = 0
        self.last_ckpt: Path | None = None
        self.saved_step: int | None = None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batch-loader")

    # -- state ----------------------------------------------------------------------------------
    def state(self, sampler_state: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": 1, "step": self.step, "config": self.cfg.to_dict(), "model_name": self.cfg.model,
            "model_args": self.model_args, "classes": self.sampler.classes,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "sampler": sampler_state, "torch_rng": torch.get_rng_state(), "numpy_rng": _numpy_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }

    def restore(self, path: Path) -> None:
        ck = load_checkpoint(path)
        if ck.get("model_name") != self.cfg.model or ck.get("classes") != self.sampler.classes:
            raise StudioError(f"{path}: checkpoint was trained with model {ck.get('model_name')!r} on "
                              f"{len(ck.get('classes', []))} identities; this run uses {self.cfg.model!r} on "
                              f"{self.sampler.num_classes}. Start a fresh run folder or pass resume=False.")
        try:
            self.model.load_state_dict(ck["model"])
        except RuntimeError as exc:
            raise StudioError(f"{path}: checkpoint does not fit this model's architecture ({exc})") from exc
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        self.sampler.set_state(ck["sampler"])
        torch.set_rng_state(ck["torch_rng"])
        _set_numpy_rng_state(ck["numpy_rng"])
        if self.device.type == "cuda" and ck.get("cuda_rng"):
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        self.step = int(ck["step"])
        self.last_ckpt, self.saved_step = path, self.step

    def checkpoint(self, sampler_state: dict[str, Any]) -> Path:
        path = save_checkpoint(self.run_dir, self.step, self.state(sampler_state), keep=self.cfg.keep_checkpoints)
        self.last_ckpt, self.saved_step = path, self.step
        self.report({"type": "checkpoint", "step": self.step, "path": str(path)})
        return path

    # -- data -----------------------------------------------------------------------------------
    def _load(self, plan: Any) -> tuple[torch.Tensor, torch.Tensor]:
        frames, labels = self.sampler.load(plan)
        x = torch.from_numpy(frames)
        if self.device.type == "cuda":
            x = x.pin_memory()   # lets the host->device copy overlap with compute
        return x, torch.from_numpy(labels)

    def _prefetch(self) -> tuple[dict[str, Any], Any]:
        """Draw the next plan now (RNG stays on this thread) and read its frames in the background.

        Returns the sampler state from *before* the draw: that is what a checkpoint taken before
        this batch is consumed must store, so a resume redraws the very same batch.
        """
        before = self.sampler.state()
        return before, self.pool.submit(self._load, self.sampler.plan())

    # -- one step -------------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.prec.dtype, enabled=self.prec.dtype is not None):
            out = self.model(to_model_input(x, cfg.model_input_size))
        # Losses in fp32: distances and softmax are where half precision loses accuracy.
        tri, tinfo = triplet_loss(out["embeddings"].float(), y, cfg.triplet_margin)
        ce, cinfo = scaled_cross_entropy(out["logits"].float(), y, cfg.ce_scale, cfg.label_smoothing)
        loss = cfg.triplet_weight * tri + cfg.ce_weight * ce
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {"loss": loss.detach(), "triplet": tri.detach(), "ce": ce.detach(), **tinfo, **cinfo}

    def evaluate(self) -> None:
        from core.evaluate.casia_b import evaluate_casia_b
        from core.evaluate.embed import extract_embeddings

        rows = self.dataset.indices(["gallery", "probe"])
        if not rows:
            return
        emb = extract_embeddings(self.model, self.dataset, rows, self.device,
                                 resize_to=self.cfg.model_input_size, autocast_dtype=self.prec.dtype)
        self.model.train()
        res = evaluate_casia_b(emb["embeddings"], emb["labels"], emb["types"], emb["views"],
                               metric=self.cfg.eval_metric, device=self.device)
        self.report({"type": "eval", "step": self.step, **{k: res[k] for k in ("NM", "BG", "CL")}})

    # -- loop -----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, t0 = self.cfg, time.perf_counter()
        start = self.step
        self.model.train()
        metrics: dict[str, float] = {}
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps, last_progress = time.perf_counter(), 0, 0.0
        stopped = False
        pending_state, pending = self._prefetch() if self.step < cfg.iterations else (self.sampler.state(), None)
        try:
            while self.step < cfg.iterations:
                if self.should_stop():
                    stopped = True
                    break
                x, y = pending.result()
                pending_state, pending = self._prefetch()
                stats = self.train_step(x, y)
                self.step += 1
                window_steps += 1
                for k, v in stats.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                if self.step % cfg.log_every == 0 or self.step == cfg.iterations:
                    metrics = {k: float(v.item()) / window_steps for k, v in sums.items()}
                    if not np.isfinite(metrics["loss"]):
                        raise StudioError(f"training diverged at step {self.step} (loss {metrics['loss']}); "
                                          f"try a lower lr or amp='off'")
                    now = time.perf_counter()
                    metrics.update(lr=float(self.optimizer.param_groups[0]["lr"]),
                                   sec_per_step=(now - window_start) / window_steps)
                    self.report({"type": "metrics", "step": self.step, **metrics})
                    sums, window_start, window_steps = {}, now, 0
                now = time.perf_counter()
                if now - last_progress >= 1.0 or self.step == cfg.iterations:
                    self.report({"type": "progress", "step": self.step, "total": cfg.iterations})
                    last_progress = now
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.iterations:
                    self.checkpoint(pending_state)
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self.evaluate()
            if self.saved_step != self.step:
                self.checkpoint(pending_state)
        finally:
            if pending is not None:
                pending.cancel()
            self.pool.shutdown(wait=True)
        return TrainResult(step=self.step, stopped=stopped, run_dir=self.run_dir, checkpoint=self.last_ckpt,
                           seconds=time.perf_counter() - t0, device=str(self.device), precision=self.prec.name,
                           num_classes=self.sampler.num_classes, resumed_from=start, metrics=metrics)


def train(cfg: TrainConfig | dict[str, Any] | str | Path, run_dir: str | Path, *, report: Report | None = None,
          should_stop: Callable[[], bool] | None = None, resume: bool = True) -> TrainResult:
    """Train ``cfg`` in ``run_dir``; with ``resume`` continue from ``checkpoints/latest.pt`` if present.

    ``report`` receives 'metrics', 'progress', 'checkpoint' and 'eval' events; ``should_stop`` is
    polled before every step and, when true, the loop checkpoints and returns ``stopped=True``.
    """
    cfg = load_config(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = _Trainer(cfg, run_dir, report, should_stop)
    write_json(run_dir / "config.json", cfg.to_dict())
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        trainer.restore(ckpt)
    return trainer.run()
