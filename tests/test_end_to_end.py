"""The whole pipeline through the CLI on a tiny synthetic set: demo -> convert -> augment -> curate
-> train (a few iterations) -> eval, each verb's --json summary checked against files on disk."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(ws: Path, *args: str, ok: bool = True) -> dict:
    proc = subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode != 0
    return {"stderr": proc.stderr}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    ws = tmp / "ws"
    raw = tmp / "raw"
    out = {"ws": ws, "raw": raw, "conv": tmp / "conv"}
    out["demo"] = cli(ws, "demo", "--out", str(raw), "--ids", "6", "--views", "090,144", "--frames", "16")
    out["convert"] = cli(ws, "convert", str(raw), "--out", str(out["conv"]))
    return out


def test_demo_and_conversion(pipeline):
    assert pipeline["demo"]["sequences"] == 6 * 10 * 2
    conv = pipeline["convert"]
    assert conv["sequences"] == 120 and conv["train_ids"] == 3 and conv["test_ids"] == 3
    part = json.loads((pipeline["conv"] / "partition.json").read_text())
    assert part["TRAIN_SET"] == ["001", "002", "003"]


def test_augment_curate_merge(pipeline):
    ws, conv = pipeline["ws"], pipeline["conv"]
    aug = cli(ws, "augment", str(conv), "--per-sequence", "2", "--max-sequences", "3")
    assert aug["variants"] == 6 and aug["method"] == "model-free"
    res = cli(ws, "curate", str(conv), "--accept-all", "--merge")
    assert res["accepted"] == 6 and res["merge"]["merged"] == 6 and res["counts"]["merged"] == 6
    man = json.loads((conv / "manifest.json").read_text())
    merged = [r for r in man["sequences"] if r.get("origin")]
    assert len(merged) == 6 and all(r["split"] == "train" and "__aug-mf" in r["seq"] for r in merged)
    assert all(r["provenance"]["method"] == "model-free" for r in merged)
    first = merged[0]
    assert (conv / "train" / first["sid"] / first["seq"] / "00000.png").is_file()
    # curating again merges nothing twice
    again = cli(ws, "curate", str(conv), "--accept-all", "--merge")
    assert again["merge"]["merged"] == 0


def test_train_and_eval(pipeline):
    ws, conv = pipeline["ws"], pipeline["conv"]
    res = cli(ws, "train", "--dataset", str(conv), "--preset", "demo-cpu", "--iterations", "6", "--name", "e2e")
    for cond in ("NM", "BG", "CL"):
        assert 0.0 <= res[cond] <= 100.0
    run_dir = Path(res["run_dir"])
    assert (run_dir / "checkpoints" / "latest.pt").is_file() and (run_dir / "config.json").is_file()
    ev = cli(ws, "eval", "e2e")
    assert ev["NM"] == pytest.approx(res["NM"]) and ev["chance"] == pytest.approx(100 / 3)
    assert set(ev["per_view"]["NM"]) == {"090", "144"}


def test_eval_embeddings_file(pipeline, tmp_path):
    # two ids, two views, perfectly separable embeddings: every condition scores 100
    emb, labels, types, views = [], [], [], []
    for sid in ("a", "b"):
        for t in ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"):
            for v in ("000", "090"):
                emb.append(np.full((4, 2), 1.0 if sid == "a" else -1.0))
                labels.append(sid), types.append(t), views.append(v)
    f = tmp_path / "emb.npz"
    np.savez(f, embeddings=np.array(emb, np.float32), labels=np.array(labels), types=np.array(types),
             views=np.array(views))
    res = cli(pipeline["ws"], "eval", "--embeddings", str(f), "--protocol", "casia-b")
    assert res["NM"] == res["BG"] == res["CL"] == 100.0


def test_background_training_outlives_its_launcher_and_resumes(pipeline):
    """A train job started by a process that then exits keeps running; Stop checkpoints; Resume finishes."""
    from core.studio import Studio

    ws, conv = pipeline["ws"], pipeline["conv"]
    launcher = ("import sys; from core.studio import Studio; s = Studio(sys.argv[1]); "
                "ds = [d for d in s.datasets('converted') if d['path'] == sys.argv[2]][0]; "
                "job, run = s.start_training(ds['id'], preset='demo-cpu', iterations=40, checkpoint_every=10, "
                "log_every=5, name='bg'); print(job, run)")
    proc = subprocess.run([sys.executable, "-c", launcher, str(ws), str(conv.resolve())], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    job_id, run_id = map(int, proc.stdout.split())

    studio = Studio(ws)
    deadline = time.monotonic() + 300
    while studio.catalog.run(run_id)["step"] < 5:  # the launcher is gone; the worker trains on
        job = studio.job(job_id)
        assert job["state"] in ("queued", "running"), job
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert studio.recover() == []
    studio.cancel(job_id)
    stopped = studio.wait(job_id, timeout=120)
    run = studio.catalog.run(run_id)
    assert stopped["state"] == "cancelled" and run["state"] == "stopped"
    assert 5 <= run["step"] < 40 and (Path(run["dir"]) / "checkpoints" / "latest.pt").is_file()
    losses = studio.run_metrics(run_id)["loss"]

    new_id = studio.resume(job_id)
    done = studio.wait(new_id, timeout=300)
    assert done["state"] == "succeeded", done.get("error")
    assert done["progress_start"] >= run["step"]  # continued from the checkpoint, not from step 0
    run = studio.catalog.run(run_id)
    assert run["state"] == "finished" and run["step"] == 40 and 0 <= run["results"]["NM"] <= 100
    steps = [s for s, _ in studio.run_metrics(run_id)["loss"]]
    assert steps == sorted(set(steps)) and steps[-1] == 40 and len(steps) > len(losses)
