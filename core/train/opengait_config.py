"""Importing an OpenGait YAML config as a TrainConfig, exactly or not at all.

Every key that can change the network, its input, the losses or the test features is honoured
exactly, or the import fails with a one-line ConfigError naming the key and why. Keys are only
ignored when they cannot change results (paths, logging, worker counts, save names) or when
OpenGait itself drops them (its ``get_valid_args`` discards arguments a class does not take);
the report labels every ignored key with that reason. The model section is read by the model
families themselves (``core.models.opengait_cfg``), found through the model registry.

A config is first merged over OpenGait's ``configs/default.yaml`` values, as OpenGait's launcher
does (``core.train.opengait_defaults``); where OpenGait then falls back to a class's default
(torch's optimiser defaults, ResNet9's channels), that default is written out here, since our
own defaults differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.models.opengait_cfg import Keys, Report, Translated, translate_model
from core.models.registry import model_class
from core.train.config import TrainConfig, load_config
from core.train.opengait_defaults import with_defaults
from core.train.pose_augment import POSE_STEPS

# OpenGait's augmentations -> ours, with the arguments they take (OpenGait's defaults are ours).
AUGMENTS = {"RandomRotate": ("rotate", {"prob", "degree"}),
            "RandomErasing": ("erase", {"prob", "sl", "sh", "r1", "per_frame"}),
            "RandomHorizontalFlip": ("flip", {"prob"}), "RandomPerspective": ("perspective", {"prob"})}
# torch.optim's defaults for what OpenGait passes through (get_valid_args keeps only real arguments).
SOLVERS = {"SGD": ("sgd", {"lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False, "dampening": 0.0}),
           "Adam": ("adam", {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}),
           "AdamW": ("adamw", {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2,
                               "amsgrad": False})}
# Transforms with no counterpart, and why (the generic message lists what is supported).
UNSUPPORTED_TRANSFORMS = {
    "BaseParsingCuttingTransform": "its input is a human-parsing map (part labels, Gait3D-Parsing), which has no "
                                   "data path here; the silhouette cut would train on different input",
    "BaseSilTransform": "it feeds frames uncut; here frames are always cut W//64*10 columns per side",
}
# Skeleton models: OpenGait's multi-stream input transform (computed inside our model) and the
# layout transforms after it, by our model class.
POSE_INPUTS = {"GaitGraph2": ("GaitGraphMultiInput", []), "GaitTR": ("GaitTRMultiInput", ["SkeletonInput"])}
# OpenGait's pose augmentations -> ours (core.train.pose_augment), with their argument and its default.
POSE_AUGMENTS = {"FlipSequence": ("flip_sequence", "probability", 0.5), "JointNoise": ("joint_noise", "std", 0.25),
                 "PointNoise": ("point_noise", "std", 0.01), "RandomMove": ("random_move", "random_r", [4, 1])}
SCORING = "scoring: the protocol is chosen when evaluating (python -m core eval --protocol); features are unaffected"
NEVER_READ = "no code of OpenGait's reads this key: it cannot change what OpenGait trains"
PATHS = "a path or name of OpenGait's own files: the data is the converted folder given here"


@dataclass
class ImportResult:
    config: TrainConfig
    ignored: list[tuple[str, str]] = field(default_factory=list)   # (their key, why it cannot change results)
    notes: list[str] = field(default_factory=list)                 # how a key was interpreted
    honoured: list[tuple[str, str]] = field(default_factory=list)  # (their key, value used)
    opengait_model: str = ""
    num_classes: int | None = None                                 # the config's class count (None: no classifier)
    eval_fp16: bool = False                                        # evaluator_cfg.enable_float16

    def summary(self) -> str:
        lines = [f"imported OpenGait {self.opengait_model} as model {self.config.model!r} exactly: "
                 f"{self.config.iterations} iterations, batch "
                 f"{self.config.common_batch or f'{self.config.batch_ids}x{self.config.batch_seqs}'}, "
                 f"{len(self.honoured)} keys honoured, {len(self.ignored)} ignored"]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  ignored {k}: {why}" for k, why in self.ignored]
        return "\n".join(lines)


class _Importer:
    def __init__(self, src: dict[str, Any]):
        self.report = Report()
        self.out: dict[str, Any] = {"optimizer": {}, "scheduler": {}, "loss": {}, "sampling": {}}
        self.sections = {k: src.get(k) for k in ("data_cfg", "model_cfg", "loss_cfg", "optimizer_cfg",
                                                  "scheduler_cfg", "trainer_cfg", "evaluator_cfg")}
        self.translated: Translated | None = None
        self.opengait_model = ""

    def keys(self, name: str) -> Keys:
        return Keys(self.sections[name], name, self.report)

    # -- data and model ---------------------------------------------------------------------------
    def model(self) -> None:
        data = self.sections["data_cfg"]
        if isinstance(data, list):
            raise ConfigError("data_cfg: a list of datasets (multi-dataset training, as in FoundationGait) "
                              "is not supported: one converted dataset per run")
        if not isinstance(self.sections["model_cfg"], dict):
            raise ConfigError("model_cfg: missing or not a mapping")
        name, t = translate_model(self.sections["model_cfg"], data, self.report)
        self.opengait_model = str(self.sections["model_cfg"].get("model"))
        self.out["model"], self.translated = name, t
        self.out["model_args"] = _drop_defaults(name, t.args)

    def data(self) -> None:
        d = self.keys("data_cfg")
        if d.has("data_in_use"):
            used = d.bools("data_in_use")
            want = self.translated.inputs
            if sum(used) != want:
                raise d.refuse("data_in_use", f"{used} selects {sum(used)} inputs; OpenGait's "
                                              f"{self.opengait_model} here reads {want}")
        elif self.translated.inputs != 1:
            raise d.refuse("data_in_use", f"missing: OpenGait's {self.opengait_model} reads "
                                          f"{self.translated.inputs} inputs")
        if ("data_cfg.dataset_name", repr(d.d.get("dataset_name"))) in self.report.honoured:
            d.read.add("dataset_name")    # the model family read it (GaitGL's layout)
        for k in ("dataset_root", "dataset_partition", "test_dataset_name", "dataset_name"):
            d.drop(k, PATHS)
        d.drop("num_workers", "loader worker processes: batches are the same")
        d.drop("cache", "in-memory caching of the pickles: batches are the same")
        d.drop("frame_threshold", NEVER_READ)
        d.drop("remove_no_gallery", SCORING)
        d.rest(None)

    # -- losses -----------------------------------------------------------------------------------
    def losses(self) -> None:
        cfg = self.sections["loss_cfg"]
        items = cfg if isinstance(cfg, list) else [cfg]
        feats = set(self.translated.losses)
        by_prefix: dict[str, Keys] = {}
        for i, item in enumerate(items):
            where = f"loss_cfg[{i}]" if isinstance(cfg, list) else "loss_cfg"
            k = Keys(item, where, self.report)
            prefix = k.str("log_prefix")
            if prefix in by_prefix:
                raise k.refuse("log_prefix", f"{prefix!r} is used by two losses (OpenGait keeps only the last)")
            by_prefix[prefix] = k
        loss = self.out["loss"]
        loss["triplet_weight"] = loss["ce_weight"] = 0.0
        for prefix, k in by_prefix.items():
            kind = k.str("type")
            if prefix not in feats:
                self.report.ignored.append((k.where, f"OpenGait never applies it: {self.opengait_model} gives no "
                                                     f"{prefix!r} training features"))
                continue
            want = {"triplet": "TripletLoss", "softmax": "CrossEntropyLoss", "SupConLoss": "SupConLoss_Lp"}.get(prefix)
            if want is None:
                raise k.refuse("type", f"{kind!r} is not implemented here (OpenGait's {self.opengait_model} "
                                       f"trains its {prefix!r} features with it)")
            k.equal("type", kind, want, f"the {prefix!r} features of {self.opengait_model} feed a {want} here")
            k.drop("log_accuracy", "logging only")
            if kind == "SupConLoss_Lp":
                loss.update(supcon_weight=k.num("loss_term_weight", 1.0), supcon_temperature=k.num("temperature", 0.01))
            elif kind == "TripletLoss":
                loss.update(triplet_margin=k.num("margin"), triplet_weight=k.num("loss_term_weight", 1.0),
                            triplet_mining="all")
            else:
                smooth = k.bool("label_smooth", True)
                loss.update(ce_scale=k.num("scale", 16.0), ce_weight=k.num("loss_term_weight", 1.0),
                            label_smoothing=k.num("eps", 0.1) if smooth else 0.0)
                if not smooth:
                    k.drop("eps", "only used with label_smooth")
            k.rest(f"not an argument of OpenGait's {kind}: OpenGait drops it")
        missing = feats - set(by_prefix)
        if missing:
            raise ConfigError(f"loss_cfg: no loss with log_prefix {sorted(missing)}: OpenGait fails on the "
                              f"{self.opengait_model} training features it cannot assign")

    # -- optimiser and schedule -------------------------------------------------------------------
    def optimizer(self) -> None:
        o = self.keys("optimizer_cfg")
        solver = o.str("solver")
        if solver not in SOLVERS:
            raise o.refuse("solver", f"{solver!r} is not supported (supported: {', '.join(SOLVERS)})")
        name, defaults = SOLVERS[solver]
        out = self.out["optimizer"]
        out["name"] = name
        for k, default in defaults.items():
            v = o.bool(k, default) if isinstance(default, bool) else \
                o.raw(k, default) if isinstance(default, list) else o.num(k, default)
            if k in ("dampening", "amsgrad"):
                o.equal(k, v, default, f"{solver} with {k} is not implemented here")
            else:
                out[k] = v
        o.rest(f"not an argument of torch's {solver}: OpenGait drops it")

    def scheduler(self) -> None:
        s = self.keys("scheduler_cfg")
        kind = s.str("scheduler")
        out = self.out["scheduler"]
        if kind == "MultiStepLR":
            out.update(name="multistep", milestones=s.ints("milestones", lo=0), gamma=s.num("gamma", 0.1))
        elif kind == "CosineAnnealingLR":
            out.update(name="cosine", t_max=s.int("T_max", lo=1), eta_min=s.num("eta_min", 0.0))
        elif kind == "OneCycleLR":
            out.update(self.one_cycle(s))
        else:
            raise s.refuse("scheduler", f"{kind!r} is not supported (MultiStepLR, CosineAnnealingLR and "
                                        "OneCycleLR are)")
        s.rest(f"not an argument of torch's {kind}: OpenGait drops it")

    def one_cycle(self, s: Keys) -> dict[str, Any]:
        """torch's OneCycleLR with the arguments OpenGait passes it; its own defaults otherwise."""
        out: dict[str, Any] = {"name": "onecycle", "max_lr": s.num("max_lr")}
        if s.has("total_steps") and s.d["total_steps"] is not None:
            out["total_steps"] = s.int("total_steps", lo=1)
            s.drop("epochs", "torch's OneCycleLR uses total_steps when it is given")
            s.drop("steps_per_epoch", "torch's OneCycleLR uses total_steps when it is given")
        elif s.has("epochs") and s.has("steps_per_epoch"):
            out["total_steps"] = s.int("epochs", lo=1) * s.int("steps_per_epoch", lo=1)
        else:
            raise s.refuse("total_steps", "missing (and no epochs with steps_per_epoch): torch's OneCycleLR, "
                                          "as OpenGait builds it, would fail")
        s.read.add("total_steps")   # a null total_steps: torch falls back to epochs x steps_per_epoch
        for k, default in (("pct_start", 0.3), ("div_factor", 25.0), ("final_div_factor", 1e4),
                           ("base_momentum", 0.85), ("max_momentum", 0.95)):
            out[k] = s.num(k, default)
        for k, default in (("three_phase", False), ("cycle_momentum", True)):
            out[k] = s.bool(k, default)
        out["anneal_strategy"] = s.str("anneal_strategy", "cos")
        if out["anneal_strategy"] not in ("cos", "linear"):
            raise s.refuse("anneal_strategy", f"{out['anneal_strategy']!r}: torch's OneCycleLR takes cos or linear")
        s.equal("last_epoch", s.int("last_epoch", -1, lo=-1), -1, "a schedule started part-way is not implemented here")
        self.report.notes.append(f"scheduler_cfg OneCycleLR: the rate starts at max_lr/div_factor = "
                                 f"{out['max_lr'] / out['div_factor']:g} whatever optimizer_cfg.lr says (torch's "
                                 "OneCycleLR overrides it, as in OpenGait)" +
                                 ("; it also cycles the momentum (Adam's beta1)" if out["cycle_momentum"] else ""))
        return out

    # -- training ---------------------------------------------------------------------------------
    def trainer(self) -> None:
        t = self.keys("trainer_cfg")
        o = self.out
        o["iterations"] = t.int("total_iter", lo=1)
        o["amp"] = "fp16" if t.bool("enable_float16", False) else "off"
        if t.has("log_iter"):
            o["log_every"] = t.int("log_iter", lo=1)
        if t.has("save_iter"):
            o["checkpoint_every"] = t.int("save_iter", lo=1)
        o["sync_bn"] = t.bool("sync_BN", False)
        if t.bool("with_test", False):
            o["eval_every"] = o.get("checkpoint_every", 1000)
            self.report.notes.append("trainer_cfg.with_test: evaluate at every checkpoint (save_iter)")
        t.equal("fix_BN", t.bool("fix_BN", False), False, "frozen BatchNorm statistics are not implemented here")
        hint = t.raw("restore_hint", 0)
        if isinstance(hint, str) or (isinstance(hint, list) and hint):
            raise t.refuse("restore_hint", f"{hint!r}: training starts from other weights; importing them is "
                                           "not supported here (use an OpenGait checkpoint with python -m core eval)")
        t.drop("restore_hint", "OpenGait's own resume point; a run here resumes from its latest checkpoint")
        for k, why in (("restore_ckpt_strict", "checkpoints always load strictly"), ("save_name", PATHS),
                       ("optimizer_reset", "only with a restore_hint"), ("scheduler_reset", "only with a restore_hint"),
                       ("find_unused_parameters", "a DistributedDataParallel setting: gradients are the same")):
            t.drop(k, why)
        self.sampler(t.sub("sampler"))
        self.transform(t, "transform", training=True)
        t.drop("fix_layers", NEVER_READ)
        t.rest(None)

    def sampler(self, s: Keys) -> None:
        kind = s.str("type")
        if kind == "CommonSampler":
            self.out["common_batch"] = s.int("batch_size", lo=1)
            s.drop("batch_shuffle", "OpenGait's CommonSampler takes it but never reads it")
        else:
            s.equal("type", kind, "TripletSampler", "only the TripletSampler (P ids x K sequences) and the "
                                                   "CommonSampler are implemented")
            self.out["batch_ids"], self.out["batch_seqs"] = s.ints("batch_size", 2)
        kind = s.str("sample_type")
        kinds = ("fixed_unordered", "fixed_ordered", "unfixed_unordered", "unfixed_ordered", "all_ordered",
                 "all_unordered")
        if kind not in kinds:
            raise s.refuse("sample_type", f"{kind!r} is not one of OpenGait's {', '.join(kinds)}")
        samp = self.out["sampling"]
        samp["type"] = kind
        base, order = kind.split("_")
        if base == "fixed":
            samp["frames"] = s.int("frames_num_fixed", lo=1)
        elif base == "unfixed":
            samp["frames_max"], samp["frames_min"] = s.int("frames_num_max", lo=1), s.int("frames_num_min", lo=1)
        else:
            samp["all_limit"] = s.int("frames_all_limit", 0, lo=0)
        if order == "ordered" and base != "all":
            samp["skip"] = s.int("frames_skip_num", 0, lo=0)
        s.drop("batch_shuffle", "the order of sequences within a batch changes neither the losses nor BatchNorm")
        for k in ("frames_num_fixed", "frames_num_max", "frames_num_min", "frames_skip_num", "frames_all_limit"):
            s.drop(k, f"not read by OpenGait for sample_type {kind}")
        s.rest("not a TripletSampler setting: OpenGait drops it")

    def transform(self, section: Keys, key: str, training: bool) -> None:
        """One transform per input; the silhouette cut and its scaling must be OpenGait's."""
        raw = section.raw(key, None)
        where = section.key(key)
        if getattr(model_class(self.out["model"]), "input_kind", "") == "pose":
            return self.pose_transform(raw, where, training)
        if raw is None:
            raise section.refuse(key, "null: OpenGait would feed raw 0-255 frames, uncut; here frames are "
                                      "always cut and scaled like BaseSilCuttingTransform")
        items = raw if isinstance(raw, list) else [raw]
        if len(items) != 1:
            raise ConfigError(f"{where}: {len(items)} transforms (one per input); one, shared by every input, "
                              "is implemented here")
        first = Keys(items[0], f"{where}[0]", self.report)
        kind = first.str("type")
        if kind == "Compose":
            steps_raw = first.raw("trf_cfg")
            if not isinstance(steps_raw, list):
                raise first.refuse("trf_cfg", f"expected a list of transforms, got {steps_raw!r}")
            first.rest("not a Compose argument: OpenGait drops it")
            flat = [Keys(s, f"{where}[0].trf_cfg[{i}]", self.report) for i, s in enumerate(steps_raw)]
        else:
            flat = [Keys(items[0], f"{where}[0]", self.report)]
        steps: list[Any] = []
        for k in flat:
            kind = k.str("type")
            if kind == "BaseSilCuttingTransform":
                k.equal("divsor", k.num("divsor", 255.0), 255.0, "frames are scaled by 1/255 here")
                cut = k.raw("cutting", None)
                if cut is not None:
                    raise k.refuse("cutting", f"{cut!r}: the cut here is always OpenGait's default, W//64*10 "
                                              "columns per side")
                k.rest("not a BaseSilCuttingTransform argument: OpenGait drops it")
                steps.append("cut")
            elif kind in AUGMENTS and training:
                ours, allowed = AUGMENTS[kind]
                step: dict[str, Any] = {"type": ours}
                for a in sorted(allowed):
                    if k.has(a):
                        step[a] = k.bool(a) if a == "per_frame" else k.num(a)
                k.rest(f"not a {kind} argument: OpenGait drops it")
                steps.append(step)
            elif kind == "NoOperation":
                k.rest("NoOperation takes no arguments")
            elif kind in UNSUPPORTED_TRANSFORMS:
                raise k.refuse("type", f"{kind}: {UNSUPPORTED_TRANSFORMS[kind]}")
            else:
                what = "the silhouette cut (BaseSilCuttingTransform)" + (
                    f" and {', '.join(sorted(AUGMENTS))}" if training else "")
                raise k.refuse("type", f"{kind!r} is not implemented here (supported: {what})")
        if steps.count("cut") != 1:
            raise ConfigError(f"{where}: {steps.count('cut')} BaseSilCuttingTransform steps; exactly one is "
                              "implemented here (frames are always cut once, then scaled)")
        if training:
            self.out["augment"] = steps

    def pose_transform(self, raw: Any, where: str, training: bool) -> None:
        """A skeleton model's transforms: fill undetected joints (iff the model reads them filled),
        then (training) OpenGait's pose augmentations, then the model's own multi-stream input."""
        cls = model_class(self.out["model"])
        fmt = self.translated.args.get("joint_format", "coco")
        items = raw if isinstance(raw, list) else [raw]
        if len(items) != 1:
            raise ConfigError(f"{where}: {len(items)} transforms; a skeleton model reads one input")
        first = Keys(items[0], f"{where}[0]", self.report)
        if first.str("type") == "Compose":
            steps_raw = first.raw("trf_cfg")
            if not isinstance(steps_raw, list):
                raise first.refuse("trf_cfg", f"expected a list of transforms, got {steps_raw!r}")
            first.rest("not a Compose argument: OpenGait drops it")
            flat = [Keys(x, f"{where}[0].trf_cfg[{i}]", self.report) for i, x in enumerate(steps_raw)]
        else:
            flat = [first]
        multi, layout = POSE_INPUTS[cls.__name__]
        kinds = [k.str("type") for k in flat]
        fill = getattr(cls, "fill_empty_joints", True)
        if ("NormalizeEmpty" in kinds) != fill or (fill and kinds[0] != "NormalizeEmpty"):
            raise ConfigError(f"{where}: OpenGait's {self.opengait_model} here reads keypoints "
                              + ("with undetected joints filled first (NormalizeEmpty as the first step)" if fill
                                 else "as detected (no NormalizeEmpty)") + f"; this config has {kinds}")
        if kinds.count(multi) != 1 or kinds[-1 - len(layout):] != [multi, *layout]:
            raise ConfigError(f"{where}: {self.opengait_model} takes its input through one {multi}"
                              + (f" then {', '.join(layout)}" if layout else "") + f" at the end; this config has {kinds}")
        steps: list[dict[str, Any]] = []
        for k, kind in zip(flat, kinds):
            if kind in ("NormalizeEmpty", *layout):
                k.rest(f"{kind} takes no arguments: OpenGait drops it")
            elif kind in (multi, "InversePosesPre"):
                k.equal("joint_format", k.str("joint_format", "coco"), fmt,
                        f"the model's skeleton is {fmt!r} (OpenGait would mix up the joints)")
                if kind == "GaitGraphMultiInput":
                    center = k.int("center", 0, lo=0)
                    if self.out["model_args"].setdefault("input_center", center) != center:
                        raise k.refuse("center", f"{center}: the training and test transforms centre the "
                                                 "sequence on different joints; one centre is implemented here")
                if kind == "InversePosesPre":
                    if not training:
                        raise k.refuse("type", "a random augmentation in the test transform is not implemented here")
                    steps.append({"type": "inverse_poses", "prob": k.num("probability", 0.5)})
                k.rest(f"not a {kind} argument: OpenGait drops it")
            elif kind in POSE_AUGMENTS and training:
                ours, arg, default = POSE_AUGMENTS[kind]
                value = k.ints(arg, 2, default, lo=0) if arg == "random_r" else k.num(arg, default)
                steps.append({"type": ours, POSE_STEPS[ours][0]: value})
                k.rest(f"not a {kind} argument: OpenGait drops it")
            else:
                raise k.refuse("type", f"{kind!r} is not implemented here for {self.opengait_model} (supported: "
                                       f"NormalizeEmpty, {multi}, {', '.join(layout) + ', ' if layout else ''}"
                                       + ("InversePosesPre, " + ", ".join(POSE_AUGMENTS) if training else "no "
                                          "random augmentation at test time") + ")")
        if training:
            self.out["pose_augment"] = steps

    def evaluator(self) -> None:
        e = self.keys("evaluator_cfg")
        self.out["eval_metric"] = e.str("metric", "euc")
        if self.out["eval_metric"] not in ("euc", "cos"):
            raise e.refuse("metric", f"{self.out['eval_metric']!r}: euc and cos are implemented")
        self.eval_fp16 = e.bool("enable_float16", False)
        if self.eval_fp16 != (self.out.get("amp") == "fp16"):
            self.report.notes.append(f"evaluator_cfg.enable_float16 {self.eval_fp16}: a trained run evaluates at "
                                     "its training precision (amp); python -m core eval --opengait-config uses this")
        self.transform(e, "transform", training=False)
        s = e.sub("sampler")
        kind = s.str("sample_type")
        if kind not in ("all_ordered", "all_unordered"):
            what = (f"OpenGait embeds a random window of {s.d.get('frames_num_fixed')} frames of each test sequence"
                    if kind == "fixed_ordered" else f"OpenGait samples the test sequences' frames ({kind})")
            raise s.refuse("sample_type", f"{kind!r}: {what}; test features here come from every frame of a "
                                          "sequence (OpenGait's all_ordered)")
        limit = s.int("frames_all_limit", 0, lo=0)
        if limit:
            self.report.notes.append(f"evaluator_cfg.sampler.frames_all_limit {limit}: OpenGait keeps the first "
                                     f"{limit} frames of longer test sequences; every frame is embedded here")
        s.drop("type", "which sequences go to which GPU: the features are the same")
        s.drop("batch_size", "sequences are embedded one length at a time: the features are the same")
        s.drop("batch_shuffle", "test order does not change features")
        s.rest("not an InferenceSampler setting: OpenGait drops it")
        for k in ("eval_func", "rerank", "cross_view_gallery"):
            if k == "rerank" and e.has(k) and e.d[k]:
                raise e.refuse(k, "re-ranking is not implemented here")
            e.drop(k, SCORING)
        e.drop("restore_hint", "which checkpoint OpenGait tests: here it is the one given to python -m core eval")
        e.drop("restore_ckpt_strict", "checkpoints always load strictly")
        e.drop("save_name", PATHS)
        e.rest("not read by OpenGait's tester")


def _drop_defaults(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Leave out arguments equal to the model's own defaults: the config then shows what differs."""
    import inspect

    from core.models.registry import model_class

    params = inspect.signature(model_class(name).__init__).parameters

    def same(a: Any, b: Any) -> bool:
        return list(a) == list(b) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else a == b

    return {k: v for k, v in args.items() if not (k in params and same(v, params[k].default))}


def read_opengait_yaml(source: str | Path | dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The parsed config and a name for messages; one-line ConfigError for anything unreadable."""
    if isinstance(source, dict):
        return source, "config"
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"OpenGait config {path} does not exist")
    import yaml
    try:
        src = yaml.safe_load(path.read_text())
    except Exception as exc:  # the parser's message carries the line
        first = " ".join(str(exc).split())
        raise ConfigError(f"{path}: cannot parse as YAML ({first})") from None
    if not isinstance(src, dict):
        raise ConfigError(f"{path}: not an OpenGait config (expected a mapping of sections, got "
                          f"{'an empty file' if src is None else type(src).__name__})")
    return src, str(path)


def import_opengait(source: str | Path | dict[str, Any], dataset: str | Path = "", **overrides: Any) -> ImportResult:
    """Translate an OpenGait YAML (path or parsed dict); ``overrides`` are our keys applied on top.

    Every failure, however malformed the file, is a one-line ConfigError naming the file."""
    src, where = read_opengait_yaml(source)
    try:
        return _import(src, dataset, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _import(src: dict[str, Any], dataset: str | Path, overrides: dict[str, Any]) -> ImportResult:
    if "model_cfg" not in src:
        raise ConfigError("not an OpenGait config (no model_cfg section)")
    for k, v in src.items():
        if v is None:
            raise ConfigError(f"{k}: empty section")
    imp = _Importer(with_defaults(src))
    for k in src:
        if k not in imp.sections:
            imp.report.ignored.append((k, "not an OpenGait config section: OpenGait does not read it"))
    imp.model()
    imp.data()
    imp.losses()
    imp.optimizer()
    imp.scheduler()
    imp.trainer()
    imp.evaluator()
    data = {k: v for k, v in imp.out.items() if not (isinstance(v, dict) and not v)}
    data["dataset"] = str(dataset)
    for k, v in overrides.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) and isinstance(data.get(k), dict) else v
    cfg = load_config(data)
    r = imp.report
    if imp.translated.num_classes:
        r.notes.append(f"class_num {imp.translated.num_classes}: checks and OpenGait checkpoints use it; a training "
                       "run sizes the classifier to its dataset's training identities (OpenGait's class_num set to them)")
    return ImportResult(cfg, r.ignored, r.notes, r.honoured, imp.opengait_model, imp.translated.num_classes,
                        imp.eval_fp16)


def check(source: str | Path, dataset: str | Path = "") -> dict[str, Any]:
    """What ``python -m core train --opengait FILE --check`` reports, without training: the import
    report, the network (built shape-only), its parameter count and the equivalent studio config."""
    res = import_opengait(source, dataset=dataset)
    model = build_imported(res)
    return {"opengait_model": res.opengait_model, "model": res.config.model, "model_args": res.config.model_args,
            "num_classes": res.num_classes, "params": sum(p.numel() for p in model.parameters()),
            "network": repr(model), "honoured": [list(h) for h in res.honoured],
            "ignored": [list(i) for i in res.ignored], "notes": res.notes, "summary": res.summary(),
            "config": res.config.to_dict()}


def check_folder(folder: str | Path) -> list[dict[str, Any]]:
    """One row per YAML under ``folder`` (an OpenGait checkout's configs/): exact (the network and
    its parameter count) or refused (the one-line reason)."""
    root = Path(folder)
    rows = []
    for path in sorted(root.rglob("*.yaml")):
        row: dict[str, Any] = {"config": str(path.relative_to(root))}
        try:
            res = import_opengait(path)
        except ConfigError as exc:
            row.update(result="refused", reason=str(exc).removeprefix(f"{path}: "))
        else:
            row.update(result="exact", opengait_model=res.opengait_model, model=res.config.model,
                       model_args=res.config.model_args, params=sum(p.numel() for p in build_imported(res).parameters()))
        rows.append(row)
    return rows


def build_imported(result: ImportResult, num_classes: int | None = None, device: str = "meta"):
    """The network an import describes, with the config's own class count unless given."""
    import torch

    from core.models import build_model

    n = num_classes or result.num_classes or 1
    with torch.device(device):
        return build_model(result.config.model, num_classes=n, **result.config.model_args)
