"""The training config's typed sections (optimizer, scheduler, loss; sampling and augment come
from :mod:`core.data.settings`), each with its validation.

A key the chosen variant ignores (momentum with adam, milestones with cosine) is an error when the
user set it to something else than its default, and is reset to its default otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.data.settings import AUGMENT_PARAMS, SAMPLE_TYPES, AugmentStep, SamplingConfig
from core.errors import ConfigError, unknown_keys as _unknown
from core.train.config_values import as_bool, as_choice, as_float, as_int


OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("multistep", "cosine", "onecycle")
MINING = ("all", "hard")


@dataclass
class OptimizerConfig:
    name: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 5e-4
    momentum: float = 0.9                       # sgd only
    nesterov: bool = False                      # sgd only
    betas: tuple[float, float] = (0.9, 0.999)   # adam / adamw only
    eps: float = 1e-8                           # adam / adamw only


@dataclass
class SchedulerConfig:
    name: str = "multistep"
    milestones: tuple[int, ...] = (20000, 40000, 50000)   # multistep only
    gamma: float = 0.1                                   # multistep only
    t_max: int = 0             # cosine only: steps of the half cosine, 0 = the run's iterations
    eta_min: float = 0.0       # cosine only: the final learning rate
    # onecycle only: torch's OneCycleLR over ``total_steps`` (0 = the run's iterations); it sets the
    # rate itself (max_lr / div_factor up to max_lr, down to that / final_div_factor), and with
    # cycle_momentum it cycles SGD's momentum or Adam's beta1 between base and max momentum.
    max_lr: float = 0.0
    total_steps: int = 0
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95


@dataclass
class LossConfig:
    triplet_weight: float = 1.0
    triplet_margin: float = 0.2
    triplet_mining: str = "all"      # 'all': OpenGait's batch-all; 'hard': hardest positive/negative per anchor
    ce_weight: float = 1.0
    ce_scale: float = 16.0
    label_smoothing: float = 0.1
    # OpenGait's SupConLoss_Lp on the embeddings (GaitGraph2): supervised contrastive loss over
    # negative L2 distances of L2-normalised features, see core.train.losses.supcon_lp_loss.
    supcon_weight: float = 0.0
    supcon_temperature: float = 0.01


SECTIONS: dict[str, type] = {"optimizer": OptimizerConfig, "scheduler": SchedulerConfig, "loss": LossConfig,
                             "sampling": SamplingConfig}


def _only_for(section: str, name: str, given: set[str], owners: dict[str, tuple[str, ...]],
              d: dict[str, Any]) -> dict[str, Any]:
    """Reject a key the user set that the chosen variant ignores (e.g. momentum with adam), unless it
    carries the default (a whole config written back by ``asdict`` lists every key). Keys the
    variant ignores are reset to their defaults, so a preset's milestones do not linger in a
    cosine schedule and the config reads back unchanged."""
    defaults = SECTIONS[section]()
    d = dict(d)
    for key, users in owners.items():
        if name in users:
            continue
        default = getattr(defaults, key)
        same = list(d[key]) == list(default) if isinstance(default, tuple) else d[key] == default
        if key in given and not same:
            raise ConfigError(f"{section}.{key}: applies to {' / '.join(users)} only, not {name!r}")
        d[key] = default
    return d


def optimizer_section(d: dict[str, Any], given: set[str]) -> OptimizerConfig:
    name = as_choice("optimizer.name", d["name"], OPTIMIZERS)
    d = _only_for("optimizer", name, given, {"momentum": ("sgd",), "nesterov": ("sgd",),
                                         "betas": ("adam", "adamw"), "eps": ("adam", "adamw")}, d)
    betas = d["betas"]
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise ConfigError(f"optimizer.betas: expected [beta1, beta2], got {betas!r}")
    nesterov = as_bool("optimizer.nesterov", d["nesterov"])
    momentum = as_float("optimizer.momentum", d["momentum"], 0.0, 1.0)
    if name == "sgd" and nesterov and momentum <= 0:
        raise ConfigError("optimizer.nesterov: needs momentum > 0")
    return OptimizerConfig(name=name, lr=as_float("optimizer.lr", d["lr"], 0.0),
                           weight_decay=as_float("optimizer.weight_decay", d["weight_decay"], 0.0),
                           momentum=momentum, nesterov=nesterov,
                           betas=(as_float("optimizer.betas[0]", betas[0], 0.0, 0.999999),
                                  as_float("optimizer.betas[1]", betas[1], 0.0, 0.999999)),
                           eps=as_float("optimizer.eps", d["eps"], 0.0))


_ONECYCLE = ("max_lr", "total_steps", "pct_start", "anneal_strategy", "div_factor", "final_div_factor",
             "three_phase", "cycle_momentum", "base_momentum", "max_momentum")


def scheduler_section(d: dict[str, Any], given: set[str]) -> SchedulerConfig:
    name = as_choice("scheduler.name", d["name"], SCHEDULERS)
    d = _only_for("scheduler", name, given, {"milestones": ("multistep",), "gamma": ("multistep",),
                                         "t_max": ("cosine",), "eta_min": ("cosine",),
                                         **{k: ("onecycle",) for k in _ONECYCLE}}, d)
    ms = d["milestones"]
    if not isinstance(ms, (list, tuple)):
        raise ConfigError(f"scheduler.milestones: expected a list of steps, got {ms!r}")
    out = SchedulerConfig(name=name,
                          milestones=tuple(sorted(as_int(f"scheduler.milestones[{i}]", m, 1) for i, m in enumerate(ms))),
                          gamma=as_float("scheduler.gamma", d["gamma"], 0.0, 1.0),
                          t_max=as_int("scheduler.t_max", d["t_max"], 0),
                          eta_min=as_float("scheduler.eta_min", d["eta_min"], 0.0),
                          max_lr=as_float("scheduler.max_lr", d["max_lr"], 0.0),
                          total_steps=as_int("scheduler.total_steps", d["total_steps"], 0),
                          pct_start=as_float("scheduler.pct_start", d["pct_start"], 0.0, 1.0),
                          anneal_strategy=as_choice("scheduler.anneal_strategy", d["anneal_strategy"], ("cos", "linear")),
                          div_factor=as_float("scheduler.div_factor", d["div_factor"], 0.0),
                          final_div_factor=as_float("scheduler.final_div_factor", d["final_div_factor"], 0.0),
                          three_phase=as_bool("scheduler.three_phase", d["three_phase"]),
                          cycle_momentum=as_bool("scheduler.cycle_momentum", d["cycle_momentum"]),
                          base_momentum=as_float("scheduler.base_momentum", d["base_momentum"], 0.0, 1.0),
                          max_momentum=as_float("scheduler.max_momentum", d["max_momentum"], 0.0, 1.0))
    if name == "onecycle" and out.max_lr <= 0:
        raise ConfigError("scheduler.max_lr: the one-cycle schedule needs a peak rate above 0")
    return out


def loss_section(d: dict[str, Any]) -> LossConfig:
    out = LossConfig(triplet_weight=as_float("loss.triplet_weight", d["triplet_weight"], 0.0),
                     triplet_margin=as_float("loss.triplet_margin", d["triplet_margin"], 0.0),
                     triplet_mining=as_choice("loss.triplet_mining", d["triplet_mining"], MINING),
                     ce_weight=as_float("loss.ce_weight", d["ce_weight"], 0.0),
                     ce_scale=as_float("loss.ce_scale", d["ce_scale"], 0.0),
                     label_smoothing=as_float("loss.label_smoothing", d["label_smoothing"], 0.0, 1.0),
                     supcon_weight=as_float("loss.supcon_weight", d["supcon_weight"], 0.0),
                     supcon_temperature=as_float("loss.supcon_temperature", d["supcon_temperature"], 1e-9))
    if out.triplet_weight == 0 and out.ce_weight == 0 and out.supcon_weight == 0:
        raise ConfigError("loss: triplet_weight, ce_weight and supcon_weight are all 0; nothing would be trained")
    return out


def sampling_section(d: dict[str, Any], given: set[str]) -> SamplingConfig:
    kind = as_choice("sampling.type", d["type"], SAMPLE_TYPES)
    d = _only_for("sampling", kind, given, {
        "frames": ("fixed_unordered", "fixed_ordered"),
        "frames_min": ("unfixed_unordered", "unfixed_ordered"), "frames_max": ("unfixed_unordered", "unfixed_ordered"),
        "skip": ("fixed_ordered", "unfixed_ordered"), "all_limit": ("all_ordered",)}, d)
    out = SamplingConfig(type=kind, frames=as_int("sampling.frames", d["frames"], 1),
                         frames_min=as_int("sampling.frames_min", d["frames_min"], 1),
                         frames_max=as_int("sampling.frames_max", d["frames_max"], 1),
                         skip=as_int("sampling.skip", d["skip"], 0), all_limit=as_int("sampling.all_limit", d["all_limit"], 0))
    if kind.startswith("unfixed") and out.frames_min > out.frames_max:
        raise ConfigError(f"sampling.frames_min ({out.frames_min}) is larger than frames_max ({out.frames_max})")
    return out


def augment_steps(v: Any) -> tuple[AugmentStep, ...]:
    if not isinstance(v, (list, tuple)):
        raise ConfigError(f"augment: expected a list of steps, got {v!r}")
    steps = []
    for i, item in enumerate(v):
        where = f"augment[{i}]"
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, dict) or "type" not in item:
            raise ConfigError(f"{where}: expected a step name or a mapping with 'type', got {item!r}")
        kind = as_choice(f"{where}.type", item["type"], tuple(AUGMENT_PARAMS))
        allowed = AUGMENT_PARAMS[kind]
        defaults = AugmentStep(kind)
        for key, val in item.items():
            if key == "type":
                continue
            if key not in AugmentStep.__dataclass_fields__:
                _unknown(f"{where} ", [key], list(allowed))
            # A key the type ignores is an error, unless it carries the default (the form asdict writes).
            if key not in allowed and val != getattr(defaults, key):
                raise ConfigError(f"{where}.{key}: {kind!r} takes {sorted(allowed) or 'no parameters'}")
        vals = {k: item.get(k, getattr(defaults, k)) for k in ("prob", "degree", "sl", "sh", "r1", "per_frame")}
        step = AugmentStep(kind, prob=as_float(f"{where}.prob", vals["prob"], 0.0, 1.0),
                           degree=as_float(f"{where}.degree", vals["degree"], 0.0, 180.0),
                           sl=as_float(f"{where}.sl", vals["sl"], 0.0, 1.0), sh=as_float(f"{where}.sh", vals["sh"], 0.0, 1.0),
                           r1=as_float(f"{where}.r1", vals["r1"], 1e-6, 1.0),
                           per_frame=as_bool(f"{where}.per_frame", vals["per_frame"]))
        if step.sl > step.sh:
            raise ConfigError(f"{where}: sl ({step.sl}) must not exceed sh ({step.sh})")
        steps.append(step)
    cuts = sum(s.type == "cut" for s in steps)
    if cuts != 1:
        # Evaluation always feeds side-cut frames, so training must cut exactly once too.
        raise ConfigError(f"augment: needs exactly one 'cut' step (OpenGait's BaseSilCuttingTransform), found {cuts}")
    return tuple(steps)
