"""Our GaitBase, GaitSet, GaitGL, DeepGaitV2 (2d/p3d/3d, and SkeletonGait on heatmaps) and
SkeletonGait++ against facts produced by OpenGait's own classes (tests/opengait_ref, commit
recorded in each file): the network our importer builds from a config's model_cfg has the same
keys (through our mapping, both ways), shapes and parameter count, and for the same key-seeded
weights the same embeddings."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ConfigError
from core.models import build_model
from core.models.opengait_cfg import Report, translate_model
from core.models.opengait_keys import export_opengait_state_dict, import_opengait_state_dict
from tests.opengait_ref import weights

COMMIT = "0efafd4779f127fbce34f22aff301bd82e923da5"
FAMILIES = {"Baseline", "GaitSet", "GaitGL", "DeepGaitV2", "SkeletonGaitPP"}
FACTS = {n: weights.load(n)[0] for n in weights.names()}
OURS = sorted(n for n, f in FACTS.items() if f["model_class"] in FAMILIES)
# Networks OpenGait builds that have no data path here: refused, and for the reason given.
REFUSED = {"lidargait__lidargait_sustech1k": "in_channel: 3: only 1-channel silhouettes"}


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    yield


def translate(facts):
    return translate_model(facts["model_cfg"], {"dataset_name": facts.get("dataset_name")}, Report())


def ours(facts, num_classes=None, device="meta"):
    name, t = translate(facts)
    with torch.device(device):
        return name, build_model(name, num_classes=num_classes or t.num_classes or 1, **t.args)


def test_reference_facts_cover_every_config_of_our_families():
    assert len(OURS) >= 36 and all(FACTS[n]["opengait_commit"] == COMMIT for n in OURS)
    with_npz = [n for n in OURS if (weights.HERE / f"{n}.npz").exists()]
    classes = {FACTS[n]["model_class"] for n in with_npz}
    assert classes == FAMILIES and len(with_npz) >= 12
    modes = {FACTS[n]["model_cfg"]["Backbone"]["mode"] for n in with_npz if FACTS[n]["model_class"] == "DeepGaitV2"}
    assert modes == {"2d", "p3d", "3d"}


@pytest.mark.parametrize("name", OURS)
def test_same_keys_shapes_and_parameter_count_as_opengait(name):
    facts = FACTS[name]
    if name in REFUSED:
        with pytest.raises(ConfigError) as exc:
            translate(facts)
        assert REFUSED[name] in str(exc.value) and "\n" not in str(exc.value)
        return
    model_name, model = ours(facts)
    theirs = {k: list(v.shape) for k, v in export_opengait_state_dict(model_name, model.state_dict()).items()}
    assert theirs == facts["keys"]
    back = import_opengait_state_dict(model_name, {k: torch.empty(s, device="meta") for k, s in facts["keys"].items()})
    assert list(back) == list(model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == facts["params"]


def _input(arrays, model):
    sils = torch.from_numpy(arrays["sils"]).float() / 255.0
    if getattr(model, "heatmap_channels", 0):
        maps = torch.from_numpy(arrays["heatmaps"]).float() / 255.0
        return torch.cat([sils[:, :, None], maps], 2)     # ours: silhouette first, then the heatmaps
    return sils


@pytest.mark.parametrize("name", [n for n in OURS if (weights.HERE / f"{n}.npz").exists()])
def test_same_embeddings_as_opengait_for_the_same_weights(name):
    facts, arrays = weights.load(name)
    model_name, model = ours(facts, num_classes=facts.get("npz_class_num"), device="cpu")
    theirs = export_opengait_state_dict(model_name, model.state_dict())
    filled = {k: torch.from_numpy(v) for k, v in weights.fill(theirs).items()}
    model.load_state_dict(import_opengait_state_dict(model_name, filled), strict=True)
    model.eval()
    with torch.no_grad():
        emb = model(_input(arrays, model))["embeddings"].numpy()
    ref = arrays["embeddings"]
    assert emb.shape == ref.shape
    scale = float(np.abs(ref).max())
    assert np.abs(emb - ref).max() <= 1e-5 * max(scale, 1.0), (np.abs(emb - ref).max(), scale)
    # The weights matter: a different seed's weights give different embeddings.
    model.load_state_dict({k: v * 0.9 if v.is_floating_point() else v for k, v in model.state_dict().items()})
    with torch.no_grad():
        assert not np.allclose(model(_input(arrays, model))["embeddings"].numpy(), ref, atol=1e-4)


def test_use_emb2_switches_test_features_only():
    facts, arrays = weights.load("skeletongait__skeletongait_CCPG")
    assert facts["model_cfg"]["use_emb2"] is True
    _, t = translate(facts)
    assert t.args["eval_bn_embeddings"] is True
    plain = build_model("deepgaitv2", num_classes=3, **{**t.args, "eval_bn_embeddings": False})
    emb2 = build_model("deepgaitv2", num_classes=3, **t.args)
    emb2.load_state_dict(plain.state_dict())
    x = _input(arrays, plain)
    with torch.no_grad():
        plain.train(), emb2.train()
        assert torch.equal(plain(x)["embeddings"], emb2(x)["embeddings"])      # training: always the FC's
        plain.eval(), emb2.eval()
        a, b = plain(x), emb2(x)
    normalised = torch.nn.functional.normalize(a["bn_embeddings"], dim=1)
    assert torch.equal(b["embeddings"], normalised) and not torch.allclose(a["embeddings"], b["embeddings"])


# -- every OpenGait config, when a checkout's configs/ folder is given -----------------------------------

CONFIGS = os.environ.get("OPENGAIT_CONFIGS")


@pytest.mark.skipif(not CONFIGS, reason="set OPENGAIT_CONFIGS to an OpenGait checkout's configs/ folder")
def test_every_opengait_config_imports_exactly_or_refuses_in_one_line():
    from core.train.opengait_config import build_imported, import_opengait

    paths = sorted(Path(CONFIGS).rglob("*.yaml"))
    assert paths
    exact = 0
    for p in paths:
        name = str(p.relative_to(CONFIGS))[:-len(".yaml")].replace("/", "__")
        try:
            res = import_opengait(p)
        except ConfigError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(p)), str(exc)
            continue
        exact += 1
        n = sum(q.numel() for q in build_imported(res).parameters())
        if name in FACTS:
            assert n == FACTS[name]["params"], name
        assert not any("not implemented" in why for _, why in res.ignored), name
    assert exact >= 28
