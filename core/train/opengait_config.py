"""Importing an OpenGait YAML config (data_cfg, model_cfg, loss_cfg, optimizer_cfg, scheduler_cfg,
trainer_cfg, evaluator_cfg) as a TrainConfig, with a list of every key that was not used and why.

Settings that change what is trained (solver, scheduler, sampler type) must be supported or the
import fails; settings that only concern OpenGait's machinery (paths, workers, save names,
restore hints, log prefixes) or that we cannot reproduce are listed in ``ignored``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.train.config import TrainConfig, load_config

MODEL_NAMES = {"Baseline": "gaitbase", "GaitBase": "gaitbase", "GaitSet": "gaitset", "GaitGL": "gaitgl",
               "DeepGaitV2": "deepgaitv2", "SkeletonGaitPP": "skeletongait++"}
SOLVERS = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw"}
AUGMENTS = {"RandomRotate": ("rotate", {"prob", "degree"}),
            "RandomErasing": ("erase", {"prob", "sl", "sh", "r1", "per_frame"}),
            "RandomHorizontalFlip": ("flip", {"prob"}), "RandomPerspective": ("perspective", {"prob"})}


@dataclass
class ImportResult:
    config: TrainConfig
    ignored: list[tuple[str, str]] = field(default_factory=list)   # (their key, why it was not used)
    notes: list[str] = field(default_factory=list)                 # how a key was interpreted

    def summary(self) -> str:
        lines = [f"imported as model {self.config.model!r}, {self.config.iterations} iterations, "
                 f"batch {self.config.batch_ids}x{self.config.batch_seqs}"]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  ignored {k}: {why}" for k, why in self.ignored]
        return "\n".join(lines)


class _Importer:
    def __init__(self, src: dict[str, Any]):
        self.src = src
        self.out: dict[str, Any] = {"optimizer": {}, "scheduler": {}, "loss": {}, "sampling": {}}
        self.ignored: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def ignore(self, key: str, why: str) -> None:
        self.ignored.append((key, why))

    def rest(self, prefix: str, d: dict[str, Any], used: set[str], why: str) -> None:
        for k in d:
            if k not in used:
                self.ignore(f"{prefix}.{k}", why)

    # -- sections ------------------------------------------------------------------------------
    def data(self, d: dict[str, Any]) -> None:
        reasons = {"dataset_root": "the dataset is a converted folder given as dataset=",
                   "dataset_partition": "the split comes from the dataset's own partition",
                   "num_workers": "batches are gathered in-process (no worker processes)",
                   "cache": "frames are memory-mapped (or resident on the GPU) anyway",
                   "remove_no_gallery": "evaluation protocols decide which probes count",
                   "test_dataset_name": "evaluation uses the training dataset's test split",
                   "dataset_name": "informational only", "data_in_use": "inputs follow the model"}
        for k in d:
            self.ignore(f"data_cfg.{k}", reasons.get(k, "not used by this trainer"))

    def model(self, d: dict[str, Any]) -> None:
        from core.models.registry import model_arg_names
        from core.train.opengait_families import translate_model

        family = translate_model(d)
        if family is not None:
            self.out["model"], args, ignored = family
            self.ignored += ignored
            self.out["model_args"] = _drop_defaults(self.out["model"], args)
            return
        theirs = d.get("model")
        if theirs not in MODEL_NAMES:
            raise ConfigError(f"model_cfg.model: OpenGait model {theirs!r} has no counterpart here; "
                              f"supported: {sorted(MODEL_NAMES)}")
        name = self.out["model"] = MODEL_NAMES[theirs]
        accepted = model_arg_names(name)          # ConfigError if that model is not registered
        args: dict[str, Any] = {}

        def offer(key: str, arg: str, value: Any) -> None:
            if arg in accepted:
                args[arg] = value
            else:
                self.ignore(key, f"model {name!r} takes no argument {arg!r}")

        for k, v in d.items():
            key = f"model_cfg.{k}"
            if k == "model":
                continue
            if k in ("class_num",) or (isinstance(v, dict) and set(v) == {"class_num"}):
                self.ignore(key, "the number of classes comes from the dataset")
            elif k == "backbone_cfg" and isinstance(v, dict):
                self._backbone(v, offer)
            elif k == "SeparateFCs" and isinstance(v, dict):
                for kk, vv in v.items():
                    if kk == "out_channels":
                        offer(f"{key}.{kk}", "embed_dim", vv)
                    elif kk == "parts_num" and name == "gaitbase":
                        offer(f"{key}.{kk}", "parts", vv)
                    else:
                        self.ignore(f"{key}.{kk}", "follows from the other model arguments")
            elif k == "SeparateBNNecks" and isinstance(v, dict):
                for kk in v:
                    self.ignore(f"{key}.{kk}", "the BNNeck follows the embedding size and the dataset's classes")
            elif k == "bin_num":
                if name == "gaitbase":
                    self.notes.append(f"{key} {v}: GaitBase pools into model_args.parts strips")
                else:
                    offer(key, "bins", list(v))
            elif k == "in_channels" and name == "gaitset" and isinstance(v, list):
                # OpenGait's GaitSet lists [input channels, then the three stage widths].
                offer(key, "in_channels", v[0])
                offer(key, "channels", list(v[1:]))
            elif isinstance(v, dict):
                for kk, vv in v.items():
                    offer(f"{key}.{kk}", kk, vv)
            else:
                offer(key, k, v)
        self.out["model_args"] = _drop_defaults(name, args)

    def _backbone(self, b: dict[str, Any], offer) -> None:
        for k, v in b.items():
            key = f"model_cfg.backbone_cfg.{k}"
            if k == "type" and v != "ResNet9":
                raise ConfigError(f"{key}: backbone {v!r} is not supported (GaitBase is ResNet9)")
            if k == "block" and v != "BasicBlock":
                raise ConfigError(f"{key}: block {v!r} is not supported (GaitBase uses BasicBlock)")
            if k == "layers" and any(int(n) != 1 for n in v):
                raise ConfigError(f"{key}: {v} blocks per stage; GaitBase here has one BasicBlock per stage")
            if k == "maxpool" and v:
                raise ConfigError(f"{key}: a stem max-pool is not supported")
            if k in ("channels", "strides"):
                offer(key, k, list(v))
            elif k == "in_channel":
                offer(key, "in_channels", v)
            elif k not in ("type", "block", "layers", "maxpool"):
                self.ignore(key, "not a GaitBase backbone setting")

    def losses(self, cfg: Any) -> None:
        items = cfg if isinstance(cfg, list) else [cfg]
        seen = set()
        for i, item in enumerate(items):
            prefix = f"loss_cfg[{i}]" if isinstance(cfg, list) else "loss_cfg"
            kind = item.get("type")
            used = {"type"}
            if kind == "TripletLoss":
                seen.add(kind)
                self.out["loss"]["triplet_margin"] = item.get("margin", 0.2)
                self.out["loss"]["triplet_weight"] = item.get("loss_term_weight", 1.0)
                self.notes.append(f"{prefix}: TripletLoss -> batch-all triplet (OpenGait's)")
                used |= {"margin", "loss_term_weight"}
            elif kind == "CrossEntropyLoss":
                seen.add(kind)
                self.out["loss"]["ce_scale"] = item.get("scale", 16)
                self.out["loss"]["ce_weight"] = item.get("loss_term_weight", 1.0)
                smooth = item.get("label_smooth", True)
                self.out["loss"]["label_smoothing"] = float(item.get("eps", 0.1)) if smooth else 0.0
                used |= {"scale", "loss_term_weight", "label_smooth", "eps"}
                if "log_accuracy" in item:
                    used.add("log_accuracy")
            else:
                self.ignore(prefix, f"loss type {kind!r} is not supported (TripletLoss and CrossEntropyLoss are)")
                continue
            for k in item:
                if k == "log_prefix":
                    continue
                if k not in used:
                    self.ignore(f"{prefix}.{k}", f"not a {kind} argument (OpenGait drops it too, using the default)")
        if "TripletLoss" not in seen:
            self.out["loss"]["triplet_weight"] = 0.0
        if "CrossEntropyLoss" not in seen:
            self.out["loss"]["ce_weight"] = 0.0

    def optimizer(self, d: dict[str, Any]) -> None:
        solver = d.get("solver")
        if solver not in SOLVERS:
            raise ConfigError(f"optimizer_cfg.solver: {solver!r} is not supported; use one of {sorted(SOLVERS)}")
        name = self.out["optimizer"]["name"] = SOLVERS[solver]
        keys = {"lr", "weight_decay"} | ({"momentum", "nesterov"} if name == "sgd" else {"betas", "eps"})
        for k in keys & set(d):
            self.out["optimizer"][k] = d[k]
        self.rest("optimizer_cfg", d, keys | {"solver"}, f"not an argument of {solver} here (OpenGait drops it too)"
                  if name != "sgd" else "not supported for SGD here")

    def scheduler(self, d: dict[str, Any]) -> None:
        kind = d.get("scheduler")
        if kind == "MultiStepLR":
            self.out["scheduler"].update(name="multistep", milestones=d.get("milestones", []), gamma=d.get("gamma", 0.1))
            used = {"milestones", "gamma"}
        elif kind == "CosineAnnealingLR":
            self.out["scheduler"].update(name="cosine", t_max=d.get("T_max", 0), eta_min=d.get("eta_min", 0.0))
            used = {"T_max", "eta_min"}
        else:
            raise ConfigError(f"scheduler_cfg.scheduler: {kind!r} is not supported; use MultiStepLR or CosineAnnealingLR")
        self.rest("scheduler_cfg", d, used | {"scheduler"}, f"not supported for {kind} here")

    def trainer(self, d: dict[str, Any]) -> None:
        o = self.out
        for k, v in d.items():
            key = f"trainer_cfg.{k}"
            if k == "enable_float16":
                o["amp"] = "auto" if v else "off"
                if v:
                    self.notes.append(f"{key}: true -> amp 'auto' (bf16 where the GPU has it, else fp16 with loss scaling)")
            elif k == "total_iter":
                o["iterations"] = v
            elif k == "log_iter":
                o["log_every"] = v
            elif k == "save_iter":
                o["checkpoint_every"] = v
            elif k == "sync_BN":
                o["sync_bn"] = bool(v)
            elif k == "with_test":
                if v:
                    o["eval_every"] = d.get("save_iter", 10000)
                    self.notes.append(f"{key}: true -> evaluate at every checkpoint (save_iter)")
            elif k == "fix_BN":
                if v:
                    self.ignore(key, "frozen BatchNorm statistics are not supported")
            elif k == "sampler":
                self.sampler(v)
            elif k == "transform":
                self.transform(v)
            else:
                self.ignore(key, {"restore_hint": "resume is automatic from the run folder's latest checkpoint",
                                  "restore_ckpt_strict": "checkpoints always load strictly",
                                  "save_name": "run names come from the studio",
                                  "optimizer_reset": "a resume restores the optimizer",
                                  "scheduler_reset": "a resume restores the scheduler"}.get(k, "not used by this trainer"))
        if "transform" not in d:
            o["augment"] = ["cut"]
            self.notes.append("trainer_cfg.transform absent: OpenGait would feed frames unchanged; "
                              "frames are cut to 44 columns and scaled to [0, 1] here, as evaluation does")

    def sampler(self, s: dict[str, Any]) -> None:
        if s.get("type", "TripletSampler") != "TripletSampler":
            raise ConfigError(f"trainer_cfg.sampler.type: {s.get('type')!r} is not supported (TripletSampler is)")
        bs = s.get("batch_size")
        if not isinstance(bs, list) or len(bs) != 2:
            raise ConfigError(f"trainer_cfg.sampler.batch_size: expected [P, K], got {bs!r}")
        self.out["batch_ids"], self.out["batch_seqs"] = bs
        kind = s.get("sample_type", "fixed_unordered")
        if kind == "all_unordered":
            kind = "all_ordered"
            self.notes.append("sample_type all_unordered behaves as all_ordered in OpenGait")
        samp = self.out["sampling"]
        samp["type"] = kind
        wanted = {"fixed": {"frames_num_fixed": "frames"}, "unfixed": {"frames_num_max": "frames_max",
                                                                       "frames_num_min": "frames_min"},
                  "all": {"frames_all_limit": "all_limit"}}[kind.split("_")[0]]
        if kind.endswith("_ordered") and not kind.startswith("all"):
            wanted["frames_skip_num"] = "skip"
        for k, v in s.items():
            key = f"trainer_cfg.sampler.{k}"
            if k in wanted:
                samp[wanted[k]] = v
            elif k in ("type", "batch_size", "sample_type"):
                continue
            elif k == "batch_shuffle":
                self.ignore(key, "the order of sequences within a batch does not change the losses")
            elif k.startswith("frames_"):
                self.ignore(key, f"not used by sample_type {kind}")
            else:
                self.ignore(key, "not a sampler setting here")

    def transform(self, t: Any) -> None:
        items = t if isinstance(t, list) else [t]
        if len(items) > 1:
            for i in range(1, len(items)):
                self.ignore(f"trainer_cfg.transform[{i}]",
                            "one transform list per input; only the first (silhouettes) is used")
        steps: list[Any] = []
        first = items[0] if items else None
        flat = first.get("trf_cfg", []) if isinstance(first, dict) and first.get("type") == "Compose" else \
            ([first] if first else [])
        for i, tr in enumerate(flat):
            key = f"trainer_cfg.transform.{tr.get('type')}[{i}]"
            kind = tr.get("type")
            if kind == "BaseSilCuttingTransform":
                steps.append("cut")
                for k in tr:
                    if k == "cutting" and tr[k] is not None:
                        self.ignore(f"{key}.cutting", "the cut is always W//64*10 columns per side, as in evaluation")
                    elif k not in ("type", "divsor"):
                        self.ignore(f"{key}.{k}", "not a BaseSilCuttingTransform argument")
            elif kind == "BaseSilTransform":
                steps.append("cut")
                self.notes.append(f"{key}: BaseSilTransform does not cut; frames are cut here anyway, as evaluation does")
            elif kind in AUGMENTS:
                ours, allowed = AUGMENTS[kind]
                step = {"type": ours}
                for k, v in tr.items():
                    if k in allowed:
                        step[k] = v
                    elif k != "type":
                        self.ignore(f"{key}.{k}", f"not a {kind} argument")
                steps.append(step)
            elif kind == "NoOperation":
                continue
            else:
                self.ignore(key, f"transform {kind!r} is not supported (supported: BaseSilCuttingTransform, "
                                 f"{', '.join(sorted(AUGMENTS))})")
        if "cut" not in steps:
            steps.insert(0, "cut")
            self.notes.append("no BaseSilCuttingTransform: frames are cut first, as evaluation does")
        self.out["augment"] = steps

    def evaluator(self, d: dict[str, Any]) -> None:
        for k, v in d.items():
            if k == "metric":
                self.out["eval_metric"] = v
            else:
                self.ignore(f"evaluator_cfg.{k}", {
                    "eval_func": "the evaluation protocol follows the dataset",
                    "sampler": "evaluation embeds every frame of each test sequence",
                    "transform": "evaluation always cuts, as training does",
                    "enable_float16": "evaluation uses the run's amp setting"}.get(k, "not used by evaluation here"))


def _drop_defaults(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Leave out arguments equal to the model's own defaults: the config then shows what differs."""
    import inspect

    from core.models.registry import model_class

    params = inspect.signature(model_class(name).__init__).parameters

    def same(a: Any, b: Any) -> bool:
        return list(a) == list(b) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else a == b

    return {k: v for k, v in args.items() if not (k in params and same(v, params[k].default))}


def import_opengait(source: str | Path | dict[str, Any], dataset: str | Path = "", **overrides: Any) -> ImportResult:
    """Translate an OpenGait YAML (path or parsed dict); ``overrides`` are our keys applied on top."""
    if isinstance(source, dict):
        src, where = source, "config"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"OpenGait config {path} does not exist")
        import yaml
        try:
            src = yaml.safe_load(path.read_text())
        except Exception as exc:  # the parser's message carries the line
            raise ConfigError(f"{path}: cannot parse ({exc})") from exc
        where = str(path)
    if not isinstance(src, dict) or "model_cfg" not in src:
        raise ConfigError(f"{where}: not an OpenGait config (no model_cfg section)")
    imp = _Importer(src)
    handlers = {"data_cfg": imp.data, "model_cfg": imp.model, "loss_cfg": imp.losses, "optimizer_cfg": imp.optimizer,
                "scheduler_cfg": imp.scheduler, "trainer_cfg": imp.trainer, "evaluator_cfg": imp.evaluator}
    for k, v in src.items():
        if k in handlers and v is not None:
            handlers[k](v)
        elif k not in handlers:
            imp.ignore(k, "not an OpenGait config section")
    data = {k: v for k, v in imp.out.items() if not (isinstance(v, dict) and not v)}
    data["dataset"] = str(dataset)
    for k, v in overrides.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) and isinstance(data.get(k), dict) else v
    try:
        cfg = load_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return ImportResult(cfg, imp.ignored, imp.notes)
