"""core.runs and the Studio reads built on it: run status, can-evaluate, export freshness, protocol
choice, job lookups and the variant paging the workbench uses."""

from __future__ import annotations

import json
import os
import time

import pytest

from core import runs
from core.studio import Studio


def _job(state: str, id_: int = 7) -> dict:
    return {"id": id_, "state": state}


RUN = {"id": 1, "name": "r1", "state": "running", "config": {}}


@pytest.mark.parametrize("train, ev, expect", [
    (None, None, "running"),
    (_job("failed"), None, "failed"),
    (_job("interrupted"), None, "interrupted"),
    (_job("queued"), None, "queued"),
    (_job("running"), _job("running"), "evaluating"),
    (None, _job("queued"), "evaluation queued"),
    (_job("succeeded"), _job("succeeded"), "running"),
])
def test_status_is_the_row_corrected_by_its_jobs(train, ev, expect):
    assert runs.status(RUN, train, ev) == expect


def test_a_finished_run_keeps_its_state_when_a_later_training_job_failed():
    assert runs.status({**RUN, "state": "finished"}, _job("failed"), None) == "finished"


def test_job_state_sets():
    assert runs.is_active(_job("queued")) and runs.is_active(_job("running"))
    assert not runs.is_active(None) and not runs.is_active(_job("failed"))
    assert set(runs.RESUMABLE) == {"cancelled", "interrupted", "failed"}


def test_evaluations_plain_then_refined():
    assert runs.evaluations({}) == []
    res = {"NM": 1.0, "refined": {"NM": 2.0}}
    assert [label for label, _ in runs.evaluations(res)] == ["plain", "refined"]
    assert runs.evaluations({"refined": {"NM": 2.0}}) == [("refined", {"NM": 2.0})]
    assert runs.results({"results": "garbage"}) == {} and runs.results(None) == {}


def _checkpointed(tmp_path) -> dict:
    ck = tmp_path / "run" / "checkpoints" / "latest.pt"
    ck.parent.mkdir(parents=True)
    ck.write_bytes(b"x")
    return {**RUN, "dir": str(tmp_path / "run")}


def test_can_evaluate_needs_a_checkpoint_and_no_active_job(tmp_path):
    assert runs.can_evaluate(None, None, None) == (False, "select a run first")
    bare = {**RUN, "dir": str(tmp_path / "nothing")}
    ok, why = runs.can_evaluate(bare, None, None)
    assert not ok and "no checkpoint yet" in why
    run = _checkpointed(tmp_path)
    assert runs.can_evaluate(run, None, None) == (True, "")
    assert "still training" in runs.can_evaluate(run, _job("running"), None)[1]
    assert "already being evaluated (job #9)" in runs.can_evaluate(run, _job("succeeded"), _job("queued", 9))[1]


def test_an_export_older_than_the_checkpoint_is_not_offered(tmp_path):
    run = _checkpointed(tmp_path)
    assert runs.export_file(run) is None
    out = tmp_path / "run" / "export" / "opengait.pt"
    out.parent.mkdir()
    out.write_bytes(b"y")
    assert runs.export_file(run) == out
    ck = runs.checkpoint_file(run)
    later = time.time() + 60
    os.utime(ck, (later, later))              # training went on after the export
    assert runs.export_file(run) is None


def test_embeddings_file_prefers_the_recorded_one(tmp_path):
    run = {**RUN, "dir": str(tmp_path / "run")}
    assert runs.embeddings_file(run) == tmp_path / "run" / "eval" / "embeddings.npz"
    kept = tmp_path / "elsewhere.npz"
    kept.write_bytes(b"z")
    assert runs.embeddings_file({**run, "results": {"embeddings_file": str(kept)}}) == kept


@pytest.mark.parametrize("run, expect", [
    ({"results": {"protocol": "ccvid", "rank-1": 50.0}, "config": {"preset": "casia-b-gaitbase"}}, "ccvid"),
    ({"results": {}, "config": {"preset": "grew-gaitbase"}}, "grew"),
    ({"results": {}, "config": {"preset": "demo-cpu"}}, "casia-b"),
    ({"config": {}}, "casia-b"),
])
def test_protocol_is_the_one_used_before_else_the_presets(run, expect):
    assert runs.protocol(run) == expect


def test_protocol_of_a_run_not_yet_evaluated_is_its_datasets(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"parameters": {"format": "oumvlp"}}))
    assert runs.protocol({"config": {"preset": "demo-cpu", "dataset": str(tmp_path)}}) == "oumvlp"
    assert runs.protocol({"results": {"protocol": "casia-b"}, "config": {"dataset": str(tmp_path)}}) == "casia-b"


# -- Studio --------------------------------------------------------------------------------------------

@pytest.fixture()
def studio(tmp_path):
    return Studio(tmp_path / "ws")


def test_studio_reads_datasets_runs_and_jobs(studio, tmp_path):
    ds = studio.catalog.add_dataset("conv", "converted", "grew-layout", tmp_path / "conv")
    raw = studio.catalog.add_dataset("raw", "raw", "casia-b-silhouette", tmp_path / "raw")
    assert studio.dataset(ds)["name"] == "conv" and studio.dataset(None) is None
    assert studio.dataset(ds, "converted") is not None and studio.dataset(raw, "converted") is None
    rid = studio.catalog.create_run("r1", "gaitbase", {"preset": "demo-cpu"}, tmp_path / "r1", ds)
    assert studio.run(rid)["name"] == "r1" and studio.run(None) is None and studio.run(999) is None
    old = studio.catalog.create_job("train", {"run_id": rid}, slot="device", run_id=rid)
    studio.catalog.transition_job(old, ("queued",), "failed")
    assert studio.newest_jobs("train")[rid]["id"] == old
    assert studio.run_status(studio.run(rid)) == "failed"
    new = studio.catalog.create_job("train", {"run_id": rid}, slot="device", run_id=rid)
    assert studio.run_jobs(rid) == (studio.job(new), None)
    assert studio.run_status(studio.run(rid)) == "queued" and studio.is_training(studio.run(rid))
    assert studio.latest_job("train")["id"] == new                   # the active one
    assert studio.latest_job("train", where=lambda j: j["id"] == old)["id"] == old
    ok, why = studio.can_evaluate(studio.run(rid))
    assert not ok and "no checkpoint" in why
    assert "demo-cpu" in studio.presets() and studio.preset_iterations("demo-cpu") > 0
    assert studio.preset_iterations("nope") is None


def test_studio_pages_and_counts_variants(studio, tmp_path):
    ds = studio.catalog.add_dataset("conv", "converted", "grew-layout", tmp_path / "conv")
    for i in range(5):
        studio.catalog.add_variant(ds, "001" if i < 3 else "002", "nm-01-090", f"v{i}", "model-free", {"kind": "coat"},
                                   f"coat {i}", i, str(tmp_path / f"v{i}"), None, None, score=0.1 * i)
    rows, page, pages, total = studio.variant_page(ds, page=9, page_size=2)
    assert (page, pages, total, len(rows)) == (3, 3, 5, 1)              # clamped to the last page
    rows, page, _, total = studio.variant_page(ds, page=1, page_size=2, sid="002")
    assert total == 2 and {r["sid"] for r in rows} == {"002"}
    assert studio.variant_sids(ds) == ["001", "002"]
    assert len(studio.variant_ids(ds, score_min=0.25)) == 2
    vid = rows[0]["id"]
    studio.decide([vid], "accepted", who="me")
    assert studio.variant(vid)["status"] == "accepted" and studio.variant(None) is None
    assert [d["decision"] for d in studio.decisions(vid)] == ["accepted"]
    assert studio.variant_counts(ds) == {"pending": 4, "accepted": 1, "rejected": 0, "merged": 0}
    assert studio.has_unmerged_accepted(ds)
