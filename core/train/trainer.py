"""The training loop: resumable to the exact batch, one or many processes, reporting through callbacks.

``train(cfg, run_dir)`` is the entry point; ``Trainer`` exposes the pieces (model, optimizer,
batch source, one step) for benchmarks and tests. Under torchrun with WORLD_SIZE > 1 the model
is wrapped in DDP and only rank 0 reports and writes files (see core.train.distributed).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from core.atomic import sweep_temporaries, write_json
from core.data.packed import PackedDataset
from core.data.transforms import Augmenter
from core.errors import ConfigError, StudioError
from core.models import build_model
from core.train.batches import Batch, BatchSource
from core.train.checkpoint import checkpoint_dir, load_checkpoint, save_checkpoint
from core.train.files import latest_checkpoint
from core.train.config import TrainConfig, load_config
from core.device import Precision, resolve_device, resolve_precision
from core.train.distributed import Distributed
from core.train.losses import scaled_cross_entropy, supcon_lp_loss, triplet_loss
from core.train.pose_augment import augment_poses
from core.train.optim import build_optimizer, build_scheduler
from core.train.sampler import PKSampler

Report = Callable[[dict[str, Any]], Any]
# (model, dataset, device, autocast dtype) -> the headline numbers of an evaluation on the test
# split. Built by the caller for the dataset's protocol: training knows no protocol itself.
Evaluator = Callable[[nn.Module, PackedDataset, torch.device, "torch.dtype | None"], "dict[str, float | None]"]
CHECKPOINT_FORMAT = 2


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
    world_size: int = 1
    compiled: bool = False


def _numpy_rng_state() -> list[Any]:
    # As plain lists, so checkpoints load with torch.load(weights_only=True).
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_numpy_rng_state(s: list[Any]) -> None:
    np.random.set_state((s[0], np.array(s[1], dtype=np.uint32), s[2], s[3], s[4]))


def _python_rng_state() -> list[Any]:
    version, keys, gauss = random.getstate()
    return [version, list(keys), gauss]


def _set_python_rng_state(s: list[Any]) -> None:
    random.setstate((s[0], tuple(s[1]), s[2]))


def compile_wanted(setting: bool | str, device: torch.device) -> bool:
    """The config's ``compile``: 'auto' compiles on CUDA only (on CPU inductor's build takes minutes
    and the small CPU models gain little), True everywhere, False never."""
    return device.type == "cuda" if setting == "auto" else bool(setting)


def _channels_last(model: nn.Module) -> None:
    # Only 2-D convolutions: channels_last is a 4-D layout and 3-D convs (GaitGL, DeepGaitV2-3D)
    # would reject it.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.to(memory_format=torch.channels_last)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, report: Report | None = None,
                 should_stop: Callable[[], bool] | None = None, evaluator: Evaluator | None = None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.evaluator = evaluator
        self._warned_no_evaluator = False
        self.step = 0
        self.last_ckpt: Path | None = None
        self.saved_step: int | None = None
        if not cfg.dataset:
            raise ConfigError("dataset: no dataset given to train on")
        self.dist = Distributed.from_env()          # None for a single process: no process group at all
        self.rank, self.world = (self.dist.rank, self.dist.world) if self.dist else (0, 1)
        self.is_main = self.rank == 0
        self.report = (report or (lambda ev: None)) if self.is_main else (lambda ev: None)
        self.should_stop = should_stop or (lambda: False)
        device = resolve_device(cfg.device)
        self.device = self.dist.device(device) if self.dist else device
        self.prec: Precision = resolve_precision(cfg.amp, self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        random.seed(cfg.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True   # training shapes barely change

        from core.layout import require_split

        require_split(cfg.dataset, "train")
        self.dataset = PackedDataset(cfg.dataset)
        self.augmenter = Augmenter(cfg.augment, self.dataset.frame_shape)
        self.sampler = PKSampler(self.dataset, cfg.batch_ids, cfg.batch_seqs, seed=cfg.seed, sampling=cfg.sampling,
                                 augmenter=self.augmenter, use_variants=cfg.use_variants,
                                 common_batch=cfg.common_batch)
        if self.sampler.num_classes < 2:
            raise StudioError(f"{cfg.dataset}: training needs at least 2 identities in the train split, "
                              f"found {self.sampler.num_classes}")
        if self.sampler.batch_size % self.world:
            raise ConfigError(f"batch_ids x batch_seqs = {self.sampler.batch_size} does not split evenly over "
                              f"{self.world} processes")

        self.model_args = {**cfg.model_args, "num_classes": self.sampler.num_classes}
        model = build_model(cfg.model, **self.model_args).to(self.device)
        # Pose-fusing models (SkeletonGait++) get the dataset's heatmaps stacked behind each silhouette.
        self.heatmap_channels = int(getattr(model, "heatmap_channels", 0) or 0)
        if self.heatmap_channels:
            self.dataset.require_heatmaps(self.heatmap_channels, cfg.model)
        # Skeleton-only models (GaitGraph2, GaitTR) take the frames' 2-D keypoints instead of the silhouettes.
        keypoints = None
        if getattr(model, "input_kind", "") == "pose":
            from core.train.keypoints import dataset_keypoints

            if any(step.type != "cut" for step in cfg.augment):
                raise ConfigError(f"augment: model {cfg.model!r} reads keypoints; the image augmentations "
                                  f"{[s.type for s in cfg.augment if s.type != 'cut']} do not apply to them")
            keypoints = dataset_keypoints(self.dataset, self.sampler.rows, cfg.model,
                                          getattr(model, "fill_empty_joints", True))
            from core.models.resgcn import SKELETONS

            self.pose_flip = SKELETONS[model.joint_format][3]
        elif cfg.pose_augment:
            raise ConfigError(f"pose_augment: model {cfg.model!r} reads silhouettes, not keypoints")
        if self.device.type == "cuda" and cfg.channels_last:
            _channels_last(model)
        if self.dist and self.device.type == "cuda" and cfg.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model                                  # the plain module: state_dict, evaluation
        self.optimizer = build_optimizer(cfg.optimizer, model.parameters())
        self.scheduler = build_scheduler(cfg.scheduler, self.optimizer, cfg.iterations)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.prec.scaler)
        self.net: nn.Module = model                          # what the step calls: DDP / compiled wrappers
        if self.dist:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # With ce_weight 0 the classifier's weights get no gradient; DDP must be told.
            self.net = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                           find_unused_parameters=cfg.loss.ce_weight == 0)
        self.eager_net = self.net
        self.compiled = False
        if compile_wanted(cfg.compile, self.device):
            self._compile()
        self.source = BatchSource(self.sampler, self.device, cfg.model_input_size, cfg.data_on_device,
                                  rank=self.rank, world=self.world, heatmaps=self.heatmap_channels > 0,
                                  keypoints=keypoints)

    def _compile(self) -> None:
        # CUDA graphs replay the whole compiled forward/backward as one launch: worth it when the
        # step is launch-bound (small batches), and only sound with static shapes ('fixed' sampling).
        graphs = self.cfg.cuda_graphs and self.device.type == "cuda" and self.cfg.sampling.type.startswith("fixed")
        try:
            self.net = torch.compile(self.eager_net, **({"mode": "reduce-overhead"} if graphs else {}))
            self.compiled = True
        except Exception as exc:  # noqa: BLE001 - any failure means: train eagerly
            self._compile_failed(exc)

    def _compile_failed(self, exc: BaseException) -> None:
        self.net, self.compiled = self.eager_net, False
        self.report({"type": "warning", "step": self.step,
                     "message": f"torch.compile failed, training without it ({type(exc).__name__}: {str(exc)[:300]})"})

    # -- state ----------------------------------------------------------------------------------
    def state(self, sampler_state: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT, "step": self.step, "config": self.cfg.to_dict(), "model_name": self.cfg.model,
            "model_args": self.model_args, "classes": self.sampler.classes, "world_size": self.world,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "sampler": sampler_state, "torch_rng": torch.get_rng_state(), "numpy_rng": _numpy_rng_state(),
            "python_rng": _python_rng_state(),
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
        if ck.get("python_rng"):
            _set_python_rng_state(ck["python_rng"])
        if self.device.type == "cuda" and ck.get("cuda_rng"):
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        self.step = int(ck["step"])
        self.last_ckpt, self.saved_step = path, self.step

    def checkpoint(self) -> Path | None:
        if self.is_main:
            path = save_checkpoint(self.run_dir, self.step, self.state(self.source.state()),
                                   keep=self.cfg.keep_checkpoints)
            self.last_ckpt = path
            self.report({"type": "checkpoint", "step": self.step, "path": str(path)})
        self.saved_step = self.step
        return self.last_ckpt

    # -- one step -------------------------------------------------------------------------------
    def _losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg.loss
        with torch.autocast(self.device.type, dtype=self.prec.dtype, enabled=self.prec.dtype is not None):
            x = batch.x
            if self.cfg.pose_augment:
                x = augment_poses(x, batch.lengths, self.cfg.pose_augment, self.pose_flip)
            out = self.net(x, batch.lengths)
        stats: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=self.device)
        # Losses in fp32: distances and softmax are where half precision loses accuracy.
        if cfg.triplet_weight:
            emb = out["embeddings"].float()
            if self.dist:
                emb = self.dist.all_gather_with_grad(emb)
            tri, tinfo = triplet_loss(emb, batch.loss_labels, cfg.triplet_margin, cfg.triplet_mining, batch.tindex)
            # Each rank's gradient covers its own embeddings only and DDP averages over ranks:
            # scaling by the world size makes the update that of the whole batch (as OpenGait).
            loss = loss + cfg.triplet_weight * tri * self.world
            stats.update(triplet=tri.detach(), **tinfo)
        if cfg.supcon_weight:
            feats = out["embeddings"].float().flatten(1)
            if self.dist:
                feats = self.dist.all_gather_with_grad(feats)
            sc = supcon_lp_loss(feats, batch.loss_labels, cfg.supcon_temperature)
            loss = loss + cfg.supcon_weight * sc * self.world   # as the triplet loss: the whole batch's update
            stats.update(supcon=sc.detach())
        if cfg.ce_weight:
            if out.get("logits") is None:
                raise ConfigError(f"model {self.cfg.model!r} produced no logits with these model_args; "
                                  f"set loss.ce_weight to 0 or enable its classifier")
            ce, cinfo = scaled_cross_entropy(out["logits"].float(), batch.labels, cfg.ce_scale, cfg.label_smoothing)
            loss = loss + cfg.ce_weight * ce
            stats.update(ce=ce.detach(), **cinfo)
        return loss, stats

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.compiled and self.cfg.cuda_graphs and self.device.type == "cuda":   # harmless without graphs
            # A new iteration: the graph may reuse the memory of the previous step's outputs.
            torch.compiler.cudagraph_mark_step_begin()
        self.optimizer.zero_grad(set_to_none=True)
        try:
            loss, stats = self._losses(batch)
            self.scaler.scale(loss).backward()
        except Exception as exc:  # noqa: BLE001
            if not self.compiled:
                raise
            # Compilation happens on first use; if it fails there, redo the step eagerly.
            self._compile_failed(exc)
            self.optimizer.zero_grad(set_to_none=True)
            loss, stats = self._losses(batch)
            self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {"loss": loss.detach(), **stats}

    def evaluate(self) -> None:
        if not self.is_main:
            return
        if self.evaluator is None:
            if not self._warned_no_evaluator:
                self._warned_no_evaluator = True
                self.report({"type": "warning", "step": self.step,
                             "message": "eval_every is set but no evaluator was given: periodic evaluation skipped"})
            return
        numbers = self.evaluator(self.model, self.dataset, self.device, self.prec.dtype)
        self.model.train()
        if numbers:
            self.report({"type": "eval", "step": self.step, **numbers})

    # -- loop -----------------------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        stop = bool(self.should_stop()) if self.is_main else False
        return self.dist.any(stop) if self.dist else stop

    def run(self) -> TrainResult:
        cfg, t0 = self.cfg, time.perf_counter()
        start = self.step
        self.model.train()
        metrics: dict[str, float] = {}
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps, last_progress = time.perf_counter(), 0, 0.0
        stopped = False
        try:
            if self.step < cfg.iterations:
                self.source.start()
            while self.step < cfg.iterations:
                if self._stop_requested():
                    stopped = True
                    break
                stats = self.train_step(self.source.next())
                self.step += 1
                window_steps += 1
                for k, v in stats.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                if self.step % cfg.log_every == 0 or self.step == cfg.iterations:
                    metrics = {k: float(v.item()) / window_steps for k, v in sums.items()}
                    if self.dist:
                        metrics = self.dist.mean(metrics)
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
                    self.checkpoint()
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self.evaluate()
                    if self.dist:
                        self.dist.barrier()
            if self.saved_step != self.step:
                self.checkpoint()
            if self.dist:
                self.dist.barrier()     # every rank leaves only after rank 0's last checkpoint exists
        finally:
            self.source.close()
        return TrainResult(step=self.step, stopped=stopped, run_dir=self.run_dir, checkpoint=self.last_ckpt,
                           seconds=time.perf_counter() - t0, device=str(self.device), precision=self.prec.name,
                           num_classes=self.sampler.num_classes, resumed_from=start, metrics=metrics,
                           world_size=self.world, compiled=self.compiled)

    def close(self) -> None:
        self.source.close()
        if self.dist:
            self.dist.close()


def train(cfg: TrainConfig | dict[str, Any] | str | Path, run_dir: str | Path, *, report: Report | None = None,
          should_stop: Callable[[], bool] | None = None, resume: bool = True,
          on_trained: Callable[[Trainer], Any] | None = None, evaluator: Evaluator | None = None) -> TrainResult:
    """Train ``cfg`` in ``run_dir``; with ``resume`` continue from ``checkpoints/latest.pt`` if present.

    ``report`` receives 'metrics', 'progress', 'checkpoint', 'eval' and 'warning' events (rank 0
    only); ``should_stop`` is polled before every step and, when true, the loop checkpoints and
    returns ``stopped=True``. ``on_trained`` is called with the trainer after the loop, on every
    rank, before the trainer is closed (to keep extra artifacts or inspect the model).
    ``evaluator`` runs every ``cfg.eval_every`` steps on rank 0 and its numbers become the 'eval'
    event (the caller builds it for the dataset's protocol: ``core.evaluate.run.periodic_evaluator``).
    """
    cfg = load_config(cfg)
    run_dir = Path(run_dir)
    trainer = Trainer(cfg, run_dir, report, should_stop, evaluator)
    try:
        if trainer.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            # A run killed while saving leaves `.ckpt-<step>.pt.<random>.tmp` behind; this run is
            # the folder's only writer, so whatever is half-written there is garbage.
            sweep_temporaries(checkpoint_dir(run_dir))
            write_json(run_dir / "config.json", cfg.to_dict())
        ckpt = latest_checkpoint(run_dir) if resume else None
        if ckpt is not None:
            trainer.restore(ckpt)
        result = trainer.run()
        if on_trained is not None:
            on_trained(trainer)
        return result
    finally:
        trainer.close()
