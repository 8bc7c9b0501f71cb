"""Translating state-dict key names between our models and OpenGait's checkpoints.

OpenGait saves ``{'model': state_dict, 'optimizer': ..., 'scheduler': ..., 'iteration': n}``;
its module names come from its model classes (``Backbone.forward_block.layer1.0.conv1.weight``,
``FCs.fc_bin``, ``BNNecks.bn1d.running_mean``, ``BNNecks.fc_bin`` ...). Tensors are laid out
identically on both sides, so translation only renames keys.

Each model has an ordered list of rules, pairs of templates (ours, theirs). In a template,
``{name}`` matches an integer, ``{name+1}`` the same integer shifted by one (our stage 0 is
their ``layer1``), and ``{*}`` the rest of the key. A key takes the first rule it matches, so
specific rules precede general ones; the same order serves both directions.

OpenGait class -> our registry name: Baseline (GaitBase) -> 'gaitbase', GaitSet -> 'gaitset',
GaitGL -> 'gaitgl', DeepGaitV2 -> 'deepgaitv2', SkeletonGaitPP -> 'skeletongait++', Baseline with
the Plain backbone -> 'gaitbase-plain' (recognised from the keys when named Baseline), GaitPart ->
'gaitpart', GLN -> 'gln', GaitGraph2 -> 'gaitgraph2', GaitTR
-> 'gaittr' (same names on both sides), SwinGait -> 'swingait', ParsingGait -> 'parsinggait'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from core.atomic import atomic_path
from core.errors import InputError

_FIELD = re.compile(r"\{(\*|[a-z]\w*)([+-]\d+)?\}")
_ALIASES = {"baseline": "gaitbase", "gaitbase": "gaitbase", "gaitset": "gaitset", "gaitgl": "gaitgl",
            "deepgaitv2": "deepgaitv2", "skeletongait++": "skeletongait++", "skeletongaitpp": "skeletongait++",
            "gaitbase-plain": "gaitbase-plain", "gaitpart": "gaitpart", "gln": "gln", "gaitgraph2": "gaitgraph2", "gaittr": "gaittr",
            "swingait": "swingait", "parsinggait": "parsinggait"}


@dataclass(frozen=True)
class _Template:
    text: str
    regex: re.Pattern = field(init=False, compare=False)
    offsets: dict = field(init=False, compare=False)

    def __post_init__(self) -> None:
        pattern, offsets, pos = "", {}, 0
        for m in _FIELD.finditer(self.text):
            pattern += re.escape(self.text[pos:m.start()])
            name, off = m.group(1), int(m.group(2) or 0)
            pattern += r"(?P<rest>.+)" if name == "*" else rf"(?P<{name}>\d+)"
            offsets["rest" if name == "*" else name] = off
            pos = m.end()
        pattern += re.escape(self.text[pos:])
        object.__setattr__(self, "regex", re.compile(pattern))
        object.__setattr__(self, "offsets", offsets)

    def match(self, key: str) -> dict[str, Any] | None:
        m = self.regex.fullmatch(key)
        if m is None:
            return None
        # Canonical values: what the field would be with no offset (their layer1 -> our stage 0).
        values = {k: (v if k == "rest" else int(v) - self.offsets[k]) for k, v in m.groupdict().items()}
        return None if any(isinstance(v, int) and v < 0 for v in values.values()) else values

    def format(self, values: Mapping[str, Any]) -> str:
        def sub(m: re.Match) -> str:
            name = "rest" if m.group(1) == "*" else m.group(1)
            return str(values[name]) if name == "rest" else str(values[name] + int(m.group(2) or 0))
        return _FIELD.sub(sub, self.text)


Rule = tuple[_Template, _Template]


def _rules(*pairs: tuple[str, str]) -> list[Rule]:
    return [(_Template(a), _Template(b)) for a, b in pairs]


_NECK = (("fcs.weight", "FCs.fc_bin"), ("neck.bn.{*}", "BNNecks.bn1d.{*}"), ("neck.weight", "BNNecks.fc_bin"))


def _gaitbase() -> list[Rule]:
    return _rules(
        ("backbone.stem.0.weight", "Backbone.forward_block.conv1.conv.weight"),
        ("backbone.stem.1.{*}", "Backbone.forward_block.bn1.{*}"),
        ("backbone.stages.{s}.{b}.shortcut.{*}", "Backbone.forward_block.layer{s+1}.{b}.downsample.{*}"),
        ("backbone.stages.{s}.{b}.{*}", "Backbone.forward_block.layer{s+1}.{b}.{*}"),
        *_NECK)


def _gaitset() -> list[Rule]:
    return _rules(
        ("set_block{k}.{i}.weight", "set_block{k}.forward_block.{i}.conv.weight"),
        ("gl_block{k}.{i}.weight", "gl_block{k}.{i}.conv.weight"),
        ("head.weight", "Head.fc_bin"))


def _gaitgl() -> list[Rule]:
    pairs = [("conv3d.{i}.weight", "conv3d.{i}.conv3d.weight"), ("lta.0.weight", "LTA.0.conv3d.weight")]
    for ours, theirs in (("gl_a0", "GLConvA0"), ("gl_a1", "GLConvA1"), ("gl_b2", "GLConvB2")):
        for branch in ("global", "local"):
            # Sequential pairs (GREW/OU-MVLP layout) first, single blocks (CASIA-B layout) second.
            pairs.append((f"{ours}.{{j}}.{branch}_conv.weight", f"{theirs}.{{j}}.{branch}_conv3d.conv3d.weight"))
            pairs.append((f"{ours}.{branch}_conv.weight", f"{theirs}.{branch}_conv3d.conv3d.weight"))
    pairs += [("hpp.p", "HPP.p"), ("head0.weight", "Head0.fc_bin"), ("bn.{*}", "Bn.{*}"),
              ("head1.weight", "Head1.fc_bin"), ("neck.bn.{*}", "BNNecks.bn1d.{*}"), ("neck.weight", "BNNecks.fc_bin")]
    return _rules(*pairs)


def _p3d_stage_pairs() -> list[tuple[str, str]]:
    return [("layer{n}.{b}.conv1.{*}", "layer{n}.{b}.conv1.forward_block.{*}"),
            ("layer{n}.{b}.conv2.{*}", "layer{n}.{b}.conv2.forward_block.{*}"),
            ("layer{n}.{b}.temporal.weight", "layer{n}.{b}.shortcut3d.weight"),
            ("layer{n}.{b}.temporal_bn.{*}", "layer{n}.{b}.sbn.{*}"),
            ("layer{n}.{b}.shortcut.{*}", "layer{n}.{b}.downsample.{*}")]


def _deepgaitv2(mode: str) -> list[Rule]:
    pairs = [("layer0.{*}", "layer0.forward_block.{*}"), ("layer1.{*}", "layer1.forward_block.{*}")]
    if mode == "2d":
        pairs += [("layer{n}.{b}.shortcut.{*}", "layer{n}.forward_block.{b}.downsample.{*}"),
                  ("layer{n}.{b}.{*}", "layer{n}.forward_block.{b}.{*}")]
    elif mode == "p3d":
        pairs += _p3d_stage_pairs()
    else:
        pairs += [("layer{n}.{b}.shortcut.{*}", "layer{n}.{b}.downsample.{*}"),
                  ("layer{n}.{b}.{*}", "layer{n}.{b}.{*}")]
    return _rules(*pairs, *_NECK)


def _skeletongait() -> list[Rule]:
    pairs = [(f"{m}.{{*}}", f"{m}.forward_block.{{*}}")
             for m in ("sil_layer0", "map_layer0", "sil_layer1", "map_layer1")]
    pairs.append(("fusion.conv.{*}", "fusion.conv.forward_block.{*}"))
    return _rules(*pairs, *_p3d_stage_pairs(), *_NECK)


_PLAIN = ("backbone.{i}.weight", "Backbone.forward_block.feature.{i}.conv.weight")


def _gaitbase_plain() -> list[Rule]:
    return _rules(_PLAIN, *_NECK)


def _gaitpart() -> list[Rule]:
    return _rules(_PLAIN, ("tfa.short.{p}.{i}.weight", "TFA.pooling_func.conv1d3x1.{p}.{i}.conv.weight"),
                  ("tfa.long.{p}.{i}.weight", "TFA.pooling_func.conv1d3x3.{p}.{i}.conv.weight"),
                  ("head.weight", "Head.fc_bin"))


def _gln() -> list[Rule]:
    return _rules(("sil_stage_{s}.{i}.weight", "sil_stage_{s}.forward_block.{i}.conv.weight"),
                  ("set_stage_{s}.{i}.weight", "set_stage_{s}.{i}.conv.weight"),
                  ("head.weight", "Head.fc_bin"), ("{*}", "{*}"))


def _gaitgraph2() -> list[Rule]:
    return _rules(("branches.{*}", "ResGCN.head.{*}"), ("main.{*}", "ResGCN.backbone.{*}"), ("fc.{*}", "ResGCN.fcn.{*}"))


def _swingait() -> list[Rule]:
    return _rules(("layer0.{*}", "layer0.forward_block.{*}"), ("layer1.{*}", "layer1.forward_block.{*}"),
                  *_p3d_stage_pairs(), ("transformer.{*}", "transformer.{*}"), *_NECK)


def _canonical(model_name: str) -> str:
    key = model_name.strip().lower()
    if key not in _ALIASES:
        raise InputError(None, f"no OpenGait key mapping for model {model_name!r}; "
                               f"known: {', '.join(sorted(set(_ALIASES.values())))}")
    return _ALIASES[key]


def _deepgaitv2_mode(state_dict: Mapping[str, Tensor], ours: bool) -> str:
    """DeepGaitV2's keys depend on its mode; recognise it from the keys themselves."""
    keys = list(state_dict)
    if ours:
        if any(".temporal." in k for k in keys):
            return "p3d"
        w = state_dict.get("layer2.0.conv1.weight")
        return "3d" if w is not None and w.dim() == 5 else "2d"
    if any(k.startswith("layer2.forward_block.") for k in keys):
        return "2d"
    return "p3d" if any(".shortcut3d." in k for k in keys) else "3d"


def key_rules(model_name: str, state_dict: Mapping[str, Tensor], ours: bool) -> list[Rule]:
    name = _canonical(model_name)
    if name == "gaitbase" and any(k.startswith(("backbone.0.", "Backbone.forward_block.feature.")) for k in state_dict):
        name = "gaitbase-plain"    # OpenGait names both backbones' models Baseline
    if name == "deepgaitv2":
        return _deepgaitv2(_deepgaitv2_mode(state_dict, ours))
    return {"gaitbase": _gaitbase, "gaitset": _gaitset, "gaitgl": _gaitgl, "skeletongait++": _skeletongait,
            "gaitbase-plain": _gaitbase_plain, "gaitpart": _gaitpart, "gln": _gln, "gaitgraph2": _gaitgraph2,
            "gaittr": lambda: _rules(("{*}", "{*}")), "swingait": _swingait,
            "parsinggait": lambda: _gaitbase() + _rules(("{*}", "{*}"))}[name]()


def unwrap_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Tensor]:
    """Accept a whole OpenGait/our checkpoint (state under 'model') or a bare state dict;
    strip the 'module.' prefix DistributedDataParallel adds."""
    sd = state_dict.get("model", state_dict) if isinstance(state_dict.get("model"), Mapping) else state_dict
    sd = dict(sd)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _translate(model_name: str, state_dict: Mapping[str, Any], to_theirs: bool, strict: bool) -> dict[str, Tensor]:
    sd = unwrap_state_dict(state_dict)
    rules = key_rules(model_name, sd, ours=to_theirs)
    src, dst = (0, 1) if to_theirs else (1, 0)
    out: dict[str, Tensor] = {}
    unmatched: list[str] = []
    for key, value in sd.items():
        for rule in rules:
            values = rule[src].match(key)
            if values is not None:
                new = rule[dst].format(values)
                if new in out:
                    raise InputError(None, f"{model_name}: two keys map to {new!r}")
                out[new] = value
                break
        else:
            unmatched.append(key)
    if unmatched and strict:
        side = "our" if to_theirs else "OpenGait"
        shown = ", ".join(unmatched[:20]) + (f", ... ({len(unmatched) - 20} more)" if len(unmatched) > 20 else "")
        other = "OpenGait's" if to_theirs else "our"
        raise InputError(None, f"{model_name}: {len(unmatched)} {side} key(s) have no counterpart in {other} "
                               f"model: {shown}")
    return out


def export_opengait_state_dict(model_name: str, state_dict: Mapping[str, Any], *,
                              strict: bool = True) -> dict[str, Tensor]:
    """Our state dict (or a checkpoint with it under 'model') -> OpenGait key names.

    With ``strict`` (default) any key without an OpenGait counterpart (e.g. GaitSet's optional
    classifier) raises InputError listing them; otherwise such keys are left out.
    """
    return _translate(model_name, state_dict, to_theirs=True, strict=strict)


def import_opengait_state_dict(model_name: str, state_dict: Mapping[str, Any], *,
                              strict: bool = True) -> dict[str, Tensor]:
    """OpenGait state dict (or their whole checkpoint) -> our key names, ready for load_state_dict."""
    return _translate(model_name, state_dict, to_theirs=False, strict=strict)


def read_opengait_checkpoint(path: str | Path) -> Mapping[str, Any]:
    """The raw contents of a ``.pt`` checkpoint (tensors and plain data only, no arbitrary unpickling)."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(path, "checkpoint file not found") from None
    except Exception as exc:  # torch raises several types for corrupt or non-tensor pickles
        raise InputError(path, f"not a readable weights-only PyTorch checkpoint ({' '.join(str(exc).split())[:300]})") \
            from None
    if not isinstance(ck, Mapping):
        raise InputError(path, f"expected a dict checkpoint, found {type(ck).__name__}")
    return ck


def load_opengait_checkpoint(path: str | Path, model_name: str, *, strict: bool = True,
                             raw: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
    """Read an OpenGait ``.pt`` checkpoint (or use its already-read ``raw`` contents) -> our state dict."""
    ck = read_opengait_checkpoint(path) if raw is None else raw
    try:
        return import_opengait_state_dict(model_name, ck, strict=strict)
    except InputError as exc:
        raise InputError(Path(path), exc.reason) from None


def save_opengait_checkpoint(path: str | Path, model_name: str, state_dict: Mapping[str, Any],
                             iteration: int = 0) -> Path:
    """Write our weights as an OpenGait checkpoint ``{'model': ..., 'iteration': n}`` (atomically);
    OpenGait's tester restores it with ``restore_hint: <path>``."""
    theirs = export_opengait_state_dict(model_name, state_dict)
    with atomic_path(path) as tmp:
        torch.save({"model": theirs, "iteration": int(iteration)}, tmp)
    return Path(path)
