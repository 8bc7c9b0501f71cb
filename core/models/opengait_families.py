"""OpenGait ``model_cfg`` -> Translated for the families whose networks a handful of keys fix:
Baseline on the Plain backbone, GaitPart, GLN, GaitGraph2, GaitTR, SwinGait and ParsingGait.

Exact or refuse (``core.models.opengait_cfg``): every key sets the network as OpenGait builds
it or is checked against what the other keys imply; any other key is refused, naming it. Each
model class hands its ``from_opengait`` to the function here for its family.
"""

from __future__ import annotations

from core.errors import ConfigError
from core.models.opengait_cfg import Keys, Translated, bnneck, separate_fcs
from core.models.plain_layers import parse_layers

_PYRAMID = [16, 8, 4, 2, 1]


def _plain(m: Keys, family: str) -> tuple[list[str], int, int]:
    """backbone_cfg of type Plain -> (layer specs, input channels, output channels)."""
    b = m.sub("backbone_cfg")
    kind = b.str("type")
    if kind != "Plain":
        raise b.refuse("type", f"backbone {kind!r} is not implemented here for {family} (Plain is)")
    layers = b.raw("layers_cfg")
    if not isinstance(layers, list):
        raise b.refuse("layers_cfg", "expected a list of layer specs")
    try:
        parsed = parse_layers(layers, "layers_cfg")
    except ValueError as exc:
        raise ConfigError(f"{b.where}.{exc}") from None
    b._done("layers_cfg", layers)
    cin = b.int("in_channels", default=1, lo=1)
    b.rest(None)
    return [str(s) for s in layers], cin, [ch for k, ch, _ in parsed if k != "M"][-1]


def _fcs(m: Keys, cin: int, parts: int) -> int:
    p, got, cout = separate_fcs(m)
    if got != cin:
        raise m.refuse("SeparateFCs.in_channels", f"{got}, but the features feeding it have {cin} channels")
    if p != parts:
        raise m.refuse("SeparateFCs.parts_num", f"{p}, but the pooling gives {parts} parts")
    return cout


def plain_baseline(m: Keys) -> Translated:
    layers, cin, cout = _plain(m, "Baseline")
    bins = m.ints("bin_num", default=_PYRAMID)
    embed = _fcs(m, cout, sum(bins))
    classes = bnneck(m, sum(bins), embed)
    return Translated({"layers": layers, "in_channels": cin, "bins": bins, "embed_dim": embed}, classes)


def gaitpart(m: Keys) -> Translated:
    layers, cin, cout = _plain(m, "GaitPart")
    bins = m.ints("bin_num", default=[16])
    if len(bins) != 1:
        raise m.refuse("bin_num", f"{bins}: GaitPart pools one level of strips")
    embed = _fcs(m, cout, bins[0])
    return Translated({"layers": layers, "in_channels": cin, "parts": bins[0], "embed_dim": embed}, None,
                      losses=("triplet",))


def gln(m: Keys) -> Translated:
    chans = m.ints("in_channels", 4)
    # OpenGait's GLN pools the 16/8/4/2/1 pyramid whatever bin_num says; bin_num only sizes the
    # compact block, so any other value would not build there.
    bins = m.ints("bin_num", default=_PYRAMID)
    m.equal("bin_num", bins, _PYRAMID, f"GLN's pyramid is always {_PYRAMID}")
    lateral = m.int("lateral_dim", lo=1)
    embed = _fcs(m, lateral, 3 * sum(_PYRAMID))
    pretrain = m.bool("Lateral_pretraining")
    hidden = m.int("hidden_dim", lo=1)
    dropout = m.num("dropout", 0.9)
    classes = m.int("class_num", lo=1)
    if not pretrain and hidden != embed:
        raise m.refuse("hidden_dim", f"{hidden}: GLN's compact block needs it equal to SeparateFCs.out_channels ({embed})")
    return Translated({"channels": chans[1:], "in_channels": chans[0], "lateral_dim": lateral, "embed_dim": embed,
                       "hidden_dim": hidden, "dropout": dropout, "lateral_pretraining": pretrain}, classes,
                      losses=("triplet",) if pretrain else ("triplet", "softmax"))


def _joints(m: Keys) -> str:
    from core.models.resgcn import SKELETONS

    fmt = m.str("joint_format")
    if fmt not in SKELETONS:
        raise m.refuse("joint_format", f"{fmt!r}: one of {sorted(SKELETONS)}")
    return fmt


def gaitgraph2(m: Keys) -> Translated:
    fmt = _joints(m)
    m.equal("input_num", m.int("input_num"), 3, "GaitGraph2 has 3 input streams")
    block = m.str("block")
    if block not in ("Basic", "Bottleneck", "initial"):
        raise m.refuse("block", f"{block!r}: Basic, Bottleneck or initial")
    branch, main = m.ints("input_branch"), m.ints("main_stream")
    if len(branch) < 2 or branch[0] != 5:
        raise m.refuse("input_branch", f"{branch}: the streams have 5 channels")
    if len(main) < 2 or main[0] != branch[-1]:
        raise m.refuse("main_stream", f"{main}: its first width must be the branches' last ({branch[-1]})")
    # OpenGait's final linear layer takes 256 features whatever the main stream ends with.
    m.equal("main_stream", main[-1], 256, "OpenGait's ResGCN head expects 256 final channels")
    args = {"joint_format": fmt, "branch": branch, "main": main, "embed_dim": m.int("num_class", lo=1),
            "reduction": m.int("reduction", lo=1), "block": block, "tta": m.bool("tta", False)}
    return Translated(args, None, losses=("SupConLoss",))


def gaittr(m: Keys) -> Translated:
    fmt = _joints(m)
    chans = m.ints("in_channels")
    if len(chans) < 2 or chans[0] != 10:
        raise m.refuse("in_channels", f"{chans}: GaitTR's input has 10 channels")
    if not all(int(0.25 * v) % 8 == 0 and v % 8 == 0 for v in chans[1:]):
        raise m.refuse("in_channels", f"{chans}: each block's attention splits its channels (and a quarter of "
                                      "them) over 8 heads")
    return Translated({"joint_format": fmt, "channels": chans, "embed_dim": m.int("num_class", lo=1)}, None,
                      losses=("triplet",))


def swingait(m: Keys) -> Translated:
    # OpenGait's SwinGait fixes the transformer (256 wide, heads 16/32, windows 3x3x5, a 30x20
    # grid) and the FC widths (512 -> 256); only these keys vary.
    b = m.sub("Backbone")
    b.equal("mode", b.str("mode", "p3d"), "p3d", "SwinGait's third stage is pseudo-3-D whatever this says")
    chans, layers = b.ints("channels", 2), b.ints("layers", 4)
    cin = b.int("in_channels", 1, lo=1)
    b.rest(None)
    bins = m.ints("bin_num")
    if len(bins) != 1 or 15 % bins[0]:
        raise m.refuse("bin_num", f"{bins}: one level of strips dividing the transformer's 15 rows")
    classes = bnneck(m, bins[0] + 1, 256)
    return Translated({"channels": chans, "layers": layers, "strips": bins[0], "in_channels": cin}, classes)


def parsinggait(m: Keys) -> Translated:
    b = m.sub("backbone_cfg")
    b.equal("type", b.str("type"), "ResNet9", "ParsingGait here is built on ResNet9")
    b.equal("block", b.str("block"), "BasicBlock", "ParsingGait here is built on BasicBlock")
    b.equal("layers", b.ints("layers", 4, default=[1, 1, 1, 1]), [1, 1, 1, 1], "one block per stage only")
    b.equal("maxpool", b.bool("maxpool", False), False, "a stem max-pool is not implemented here")
    chans = b.ints("channels", 4)
    strides = b.ints("strides", 4)
    cin = b.int("in_channel", 1, lo=1)
    b.rest(None)
    g = m.sub("gcn_cfg")
    flags = [g.bool(k, False) for k in ("only_fine_graph", "only_coarse_graph", "combine_fine_coarse_graph")]
    # OpenGait tests the flags in this order and takes the first that is set.
    graph = next((name for name, on in zip(("fine", "coarse", "both"), flags) if on), "")
    if not graph:
        raise ConfigError(f"{g.where}: one of only_fine_graph, only_coarse_graph, combine_fine_coarse_graph must be set")
    g.equal("fine_parts", g.int("fine_parts", 11), 11, "the fine parsing graph has 11 parts")
    g.equal("coarse_parts", g.int("coarse_parts", 5), 5, "the coarse parsing graph has 5 parts")
    g.rest(None)
    bins = m.ints("bin_num")
    if len(bins) != 1:
        raise m.refuse("bin_num", f"{bins}: ParsingGait pools one level of strips")
    parts = bins[0] + {"fine": 11, "coarse": 5, "both": 16}[graph]
    embed = _fcs(m, chans[-1], parts)
    classes = bnneck(m, parts, embed)
    return Translated({"channels": chans, "strides": strides, "parts": bins[0], "embed_dim": embed, "graph": graph,
                       "in_channels": cin}, classes)
