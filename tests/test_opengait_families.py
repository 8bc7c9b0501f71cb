"""The families added for issue 13 (GaitPart, GLN, GaitGraph2, GaitTR, SwinGait, ParsingGait) against facts that
OpenGait's own classes produced (tests/opengait_ref; Baseline on Plain is checked with the other Baseline
fixtures in test_opengait_reference.py): the importer's model_args build a network
whose keys map onto OpenGait's one-to-one both ways, with the same shapes and parameter count,
and, for the same key-seeded weights, the same embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import ConfigError
from core.models import build_model
from core.pose.sequence import normalize_empty
from core.models.opengait_keys import export_opengait_state_dict, import_opengait_state_dict
from core.models.opengait_cfg import Report, translate_model
from tests.opengait_ref.weights import fill, load, names

FAMILIES = {"GaitPart", "GLN", "GaitGraph2", "GaitTR", "SwinGait", "ParsingGait"}
# Constant buffers (a skeleton's adjacency, a window's relative positions) keep their own values.
CONSTANT = (".A", "relative_position_index")
REFS = [n for n in names() if load(n)[0]["model_class"] in FAMILIES and "model_cfg" in load(n)[0]]


def translate(model_cfg, report=None):
    return translate_model(model_cfg, {}, report or Report())


def _ours(facts, device="cpu"):
    name, t = translate(facts["model_cfg"])
    torch.manual_seed(0)
    with torch.device(device):
        return name, build_model(name, num_classes=t.num_classes or 0, **t.args).eval()


def test_every_family_has_references():
    assert {load(n)[0]["model_class"] for n in REFS} == FAMILIES
    assert any(not load(n)[0]["model_cfg"].get("Lateral_pretraining", True) for n in REFS)   # GLN phase 2
    assert any(load(n)[0]["model_cfg"].get("Lateral_pretraining") for n in REFS)             # and phase 1


@pytest.mark.parametrize("ref", REFS)
def test_keys_shapes_and_parameter_count_match_opengait(ref):
    facts, _ = load(ref)
    name, model = _ours(facts, "meta")      # shapes only: no memory, no initialisation
    assert sum(p.numel() for p in model.parameters()) == facts["params"]
    theirs = export_opengait_state_dict(name, model.state_dict())
    assert {k: list(v.shape) for k, v in theirs.items()} == facts["keys"]
    back = import_opengait_state_dict(name, {k: torch.zeros(s) for k, s in facts["keys"].items()})
    assert set(back) == set(model.state_dict())


@pytest.mark.parametrize("ref", [r for r in REFS if load(r)[1] is not None])
def test_embedding_matches_opengait_for_the_same_weights(ref):
    facts, arrays = load(ref)
    name, model = _ours(facts)
    exported = export_opengait_state_dict(name, model.state_dict())
    theirs = {k: torch.from_numpy(v) for k, v in fill(exported).items()}
    theirs.update({k: v for k, v in exported.items() if k.endswith(CONSTANT)})
    model.load_state_dict(import_opengait_state_dict(name, theirs), strict=True)
    if "keypoints" in arrays:
        x = torch.from_numpy(arrays["keypoints"])
    else:   # parsing maps carry class labels, fed as they are; silhouettes are scaled to [0, 1]
        x = torch.from_numpy(arrays["sils"]).float() / (1.0 if facts["model_class"] == "ParsingGait" else 255.0)
    with torch.no_grad():
        emb = model(x)["embeddings"]
    ref_emb = torch.from_numpy(arrays["embeddings"])
    diff = (emb - ref_emb).abs().max().item()
    assert diff <= 1e-5 and diff <= 1e-4 * ref_emb.abs().max().item(), diff


def test_padding_does_not_change_gaitpart_embeddings():
    torch.manual_seed(0)
    model = build_model("gaitpart", layers=["BC-8", "M", "FC-16-2"], parts=4, embed_dim=8).eval()
    x = torch.rand(2, 7, 32, 22)
    lengths = torch.tensor([7, 5])
    with torch.no_grad():
        padded = model(x, lengths)["embeddings"]
        alone = model(x[1:, :5])["embeddings"]
    assert torch.allclose(padded[1], alone[0], atol=1e-6)


def test_gln_phases_differ_only_by_the_compact_block():
    p1 = build_model("gln", num_classes=5, channels=[4, 8, 8], lateral_dim=8, embed_dim=8, hidden_dim=8)
    p2 = build_model("gln", num_classes=5, channels=[4, 8, 8], lateral_dim=8, embed_dim=8, hidden_dim=8,
                     lateral_pretraining=False)
    extra = set(p2.state_dict()) - set(p1.state_dict())
    assert extra and all(k.split(".")[0] in {"encoder_bn", "reduce_fc", "reduce_bn", "reduce_cls"} for k in extra)
    out = p2(torch.rand(2, 4, 32, 22))
    assert out["logits"].shape == (2, 5, 1) and p1(torch.rand(2, 4, 32, 22))["logits"] is None


def test_importer_dispatches_to_the_families():
    name, t = translate(load("gaitpart__gaitpart_GREW")[0]["model_cfg"])
    assert name == "gaitpart" and t.args["layers"][-1] == "FC-256-3" and t.losses == ("triplet",)
    name, t = translate(load("gln__gln_phase2")[0]["model_cfg"])
    assert name == "gln" and t.losses == ("triplet", "softmax") and t.num_classes == 74
    # OpenGait's GaitPart never reads a key it does not know: ignored, and said so.
    report = Report()
    translate(dict(load("gaitpart__gaitpart")[0]["model_cfg"], extra_key=1), report)
    assert [k for k, _ in report.ignored] == ["model_cfg.extra_key"]


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["backbone_cfg"].update(extra_key=1), "model_cfg.backbone_cfg.extra_key"),
    (lambda c: c["SeparateFCs"].update(in_channels=64), "model_cfg.SeparateFCs.in_channels"),
    (lambda c: c.update(bin_num=[16, 8]), "model_cfg.bin_num"),
    (lambda c: c["backbone_cfg"].update(layers_cfg=["BC-32", "XX-3"]), "layers_cfg[1]"),
    (lambda c: c["backbone_cfg"].update(type="ResNet9"), "model_cfg.backbone_cfg.type"),
])
def test_gaitpart_settings_that_cannot_be_honoured_are_refused(edit, message):
    import copy

    cfg = copy.deepcopy(load("gaitpart__gaitpart")[0]["model_cfg"])
    edit(cfg)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        translate(cfg)


def test_gln_refuses_a_pyramid_opengait_would_not_pool():
    cfg = dict(load("gln__gln_phase2")[0]["model_cfg"], bin_num=[8, 4, 2, 1])
    with pytest.raises(ConfigError, match="model_cfg.bin_num"):
        translate(cfg)


@pytest.mark.parametrize("ref", ["gaitgraph2__gaitgraph2", "gaitgraph2__gaitgraph2_OUMVLP"])
def test_empty_joints_are_filled_as_opengait_fills_them(ref):
    _, arrays = load(ref)
    assert (arrays["empty_raw"][..., 0] == 0).sum() == 3
    assert np.allclose(normalize_empty(arrays["empty_raw"]), arrays["empty_normalized"], atol=1e-5)


def test_gaitgraph2_padding_and_test_time_views():
    torch.manual_seed(0)
    model = build_model("gaitgraph2", branch=[5, 8, 8], main=[8, 16, 16], embed_dim=4, reduction=2).eval()
    kp = torch.rand(2, 12, 17, 3) * 60 + 1
    with torch.no_grad():
        padded = model(kp, torch.tensor([12, 9]))["embeddings"]
        alone = model(kp[1:, :9])["embeddings"]
    assert padded.shape == (2, 12, 1)          # the sequence, reversed, left-right swapped
    assert torch.allclose(padded[1], alone[0], atol=1e-5)
    model.train()
    assert model(kp)["embeddings"].shape == (2, 4, 1)
