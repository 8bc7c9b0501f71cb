"""OpenGait ``model_cfg`` -> (our model name, model_args) for the families whose networks are
fixed by a handful of keys: Baseline on the Plain backbone, GaitPart, GLN, GaitGraph2, GaitTR, SwinGait and
ParsingGait.

Exact or refuse: every key either sets the network exactly as OpenGait builds it, is checked
against what the other keys imply (OpenGait would crash or build something else otherwise), or
is the class count (which comes from the dataset). Anything else is a ConfigError naming it.
"""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError

_PYRAMID = [16, 8, 4, 2, 1]
_CLASSES = "the number of classes comes from the dataset"


class _Cfg:
    """Reads keys off one model_cfg, remembering which were read, so leftovers can be refused."""

    def __init__(self, d: dict[str, Any], family: str):
        self.d, self.family, self.used = d, family, {"model"}
        self.ignored: list[tuple[str, str]] = []

    def get(self, key: str, default: Any = ..., kind: type | tuple = object) -> Any:
        node: Any = self.d
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is ...:
                    raise ConfigError(f"model_cfg.{key}: required by OpenGait's {self.family}")
                return default
            node = node[part]
        self.used.add(key)
        if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
            raise ConfigError(f"model_cfg.{key}: expected {getattr(kind, '__name__', kind)}, got {node!r}")
        return node

    def need(self, key: str, ok: bool, why: str) -> None:
        if not ok:
            raise ConfigError(f"model_cfg.{key}: {why}")

    def classes(self, key: str) -> None:
        if self.get(key, None) is not None:
            self.ignored.append((f"model_cfg.{key}", _CLASSES))

    def leftovers(self) -> None:
        def walk(d: dict[str, Any], prefix: str) -> None:
            for k, v in d.items():
                key = f"{prefix}{k}"
                if key in self.used:
                    continue
                if isinstance(v, dict) and any(u.startswith(key + ".") for u in self.used):
                    walk(v, key + ".")
                else:
                    raise ConfigError(f"model_cfg.{key}: not a {self.family} setting this importer can honour exactly")
        walk(self.d, "")


def _plain_layers(c: _Cfg) -> tuple[list[str], int, int]:
    """backbone_cfg of type Plain -> (layer specs, input channels, output channels)."""
    from core.models.plain import parse_layers

    kind = c.get("backbone_cfg.type", kind=str)
    c.need("backbone_cfg.type", kind == "Plain", f"backbone {kind!r} is not supported for {c.family} (Plain is)")
    layers = c.get("backbone_cfg.layers_cfg", kind=list)
    try:
        parsed = parse_layers(layers, "layers_cfg")
    except ValueError as exc:
        raise ConfigError(f"model_cfg.backbone_cfg.{exc}") from None
    out = [ch for kind, ch, _ in parsed if kind != "M"][-1]
    return [str(s) for s in layers], c.get("backbone_cfg.in_channels", 1, int), out


def _fcs(c: _Cfg, cin: int, parts: int) -> int:
    got_in = c.get("SeparateFCs.in_channels", kind=int)
    c.need("SeparateFCs.in_channels", got_in == cin, f"{got_in} but the features feeding it have {cin} channels")
    got_p = c.get("SeparateFCs.parts_num", kind=int)
    c.need("SeparateFCs.parts_num", got_p == parts, f"{got_p} but the pooling gives {parts} parts")
    c.need("SeparateFCs.norm", not c.get("SeparateFCs.norm", False, bool), "normalised FC weights are not supported")
    return c.get("SeparateFCs.out_channels", kind=int)


def _plain_baseline(c: _Cfg) -> tuple[str, dict[str, Any]]:
    layers, cin, cout = _plain_layers(c)
    bins = [int(b) for b in c.get("bin_num", _PYRAMID, list)]
    embed = _fcs(c, cout, sum(bins))
    c.classes("SeparateBNNecks.class_num")
    for k, want in (("in_channels", embed), ("parts_num", sum(bins))):
        got = c.get(f"SeparateBNNecks.{k}", kind=int)
        c.need(f"SeparateBNNecks.{k}", got == want, f"{got} but the embedding has {want}")
    c.need("SeparateBNNecks.norm", c.get("SeparateBNNecks.norm", True, bool), "an unnormalised BNNeck is not supported")
    c.need("SeparateBNNecks.parallel_BN1d", c.get("SeparateBNNecks.parallel_BN1d", True, bool),
           "one BatchNorm per part is not supported")
    return "gaitbase-plain", {"layers": layers, "in_channels": cin, "bins": bins, "embed_dim": embed}


def _gaitpart(c: _Cfg) -> tuple[str, dict[str, Any]]:
    layers, cin, cout = _plain_layers(c)
    bins = c.get("bin_num", [16], list)
    c.need("bin_num", len(bins) == 1, f"{bins}: GaitPart pools one level of strips")
    embed = _fcs(c, cout, int(bins[0]))
    return "gaitpart", {"layers": layers, "in_channels": cin, "parts": int(bins[0]), "embed_dim": embed}


def _gln(c: _Cfg) -> tuple[str, dict[str, Any]]:
    chans = c.get("in_channels", kind=list)
    c.need("in_channels", len(chans) == 4, f"{chans}: GLN takes [input, stage 1, stage 2, stage 3] channels")
    # OpenGait's GLN pools with the default 16/8/4/2/1 pyramid whatever bin_num says; bin_num only
    # sizes the compact block, so any other value would not build there.
    bins = c.get("bin_num", _PYRAMID, list)
    c.need("bin_num", list(bins) == _PYRAMID, f"{bins}: GLN's pyramid is always {_PYRAMID}")
    lateral = c.get("lateral_dim", kind=int)
    embed = _fcs(c, lateral, 3 * sum(_PYRAMID))
    pretrain = c.get("Lateral_pretraining", kind=bool)
    hidden = c.get("hidden_dim", kind=int)
    dropout = float(c.get("dropout", 0.9, (int, float)))
    if not pretrain:
        c.need("hidden_dim", hidden == embed, f"{hidden}: GLN's compact block needs it equal to "
                                              f"SeparateFCs.out_channels ({embed})")
    c.classes("class_num")
    return "gln", {"channels": [int(v) for v in chans[1:]], "in_channels": int(chans[0]), "lateral_dim": lateral,
                   "embed_dim": embed, "hidden_dim": hidden, "dropout": dropout, "lateral_pretraining": pretrain}


def _gaitgraph2(c: _Cfg) -> tuple[str, dict[str, Any]]:
    from core.models.resgcn import SKELETONS

    fmt = c.get("joint_format", kind=str)
    c.need("joint_format", fmt in SKELETONS, f"{fmt!r}: one of {sorted(SKELETONS)}")
    c.need("input_num", c.get("input_num", kind=int) == 3, "GaitGraph2 has 3 input streams")
    block = c.get("block", kind=str)
    c.need("block", block in ("Basic", "Bottleneck", "initial"), f"{block!r}: Basic, Bottleneck or initial")
    branch = [int(v) for v in c.get("input_branch", kind=list)]
    main = [int(v) for v in c.get("main_stream", kind=list)]
    c.need("input_branch", len(branch) >= 2 and branch[0] == 5, f"{branch}: the streams have 5 channels")
    c.need("main_stream", len(main) >= 2 and main[0] == branch[-1],
           f"{main}: its first width must be the branches' last ({branch[-1]})")
    # OpenGait's final linear layer takes 256 features whatever the main stream ends with.
    c.need("main_stream", main[-1] == 256, f"{main}: OpenGait's ResGCN head expects 256 final channels")
    return "gaitgraph2", {"joint_format": fmt, "branch": branch, "main": main,
                          "embed_dim": c.get("num_class", kind=int), "reduction": c.get("reduction", kind=int),
                          "block": block, "tta": c.get("tta", False, bool)}


def _gaittr(c: _Cfg) -> tuple[str, dict[str, Any]]:
    from core.models.resgcn import SKELETONS

    fmt = c.get("joint_format", kind=str)
    c.need("joint_format", fmt in SKELETONS, f"{fmt!r}: one of {sorted(SKELETONS)}")
    chans = [int(v) for v in c.get("in_channels", kind=list)]
    c.need("in_channels", len(chans) >= 2 and chans[0] == 10, f"{chans}: GaitTR's input has 10 channels")
    c.need("in_channels", all(int(0.25 * v) % 8 == 0 and v % 8 == 0 for v in chans[1:]),
           f"{chans}: each block's attention splits its channels (and a quarter of them) over 8 heads")
    return "gaittr", {"joint_format": fmt, "channels": chans, "embed_dim": c.get("num_class", kind=int)}


def _swingait(c: _Cfg) -> tuple[str, dict[str, Any]]:
    # OpenGait's SwinGait fixes the transformer (256 wide, heads 16/32, windows 3x3x5, a 30x20
    # grid) and the FC widths (512 -> 256); only these keys vary.
    mode = c.get("Backbone.mode", "p3d", str)
    c.need("Backbone.mode", mode == "p3d", f"{mode!r}: SwinGait's third stage is pseudo-3-D whatever this says")
    chans = [int(v) for v in c.get("Backbone.channels", kind=list)]
    layers = [int(v) for v in c.get("Backbone.layers", kind=list)]
    c.need("Backbone.channels", len(chans) == 2, f"{chans}: SwinGait takes two CNN widths")
    c.need("Backbone.layers", len(layers) == 4 and min(layers) >= 1, f"{layers}: four block counts")
    bins = c.get("bin_num", kind=list)
    c.need("bin_num", len(bins) == 1 and 15 % int(bins[0]) == 0,
           f"{bins}: one level of strips dividing the transformer's 15 rows")
    c.classes("SeparateBNNecks.class_num")
    for k, want in (("in_channels", 256), ("parts_num", int(bins[0]) + 1)):
        got = c.get(f"SeparateBNNecks.{k}", kind=int)
        c.need(f"SeparateBNNecks.{k}", got == want, f"{got}; OpenGait's SwinGait needs {want}")
    return "swingait", {"channels": chans, "layers": layers, "strips": int(bins[0]),
                        "in_channels": c.get("Backbone.in_channels", 1, int)}


def _parsinggait(c: _Cfg) -> tuple[str, dict[str, Any]]:
    for key, want in (("type", "ResNet9"), ("block", "BasicBlock")):
        got = c.get(f"backbone_cfg.{key}", kind=str)
        c.need(f"backbone_cfg.{key}", got == want, f"{got!r}: ParsingGait here is built on {want}")
    layers = c.get("backbone_cfg.layers", [1, 1, 1, 1], list)
    c.need("backbone_cfg.layers", all(int(v) == 1 for v in layers), f"{layers}: one block per stage only")
    c.need("backbone_cfg.maxpool", not c.get("backbone_cfg.maxpool", False, bool), "a stem max-pool is not supported")
    chans = [int(v) for v in c.get("backbone_cfg.channels", kind=list)]
    strides = [int(v) for v in c.get("backbone_cfg.strides", kind=list)]
    c.need("backbone_cfg.strides", len(strides) == len(chans), f"{strides}: one stride per stage")
    g = {k: c.get(f"gcn_cfg.{k}", False, bool) for k in ("only_fine_graph", "only_coarse_graph",
                                                         "combine_fine_coarse_graph")}
    # OpenGait tests the flags in this order and takes the first that is set.
    graph = "fine" if g["only_fine_graph"] else "coarse" if g["only_coarse_graph"] else \
        "both" if g["combine_fine_coarse_graph"] else ""
    c.need("gcn_cfg", bool(graph), "one of only_fine_graph, only_coarse_graph, combine_fine_coarse_graph must be set")
    for k, want in (("fine_parts", 11), ("coarse_parts", 5)):
        got = c.get(f"gcn_cfg.{k}", want, int)
        c.need(f"gcn_cfg.{k}", got == want, f"{got}: the parsing graphs have {want} parts")
    bins = c.get("bin_num", kind=list)
    c.need("bin_num", len(bins) == 1, f"{bins}: ParsingGait pools one level of strips")
    extra = {"fine": 11, "coarse": 5, "both": 16}[graph]
    embed = _fcs(c, chans[-1], int(bins[0]) + extra)
    c.classes("SeparateBNNecks.class_num")
    for k, want in (("in_channels", embed), ("parts_num", int(bins[0]) + extra)):
        got = c.get(f"SeparateBNNecks.{k}", kind=int)
        c.need(f"SeparateBNNecks.{k}", got == want, f"{got} but the embedding has {want}")
    return "parsinggait", {"channels": chans, "strides": strides, "parts": int(bins[0]), "embed_dim": embed,
                           "graph": graph, "in_channels": c.get("backbone_cfg.in_channel", 1, int)}


def translate_model(model_cfg: dict[str, Any]) -> tuple[str, dict[str, Any], list[tuple[str, str]]] | None:
    """(our model name, model_args, ignored keys with reasons) for a family handled here, else None."""
    theirs = model_cfg.get("model")
    backbone = model_cfg.get("backbone_cfg")
    if theirs == "Baseline" and isinstance(backbone, dict) and backbone.get("type") == "Plain":
        make, family = _plain_baseline, "Baseline (Plain backbone)"
    elif theirs == "GaitPart":
        make, family = _gaitpart, "GaitPart"
    elif theirs == "GLN":
        make, family = _gln, "GLN"
    elif theirs == "GaitGraph2":
        make, family = _gaitgraph2, "GaitGraph2"
    elif theirs == "GaitTR":
        make, family = _gaittr, "GaitTR"
    elif theirs == "SwinGait":
        make, family = _swingait, "SwinGait"
    elif theirs == "ParsingGait":
        make, family = _parsinggait, "ParsingGait"
    else:
        return None
    c = _Cfg(model_cfg, family)
    name, args = make(c)
    c.leftovers()
    return name, args, c.ignored
