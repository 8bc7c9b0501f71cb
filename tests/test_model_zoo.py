"""The model zoo: exact OpenGait parameter counts, tiny CPU training, padding, OpenGait key names."""

import numpy as np
import pytest
import torch

from core.data.packed import write_packed
from core.errors import InputError
from core.models import build_model, list_models
from core.models.opengait_keys import (export_opengait_state_dict, import_opengait_state_dict,
                                       load_opengait_checkpoint, save_opengait_checkpoint)
from core.records import Sequence
from core.train.losses import scaled_cross_entropy, triplet_loss

# Small widths so every model trains on 32x22 frames in well under a second per step on CPU.
TINY = {
    "gaitset": dict(channels=(4, 8, 8), bins=(4, 2, 1), embed_dim=8, classifier=True),
    "gaitgl": dict(channels=(4, 8, 8), parts=16),
    "gaitgl-large": dict(channels=(4, 4, 8, 8), parts=16, head="bnneck"),
    "deepgaitv2-2d": dict(mode="2d", channels=(4, 8, 8, 8), parts=4),
    "deepgaitv2-p3d": dict(mode="p3d", channels=(4, 8, 8, 8), layers=(1, 2, 1, 1), parts=4),
    "deepgaitv2-3d": dict(mode="3d", channels=(4, 8, 8, 8), parts=4),
    "skeletongait++": dict(channels=(4, 8, 8, 8), layers=(1, 1, 2, 1), parts=4),
}
REGISTRY_NAME = {"gaitgl-large": "gaitgl"}


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    # measured: 84 s with 2 threads vs 14 s with 1 for this file on the shared, busy CPU
    yield


def tiny(key, num_classes=3):
    return build_model(REGISTRY_NAME.get(key, key.split("-")[0]), num_classes=num_classes, **TINY[key])


def frames_for(key, n, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    channels = 3 if key == "skeletongait++" else 1
    x = torch.rand(n, t, channels, 32, 22, generator=g)
    return x if channels == 3 else x[:, :, 0]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def meta_model(name, **kw):
    # Reference configurations are big: build them without allocating memory.
    with torch.device("meta"):
        return build_model(name, **kw)


# -- parameter counts of the OpenGait reference configurations (derived from their layer code) -----

@pytest.mark.parametrize("name, kw, total, without_classifier", [
    ("gaitset", {}, 2_594_592, 2_594_592),                                          # configs/gaitset, CASIA-B
    ("gaitgl", dict(num_classes=74), 3_096_673, 3_096_673 - 64 * 128 * 74),          # configs/gaitgl/gaitgl.yaml
    ("gaitgl", dict(num_classes=20000, channels=(32, 64, 128, 256), head="bnneck"), 338_905_953, 11_225_953),
    ("deepgaitv2", dict(num_classes=74), 8_339_392, 8_036_288),                      # DeepGaitV2_casiab.yaml (p3d)
    ("deepgaitv2", dict(num_classes=74, mode="2d"), 7_305_408, 7_002_304),
    ("deepgaitv2", dict(num_classes=74, mode="3d"), 16_595_136, 16_292_032),
    ("deepgaitv2", dict(num_classes=20000, layers=(1, 4, 4, 1)), 95_124_160, 13_204_160),  # GREW
    ("skeletongait++", dict(num_classes=20000), 95_200_608, 13_280_608),             # skeletongait++_GREW.yaml
    ("skeletongait++", dict(num_classes=100, layers=(1, 1, 1, 1)), 8_522_336, 8_112_736),  # CCPG
])
def test_reference_parameter_counts_equal_opengait(name, kw, total, without_classifier):
    model = meta_model(name, **kw)
    assert n_params(model) == total
    classifier = [p for k, p in model.named_parameters() if k in ("neck.weight", "head1.weight")]
    assert total - sum(p.numel() for p in classifier) == without_classifier


def test_deepgaitv2_2d_is_gaitbase_sized_and_all_models_register():
    assert {"gaitset", "gaitgl", "deepgaitv2", "skeletongait++", "gaitbase"} <= set(list_models())
    gaitbase = build_model("gaitbase", num_classes=74)
    assert n_params(meta_model("deepgaitv2", num_classes=74, mode="2d")) == n_params(gaitbase)
    with pytest.raises(ValueError, match="mode"):
        build_model("deepgaitv2", num_classes=3, mode="4d")
    with pytest.raises(ValueError, match="channels"):
        build_model("gaitgl", num_classes=3, channels=(4, 8))


# -- forward contract and a few training steps on tiny tensors ---------------------------------------

@pytest.mark.parametrize("key", list(TINY))
def test_tiny_models_train_a_few_steps(key):
    torch.manual_seed(0)
    model = tiny(key, num_classes=3)
    x, y = frames_for(key, 6, 6), torch.tensor([0, 0, 1, 1, 2, 2])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _ in range(5):
        out = model(x)
        emb, logits = out["embeddings"], out["logits"]
        assert emb.dim() == 3 and emb.shape[0] == 6 and logits.shape[:2] == (6, 3) and logits.shape[2] == emb.shape[2]
        scale = 1.0 if key == "gaitgl" else 16.0      # GaitGL's plain linear logits train unscaled
        loss = triplet_loss(emb, y)[0] + scaled_cross_entropy(logits, y, scale)[0]
        opt.zero_grad()
        loss.backward()
        if not losses:
            dead = [k for k, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
            assert not dead, f"parameters without a finite gradient: {dead}"
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and min(losses[-2:]) < losses[0]


def test_gaitset_without_classifier_returns_no_logits():
    model = build_model("gaitset", channels=(4, 8, 8), bins=(2, 1), embed_dim=8)
    out = model(torch.rand(2, 5, 32, 22))
    assert out["embeddings"].shape == (2, 8, 6) and out["logits"] is None and out["bn_embeddings"] is None


@pytest.mark.parametrize("key", list(TINY))
def test_padded_frames_do_not_change_embeddings(key):
    torch.manual_seed(1)
    model = tiny(key).eval()
    x = frames_for(key, 2, 9, seed=1)
    padded = x.clone()
    padded[1, 5:] = 1.0                       # garbage after the real 5 frames of sequence 1
    with torch.no_grad():
        both = model(padded, lengths=torch.tensor([9, 5]))["embeddings"]
        alone0 = model(x[:1])["embeddings"]
        alone1 = model(x[1:2, :5])["embeddings"]
        unmasked = model(padded)["embeddings"]
    assert torch.allclose(both[0], alone0[0], atol=1e-5)
    assert torch.allclose(both[1], alone1[0], atol=1e-5)
    assert not torch.allclose(unmasked[1], alone1[0], atol=1e-3)   # the padding would matter otherwise
    with pytest.raises(ValueError, match="lengths"):
        model(padded, lengths=torch.tensor([9, 12]))


def test_gaitgl_accepts_clips_shorter_than_its_temporal_stride():
    model = tiny("gaitgl").eval()
    with torch.no_grad():
        one = model(torch.rand(1, 1, 32, 22))["embeddings"]
        two = model(torch.rand(1, 2, 32, 22))["embeddings"]
    assert one.shape == two.shape == (1, 8, 16)


def test_skeletongait_input_forms():
    model = tiny("skeletongait++").eval()
    x = frames_for("skeletongait++", 2, 6)
    with torch.no_grad():
        a = model(x)["embeddings"]
        b = model({"sils": x[:, :, 0], "heatmaps": x[:, :, 1:]})["embeddings"]
        swapped = model({"sils": x[:, :, 1], "heatmaps": x[:, :, [0, 2]]})["embeddings"]
    assert torch.equal(a, b) and not torch.allclose(a, swapped)
    with pytest.raises(ValueError, match="heatmaps"):
        model(x[:, :, 0])                                   # silhouettes alone are not enough
    with pytest.raises(ValueError, match="crop"):
        model({"sils": x[:, :, 0], "heatmaps": torch.rand(2, 6, 2, 32, 32)})


# -- the real trainer drives the zoo models unchanged ------------------------------------------------

def test_trainer_runs_zoo_models(tmp_path):
    from core.train.trainer import train

    rng = np.random.default_rng(0)
    items = []
    for sid in range(3):
        for k in range(4):
            arr = np.zeros((6, 64, 64), np.uint8)
            for t in range(6):
                x0 = 26 + int(rng.integers(-2, 3))
                arr[t, 8:56, x0:x0 + 6 + 3 * sid] = 255
            items.append((Sequence(sid=f"{sid:03d}", seq=f"nm-{k + 1:02d}-090", split="train", condition="nm",
                                   seq_type=f"nm-{k + 1:02d}", view="090", frames=6), arr))
    write_packed(tmp_path / "packed", items)
    base = dict(dataset=str(tmp_path / "packed"), iterations=2, batch_ids=3, batch_seqs=2, frames=4,
                resize_to=[32, 22], log_every=1, checkpoint_every=100, device="cpu", amp="off", lr=0.01)
    for name, args, extra in [("deepgaitv2", TINY["deepgaitv2-p3d"], {}),
                              ("gaitgl", TINY["gaitgl"], dict(ce_scale=1.0, label_smoothing=0.0)),
                              ("gaitset", TINY["gaitset"], {})]:
        res = train({**base, **extra, "model": name, "model_args": dict(args)}, tmp_path / name)
        assert res.step == 2 and np.isfinite(res.metrics["loss"])


# -- OpenGait key names --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", list(TINY) + ["gaitbase"])
def test_export_then_import_gives_identical_tensors(key):
    torch.manual_seed(2)
    if key == "gaitbase":
        model, name = build_model("gaitbase", num_classes=3, channels=(4, 8, 8, 8), parts=4, embed_dim=8), "gaitbase"
    else:
        model, name = tiny(key), REGISTRY_NAME.get(key, key.split("-")[0])
    if name == "gaitset":
        model = build_model("gaitset", **{**TINY["gaitset"], "classifier": False})
    for t in model.state_dict().values():   # distinct values, so a swapped key cannot go unnoticed
        if t.is_floating_point():
            t.copy_(torch.randn_like(t))
    ours = model.state_dict()
    theirs = export_opengait_state_dict(name, ours)
    assert len(theirs) == len(ours) and set(theirs) != set(ours)
    back = import_opengait_state_dict(name, theirs)
    assert list(back) == list(ours)
    assert all(torch.equal(back[k], ours[k]) for k in ours)
    model.load_state_dict(back, strict=True)


def _theirs(name, **kw):
    sd = export_opengait_state_dict(name, meta_model(name, **kw).state_dict())
    return {k: tuple(v.shape) for k, v in sd.items()}


def test_reference_key_names_and_shapes_match_opengait_modules():
    # Names and shapes read off OpenGait's module definitions (Baseline/ResNet9, GaitSet, GaitGL,
    # DeepGaitV2, SkeletonGaitPP) for the reference configurations; key counts likewise.
    gb = _theirs("gaitbase", num_classes=74)
    assert len(gb) == 79
    assert gb["Backbone.forward_block.conv1.conv.weight"] == (64, 1, 3, 3)
    assert gb["Backbone.forward_block.bn1.running_var"] == (64,)
    assert gb["Backbone.forward_block.layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert gb["Backbone.forward_block.layer4.0.conv2.weight"] == (512, 512, 3, 3)
    assert gb["FCs.fc_bin"] == (16, 512, 256) and gb["BNNecks.fc_bin"] == (16, 256, 74)
    assert gb["BNNecks.bn1d.running_mean"] == (4096,)

    gs = _theirs("gaitset")
    assert len(gs) == 11
    assert gs["set_block1.forward_block.0.conv.weight"] == (32, 1, 5, 5)
    assert gs["set_block3.forward_block.2.conv.weight"] == (128, 128, 3, 3)
    assert gs["gl_block2.0.conv.weight"] == (64, 32, 3, 3) and gs["Head.fc_bin"] == (62, 128, 256)

    gl = _theirs("gaitgl", num_classes=74)
    assert len(gl) == 16
    assert gl["conv3d.0.conv3d.weight"] == (32, 1, 3, 3, 3) and gl["LTA.0.conv3d.weight"] == (32, 32, 3, 1, 1)
    assert gl["GLConvB2.local_conv3d.conv3d.weight"] == (128, 128, 3, 3, 3)
    assert gl["HPP.p"] == (1,) and gl["Head0.fc_bin"] == (64, 128, 128)
    assert gl["Bn.running_mean"] == (128,) and gl["Head1.fc_bin"] == (64, 128, 74)
    gl_grew = _theirs("gaitgl", num_classes=20000, channels=(32, 64, 128, 256), head="bnneck")
    assert gl_grew["GLConvB2.1.global_conv3d.conv3d.weight"] == (256, 256, 3, 3, 3)
    assert gl_grew["conv3d.2.conv3d.weight"] == (32, 32, 3, 3, 3) and gl_grew["BNNecks.fc_bin"] == (64, 256, 20000)

    p3d = _theirs("deepgaitv2", num_classes=74)
    assert len(p3d) == 97
    assert p3d["layer0.forward_block.0.weight"] == (64, 1, 3, 3)
    assert p3d["layer1.forward_block.0.conv1.weight"] == (64, 64, 3, 3)
    assert p3d["layer2.0.conv1.forward_block.0.weight"] == (128, 64, 3, 3)
    assert p3d["layer2.0.shortcut3d.weight"] == (128, 128, 3, 1, 1) and p3d["layer2.0.sbn.running_var"] == (128,)
    assert p3d["layer2.0.downsample.0.weight"] == (128, 64, 1, 1, 1) and p3d["layer4.0.downsample.1.weight"] == (512,)
    assert p3d["FCs.fc_bin"] == (16, 512, 256) and p3d["BNNecks.fc_bin"] == (16, 256, 74)
    d2 = _theirs("deepgaitv2", num_classes=74, mode="2d")
    assert len(d2) == 79 and d2["layer2.forward_block.0.downsample.0.weight"] == (128, 64, 1, 1)
    d3 = _theirs("deepgaitv2", num_classes=74, mode="3d")
    assert len(d3) == 79 and d3["layer3.0.conv1.weight"] == (256, 128, 3, 3, 3)
    assert d3["layer3.0.downsample.0.weight"] == (256, 128, 1, 1, 1)
    assert len(_theirs("deepgaitv2", num_classes=3000, layers=(1, 4, 4, 1))) == 205

    sg = _theirs("skeletongait++", num_classes=20000)
    assert len(sg) == 236
    assert sg["map_layer0.forward_block.0.weight"] == (64, 2, 3, 3)
    assert sg["sil_layer1.forward_block.0.bn2.running_var"] == (64,)
    assert sg["fusion.conv.forward_block.0.weight"] == (4, 128, 1, 1)
    assert sg["fusion.conv.forward_block.6.weight"] == (128, 4, 1, 1)
    assert sg["layer3.3.shortcut3d.weight"] == (256, 256, 3, 1, 1)
    assert sg["layer2.0.downsample.0.weight"] == (128, 64, 1, 1, 1) and sg["BNNecks.bn1d.weight"] == (4096,)


def test_unmatched_keys_are_listed():
    theirs = export_opengait_state_dict("gaitgl", tiny("gaitgl").state_dict())
    theirs["Extra.fc_bin"] = torch.zeros(1)
    with pytest.raises(InputError, match=r"1 OpenGait key\(s\).*Extra\.fc_bin"):
        import_opengait_state_dict("gaitgl", theirs)
    assert "Extra.fc_bin" not in import_opengait_state_dict("gaitgl", theirs, strict=False)
    with_neck = build_model("gaitset", num_classes=3, **TINY["gaitset"]).state_dict()
    with pytest.raises(InputError, match=r"neck\.weight"):
        export_opengait_state_dict("gaitset", with_neck)
    assert "Head.fc_bin" in export_opengait_state_dict("gaitset", with_neck, strict=False)
    with pytest.raises(InputError, match="gaitpart"):
        export_opengait_state_dict("gaitpart", with_neck)


def test_opengait_checkpoint_file_roundtrip(tmp_path):
    model = tiny("deepgaitv2-p3d")
    path = save_opengait_checkpoint(tmp_path / "DeepGaitV2-60000.pt", "deepgaitv2", model.state_dict(), 60000)
    raw = torch.load(path, weights_only=True)
    assert raw["iteration"] == 60000 and "layer2.0.shortcut3d.weight" in raw["model"]
    # DistributedDataParallel-style prefixes are stripped too.
    ddp = {"model": {f"module.{k}": v for k, v in raw["model"].items()}}
    torch.save(ddp, tmp_path / "ddp.pt")
    for p in (path, tmp_path / "ddp.pt"):
        back = load_opengait_checkpoint(p, "DeepGaitV2")
        assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())
    with pytest.raises(InputError, match="not found"):
        load_opengait_checkpoint(tmp_path / "missing.pt", "deepgaitv2")
