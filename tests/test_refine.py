"""Test-time refinement (DLCR): queries averaged with their own variants; nothing changes without
variants, gallery variants are ignored, and the eval job finds refinement variants in the catalog."""

from __future__ import annotations

import shutil
from dataclasses import asdict

import cv2
import numpy as np
import pytest

from core.evaluate.refine import refine_queries
from core.evaluate.run import evaluate_run
from core.layout import read_frames, sequence_dir
from core.studio import Studio
from tests.fixtures import make_casia_b_silhouettes


def test_refine_queries_only_touches_queries_with_variants():
    emb = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    keys = [("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]
    roles = ["gallery", "probe", "probe", "gallery"]
    variants = {("b", "1"): np.ones((2, 3, 2), np.float32), ("d", "1"): np.zeros((1, 3, 2), np.float32)}
    out, counts = refine_queries(emb, keys, roles, variants)
    assert counts == {"queries": 2, "refined_queries": 1, "variants_used": 2}
    np.testing.assert_allclose(out[1], (emb[1] + 2) / 3)
    for i in (0, 2, 3):       # gallery rows (even with variants) and a query without variants
        np.testing.assert_array_equal(out[i], emb[i])
    same, counts = refine_queries(emb, keys, roles, {})
    np.testing.assert_array_equal(same, emb) and counts["refined_queries"] == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from core.cli import run_job_here
    from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
    from core.jobs.kinds import register_converted
    from core.readers import scan
    from core.train.config import preset

    tmp = tmp_path_factory.mktemp("refine")
    raw = make_casia_b_silhouettes(tmp / "raw", ids=(1, 2, 3, 4), views=("090", "144"), frames=6)
    studio = Studio(tmp / "ws")
    out = studio.ws.datasets_dir / "tiny"
    run_conversion(plan_conversion(scan(raw), out, ConvertOptions(split="first:2", workers=1)))
    ds_id = register_converted(studio.catalog, out, name="tiny", source=str(raw), result={})
    cfg = preset("demo-cpu", dataset=str(out.resolve()), iterations=4, log_every=2, checkpoint_every=4,
                 batch_ids=2, batch_seqs=2, frames=5)
    run_dir = studio.ws.runs_dir / "r"
    run_dir.mkdir(parents=True)
    run_id = studio.catalog.create_run("r", cfg.model, asdict(cfg), run_dir, ds_id)
    run_job_here(studio, "train", {"run_id": run_id}, run_id=run_id, quiet=True)
    return studio, ds_id, run_id, run_dir, out


def _variant(tmp, root, seq, flip: bool):
    """A variant folder of ``seq``: its aligned frames, mirrored (a different silhouette)."""
    folder = tmp / f"{seq.sid}-{seq.seq}-v"
    (folder / "frames").mkdir(parents=True)
    for i, f in enumerate(read_frames(root, seq)):
        cv2.imwrite(str(folder / "frames" / f"{i:05d}.png"), f[:, ::-1] if flip else f)
    return folder


def test_refinement_changes_results_only_where_variants_exist(trained, tmp_path):
    studio, ds_id, run_id, run_dir, root = trained
    plain = evaluate_run(run_dir, root, save_embeddings_to=False)
    assert "refined" not in plain
    probes = studio.catalog.sequences(ds_id, "probe")
    gallery = studio.catalog.sequences(ds_id, "gallery")
    # variants of gallery sequences only: nothing is refined, numbers stay
    only_gallery = {(s.sid, s.seq): [_variant(tmp_path, root, s, True)] for s in gallery[:4]}
    res = evaluate_run(run_dir, root, save_embeddings_to=False, refine=only_gallery)
    assert res["refined"]["refined_queries"] == 0
    assert all(res["refined"][c] == plain[c] for c in ("NM", "BG", "CL"))
    # every probe "refined" with three variants walked by the *other* test identity: the averaged
    # query now looks like the other person, so the numbers must move
    other = {"003": "004", "004": "003"}
    by_key = {(s.sid, s.seq): s for s in probes}
    refine = {}
    for s in probes:
        twin = by_key.get((other[s.sid], s.seq))
        if twin is not None:
            refine[(s.sid, s.seq)] = [_variant(tmp_path / f"{s.sid}{s.seq}{k}", root, twin, False) for k in range(3)]
    res = evaluate_run(run_dir, root, save_embeddings_to=False, refine=refine)
    r = res["refined"]
    assert r["refined_queries"] == len(refine) > 0 and r["variants_used"] == 3 * len(refine)
    assert [res[c] for c in ("NM", "BG", "CL")] == [plain[c] for c in ("NM", "BG", "CL")]    # plain untouched
    assert r["matrix"] != plain["matrix"]


def test_eval_job_uses_refinement_variants_from_the_catalog(trained, tmp_path):
    studio, ds_id, run_id, run_dir, root = trained
    probe = studio.catalog.sequences(ds_id, "probe")[0]
    folder = _variant(tmp_path, root, probe, True)
    vid = studio.catalog.add_variant(ds_id, probe.sid, probe.seq, f"{probe.seq}__refine0", "model-free",
                                     {"kind": "coat", "purpose": "refine"}, "coat", 0, str(folder), None, None)
    job = studio.wait(studio.start_eval(run_id), timeout=180)
    assert job["state"] == "succeeded", job
    refined = studio.catalog.run(run_id)["results"]["refined"]
    assert refined["refined_queries"] == 1
    # a rejected refinement variant is left out; merging never takes a query's variant into training
    studio.decide([vid], "rejected")
    studio.wait(studio.start_eval(run_id), timeout=180)
    assert "refined" not in studio.catalog.run(run_id)["results"]
    studio.decide([vid], "accepted")
    from core.augment.merge import merge_accepted

    res = merge_accepted(studio.catalog, ds_id)
    assert res["merged"] == 0 and "test query" in res["skipped"][0]["reason"]
    assert not (root / "train" / probe.sid).exists()
    shutil.rmtree(folder)
