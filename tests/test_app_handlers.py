"""The UI's handler functions, called directly (no browser) on a temporary workspace."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import augment_tab, common as C, convert_tab, curation, dataset_tab, results_tab, run_detail, train_tab
from core.studio import Studio
from tests.fixtures import make_casia_b_silhouettes


@pytest.fixture()
def studio(tmp_path):
    s = Studio(tmp_path / "ws")
    yield s
    for j in s.jobs(states=("queued", "running")):  # never leave a worker behind
        s.cancel(j["id"])


@pytest.fixture()
def raw(tmp_path):
    return make_casia_b_silhouettes(tmp_path / "CASIA-B", ids=(1, 2, 3, 4), views=("090",), frames=8)


def _update(u):
    assert isinstance(u, dict) and u.get("__type__") == "update", u
    return u


def _is_skip(u):
    return isinstance(u, dict) and u.get("__type__") == "update" and len(u) == 1


# -- dataset ------------------------------------------------------------------------------------

def test_open_errors_name_the_path(studio, tmp_path):
    missing = tmp_path / "no-such-folder"
    err = dataset_tab.open_path(studio, str(missing))["error"]
    assert str(missing) in err and "does not exist" in err and "Traceback" not in err
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    err = dataset_tab.open_path(studio, str(junk))["error"]
    assert str(junk) in err and "not a recognised dataset" in err
    err = dataset_tab.open_path(studio, "  ")["error"]
    assert "enter the path" in err


def test_empty_state_then_open(studio, raw):
    out = dataset_tab.refresh(studio, None, "")
    empty, dd, sig = out["empty"], out["picker"], out["sig"]
    assert _update(empty)["visible"] is True and _update(dd)["choices"] == []
    out = dataset_tab.open_path(studio, str(raw))
    err, summary, counts, problems, gallery, dd = (out[k] for k in ("error", "summary", "counts", "problems",
                                                                    "gallery", "picker"))
    assert err == ""
    assert "casia-b-silhouette" in summary and "4 identities" in summary
    assert list(counts["condition"]) == ["bg", "cl", "nm"] and list(counts["090"]) == [8, 8, 24]
    assert len(problems) == 0
    assert gallery and gallery[0][0].dtype == np.uint8 and gallery[0][0].ndim == 3 and "view 090" in gallery[0][1]
    ds_id = _update(dd)["value"]
    out = dataset_tab.refresh(studio, ds_id, sig)
    empty, dd, sig2 = out["empty"], out["picker"], out["sig"]
    assert _update(empty)["visible"] is False and _update(dd)["value"] == ds_id
    # Unchanged catalog: the dropdown is not touched, so the user's selection stays.
    dd = dataset_tab.refresh(studio, ds_id, sig2)["picker"]
    assert _is_skip(dd)
    out = dataset_tab.show_dataset(studio, ds_id)
    assert out["error"] == "" and "raw" in out["summary"]


def test_problems_listed(studio, raw):
    bad = next(raw.glob("001/nm-01/090/*.png"))
    bad.write_bytes(b"")
    (raw / "001" / "xx-99").mkdir()
    out = dataset_tab.open_path(studio, str(raw))
    summary, problems = out["summary"], out["problems"]
    assert "1 errors, 1 warnings" in summary
    reasons = dict(zip(problems["file"], problems["reason"]))
    assert "empty file" in reasons[str(bad)] and "ignored" in reasons[str(raw / "001" / "xx-99")]


def test_demo_kwargs_from_env(monkeypatch):
    monkeypatch.setenv(dataset_tab.DEMO_ARGS_ENV, '{"ids": 4, "views": ["090"], "frames": 12, "bogus": 1}')
    assert dataset_tab.demo_kwargs() == {"ids": 4, "views": ["090"], "frames": 12}
    monkeypatch.setenv(dataset_tab.DEMO_ARGS_ENV, "not json")
    assert dataset_tab.demo_kwargs() == {}


# -- convert ------------------------------------------------------------------------------------

def test_preview_writes_nothing_then_convert(studio, raw):
    ds_id = studio.open_dataset(raw)["dataset_id"]
    out = convert_tab.preview(studio, ds_id, "auto", "opengait", "")
    err, summary, mapping, gallery, report = (out[k] for k in ("error", "summary", "mapping", "gallery",
                                                               "report_file"))
    assert err == "" and "Preview only" in summary and "first:2" in summary
    assert len(mapping) == 40 and {"source", "target", "split"} <= set(mapping.columns)
    # raw | mask | aligned | GEI | pose per sample
    assert len(gallery) % 5 == 0 and len(gallery) >= 5
    assert gallery[2][0].shape[0] >= 128  # aligned 64x64 upscaled to stay visible
    assert gallery[1][1].startswith("mask · given") and gallery[4][1] == "pose · none chosen"
    assert not (studio.ws.datasets_dir / "CASIA-B-grew").exists()
    saved = json.loads(Path(report).read_text())
    assert saved["summary"]["sequences"] == 40 and saved["split"]["spec"] == "first:2"
    assert Path(report).parent == studio.ws.root / "reports"

    err = convert_tab.preview(studio, ds_id, "first:9", "opengait", "")["error"]
    assert "first:9" in err and "no test identity" in err

    cli = convert_tab.cli_command(studio, ds_id, "official", "letterbox", "mine")
    assert "convert" in cli and "--split official" in cli and "--align letterbox" in cli and cli.endswith("")

    out = convert_tab.start(studio, ds_id, "auto", "opengait", "")
    msg, progress = out["error"], out["progress"]
    assert "job #" in msg and "conversion" in progress
    job = studio.latest_job("convert")
    done = studio.wait(job["id"], timeout=120)
    assert done["state"] == "succeeded", done
    out = convert_tab.refresh(studio, ds_id, "")
    progress, result, stop_btn = out["progress"], out["result"], out["stop_btn"]
    assert "succeeded" in progress and "100%" in progress
    assert "Converted" in result and _update(stop_btn)["interactive"] is False
    assert studio.datasets("converted")


def test_convert_needs_a_raw_dataset(studio):
    err = convert_tab.preview(studio, None, "auto", "opengait", "")["error"]
    assert "choose a raw dataset" in err
    msg = convert_tab.start(studio, None, "auto", "opengait", "")["error"]
    assert "choose a raw dataset" in msg


# -- augment & curate -----------------------------------------------------------------------------

def _fake_variants(studio, tmp_path, n=5) -> int:
    ds_id = studio.catalog.add_dataset("conv", "converted", "grew-layout", tmp_path / "conv")
    img = np.full((40, 30, 3), 128, np.uint8)
    for i in range(n):
        folder = tmp_path / "variants" / f"v{i}"
        folder.mkdir(parents=True)
        for name in ("thumb.jpg", "compare.jpg"):
            cv2.imwrite(str(folder / name), img)
        sid = "001" if i < 3 else "002"
        kind = "coat" if i % 2 else "recolour"
        # like a real model-free recipe, every one names a coat colour whatever its kind
        studio.catalog.add_variant(ds_id, sid, "nm-01-090", f"nm-01-090__aug-mf{i}-{kind}", "model-free",
                                   {"kind": kind, "colours": {"upper": [1, 2, 3], "coat": [4, 5, 6]}}, f"{kind} number {i}", i, str(folder), str(folder / "thumb.jpg"),
                                   None, score=round(0.1 + 0.2 * i, 2))      # 0.1, 0.3, 0.5, 0.7, 0.9
    return ds_id


class _Sel:
    def __init__(self, index):
        self.index = index


def F(**kw) -> tuple:
    """The filter widgets' values in curation.FILTERS order: everything shown unless ``kw`` says otherwise."""
    f = {"status": "all", "sid": "all", "kind": "all", "method": "all", "source_seq": "all", "condition": "all",
         "text": "", "smin": 0.0, "smax": 1.0, "sort": "identity", **kw}
    return tuple(f[k] for k in curation.FILTERS)


ALL = F()


def test_gallery_filters_select_and_decide(studio, tmp_path):
    ds_id = _fake_variants(studio, tmp_path)
    view = curation.gallery_view(studio, ds_id, *ALL, 1)
    gallery, page, info = view["gallery"], view["page"], view["info"]
    assert len(_update(gallery)["value"]) == 5 and page == 1 and "**5** variant" in info
    gallery = curation.gallery_view(studio, ds_id, *F(sid="002"), 1)["gallery"]
    assert len(gallery["value"]) == 2
    gallery = curation.gallery_view(studio, ds_id, *F(text="COAT"), 1)["gallery"]
    assert len(gallery["value"]) == 2
    gallery = curation.gallery_view(studio, ds_id, *F(smin=0.4, smax=0.8, sort="score ↓"), 1)["gallery"]
    assert [c for _, c in gallery["value"]] == [c for _, c in gallery["value"]] and len(gallery["value"]) == 2
    assert "0.70" in gallery["value"][0][1] and "0.50" in gallery["value"][1][1]

    out = curation.select(studio, ds_id, *F(sid="001"), 1, evt=_Sel(1))
    vid, compare, gif, desc = (out[k] for k in ("selected", "compare", "gif", "desc"))
    rows = studio.variants(ds_id, sid="001")
    assert vid == rows[1]["id"] and compare.endswith("compare.jpg") and gif is None and f"#{vid}" in desc

    out = curation.decide_one(studio, vid, "rejected", ds_id, *ALL, 1)
    assert "rejected" in out["msg"] and "rejected <b>1</b>" in out["counts"]
    out = curation.decide_one(studio, vid, "pending", ds_id, *ALL, 1)
    assert "rejected <b>0</b>" in out["counts"]
    out = curation.decide_one(studio, vid, "accepted", ds_id, *F(status="pending"), 1)
    assert studio.catalog.variant(vid)["status"] == "accepted"
    assert len(out["gallery"]["value"]) == 4  # the pending filter no longer shows it

    fp = (ds_id, *F(status="pending", sid="002"), 1)
    asked = curation.ask_bulk(studio, "reject-all", 0.8, *fp)
    assert asked["confirm_box"]["visible"] is True and "Reject 2 variant(s)" in asked["confirm_md"]
    assert studio.catalog.variant_counts(ds_id)["rejected"] == 0          # asking changes nothing
    out = curation.confirm_bulk(studio, asked["pending"], False, None, *fp)
    assert "2 variant(s) → rejected" in out["msg"] and out["confirm_box"]["visible"] is False
    assert studio.catalog.variant_counts(ds_id) == {"pending": 2, "accepted": 1, "rejected": 2, "merged": 0}
    assert [d["decision"] for d in studio.catalog.decisions(vid)] == ["rejected", "pending", "accepted"]

    assert "select a variant" in curation.decide_one(studio, None, "accepted", ds_id, *ALL, 1)["msg"]


def _bulk(studio, action, threshold, *fp, include_hand=False) -> dict:
    asked = curation.ask_bulk(studio, action, threshold, *fp)
    return curation.confirm_bulk(studio, asked["pending"], include_hand, None, *fp)


def test_bulk_threshold_decisions_cover_every_page(studio, tmp_path, monkeypatch):
    ds_id = _fake_variants(studio, tmp_path)
    monkeypatch.setattr(curation, "PAGE_SIZE", 2)
    out = _bulk(studio, "accept-above", 0.5, ds_id, *ALL, 1)
    assert "3 variant(s) → accepted" in out["msg"]
    out = _bulk(studio, "reject-below", 0.5, ds_id, *ALL, 1)
    assert "2 variant(s) → rejected" in out["msg"]
    status = {v["score"]: v["status"] for v in studio.variants(ds_id)}
    assert status == {0.1: "rejected", 0.3: "rejected", 0.5: "accepted", 0.7: "accepted", 0.9: "accepted"}
    # the identity filter narrows a bulk decision too
    out = _bulk(studio, "reject-below", 1.0, ds_id, *F(sid="002"), 1)
    assert "2 variant(s)" in out["msg"]
    assert studio.catalog.variant_counts(ds_id)["rejected"] == 4


def test_bulk_reject_counts_keeps_hand_decisions_and_undoes_as_one(studio, tmp_path, monkeypatch):
    ds_id = _fake_variants(studio, tmp_path, n=5)
    monkeypatch.setattr(curation, "PAGE_SIZE", 2)                      # the bulk action spans pages
    ids = [v["id"] for v in studio.variants(ds_id)]
    curation.decide_one(studio, ids[1], "accepted", ds_id, *ALL, 1)    # a coat variant, accepted by hand
    # the search means the words: every recipe names a coat colour, only two variants are coats
    fp = (ds_id, *F(text="coat"), 1)
    assert "**2** variant(s) match" in curation.gallery_view(studio, *fp)["info"]
    asked = curation.ask_bulk(studio, "reject-all", 0.8, *fp)
    assert "Reject 1 variant(s)?" in asked["confirm_md"] and "1 of the 2 were decided by hand" in asked["confirm_md"]
    out = curation.confirm_bulk(studio, asked["pending"], False, ids[1], *fp)
    assert "1 variant(s) → rejected" in out["msg"] and "1 hand decision(s) kept" in out["msg"]
    assert [studio.variant(i)["status"] for i in ids] == ["pending", "accepted", "pending", "rejected", "pending"]
    assert "accepted" in out["state"] and "decided by hand" in out["state"]   # the panel agrees
    assert "undone" not in out["log"] and "#" in out["log"]
    batch = out["undo_pick"]["value"]
    # ticked: the hand decision goes too
    out = _bulk(studio, "reject-all", 0.8, *fp, include_hand=True)
    assert "1 variant(s) → rejected" in out["msg"] and studio.variant(ids[1])["status"] == "rejected"
    later = out["undo_pick"]["value"]
    out = curation.undo_bulk(studio, later, None, *fp)
    assert "1 variant(s) restored" in out["msg"] and studio.variant(ids[1])["status"] == "accepted"
    out = curation.undo_bulk(studio, batch, None, *fp)
    assert "1 variant(s) restored" in out["msg"]
    assert [studio.variant(i)["status"] for i in ids] == ["pending", "accepted", "pending", "pending", "pending"]
    assert out["undo_pick"]["choices"] == [] and out["undo_bulk"]["interactive"] is False
    assert "nothing to accept" in curation.ask_bulk(studio, "accept-all", 0.8, ds_id, *F(sid="nobody"), 1)["msg"]


def test_review_by_sequence_plays_and_decides_a_group(studio, tmp_path):
    ds_id = _fake_variants(studio, tmp_path, n=5)
    for i, v in enumerate(studio.variants(ds_id)):    # variant silhouettes to play
        (Path(v["path"]) / "frames").mkdir()
        for t in range(4):
            cv2.imwrite(str(Path(v["path"]) / "frames" / f"{t:05d}.png"), np.full((32, 22), 60 * t, np.uint8))
    out = curation.groups_view(studio, ds_id, *ALL, 1)
    html = out["groups"]
    assert html.count('class="hg-group"') == 2 and "001 · nm-01-090" in html and "002 · nm-01-090" in html
    previews = sorted((studio.ws.root / "cache" / "previews").glob("*.gif"))
    assert len(previews) == 5 and all(p.stat().st_size > 0 for p in previews)
    assert html.count("gradio_api/file=") == 5 and "original (not in the dataset)" in html
    assert 'data-act="accepted|001|nm-01-090"' in html and ">Accept 3<" in html
    curation.decide_one(studio, studio.variants(ds_id, sid="001")[0]["id"], "rejected", ds_id, *ALL, 1)
    out = curation.group_action(studio, "accepted|001|nm-01-090", None, 1, ds_id, *ALL, 1)
    assert "2 variant(s) → accepted" in out["msg"] and "1 hand decision(s) kept" in out["msg"]
    assert [v["status"] for v in studio.variants(ds_id, sid="001")] == ["rejected", "accepted", "accepted"]
    assert ">Accept 0<" in out["groups"] and "disabled" in out["groups"]
    assert "unknown group action" in curation.group_action(studio, "x|y", None, 1, ds_id, *ALL, 1)["msg"]


def test_paging_and_arrow_keys(studio, tmp_path, monkeypatch):
    ds_id = _fake_variants(studio, tmp_path, n=5)
    monkeypatch.setattr(curation, "PAGE_SIZE", 2)
    view = curation.gallery_view(studio, ds_id, *ALL, 3)
    g, page, info = view["gallery"], view["page"], view["info"]
    assert len(g["value"]) == 1 and page == 3 and "page 3 of 3" in info
    page = curation.gallery_view(studio, ds_id, *ALL, 99)["page"]
    assert page == 3
    vid = curation.select(studio, ds_id, *ALL, 2, evt=_Sel(0))["selected"]
    ids = [v["id"] for v in studio.variants(ds_id)]
    assert vid == ids[2]
    # → walks on, across the page boundary; ← walks back
    out = curation.step_selection(studio, vid, 1, ds_id, *ALL, 2)
    assert out["selected"] == ids[3]
    out = curation.step_selection(studio, out["selected"], 1, ds_id, *ALL, 2)
    assert out["selected"] == ids[4] and out["page"] == 3
    out = curation.step_selection(studio, out["selected"], -1, ds_id, *ALL, 3)
    assert out["selected"] == ids[3] and out["page"] == 2


def test_augment_failure_reaches_the_ui(studio, raw):
    """The hand-made fixture has silhouettes only, no colour frames: the job fails and the UI says why."""
    src = studio.open_dataset(raw)["dataset_id"]
    convert_tab.start(studio, src, "auto", "opengait", "")
    assert studio.wait(studio.latest_job("convert")["id"], timeout=120)["state"] == "succeeded"
    conv = studio.datasets("converted")[0]["id"]
    msg = augment_tab.start(studio, conv, 2, ["nm-01"], ["recolour"])["msg"]
    assert "job #" in msg
    job = studio.wait(studio.latest_job("augment")["id"], timeout=120)
    assert job["state"] == "failed"
    html = augment_tab.jobs_html(studio, conv)
    assert "failed" in html and "needs colour frames" in html
    assert "needs colour frames" in C.failures_md(studio)
    assert "no accepted variants" in augment_tab.merge(studio, conv)["msg"]
    assert "at least one sequence type" in augment_tab.start(studio, conv, 2, [], None)["msg"]


# -- train ----------------------------------------------------------------------------------------

def _train_job(studio, tmp_path, state: str) -> tuple[int, int]:
    ds_id = studio.catalog.add_dataset("conv", "converted", "grew-layout", tmp_path / "conv")
    run_id = studio.catalog.create_run("r1", "gaitbase", {"preset": "demo-cpu", "iterations": 20}, tmp_path / "r",
                                       ds_id)
    job_id = studio.catalog.create_job("train", {"run_id": run_id}, slot="device", run_id=run_id)
    if state != "queued":
        studio.catalog.transition_job(job_id, ("queued",), state, started_at=time.time() - 10, progress=5, total=20,
                                      message="step 5/20", error="Traceback...\nRuntimeError: boom")
    return job_id, run_id


def test_train_buttons_follow_job_state(studio, tmp_path):
    out = train_tab.refresh(studio, "")
    info, stop_b, resume_b = out["info"], out["stop_btn"], out["resume_btn"]
    assert "No training run yet" in info and stop_b["interactive"] is False and resume_b["interactive"] is False

    job_id, run_id = _train_job(studio, tmp_path, "running")
    studio.catalog.log_metrics(run_id, 10, {"loss": 3.0, "triplet": 1.0, "ce": 2.0, "acc": 0.5})
    out = train_tab.refresh(studio, "")
    progress, plot, start_b, stop_b, resume_b, sig = (out[k] for k in ("progress", "plot", "start_btn", "stop_btn",
                                                                       "resume_btn", "metric_sig"))
    assert start_b["interactive"] is False and stop_b["interactive"] is True and resume_b["interactive"] is False
    assert "25%" in progress and "ETA" in progress and "step 5/20" in progress
    assert len(plot.data) == 4
    assert _is_skip(train_tab.refresh(studio, sig)["plot"])  # unchanged metrics: the plot is left alone

    # A failed job must never leave Stop enabled; Resume becomes available.
    studio.catalog.transition_job(job_id, ("running",), "failed", message="RuntimeError: boom")
    out = train_tab.refresh(studio, sig)
    info, progress, start_b, stop_b, resume_b = (out[k] for k in ("info", "progress", "start_btn", "stop_btn",
                                                                  "resume_btn"))
    assert stop_b["interactive"] is False and resume_b["interactive"] is True and start_b["interactive"] is True
    assert "boom" in info and "failed" in progress


def test_train_start_errors(studio, tmp_path):
    assert "choose a converted dataset" in train_tab.start(studio, None, "demo-cpu", 20)
    ds_id = studio.catalog.add_dataset("conv", "converted", "grew-layout", tmp_path / "conv")
    assert "unknown preset" in train_tab.start(studio, ds_id, "nope", 20)
    cli = train_tab.cli_command(studio, ds_id, "demo-cpu", 20)
    assert "train --dataset" in cli and "--preset demo-cpu --iterations 20" in cli
    assert "nothing to resume" in train_tab.resume(studio)
    assert "no training is running" in train_tab.stop(studio)


# -- results ---------------------------------------------------------------------------------------

RESULTS = {"NM": 75.0, "BG": 62.5, "CL": 50.0, "views": ["090", "144"], "chance": 50.0,
           "per_view": {"NM": {"090": 100.0, "144": 50.0}, "BG": {"090": 75.0, "144": 50.0},
                        "CL": {"090": 50.0, "144": 50.0}}, "counts": {"NM": 8, "BG": 8, "CL": 8, "gallery": 16},
           "step": 20, "metric": "euc", "protocol": "casia-b"}


def test_results_tables(studio, tmp_path):
    summary = run_detail.show(studio, None)["summary"]
    assert "No run selected" in summary
    ds_id = studio.catalog.add_dataset("conv", "converted", "grew-layout", tmp_path / "conv")
    r1 = studio.catalog.create_run("r1", "gaitbase", {}, tmp_path / "r1", ds_id)
    assert "no results yet" in run_detail.show(studio, r1)["summary"]
    studio.catalog.update_run(r1, state="finished", results=RESULTS)
    out = run_detail.show(studio, r1)
    summary, per_cond, per_view, chart = (out[k] for k in ("summary", "per_cond", "per_view", "chart"))
    assert list(per_cond["condition"]) == ["NM", "BG", "CL"] and list(per_cond["rank-1 %"]) == [75.0, 62.5, 50.0]
    assert list(per_view.columns) == ["condition", "090", "144", "mean"]
    assert len(chart.data) == 3 and "chance 50.0%" in summary
    dd = results_tab.refresh(studio, None, "")["run"]
    assert dd["value"] == r1 and "NM 75.0%" in dd["choices"][0][0]


# -- common ----------------------------------------------------------------------------------------

def test_progress_html_and_eta():
    job = {"id": 3, "kind": "convert", "state": "running", "progress": 25, "total": 100, "started_at": 1000.0,
           "message": "25/100 sequences"}
    assert C.job_eta(job, now=1010.0) == (10.0, 30.0)
    h = C.job_progress_html(job, "conversion", now=1010.0)
    assert "25%" in h and "ETA 30s" in h and "job #3" in h
    assert C.job_eta({**job, "progress": 0}, now=1010.0) == (10.0, None)
    # Resumed at 60%: only the 10% made in this job's 10 s count, so 30% more takes 30 s.
    resumed = {**job, "progress": 70, "progress_start": 60, "progress_t0": 1000.0}
    assert C.job_eta(resumed, now=1010.0) == (10.0, 30.0)
    done = {**job, "state": "succeeded", "finished": "1970-01-01T00:17:00Z"}
    assert "100%" in C.job_progress_html(done) and "took 20s" in C.job_progress_html(done)
    assert C.fmt_duration(3725) == "1h 02m"
    assert C.job_progress_html(None) == ""


def test_error_text_never_a_traceback():
    from core.errors import InputError

    assert C.error_text(InputError("/x/y", "folder does not exist")) == "/x/y: folder does not exist"
    assert "unexpected error (KeyError" in C.error_text(KeyError("k"))


def test_build_app_and_launch_defaults(studio):
    from app.main import build_app
    import launch

    demo = build_app(studio)
    assert demo is not None
    src = Path(launch.__file__).read_text()
    assert 'default="127.0.0.1"' in src and "0.0.0.0" not in src.replace("never 0.0.0.0", "")


def test_dead_worker_becomes_interrupted_and_resumable(studio, tmp_path):
    job_id, _ = _train_job(studio, tmp_path, "running")
    studio.catalog.update_job(job_id, pid=2 ** 22 + 12345, heartbeat=time.time())  # no such process
    assert studio.recover() == []  # fresh heartbeat: maybe just starting, leave it
    assert studio.recover(now=time.time() + 60) == [job_id]
    assert studio.job(job_id)["state"] == "interrupted"
    out = train_tab.refresh(studio, "")
    assert out["stop_btn"]["interactive"] is False and out["resume_btn"]["interactive"] is True


# -- generic trees and presets ------------------------------------------------------------------

def test_tree_pattern_open_preview_convert(studio, tmp_path):
    """A free-named tree: the pattern checker reads its sequence folders, opening it scans as the
    generic tree, the Convert preview names its gallery and protocol, and the conversion runs."""
    from tests.fixtures import make_tree

    root = make_tree(tmp_path / "mine", [(s, q, "cam") for s in ("ann", "ben", "cat", "dan")
                                         for q in ("walk-1", "walk-2", "run-1")], frames=6)
    assert "generic-tree" in set(dataset_tab.detect_table(studio, str(root))["format"])
    checked = dataset_tab.pattern_preview(studio, str(root), "{condition}-{seq}")
    table = checked["pattern_table"]
    assert checked["error"] == "" and list(table["seq_type"]) == ["run-1", "walk-1", "walk-2"]
    assert list(table["condition"]) == ["run", "walk", "walk"] and table["matched"].all()
    out = dataset_tab.open_path(studio, str(root), "generic-tree", "{condition}-{seq}")
    assert out["error"] == "" and "generic-tree" in out["summary"]
    assert list(out["counts"]["condition"]) == ["run", "walk"]
    ds_id = _update(out["picker"])["value"]

    pv = convert_tab.preview(studio, ds_id, "first:2", "opengait", "", gallery="walk-1")
    assert pv["error"] == "" and "gallery types `walk-1`" in pv["summary"] and "`gallery-probe`" in pv["summary"]
    roles = {(r["source"].split("/")[1], r["split"]) for _, r in pv["mapping"].iterrows() if r["split"] != "train"}
    assert roles == {("walk-1", "gallery"), ("walk-2", "probe"), ("run-1", "probe")}
    cli = convert_tab.cli_command(studio, ds_id, "first:2", "opengait", "", gallery="walk-1")
    assert "--format generic-tree" in cli and "--pattern '{condition}-{seq}'" in cli and "--gallery walk-1" in cli
    convert_tab.start(studio, ds_id, "first:2", "opengait", "", gallery="walk-1")
    done = studio.wait(studio.latest_job("convert")["id"], timeout=120)
    assert done["state"] == "succeeded", done


def test_preset_preview_with_partition_file(studio, tmp_path):
    from tests.fixtures import make_tree

    root = make_tree(tmp_path / "Gait3D", [(f"{i:04d}", f"camid{c}_videoid1", "seq0") for i in (1, 2, 3) for c in (1, 2)],
                     frames=6)
    ds_id = studio.open_dataset(root)["dataset_id"]
    assert studio.dataset(ds_id)["format"] == "gait3d"
    err = convert_tab.preview(studio, ds_id, "auto", "opengait", "")["error"]
    assert "Gait3D" in err and "--split" in err
    part = tmp_path / "Gait3D.json"
    part.write_text(json.dumps({"TRAIN_SET": ["0001"], "TEST_SET": ["0002", "0003"],
                                "PROBE_SET": ["0002-camid2_videoid1-seq0", "0003-camid2_videoid1-seq0"]}))
    pv = convert_tab.preview(studio, ds_id, str(part), "opengait", "")
    assert pv["error"] == "" and "2 probe sequences listed" in pv["summary"] and "`gait3d`" in pv["summary"]
    assert sorted(pv["mapping"]["split"]) == ["gallery", "gallery", "probe", "probe", "train", "train"]


def test_preset_trains_and_evaluates_under_its_protocol(studio, tmp_path):
    """An OU-MVLP-shaped tree converted and trained from the tabs is evaluated under OU-MVLP's
    protocol (gallery 01, probe 00, identical views excluded), and the run page shows its NM row."""
    from tests.fixtures import make_tree

    root = make_tree(tmp_path / "OUMVLP", [(f"{i:05d}", q, v) for i in range(1, 7) for q in ("00", "01")
                                           for v in ("000", "090")], frames=8)
    ds_id = studio.open_dataset(root)["dataset_id"]
    convert_tab.start(studio, ds_id, "auto", "opengait", "")
    assert studio.wait(studio.latest_job("convert")["id"], timeout=120)["state"] == "succeeded"
    conv = next(d for d in studio.datasets("converted"))
    assert "job #" in train_tab.start(studio, conv["id"], "demo-cpu", 4)
    job = studio.wait(studio.latest_job("train")["id"], timeout=300)
    assert job["state"] == "succeeded", job
    run = studio.catalog.runs()[0]
    res = run["results"]
    assert res["protocol"] == "oumvlp" and res["views"] == ["000", "090"]
    assert res["counts"] == {"gallery": 6, "NM": 6} and res["matrix"]["NM"][0][0] is None   # same view excluded
    out = run_detail.show(studio, run["id"])
    assert list(out["per_cond"]["condition"]) == ["NM"] and list(out["per_view"].columns) == ["condition", "000",
                                                                                                "090", "mean"]


# -- issue 15: texts that stay true --------------------------------------------------------------------

def test_a_detected_format_is_still_detected_when_shown_again(studio, raw, tmp_path):
    studio.open_dataset(raw)
    again = Studio(studio.ws.root)                   # an app restart: the catalog remembers the folder
    ds_id = again.catalog.dataset_by_path(Path(raw).resolve())["id"]
    summary = dataset_tab.show_dataset(again, ds_id)["summary"]
    assert "detected casia-b-silhouette" in summary and "chosen by the user" not in summary
    chosen = tmp_path / "chosen"
    make_casia_b_silhouettes(chosen, ids=(1, 2), views=("090",), frames=4)
    studio.open_dataset(chosen, format="casia-b-silhouette")
    cid = again.catalog.dataset_by_path(chosen.resolve())["id"]
    assert "chosen by the user" in dataset_tab.show_dataset(again, cid)["summary"]


def test_a_demo_job_message_goes_when_the_job_is_over(studio):
    job = studio.catalog.create_job("demo", {}, slot="cpu")
    msg = C.ok_md(f"generating the synthetic demo set (job #{job}); it appears below when done")
    studio.catalog.update_job(job, state="running")
    assert _is_skip(dataset_tab.refresh(studio, None, "", msg)["msg"])
    studio.catalog.update_job(job, state="succeeded")
    assert dataset_tab.refresh(studio, None, "", msg)["msg"] == ""
    assert _is_skip(dataset_tab.refresh(studio, None, "", C.error_md("bad size"))["msg"])   # not a job's message


def test_the_log_tail_ends_with_the_latest_steps():
    metrics = {"loss": [(s, 2.0 / s) for s in range(1, 9)], "lr": [(s, 1e-3) for s in range(1, 9)],
               "acc": [(8, 0.5)]}
    lines = train_tab.step_lines(metrics, n=3)
    assert lines == ["step 6: loss 0.3333 · lr 0.001", "step 7: loss 0.2857 · lr 0.001",
                     "step 8: loss 0.25 · acc 0.5 · lr 0.001"]


def test_converted_text_counts_dropped_frames_as_the_manifest_lists_them():
    job = {"state": "succeeded", "result": {"out": "/o", "sequences": 3, "frames": 30, "dropped_frames": 4,
                                            "dropped_sequences": 2, "dropped_reasons": {"empty frame": 4},
                                            "failed": 0, "skipped_done": 0, "train_ids": 1, "test_ids": 2}}
    txt = convert_tab.result_md(job)
    assert "4 empty/unreadable frames dropped in 2 sequences: 4 × empty frame" in txt and "manifest.json" in txt


def test_decode_sample_box_empty_means_every_frame():
    # the box is a Textbox: a Number showed its empty value as 0, and 0 means "decode no frame"
    assert dataset_tab._decode_arg("") is None and dataset_tab._decode_arg(None) is None
    assert dataset_tab._decode_arg(" 3 ") == 3 and dataset_tab._decode_arg("0") == 0
