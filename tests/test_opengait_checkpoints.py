"""OpenGait checkpoints (as its save_ckpt writes them) plus their YAML evaluate directly, from the
command line and as an imported run; weights that do not fit the YAML are refused in one line."""

import json

import numpy as np
import pytest
import torch
import yaml

from core.cli import main
from core.errors import InputError
from core.evaluate.embed import extract_embeddings
from core.evaluate.opengait_checkpoint import load_opengait_model
from core.data.packed import PackedDataset
from core.models.opengait_keys import export_opengait_state_dict
from core.studio import Studio
from core.train.opengait_config import build_imported, import_opengait
from tests.test_opengait_import import cfg
from tests.test_train import make_packed

# A narrow GaitBase in OpenGait's format (3 training ids in the data below).
TINY = cfg(model_cfg={"model": "Baseline",
                      "backbone_cfg": {"type": "ResNet9", "block": "BasicBlock", "channels": [4, 8, 8, 8],
                                       "layers": [1, 1, 1, 1], "strides": [1, 2, 2, 1], "maxpool": False},
                      "SeparateFCs": {"in_channels": 8, "out_channels": 8, "parts_num": 4},
                      "SeparateBNNecks": {"class_num": 3, "in_channels": 8, "parts_num": 4}, "bin_num": [4]},
           evaluator_cfg__enable_float16=False, evaluator_cfg__metric="cos")


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """What a user downloads from OpenGait's model zoo: the YAML and output/.../<save_name>-<iter>.pt."""
    root = tmp_path_factory.mktemp("zoo")
    yml = root / "gaitbase_tiny.yaml"
    yml.write_text(yaml.safe_dump(TINY))
    model = build_imported(import_opengait(yml), device="cpu")
    torch.manual_seed(3)
    for t in model.state_dict().values():
        if t.is_floating_point():
            t.copy_(torch.randn_like(t) * 0.3 + (1.0 if t.dim() == 1 else 0.0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [20000, 40000])
    model(torch.rand(3, 4, 64, 44))["embeddings"].sum().backward()
    opt.step(), sched.step()
    ckpt = root / "output/CASIA-B/Baseline/GaitBase_DA/checkpoints/GaitBase_DA-60000.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"model": export_opengait_state_dict("gaitbase", model.state_dict()), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "iteration": 60000}, ckpt)
    data = root / "data"
    make_packed(data, ids=5, train_ids=3, views=("000", "090"), frames=5)
    return {"yaml": yml, "ckpt": ckpt, "data": data, "model": model.eval(), "root": root}


def test_cli_evaluates_an_opengait_checkpoint_with_its_yaml(zoo, tmp_path, capsys):
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(ws + ["eval", str(zoo["ckpt"]), "--opengait-config", str(zoo["yaml"]), "--dataset", str(zoo["data"]),
                      "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["step"] == 60000 and res["metric"] == "cos" and res["num_test_ids"] == 2   # the YAML's metric
    # The same weights, embedded directly with the network built from the YAML, give these numbers.
    ds = PackedDataset(zoo["data"])
    emb = extract_embeddings(zoo["model"], ds, ds.indices(["gallery", "probe"]), torch.device("cpu"),
                             resize_to=(64, 44))
    loaded, state = load_opengait_model(zoo["ckpt"], zoo["yaml"])
    again = extract_embeddings(loaded, ds, ds.indices(["gallery", "probe"]), torch.device("cpu"), resize_to=(64, 44))
    assert np.array_equal(emb["embeddings"], again["embeddings"]) and state["config"]["amp"] == "off"
    assert not (zoo["ckpt"].parent.parent / "eval").exists()          # nothing written into OpenGait's tree


def test_checkpoint_that_does_not_fit_the_yaml_is_refused_in_one_line(zoo, tmp_path, capsys):
    wider = json.loads(json.dumps(TINY))
    wider["model_cfg"]["backbone_cfg"]["channels"] = [4, 8, 8, 16]
    wider["model_cfg"]["SeparateFCs"]["in_channels"] = 16
    other = tmp_path / "wider.yaml"
    other.write_text(yaml.safe_dump(wider))
    with pytest.raises(InputError, match=r"GaitBase_DA-60000\.pt: does not hold the network of .*other shapes"):
        load_opengait_model(zoo["ckpt"], other)
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(ws + ["eval", str(zoo["ckpt"]), "--opengait-config", str(other), "--dataset", str(zoo["data"])]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Backbone.forward_block.layer4.0" in err   # OpenGait's names
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable weights-only"):
        load_opengait_model(junk, zoo["yaml"])


def test_imported_run_evaluates_like_a_trained_one(zoo, tmp_path, capsys):
    studio = Studio(tmp_path / "ws")
    run_id = studio.import_opengait_run(zoo["ckpt"], zoo["yaml"], zoo["data"])
    run = studio.run(run_id)
    assert run["state"] == "imported" and run["model"] == "gaitbase" and run["config"]["dataset"] == str(zoo["data"])
    assert studio.can_evaluate(run) == (True, "")
    assert main(["--workspace", str(tmp_path / "ws"), "eval", run["name"], "--protocol", "casia-b", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["step"] == 60000 and (studio.run(run_id)["results"] or {})["NM"] == res["NM"]
    # From the Runs page: the same import, and a one-line reason for a bad path.
    from app.results_tab import import_opengait

    msg = import_opengait(studio, str(zoo["ckpt"]), str(zoo["yaml"]), str(zoo["data"]))
    assert "imported run opengait-GaitBase_DA-60000-2" in msg and "step 60000" in msg
    assert len(studio.runs()) == 2
    bad = import_opengait(studio, str(zoo["ckpt"]), str(tmp_path / "none.yaml"), str(zoo["data"]))
    assert "none.yaml does not exist" in bad and len(studio.runs()) == 2
    assert "give the YAML" in import_opengait(studio, str(zoo["ckpt"]), " ", str(zoo["data"]))
    # Its latest checkpoint exports back to OpenGait's keys unchanged.
    back = torch.load(studio.export_opengait(run_id), weights_only=True)["model"]
    theirs = torch.load(zoo["ckpt"], weights_only=True)["model"]
    assert back.keys() == theirs.keys() and all(torch.equal(back[k], theirs[k]) for k in theirs)


def test_a_run_trained_from_the_yaml_exports_weights_the_yaml_reloads(zoo, tmp_path):
    from core.evaluate.run import export_opengait, load_model
    from core.train.trainer import train

    res = import_opengait(zoo["yaml"], dataset=zoo["data"], iterations=2, device="cpu", checkpoint_every=2,
                          batch_ids=3, batch_seqs=2, sampling={"frames": 4})
    out = train(res.config, tmp_path / "run")
    assert out.step == 2 and np.isfinite(out.metrics["loss"])
    exported = export_opengait(tmp_path / "run")
    ours, _ = load_model(tmp_path / "run" / "checkpoints" / "latest.pt")
    theirs, state = load_opengait_model(exported, zoo["yaml"])
    assert state["step"] == 2
    x = torch.rand(2, 5, 64, 44)
    with torch.no_grad():
        assert torch.equal(ours(x)["embeddings"], theirs(x)["embeddings"])
