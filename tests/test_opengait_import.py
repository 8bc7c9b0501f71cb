"""The OpenGait importer on hand-written configs in OpenGait's format: each key that changes the
network, input, losses or test features is honoured exactly or refused in one line; ignored keys
carry a reason; malformed files never raise anything but a one-line ConfigError."""

import copy
import json

import pytest
import torch
import yaml

from core.cli import main
from core.errors import ConfigError
from core.train.config import preset
from core.train.opengait_config import build_imported, import_opengait

GAITBASE = yaml.safe_load("""
data_cfg: {dataset_name: CASIA-B, dataset_root: your_path, dataset_partition: ./CASIA-B.json, num_workers: 1,
           remove_no_gallery: false, test_dataset_name: CASIA-B}
evaluator_cfg:
  enable_float16: true
  restore_hint: 60000
  save_name: GaitBase_DA
  sampler: {batch_shuffle: false, batch_size: 16, sample_type: all_ordered, frames_all_limit: 720}
  metric: euc
  transform: [{type: BaseSilCuttingTransform}]
loss_cfg:
  - {loss_term_weight: 1.0, margin: 0.2, type: TripletLoss, log_prefix: triplet}
  - {loss_term_weight: 1.0, scale: 16, type: CrossEntropyLoss, log_prefix: softmax, log_accuracy: true}
model_cfg:
  model: Baseline
  backbone_cfg: {type: ResNet9, block: BasicBlock, channels: [64, 128, 256, 512], layers: [1, 1, 1, 1],
                 strides: [1, 2, 2, 1], maxpool: false}
  SeparateFCs: {in_channels: 512, out_channels: 256, parts_num: 16}
  SeparateBNNecks: {class_num: 74, in_channels: 256, parts_num: 16}
  bin_num: [16]
optimizer_cfg: {lr: 0.1, momentum: 0.9, solver: SGD, weight_decay: 0.0005}
scheduler_cfg: {gamma: 0.1, milestones: [20000, 40000, 50000], scheduler: MultiStepLR}
trainer_cfg:
  enable_float16: true
  restore_hint: 0
  save_iter: 60000
  save_name: GaitBase_DA
  sync_BN: true
  total_iter: 60000
  sampler: {batch_shuffle: true, batch_size: [8, 16], frames_num_fixed: 30, sample_type: fixed_unordered,
            type: TripletSampler}
  transform:
    - type: Compose
      trf_cfg:
        - {type: BaseSilCuttingTransform}
        - {type: RandomRotate, prob: 0.3}
        - {type: RandomErasing, prob: 0.3}
""")


def cfg(**changes):
    """GAITBASE with dotted-path changes; a value of None deletes the key."""
    out = copy.deepcopy(GAITBASE)
    for path, value in changes.items():
        *head, last = path.split("__")
        d = out
        for k in head:
            d = d[int(k)] if isinstance(d, list) else d[k]
        if value is None:
            del d[last]
        else:
            d[last] = value
    return out


def refused(src, match):
    with pytest.raises(ConfigError, match=match) as exc:
        import_opengait(src)
    assert "\n" not in str(exc.value)
    return str(exc.value)


def params(res):
    return sum(p.numel() for p in build_imported(res).parameters())


def test_gaitbase_imports_as_our_casia_b_preset_with_fp16():
    res = import_opengait(GAITBASE, dataset="/data/casia-b")
    c, ref = res.config, preset("casia-b-gaitbase", dataset="/data/casia-b")
    assert params(res) == 7_305_408 and res.num_classes == 74 and res.opengait_model == "Baseline"
    for k in ("model", "iterations", "batch_ids", "batch_seqs", "optimizer", "scheduler", "loss",
              "sampling", "augment", "sync_bn", "eval_metric"):
        assert getattr(c, k) == getattr(ref, k), k
    assert c.amp == "fp16"          # OpenGait's enable_float16 is fp16 autocast, not bf16
    ignored = dict(res.ignored)
    assert "worker" in ignored["data_cfg.num_workers"] and "resume" in ignored["trainer_cfg.restore_hint"]
    assert all(why for why in ignored.values())
    assert any(k == "model_cfg.backbone_cfg.layers" for k, _ in res.honoured)
    assert "model_cfg.SeparateBNNecks.class_num" not in ignored    # the classifier size is honoured


def test_defaults_are_opengaits_not_ours():
    # No transform, sampler or optimiser momentum given: OpenGait's default.yaml and torch's defaults fill in.
    src = cfg(trainer_cfg__transform=None, trainer_cfg__sampler=None, optimizer_cfg={"solver": "SGD", "lr": 0.05})
    c = import_opengait(src).config
    assert (c.batch_ids, c.batch_seqs, c.sampling.type, c.sampling.frames) == (8, 16, "fixed_unordered", 30)
    assert [a.type for a in c.augment] == ["cut"]
    # default.yaml's momentum and weight decay, not torch's zeros: OpenGait merges the file over the config.
    assert (c.optimizer.momentum, c.optimizer.weight_decay, c.optimizer.lr) == (0.9, 0.0005, 0.05)
    # ResNet9's own default widths (32..256) and two blocks in stages 2-3: refused, not our defaults silently.
    refused(cfg(model_cfg__backbone_cfg__layers=None), r"backbone_cfg\.layers: \[1, 2, 2, 1\]")
    res = import_opengait(cfg(optimizer_cfg={"solver": "AdamW", "lr": 1e-3}))
    adamw = res.config.optimizer
    assert (adamw.name, adamw.weight_decay, tuple(adamw.betas), adamw.eps) == ("adamw", 0.0005, (0.9, 0.999), 1e-8)
    assert "not an argument of torch's AdamW" in dict(res.ignored)["optimizer_cfg.momentum"]


@pytest.mark.parametrize("changes, match", [
    (dict(model_cfg__backbone_cfg__type="Plain"), r"backbone_cfg\.type: backbone 'Plain'"),
    (dict(model_cfg__backbone_cfg__maxpool=True), r"maxpool: True: a stem max-pool"),
    (dict(model_cfg__backbone_cfg__in_channel=3), r"in_channel: 3: only 1-channel"),
    (dict(model_cfg__bin_num=[16, 8, 4, 2, 1]), r"bin_num: \[16, 8, 4, 2, 1\]"),
    (dict(model_cfg__SeparateFCs__in_channels=256), r"SeparateFCs.*backbone's 512"),
    (dict(model_cfg__SeparateFCs__norm=True), r"SeparateFCs\.norm: True"),
    (dict(model_cfg__SeparateFCs__dropout=0.5), r"SeparateFCs\.dropout: not an argument"),
    (dict(model_cfg__SeparateBNNecks__parallel_BN1d=False), r"parallel_BN1d: False"),
    (dict(model_cfg__SeparateBNNecks__parts_num=8), r"SeparateBNNecks\.parts_num: 8"),
    (dict(model_cfg__SeparateBNNecks__class_num="74"), r"class_num: expected an integer"),
    (dict(model_cfg__model="GaitPartX"), r"model_cfg\.model: OpenGait model 'GaitPartX' is not implemented"),
    (dict(loss_cfg__0__type="CenterLoss"), r"loss_cfg\[0\]\.type: 'CenterLoss'"),
    (dict(loss_cfg__1__log_prefix="triplet"), r"log_prefix: 'triplet' is used by two"),
    (dict(loss_cfg=[GAITBASE["loss_cfg"][0]]), r"no loss with log_prefix \['softmax'\]"),
    (dict(optimizer_cfg__solver="RMSprop"), r"optimizer_cfg\.solver: 'RMSprop'"),
    (dict(optimizer_cfg__dampening=0.1), r"dampening: 0\.1"),
    (dict(scheduler_cfg__scheduler="CyclicLR"), r"scheduler_cfg\.scheduler: 'CyclicLR'"),
    (dict(trainer_cfg__fix_BN=True), r"fix_BN: True: frozen BatchNorm"),
    (dict(trainer_cfg__restore_hint="output/x.pt"), r"restore_hint: 'output/x\.pt': training starts from other"),
    (dict(trainer_cfg__sampler__type="BilateralSampler"), r"sampler\.type: 'BilateralSampler'"),
    (dict(trainer_cfg__sampler__batch_size=[8]), r"batch_size: expected 2 entries"),
    (dict(trainer_cfg__transform=[{"type": "BaseParsingCuttingTransform"}]), r"human-parsing map"),
    (dict(trainer_cfg__transform=[{"type": "BaseSilTransform"}]), r"BaseSilTransform: it feeds frames uncut"),
    (dict(trainer_cfg__transform=[{"type": "BaseSilCuttingTransform", "cutting": 5}]), r"cutting: 5"),
    (dict(trainer_cfg__transform=[{"type": "BaseSilCuttingTransform", "divsor": 1.0}]), r"divsor: 1\.0"),
    (dict(trainer_cfg__transform=[{"type": "RandomRotate"}]), r"0 BaseSilCuttingTransform steps"),
    (dict(trainer_cfg__transform=[{"type": "BaseSilCuttingTransform"}] * 2), r"2 transforms \(one per input\)"),
    (dict(trainer_cfg__transform=[{"type": "Compose", "trf_cfg": [{"type": "RandomAffine"}]}]), r"'RandomAffine'"),
    (dict(evaluator_cfg__transform=[{"type": "BaseSilTransform"}]), r"evaluator_cfg\.transform\[0\]\.type"),
    (dict(evaluator_cfg__transform=[{"type": "BaseSilCuttingTransform"}, {"type": "RandomRotate"}]), "2 transforms"),
    (dict(evaluator_cfg__sampler__sample_type="fixed_ordered"), r"sample_type: 'fixed_ordered'"),
    (dict(evaluator_cfg__metric="cosine"), r"metric: 'cosine'"),
    (dict(evaluator_cfg__rerank=True), r"rerank: re-ranking"),
    (dict(data_cfg__data_in_use=[True, True]), r"data_in_use: \[True, True\] selects 2 inputs"),
    (dict(data_cfg__prefetch=4), r"data_cfg\.prefetch: not an argument"),
])
def test_each_rule_refuses_with_the_key_and_why(changes, match):
    refused(cfg(**changes), match)


def test_keys_openGait_drops_are_ignored_with_that_reason():
    src = cfg(loss_cfg__0__loss_term_weights=0.5, trainer_cfg__sampler__frames_num_max=40,
              trainer_cfg__transform=[{"type": "Compose", "trf_cfg": [{"type": "BaseSilCuttingTransform", "img_w": 64},
                                                                      {"type": "RandomRotate", "prob": 0.3}]}],
              model_cfg__backbone_cfg__zero_init=True, extra_cfg={"a": 1})
    res = import_opengait(src)
    ignored = dict(res.ignored)
    assert "OpenGait drops it" in ignored["loss_cfg[0].loss_term_weights"]
    assert res.config.loss.triplet_weight == 1.0          # the misspelt weight is not applied, as in OpenGait
    assert "not read by OpenGait" in ignored["trainer_cfg.sampler.frames_num_max"]
    assert "OpenGait drops it" in ignored["trainer_cfg.transform[0].trf_cfg[0].img_w"]
    assert "get_backbone drops it" in ignored["model_cfg.backbone_cfg.zero_init"]
    assert "does not read it" in ignored["extra_cfg"]
    assert "ignored extra_cfg" in res.summary()


def test_model_families_honour_the_keys_that_were_lost_before():
    skpp = {"model": "SkeletonGaitPP", "Backbone": {"in_channels": 3, "blocks": [1, 1, 1, 1], "C": 2},
            "SeparateBNNecks": {"class_num": 100}}
    res = import_opengait(cfg(model_cfg=skpp, data_cfg__data_in_use=[True, True]))
    assert params(res) == 8_522_336 and res.config.model_args["layers"] == [1, 1, 1, 1]
    refused(cfg(model_cfg=skpp), r"data_in_use: missing: OpenGait's SkeletonGaitPP reads 2 inputs")

    gl = {"model": "GaitGL", "channels": [32, 64, 128, 256], "class_num": 20000,
          "SeparateBNNecks": {"class_num": 20000, "in_channels": 256, "parts_num": 64}}
    grew = cfg(model_cfg=gl, data_cfg__dataset_name="GREW")
    res = import_opengait(grew)
    assert params(res) == 338_905_953 and res.config.model_args["head"] == "bnneck"
    assert "SeparateBNNecks.class_num" in dict(res.ignored)["model_cfg.class_num"]
    del grew["model_cfg"]["SeparateBNNecks"]
    assert params(import_opengait(grew)) == 338_873_697
    # The layout follows data_cfg.dataset_name, as in OpenGait: four widths on CASIA-B fail there.
    refused(cfg(model_cfg=gl), r"channels: \[32, 64, 128, 256\]: OpenGait's CASIA-B .*dataset_name 'CASIA-B'")

    sk = {"model": "DeepGaitV2", "Backbone": {"in_channels": 2, "mode": "p3d", "layers": [1, 1, 1, 1],
                                              "channels": [64, 128, 256, 512]},
          "SeparateBNNecks": {"class_num": 100}, "use_emb2": True}
    res = import_opengait(cfg(model_cfg=sk, data_cfg__data_in_use=[True, False]))
    assert res.config.model_args == {"in_channels": 2, "heatmap_channels": 2, "eval_bn_embeddings": True}
    assert params(res) == 8_446_464
    refused(cfg(model_cfg={**sk, "use_emb2": "yes"}), r"use_emb2: expected true or false")
    refused(cfg(model_cfg={**sk, "Backbone": {**sk["Backbone"], "in_channels": 3}}), r"in_channels: 3")

    gs = {"model": "GaitSet", "in_channels": [1, 32, 64, 128], "bin_num": [16, 8, 4, 2, 1],
          "SeparateFCs": {"in_channels": 128, "out_channels": 256, "parts_num": 62}}
    res = import_opengait(cfg(model_cfg=gs))       # GaitSet gives no 'softmax' features: OpenGait never applies CE
    assert res.config.loss.ce_weight == 0.0 and params(res) == 2_594_592 and res.num_classes is None
    assert "never applies it" in dict(res.ignored)["loss_cfg[1]"]
    refused(cfg(model_cfg={**gs, "bin_num": [16]}), r"SeparateFCs.*must be \(32, 128\)")


def test_list_valued_data_cfg_is_a_one_line_refusal():
    msg = refused(cfg(data_cfg=[{"dataset_name": "A"}, {"dataset_name": "B"}]), r"data_cfg: a list of datasets")
    assert "FoundationGait" in msg


@pytest.mark.parametrize("text", [
    "", "- a\n- b\n", "model_cfg: 3\n", "model_cfg: {model: [1]}\n", "model_cfg: {model: Baseline}\n",
    "model_cfg: {model: Baseline, backbone_cfg: [1]}\n", "{{{\n", "model_cfg:\n  model: Baseline\n bad: 1\n",
    "model_cfg: {model: DeepGaitV2, Backbone: {mode: p3d}}\nloss_cfg: 7\n", "loss_cfg: {}\n",
    "model_cfg: {model: GaitGL, channels: 5}\n", "model_cfg: {model: GaitSet}\ntrainer_cfg: {total_iter: x}\n",
    "model_cfg: {model: Baseline}\ndata_cfg: null\n", "model_cfg: {model: GaitGL, channels: [1, 2, 3]}\n"
    "data_cfg: [1]\n", "model_cfg: {model: SkeletonGaitPP, Backbone: {blocks: [1, 1], C: 2}}\n",
    "model_cfg: {model: DeepGaitV2, Backbone: {mode: p3d, in_channels: 1, layers: [1,1,1,1], channels: [1,2,3,4]},"
    " SeparateBNNecks: 5}\n",
])
def test_malformed_files_give_one_line_errors(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        import_opengait(path)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(str(path))


def test_check_prints_report_network_params_and_studio_config(tmp_path, capsys):
    path = tmp_path / "gaitbase.yaml"
    path.write_text(yaml.safe_dump(GAITBASE))
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(ws + ["train", "--opengait", str(path), "--check"]) == 0
    out = capsys.readouterr().out
    assert "imported OpenGait Baseline as model 'gaitbase' exactly" in out and "7,305,408 parameters" in out
    assert "GaitBase(" in out and '"model": "gaitbase"' in out
    assert main(ws + ["train", "--opengait", str(path), "--check", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["params"] == 7_305_408 and rep["num_classes"] == 74 and rep["config"]["amp"] == "fp16"
    assert not (tmp_path / "ws" / "runs").exists() or not any((tmp_path / "ws" / "runs").iterdir())
    path.write_text(yaml.safe_dump(cfg(model_cfg__bin_num=[8])))
    assert main(ws + ["train", "--opengait", str(path), "--check"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bin_num: [8]" in err and len(err.splitlines()) == 1


def test_check_over_a_folder_lists_exact_and_refused(tmp_path, capsys):
    (tmp_path / "cfgs" / "sub").mkdir(parents=True)
    (tmp_path / "cfgs" / "sub" / "good.yaml").write_text(yaml.safe_dump(GAITBASE))
    (tmp_path / "cfgs" / "bad.yaml").write_text(yaml.safe_dump(cfg(trainer_cfg__fix_BN=True)))
    (tmp_path / "cfgs" / "empty.yaml").write_text("")
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(ws + ["train", "--opengait", str(tmp_path / "cfgs"), "--check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["| bad.yaml | refused | trainer_cfg.fix_BN: True: frozen BatchNorm statistics are not implemented "
                   "here |",
                   "| empty.yaml | refused | not an OpenGait config (expected a mapping of sections, got an empty "
                   "file) |",
                   "| sub/good.yaml | exact | Baseline -> gaitbase {}, 7,305,408 parameters |"]


def test_imported_network_builds_for_real_and_runs():
    gl = {"model": "GaitGL", "channels": [4, 8, 8], "class_num": 3}
    res = import_opengait(cfg(model_cfg=gl, loss_cfg__1__scale=1, loss_cfg__1__label_smooth=False))
    assert (res.config.loss.ce_scale, res.config.loss.label_smoothing) == (1.0, 0.0)
    model = build_imported(res, device="cpu").eval()
    with torch.no_grad():
        assert model(torch.rand(1, 6, 32, 22))["embeddings"].shape == (1, 8, 64)


def test_two_families_share_an_opengait_class_through_the_registry():
    from tests.opengait_ref.weights import load

    hid = load("gaitbase__gaitbase_hid")[0]["model_cfg"]
    res = import_opengait(cfg(model_cfg=hid))
    assert res.config.model == "gaitbase-plain" and res.num_classes == hid["SeparateBNNecks"]["class_num"]
    assert import_opengait(GAITBASE).config.model == "gaitbase"           # ResNet9 still goes to GaitBase
    # Refused by both claimants: the first one's (name order) refusal is the answer.
    refused(cfg(model_cfg__backbone_cfg={"type": "Plain", "layers_cfg": ["BC-64"]}),
            r"backbone 'Plain' is not implemented here for Baseline")


def test_a_loss_type_not_implemented_here_is_refused_not_ignored():
    # SupConLoss_Lp is implemented now (test_opengait_supcon.py); OpenGait's CenterLoss is not.
    center = {"type": "CenterLoss", "log_prefix": "triplet", "loss_term_weight": 1}
    refused(cfg(loss_cfg=[center]), r"loss_cfg\[0\]\.type: 'CenterLoss': the 'triplet' features of Baseline feed a TripletLoss")


def test_keys_no_code_of_opengait_reads_are_ignored_with_that_reason():
    res = import_opengait(cfg(data_cfg__frame_threshold=0, trainer_cfg__fix_layers=False))
    assert "no code of OpenGait's reads" in dict(res.ignored)["data_cfg.frame_threshold"]
    assert "no code of OpenGait's reads" in dict(res.ignored)["trainer_cfg.fix_layers"]
