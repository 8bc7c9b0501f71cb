"""Training configuration: typed sections, strict loading from YAML/JSON/dict, and named presets.

Strictness is the point: a misspelt key silently falling back to a default would waste a
multi-hour run, so unknown keys and bad values raise ConfigError naming the key.

Layout (every section optional; what is given overrides the preset or the defaults)::

    model, model_args, dataset, iterations, batch_ids (P), batch_seqs (K)
    optimizer:  name sgd|adam|adamw, lr, momentum, nesterov, weight_decay, betas, eps
    scheduler:  name multistep|cosine, milestones, gamma, t_max, eta_min
    loss:       triplet_weight, triplet_margin, triplet_mining all|hard, ce_weight, ce_scale, label_smoothing
    sampling:   type (OpenGait's sample_type), frames, frames_min, frames_max, skip, all_limit
    augment:    ordered list of steps, exactly one 'cut' (OpenGait's BaseSilCuttingTransform)
    amp, device, compile (auto|true|false), cuda_graphs, channels_last, sync_bn, data_on_device,
    seed, logging/checkpoint cadence

Configs written before the sections existed (flat ``lr``, ``milestones``, ``frames`` ...) still
load: those keys are moved into their sections, so old runs and checkpoints stay readable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from core.data.settings import AUGMENT_PARAMS, SAMPLE_TYPES, AugmentStep, SamplingConfig
from core.errors import ConfigError, unknown_keys as _unknown

AMP_MODES = ("auto", "off", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("multistep", "cosine")
MINING = ("all", "hard")
ON_DEVICE = ("auto", "always", "host", "never")


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


@dataclass
class LossConfig:
    triplet_weight: float = 1.0
    triplet_margin: float = 0.2
    triplet_mining: str = "all"      # 'all': OpenGait's batch-all; 'hard': hardest positive/negative per anchor
    ce_weight: float = 1.0
    ce_scale: float = 16.0
    label_smoothing: float = 0.1


@dataclass
class TrainConfig:
    model: str = "gaitbase"
    model_args: dict[str, Any] = field(default_factory=dict)   # num_classes is filled from the data
    dataset: str = ""
    iterations: int = 60000
    batch_ids: int = 8          # P
    batch_seqs: int = 16        # K
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    augment: tuple[AugmentStep, ...] = (AugmentStep("cut"),)
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


SECTIONS: dict[str, type] = {"optimizer": OptimizerConfig, "scheduler": SchedulerConfig, "loss": LossConfig,
                             "sampling": SamplingConfig}
_FIELDS = {f.name: f for f in fields(TrainConfig)}
# Flat keys of the first config format -> (section, key). Kept so old runs and checkpoints load.
LEGACY_KEYS = {
    "lr": ("optimizer", "lr"), "momentum": ("optimizer", "momentum"), "weight_decay": ("optimizer", "weight_decay"),
    "milestones": ("scheduler", "milestones"), "gamma": ("scheduler", "gamma"),
    "triplet_margin": ("loss", "triplet_margin"), "triplet_weight": ("loss", "triplet_weight"),
    "ce_scale": ("loss", "ce_scale"), "label_smoothing": ("loss", "label_smoothing"), "ce_weight": ("loss", "ce_weight"),
    "frames": ("sampling", "frames"),
}
OPENGAIT_KEYS = ("data_cfg", "model_cfg", "loss_cfg", "optimizer_cfg", "scheduler_cfg", "trainer_cfg", "evaluator_cfg")


# -- value checks --------------------------------------------------------------------------------

def _int(key: str, v: Any, lo: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
        raise ConfigError(f"{key}: expected an integer, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"{key}: must be >= {lo}, got {v!r}")
    return int(v)


def _float(key: str, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{key}: must be in [{lo}, {hi}], got {v!r}")
    return float(v)


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{key}: expected true or false, got {v!r}")
    return v


def _choice(key: str, v: Any, options: tuple[str, ...]) -> str:
    if v not in options:
        raise ConfigError(f"{key}: must be one of {list(options)}, got {v!r}")
    return v


def _size(key: str, v: Any) -> tuple[int, int]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ConfigError(f"{key}: expected [height, width], got {v!r}")
    return (_int(f"{key}[0]", v[0], 1), _int(f"{key}[1]", v[1], 1))


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


# -- reading ---------------------------------------------------------------------------------------

def _read(source: Any) -> dict[str, Any]:
    if isinstance(source, TrainConfig):
        return source.to_dict()
    if isinstance(source, dict):
        _not_opengait(source, "config")
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml
            data = yaml.safe_load(text)
    except Exception as exc:  # both parsers' errors carry the line; pass them on
        raise ConfigError(f"{path}: cannot parse ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    _not_opengait(data, str(path))
    return data


def _not_opengait(data: dict[str, Any], where: str) -> None:
    found = [k for k in OPENGAIT_KEYS if k in data]
    if found:
        raise ConfigError(f"{where}: this is an OpenGait config ({', '.join(found)}); convert it with "
                          f"core.train.opengait_config.import_opengait(path, dataset=...), which also lists the "
                          f"keys it cannot use")


def _migrate_legacy(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in LEGACY_KEYS}
    for key, (section, sub) in LEGACY_KEYS.items():
        if key not in data:
            continue
        sec = out.get(section)
        sec = dict(sec) if isinstance(sec, dict) else ({} if sec is None else sec)
        if not isinstance(sec, dict):
            continue   # the section's own check reports the bad type
        if sub in sec and sec[sub] != data[key]:
            raise ConfigError(f"{key}: given both as {key!r} and as {section}.{sub}; keep one")
        sec[sub] = data[key]
        out[section] = sec
    return out


def load_config(source: str | Path | dict[str, Any] | TrainConfig) -> TrainConfig:
    """Build a validated TrainConfig from a YAML/JSON file, a dict (e.g. ``asdict(cfg)``) or a config.

    A ``preset`` key alone is enough: its values are the defaults the other keys override;
    a section given as a mapping overrides only the keys it names, ``augment`` replaces the list.
    """
    data = _migrate_legacy(_read(source))
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


# -- validation --------------------------------------------------------------------------------------

def _optimizer(d: dict[str, Any], given: set[str]) -> OptimizerConfig:
    name = _choice("optimizer.name", d["name"], OPTIMIZERS)
    d = _only_for("optimizer", name, given, {"momentum": ("sgd",), "nesterov": ("sgd",),
                                         "betas": ("adam", "adamw"), "eps": ("adam", "adamw")}, d)
    betas = d["betas"]
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise ConfigError(f"optimizer.betas: expected [beta1, beta2], got {betas!r}")
    nesterov = _bool("optimizer.nesterov", d["nesterov"])
    momentum = _float("optimizer.momentum", d["momentum"], 0.0, 1.0)
    if name == "sgd" and nesterov and momentum <= 0:
        raise ConfigError("optimizer.nesterov: needs momentum > 0")
    return OptimizerConfig(name=name, lr=_float("optimizer.lr", d["lr"], 0.0),
                           weight_decay=_float("optimizer.weight_decay", d["weight_decay"], 0.0),
                           momentum=momentum, nesterov=nesterov,
                           betas=(_float("optimizer.betas[0]", betas[0], 0.0, 0.999999),
                                  _float("optimizer.betas[1]", betas[1], 0.0, 0.999999)),
                           eps=_float("optimizer.eps", d["eps"], 0.0))


def _scheduler(d: dict[str, Any], given: set[str]) -> SchedulerConfig:
    name = _choice("scheduler.name", d["name"], SCHEDULERS)
    d = _only_for("scheduler", name, given, {"milestones": ("multistep",), "gamma": ("multistep",),
                                         "t_max": ("cosine",), "eta_min": ("cosine",)}, d)
    ms = d["milestones"]
    if not isinstance(ms, (list, tuple)):
        raise ConfigError(f"scheduler.milestones: expected a list of steps, got {ms!r}")
    return SchedulerConfig(name=name,
                           milestones=tuple(sorted(_int(f"scheduler.milestones[{i}]", m, 1) for i, m in enumerate(ms))),
                           gamma=_float("scheduler.gamma", d["gamma"], 0.0, 1.0),
                           t_max=_int("scheduler.t_max", d["t_max"], 0),
                           eta_min=_float("scheduler.eta_min", d["eta_min"], 0.0))


def _loss(d: dict[str, Any]) -> LossConfig:
    out = LossConfig(triplet_weight=_float("loss.triplet_weight", d["triplet_weight"], 0.0),
                     triplet_margin=_float("loss.triplet_margin", d["triplet_margin"], 0.0),
                     triplet_mining=_choice("loss.triplet_mining", d["triplet_mining"], MINING),
                     ce_weight=_float("loss.ce_weight", d["ce_weight"], 0.0),
                     ce_scale=_float("loss.ce_scale", d["ce_scale"], 0.0),
                     label_smoothing=_float("loss.label_smoothing", d["label_smoothing"], 0.0, 1.0))
    if out.triplet_weight == 0 and out.ce_weight == 0:
        raise ConfigError("loss: triplet_weight and ce_weight are both 0; nothing would be trained")
    return out


def _sampling(d: dict[str, Any], given: set[str]) -> SamplingConfig:
    kind = _choice("sampling.type", d["type"], SAMPLE_TYPES)
    d = _only_for("sampling", kind, given, {
        "frames": ("fixed_unordered", "fixed_ordered"),
        "frames_min": ("unfixed_unordered", "unfixed_ordered"), "frames_max": ("unfixed_unordered", "unfixed_ordered"),
        "skip": ("fixed_ordered", "unfixed_ordered"), "all_limit": ("all_ordered",)}, d)
    out = SamplingConfig(type=kind, frames=_int("sampling.frames", d["frames"], 1),
                         frames_min=_int("sampling.frames_min", d["frames_min"], 1),
                         frames_max=_int("sampling.frames_max", d["frames_max"], 1),
                         skip=_int("sampling.skip", d["skip"], 0), all_limit=_int("sampling.all_limit", d["all_limit"], 0))
    if kind.startswith("unfixed") and out.frames_min > out.frames_max:
        raise ConfigError(f"sampling.frames_min ({out.frames_min}) is larger than frames_max ({out.frames_max})")
    return out


def _augment(v: Any) -> tuple[AugmentStep, ...]:
    if not isinstance(v, (list, tuple)):
        raise ConfigError(f"augment: expected a list of steps, got {v!r}")
    steps = []
    for i, item in enumerate(v):
        where = f"augment[{i}]"
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, dict) or "type" not in item:
            raise ConfigError(f"{where}: expected a step name or a mapping with 'type', got {item!r}")
        kind = _choice(f"{where}.type", item["type"], tuple(AUGMENT_PARAMS))
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
        step = AugmentStep(kind, prob=_float(f"{where}.prob", vals["prob"], 0.0, 1.0),
                           degree=_float(f"{where}.degree", vals["degree"], 0.0, 180.0),
                           sl=_float(f"{where}.sl", vals["sl"], 0.0, 1.0), sh=_float(f"{where}.sh", vals["sh"], 0.0, 1.0),
                           r1=_float(f"{where}.r1", vals["r1"], 1e-6, 1.0),
                           per_frame=_bool(f"{where}.per_frame", vals["per_frame"]))
        if step.sl > step.sh:
            raise ConfigError(f"{where}: sl ({step.sl}) must not exceed sh ({step.sh})")
        steps.append(step)
    cuts = sum(s.type == "cut" for s in steps)
    if cuts != 1:
        # Evaluation always feeds side-cut frames, so training must cut exactly once too.
        raise ConfigError(f"augment: needs exactly one 'cut' step (OpenGait's BaseSilCuttingTransform), found {cuts}")
    return tuple(steps)


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
                  ("threads", 0)):
        out[k] = _int(k, d[k], lo)
    if out["batch_seqs"] < 2:
        raise ConfigError("batch_seqs: the triplet loss needs at least 2 sequences per identity")
    out["optimizer"] = _optimizer(d["optimizer"], given.get("optimizer", set()))
    out["scheduler"] = _scheduler(d["scheduler"], given.get("scheduler", set()))
    out["loss"] = _loss(d["loss"])
    out["sampling"] = _sampling(d["sampling"], given.get("sampling", set()))
    out["augment"] = _augment(d["augment"])
    out["amp"] = _choice("amp", d["amp"], AMP_MODES)
    out["device"] = _choice("device", d["device"], DEVICES)
    for k in ("channels_last", "sync_bn", "use_variants", "cuda_graphs"):
        out[k] = _bool(k, d[k])
    if d["compile"] != "auto" and not isinstance(d["compile"], bool):
        raise ConfigError(f"compile: expected true or false (or 'auto': on CUDA only), got {d['compile']!r}")
    out["compile"] = d["compile"]
    out["data_on_device"] = _choice("data_on_device", d["data_on_device"], ON_DEVICE)
    out["eval_metric"] = _choice("eval_metric", d["eval_metric"], ("euc", "cos"))
    out["input_size"] = _size("input_size", d["input_size"])
    out["resize_to"] = None if d["resize_to"] in (None, "", False) else _size("resize_to", d["resize_to"])
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
