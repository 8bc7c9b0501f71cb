"""Training configuration: typed sections, strict loading from YAML/JSON/dict, and named presets.

Strictness is the point: a misspelt key silently falling back to a default would waste a
multi-hour run, so unknown keys and bad values raise ConfigError naming the key.

Layout (every section optional; what is given overrides the preset or the defaults)::

    model, model_args, dataset, iterations, batch_ids (P), batch_seqs (K)
    optimizer:  name sgd|adam|adamw, lr, momentum, nesterov, weight_decay, betas, eps
    scheduler:  name multistep|cosine|onecycle, milestones, gamma, t_max, eta_min, max_lr, total_steps,
                pct_start, anneal_strategy, div_factor, final_div_factor, three_phase, cycle_momentum, ...
    loss:       triplet_weight, triplet_margin, triplet_mining all|hard, ce_weight, ce_scale, label_smoothing,
                supcon_weight, supcon_temperature
    sampling:   type (OpenGait's sample_type), frames, frames_min, frames_max, skip, all_limit
    augment:    ordered list of steps, exactly one 'cut' (OpenGait's BaseSilCuttingTransform)
    pose_augment: keypoint models' augmentations (core.train.pose_augment)
    amp, device, compile (auto|true|false), cuda_graphs, channels_last, sync_bn, data_on_device,
    seed, logging/checkpoint cadence

Configs written before the sections existed (flat ``lr``, ``milestones``, ``frames`` ...) still
load: those keys are moved into their sections, so old runs and checkpoints stay readable.

This module holds ``TrainConfig``, its loading and the named presets; the sections and their checks
are in :mod:`~core.train.sections`, single-value checks in :mod:`~core.train.config_values`,
reading files and legacy keys in :mod:`~core.train.config_read`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from core.data.settings import AugmentStep, SamplingConfig
from core.errors import ConfigError, unknown_keys as _unknown
from core.train.config_read import LEGACY_KEYS, migrate_legacy, read_source
from core.train.config_values import as_bool, as_choice, as_int, as_size
from core.train.pose_augment import PoseStep, pose_steps
from core.train.sections import (SECTIONS, LossConfig, OptimizerConfig, SchedulerConfig, augment_steps, loss_section,
                                 optimizer_section, sampling_section, scheduler_section)

# Callers import every config type from here.
__all__ = ["AugmentStep", "LossConfig", "OptimizerConfig", "SamplingConfig", "SchedulerConfig", "TrainConfig",
           "PRESETS", "available_presets", "load_config", "preset"]

AMP_MODES = ("auto", "off", "bf16", "fp16")
ON_DEVICE = ("auto", "always", "host", "never")


@dataclass
class TrainConfig:
    model: str = "gaitbase"
    model_args: dict[str, Any] = field(default_factory=dict)   # num_classes is filled from the data
    dataset: str = ""
    iterations: int = 60000
    batch_ids: int = 8          # P
    batch_seqs: int = 16        # K
    common_batch: int = 0       # N > 0: batches of N sequences whatever their ids (OpenGait's CommonSampler), not P x K
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    augment: tuple[AugmentStep, ...] = (AugmentStep("cut"),)
    pose_augment: tuple[PoseStep, ...] = ()    # keypoint models only: core.train.pose_augment
    amp: str = "auto"
    device: str = "auto"
    # torch.compile the model: 'auto' on CUDA only (CPU compiles take minutes and gain little),
    # true everywhere, false never; a failing compile logs one warning and trains eagerly.
    compile: bool | str = "auto"
    cuda_graphs: bool = False   # CUDA + compile + fixed-size sampling only: compile mode "reduce-overhead"
    channels_last: bool = True  # CUDA only: NHWC convolutions (much faster with bf16)
    sync_bn: bool = True        # CUDA multi-process only: BatchNorm statistics over the global batch
    data_on_device: str = "auto"   # training frames in device memory ('auto': if they fit, else host RAM if
                                   # that fits), 'host' RAM, 'never' (memmap reads); core.train.batches
    use_variants: bool = True      # train on merged clothing variants too (False: the real sequences only)
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_every: int = 0
    eval_metric: str = "euc"
    input_size: tuple[int, int] = (64, 44)      # frames after side cutting; others are resized to it
    resize_to: tuple[int, int] | None = None    # train/eval smaller than input_size (CPU presets)
    threads: int = 0            # CPU threads for torch; 0 keeps torch's default
    preset: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; ``load_config`` of it gives back an equal config."""
        return json.loads(json.dumps(asdict(self)))

    @property
    def model_input_size(self) -> tuple[int, int]:
        """What the model is fed: ``resize_to`` if set, else ``input_size``."""
        return tuple(self.resize_to or self.input_size)  # type: ignore[return-value]

    @property
    def frames(self) -> int:
        """Frames per sequence of a fixed-size batch (the most a batch can hold for 'unfixed')."""
        s = self.sampling
        return s.frames if s.type.startswith("fixed") else s.frames_max if s.type.startswith("unfixed") else 0


_FIELDS = {f.name: f for f in fields(TrainConfig)}


def load_config(source: str | Path | dict[str, Any] | TrainConfig) -> TrainConfig:
    """Build a validated TrainConfig from a YAML/JSON file, a dict (e.g. ``asdict(cfg)``) or a config.

    A ``preset`` key alone is enough: its values are the defaults the other keys override;
    a section given as a mapping overrides only the keys it names, ``augment`` replaces the list.
    """
    data = migrate_legacy(source.to_dict() if isinstance(source, TrainConfig) else read_source(source))
    _unknown("config ", [k for k in data if k not in _FIELDS], list(_FIELDS) + list(LEGACY_KEYS))
    base = TrainConfig()
    if data.get("preset"):
        if data["preset"] not in PRESETS:
            raise ConfigError(f"preset: unknown preset {data['preset']!r}; available: {sorted(PRESETS)}")
        base = PRESETS[data["preset"]]()
    merged = base.to_dict()
    given: dict[str, set[str]] = {}
    for k, v in data.items():
        if k in SECTIONS:
            if not isinstance(v, dict):
                raise ConfigError(f"{k}: expected a mapping of {k} settings, got {v!r}")
            _unknown(f"{k} ", [s for s in v if s not in SECTIONS[k].__dataclass_fields__],
                     list(SECTIONS[k].__dataclass_fields__))
            merged[k] = {**merged[k], **v}
            given[k] = set(v)
        else:
            merged[k] = v
    return _validate(merged, given)


# -- validation ---------------------------------------------------------------------------------------

def _device(v: Any) -> str:
    """Any device core.device accepts (auto, cpu, cuda, cuda:N, mps), in its normal form; only the
    spelling is checked, since a config may name a GPU this machine lacks."""
    from core.device import device_name   # imports torch, which loading a config does not need

    if not isinstance(v, str):
        raise ConfigError(f"device: expected a device name, got {v!r}")
    try:
        return device_name(v)
    except ConfigError as exc:
        raise ConfigError(f"device: {exc}") from None


def _validate(d: dict[str, Any], given: dict[str, set[str]] | None = None) -> TrainConfig:
    from core.models.registry import model_arg_names

    given = given or {}
    out: dict[str, Any] = {}
    if not isinstance(d["model"], str):
        raise ConfigError(f"model: expected a model name, got {d['model']!r}")
    allowed = model_arg_names(d["model"])   # raises ConfigError for an unknown model
    margs = d["model_args"] or {}
    if not isinstance(margs, dict):
        raise ConfigError(f"model_args: expected a mapping, got {margs!r}")
    bad = sorted(set(margs) - allowed)
    if bad:
        raise ConfigError(f"model_args: unknown argument(s) {bad} for model {d['model']!r}; accepted: {sorted(allowed)}")
    out["model"], out["model_args"] = d["model"], dict(margs)
    out["dataset"] = str(d["dataset"] or "")
    for k, lo in (("iterations", 1), ("batch_ids", 1), ("batch_seqs", 1), ("seed", 0),
                  ("log_every", 1), ("checkpoint_every", 1), ("keep_checkpoints", 1), ("eval_every", 0),
                  ("threads", 0), ("common_batch", 0)):
        out[k] = as_int(k, d[k], lo)
    if out["batch_seqs"] < 2:
        raise ConfigError("batch_seqs: the triplet loss needs at least 2 sequences per identity")
    out["optimizer"] = optimizer_section(d["optimizer"], given.get("optimizer", set()))
    out["scheduler"] = scheduler_section(d["scheduler"], given.get("scheduler", set()))
    out["loss"] = loss_section(d["loss"])
    sched = out["scheduler"]
    if sched.name == "onecycle" and sched.total_steps and sched.total_steps < out["iterations"]:
        # torch's OneCycleLR raises once stepped past its total: the run would die at that step.
        raise ConfigError(f"scheduler.total_steps: {sched.total_steps} is less than iterations "
                          f"({out['iterations']}); the one-cycle schedule cannot run past its end")
    out["sampling"] = sampling_section(d["sampling"], given.get("sampling", set()))
    out["augment"] = augment_steps(d["augment"])
    out["pose_augment"] = pose_steps(d["pose_augment"])
    out["amp"] = as_choice("amp", d["amp"], AMP_MODES)
    out["device"] = _device(d["device"])
    for k in ("channels_last", "sync_bn", "use_variants", "cuda_graphs"):
        out[k] = as_bool(k, d[k])
    if d["compile"] != "auto" and not isinstance(d["compile"], bool):
        raise ConfigError(f"compile: expected true or false (or 'auto': on CUDA only), got {d['compile']!r}")
    out["compile"] = d["compile"]
    out["data_on_device"] = as_choice("data_on_device", d["data_on_device"], ON_DEVICE)
    out["eval_metric"] = as_choice("eval_metric", d["eval_metric"], ("euc", "cos"))
    out["input_size"] = as_size("input_size", d["input_size"])
    out["resize_to"] = None if d["resize_to"] in (None, "", False) else as_size("resize_to", d["resize_to"])
    out["preset"] = str(d["preset"] or "")
    return TrainConfig(**out)


# -- presets ---------------------------------------------------------------------------------------------

GAITBASE_REF = {"channels": [64, 128, 256, 512], "parts": 16, "embed_dim": 256}

# OpenGait's gaitbase_da_casiab.yaml: BaseSilCutting, RandomRotate(0.3), RandomErasing(0.3).
CASIA_B_DA = (AugmentStep("cut"), AugmentStep("rotate", prob=0.3), AugmentStep("erase", prob=0.3))


def _casia_b_gaitbase() -> TrainConfig:
    # OpenGait's GaitBase on CASIA-B: 8x16x30, SGD 0.1, steps at 20k/40k/50k of 60k
    # (docs/contracts.md, "Training reference").
    return TrainConfig(model="gaitbase", model_args=dict(GAITBASE_REF), augment=CASIA_B_DA, preset="casia-b-gaitbase")


def _grew_gaitbase() -> TrainConfig:
    # OpenGait's gaitbase_da_grew.yaml: 32x4, 20-40 unordered frames, 180k iterations, and its
    # perspective warp before cutting, then flip and rotation after.
    return TrainConfig(model="gaitbase", model_args=dict(GAITBASE_REF), iterations=180000, batch_ids=32, batch_seqs=4,
                       sampling=SamplingConfig(type="unfixed_unordered", frames_min=20, frames_max=40),
                       scheduler=SchedulerConfig(milestones=(80000, 120000, 150000)),
                       augment=(AugmentStep("perspective", prob=0.2), AugmentStep("cut"), AugmentStep("flip", prob=0.2),
                                AugmentStep("rotate", prob=0.2)),
                       checkpoint_every=5000, preset="grew-gaitbase")


def _ccvid_gaitbase() -> TrainConfig:
    # OpenGait ships no CCVID recipe: GaitBase's CASIA-B one with K = 8 (CCVID's 75 training ids
    # have about 12 tracklets each), a shorter schedule for its ~950 training tracklets, and
    # cosine distance, which is what the CCVID protocol ranks by.
    return TrainConfig(model="gaitbase", model_args=dict(GAITBASE_REF), iterations=40000, batch_ids=8, batch_seqs=8,
                       scheduler=SchedulerConfig(milestones=(20000, 30000)),
                       augment=(AugmentStep("cut"), AugmentStep("flip", prob=0.2), AugmentStep("rotate", prob=0.3),
                                AugmentStep("erase", prob=0.3)),
                       eval_metric="cos", preset="ccvid-gaitbase")


def _demo_cpu(model: str, model_args: dict[str, Any], name: str, **extra: Any) -> Callable[[], TrainConfig]:
    # Sized for 2 CPU cores: narrow channels, half resolution (32x22), 4x4x10 frames per batch.
    # On the 24-id synthetic demo set GaitBase trains in ~1.5 minutes and scores NM > 95% (chance 8%).
    def make() -> TrainConfig:
        base = dict(model=model, model_args=dict(model_args), iterations=200, batch_ids=4, batch_seqs=4,
                    sampling=SamplingConfig(frames=10), optimizer=OptimizerConfig(lr=0.05),
                    scheduler=SchedulerConfig(milestones=(150,)), log_every=10, checkpoint_every=100,
                    keep_checkpoints=2, resize_to=(32, 22), preset=name)
        return TrainConfig(**{**base, **extra})
    return make


_GLN_DEMO = {"channels": [8, 16, 32], "lateral_dim": 32, "embed_dim": 32, "hidden_dim": 32, "bins": [8, 4, 2, 1]}


# Presets name their model; building one whose model is not registered raises ConfigError
# ("model: unknown model ..."), so a preset never silently trains something else.
PRESETS: dict[str, Callable[[], TrainConfig]] = {
    "demo-cpu": _demo_cpu("gaitbase", {"channels": [16, 32, 64, 128], "parts": 8, "embed_dim": 64}, "demo-cpu"),
    "demo-cpu-gaitset": _demo_cpu("gaitset", {"channels": [8, 16, 32], "bins": [8, 4, 2, 1], "embed_dim": 64},
                                  "demo-cpu-gaitset", loss=LossConfig(ce_weight=0.0)),
    # GaitGL's temporal convolutions want frames in order, as OpenGait's fixed_ordered config.
    # GaitGL's classifier gives plain linear logits: OpenGait trains it with Adam and an unscaled,
    # unsmoothed cross-entropy; scale 16 on such logits stalls it near chance.
    "demo-cpu-gaitgl": _demo_cpu("gaitgl", {"channels": [8, 16, 32], "parts": 8}, "demo-cpu-gaitgl",
                                 sampling=SamplingConfig(type="fixed_ordered", frames=10),
                                 optimizer=OptimizerConfig(name="adam", lr=1e-3, weight_decay=5e-4),
                                 loss=LossConfig(ce_scale=1.0, label_smoothing=0.0), threads=1),
    "demo-cpu-deepgaitv2": _demo_cpu("deepgaitv2", {"channels": [8, 16, 32, 64], "parts": 8}, "demo-cpu-deepgaitv2"),
    # Needs pose heatmaps beside the silhouettes: a dataset converted with a --pose option
    # (the demo set: --pose groundtruth), whose packed form then holds packed/heatmaps.npy.
    # One torch thread: its two branches of small convolutions measured 0.5-0.7 s a step with one
    # thread and 3.5-6 s with two on a busy 2-core machine (OpenMP workers spinning on each other).
    "demo-cpu-skeletongait++": _demo_cpu("skeletongait++", {"channels": [8, 16, 32, 64], "layers": [1, 1, 1, 1],
                                                            "parts": 8}, "demo-cpu-skeletongait++", threads=1),
    # OpenGait's Baseline on its Plain backbone (gaitbase_hid.yaml), narrowed for the CPU.
    "demo-cpu-gaitbase-plain": _demo_cpu("gaitbase-plain", {"layers": ["BC-16", "M", "BC-32", "M", "BC-64", "BC-64"],
                                                            "bins": [8, 4, 2, 1], "embed_dim": 64},
                                         "demo-cpu-gaitbase-plain"),
    # GaitPart: no classifier (triplet only, as OpenGait) and frames in order for its temporal templates;
    # its focal convs need the 8 rows left after two pools of the 32-row frames.
    "demo-cpu-gaitpart": _demo_cpu("gaitpart", {"layers": ["BC-16", "BC-16", "M", "FC-32-2", "FC-32-2", "M",
                                                           "FC-64-3", "FC-64-3"], "parts": 8, "embed_dim": 64},
                                   "demo-cpu-gaitpart", sampling=SamplingConfig(type="fixed_ordered", frames=10),
                                   loss=LossConfig(ce_weight=0.0)),
    # GLN's two phases: the lateral network on the triplet loss, then (gln_phase2.yaml) the compact
    # block with its classifier at CE weight 0.1, scale 16, and a fifth of the first phase's rate as
    # there (at 0.05 its unnormalised logits diverged by step 10 on the demo set).
    "demo-cpu-gln": _demo_cpu("gln", dict(_GLN_DEMO), "demo-cpu-gln", loss=LossConfig(ce_weight=0.0)),
    "demo-cpu-gln-phase2": _demo_cpu("gln", {**_GLN_DEMO, "lateral_pretraining": False}, "demo-cpu-gln-phase2",
                                     optimizer=OptimizerConfig(lr=0.01), loss=LossConfig(ce_weight=0.1)),
    # GaitGraph2 reads the 2-D keypoints beside the frames (a dataset converted with --pose, as for
    # SkeletonGait++), trained as gaitgraph2.yaml: SupConLoss_Lp at temperature 0.01, AdamW under
    # torch's one-cycle schedule (peak 0.005, three phases), its pose augmentations; cosine distance.
    "demo-cpu-gaitgraph2": _demo_cpu("gaitgraph2", {"branch": [5, 32, 16], "main": [16, 64, 128], "embed_dim": 64,
                                                    "reduction": 4}, "demo-cpu-gaitgraph2",
                                     sampling=SamplingConfig(type="fixed_ordered", frames=30),
                                     optimizer=OptimizerConfig(name="adamw", lr=0.005, weight_decay=1e-5),
                                     scheduler=SchedulerConfig(name="onecycle", max_lr=0.005, div_factor=25.0,
                                                               final_div_factor=1e4, pct_start=0.475, three_phase=True),
                                     loss=LossConfig(triplet_weight=0.0, ce_weight=0.0, supcon_weight=1.0),
                                     pose_augment=pose_steps([{"type": "flip_sequence", "prob": 0.5},
                                                              {"type": "inverse_poses", "prob": 0.1},
                                                              {"type": "joint_noise", "std": 0.25},
                                                              {"type": "point_noise", "std": 0.05},
                                                              {"type": "random_move", "range": [4, 1]}]),
                                     eval_metric="cos"),
    # GaitTR on the same keypoints, as gaittr_*.yaml: triplet loss (margin 0.3) alone, Adam under
    # torch's one-cycle schedule (peak 1e-3, from 1e-5, three phases), its pose noise; euclidean distance.
    "demo-cpu-gaittr": _demo_cpu("gaittr", {"channels": [10, 32, 32, 64], "embed_dim": 64}, "demo-cpu-gaittr",
                                 sampling=SamplingConfig(type="fixed_ordered", frames=30),
                                 optimizer=OptimizerConfig(name="adam", lr=1e-3, weight_decay=2e-5),
                                 scheduler=SchedulerConfig(name="onecycle", max_lr=1e-3, div_factor=100.0,
                                                           final_div_factor=1000.0, pct_start=0.475, three_phase=True),
                                 loss=LossConfig(ce_weight=0.0, triplet_margin=0.3),
                                 pose_augment=pose_steps([{"type": "point_noise", "std": 0.3},
                                                          {"type": "inverse_poses", "prob": 0.1},
                                                          {"type": "joint_noise", "std": 0.3}])),
    # SwinGait narrowed for the CPU: 8/16-wide CNN, a 32-wide transformer with 4/8 heads (OpenGait:
    # 64/128, 256, 16/32), OpenGait's windows, grid and strips; frames in order for the 3-frame windows.
    "demo-cpu-swingait": _demo_cpu("swingait", {"channels": [8, 16], "layers": [1, 1, 1, 1], "swin_dim": 32,
                                                "embed_dim": 64, "heads": [4, 8]}, "demo-cpu-swingait",
                                   sampling=SamplingConfig(type="fixed_ordered", frames=10), threads=1),
    "casia-b-gaitbase": _casia_b_gaitbase,
    "ccvid-gaitbase": _ccvid_gaitbase,
    "grew-gaitbase": _grew_gaitbase,
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A named preset with ``overrides`` applied (validated like any config)."""
    if name not in PRESETS:
        raise ConfigError(f"preset: unknown preset {name!r}; available: {sorted(PRESETS)}")
    # Through load_config so a section override (or a flat legacy key) changes only what it names.
    return load_config({**overrides, "preset": name})


def available_presets() -> list[str]:
    """Presets whose model is registered in this installation (what a UI should offer)."""
    from core.models.registry import list_models

    have = set(list_models())
    return [n for n, make in PRESETS.items() if make().model in have]
