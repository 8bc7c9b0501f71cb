"""The Runs page (step 5) on a real tiny run: handlers called directly, no browser.

One module fixture converts a hand-made CASIA-B-style set (4 ids, 3 views, 2 test ids) and trains
the demo-cpu GaitBase for a few iterations in-process; training ends with an evaluation that
keeps the test embeddings. A second run exists only in the catalog (never trained), for the
overlay and the empty states.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from app import results_tab as R
from app import run_detail as RD
from app import runs_figures as F
from core.evaluate import report
from core.studio import Studio
from tests.fixtures import make_casia_b_silhouettes

VIEWS = ("000", "090", "144")
IDS = (1, 2, 3, 4)                # split first:2 -> 001/002 train, 003/004 test
ITERS = 4


def _is_skip(u) -> bool:
    return isinstance(u, dict) and u.get("__type__") == "update" and len(u) == 1


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from core.cli import run_job_here
    from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
    from core.jobs.kinds import register_converted
    from core.readers import scan
    from core.train.config import preset

    tmp = tmp_path_factory.mktemp("runs")
    raw = make_casia_b_silhouettes(tmp / "raw", ids=IDS, views=VIEWS, frames=6)
    studio = Studio(tmp / "ws")
    studio.open_dataset(raw)
    out = studio.ws.datasets_dir / "tiny"
    conv = run_conversion(plan_conversion(scan(raw), out, ConvertOptions(split="first:2")))
    ds_id = register_converted(studio.catalog, out, name="tiny", source=str(raw), result=conv)

    cfg = preset("demo-cpu", dataset=str(out.resolve()), iterations=ITERS, log_every=2, checkpoint_every=ITERS,
                 batch_ids=2, batch_seqs=2, frames=5)
    run_dir = studio.ws.runs_dir / "trained"
    run_dir.mkdir(parents=True)
    trained = studio.catalog.create_run("trained", cfg.model, asdict(cfg), run_dir, ds_id)
    run_job_here(studio, "train", {"run_id": trained}, run_id=trained, quiet=True)

    # A run that never trained: catalog rows and a few logged values only.
    other_dir = studio.ws.runs_dir / "sketch"
    other_dir.mkdir()
    sketch = studio.catalog.create_run("sketch", "gaitbase", {**asdict(cfg), "iterations": 50}, other_dir, ds_id)
    for step, loss in ((10, 2.5), (20, 2.0)):
        studio.catalog.log_metrics(sketch, step, {"loss": loss, "lr": 0.05, "acc": 0.4, "my_new_loss": 1.0})
    yield {"studio": studio, "trained": trained, "sketch": sketch, "ds_id": ds_id, "dataset": out}
    for j in studio.jobs(states=("queued", "running")):  # never leave a worker behind
        studio.cancel(j["id"])


def _panels(out: dict) -> list:
    return [out[k] for k in RD.PANELS]


def _run(world, key="trained") -> dict:
    return world["studio"].catalog.run(world[key])


def _test_sequences(world) -> int:
    cat = world["studio"].catalog
    return len(cat.sequences(world["ds_id"], "gallery")) + len(cat.sequences(world["ds_id"], "probe"))


# -- what evaluation keeps --------------------------------------------------------------------------

def test_evaluation_keeps_embeddings_that_reproduce_the_results(world):
    from core.evaluate.protocols import evaluate_npz

    run = _run(world)
    res = run["results"]
    path = Path(run["dir"]) / "eval" / "embeddings.npz"
    assert res["embeddings_file"] == str(path) and path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]     # atomic: no leftovers
    arrays = report.load_saved_embeddings(path)
    n = _test_sequences(world)
    assert arrays["embeddings"].shape[0] == n == 2 * 10 * len(VIEWS)
    for k in ("labels", "types", "views", "roles", "cameras", "clothes", "seqs", "conditions"):
        assert arrays[k].shape == (n,), k
    assert set(arrays["labels"]) == {"003", "004"} and set(arrays["conditions"]) == {"nm", "bg", "cl"}
    assert arrays["protocol"] == "casia-b" and arrays["step"] == run["step"] == ITERS
    again = evaluate_npz(path, "casia-b", metric=arrays["metric"])
    for c in ("NM", "BG", "CL"):
        assert again[c] == pytest.approx(res[c])


def test_older_checkpoints_leave_the_runs_embeddings_alone(world, tmp_path):
    from core.evaluate.run import evaluate_run

    run = _run(world)
    kept = Path(run["results"]["embeddings_file"])
    before = kept.stat().st_mtime_ns
    numbered = Path(run["dir"]) / "checkpoints" / f"ckpt-{ITERS:07d}.pt"
    res = evaluate_run(numbered, world["dataset"])
    assert "embeddings_file" not in res and kept.stat().st_mtime_ns == before
    res = evaluate_run(numbered, world["dataset"], save_embeddings_to=tmp_path / "mine.npz")
    assert res["embeddings_file"] == str(tmp_path / "mine.npz") and kept.stat().st_mtime_ns == before
    assert len(report.load_saved_embeddings(tmp_path / "mine.npz")["labels"]) == _test_sequences(world)


# -- the runs table and the curves ------------------------------------------------------------------

def test_runs_table_lists_every_run(world):
    table = R.runs_table(world["studio"])
    assert list(table.columns) == R.RUN_HEADERS
    by_name = {r["run"]: r for r in table.to_dict("records")}
    assert set(by_name) == {"trained", "sketch"}
    t, res = by_name["trained"], _run(world)["results"]
    assert t["status"] == "finished" and t["step"] == f"{ITERS}/{ITERS}" and t["model"] == "gaitbase" and t["dataset"] == "tiny"
    assert t["evaluation"] == "plain · casia-b"
    assert [t[c] for c in ("NM", "BG", "CL")] == [round(res[c], 2) for c in ("NM", "BG", "CL")]
    assert by_name["sketch"]["evaluation"] == "not evaluated" and by_name["sketch"]["step"] == "0/50"


def test_curves_overlay_runs_by_metric_family(world):
    studio = world["studio"]
    ids = [world["trained"], world["sketch"]]
    figs = R.curves(studio, ids)
    loss, lr, acc, other = (figs[k] for k in ("loss_plot", "lr_plot", "acc_plot", "other_plot"))
    names = {rid: f"#{rid} {studio.catalog.run(rid)['name']}" for rid in ids}
    expected = {fam: set() for fam in F.FAMILIES}
    for rid in ids:
        for metric in studio.run_metrics(rid):
            expected[F.metric_family(metric)].add((names[rid], metric))
    for fam, fig in zip(F.FAMILIES, (loss, lr, acc, other)):
        got = {(t.meta["run"], t.meta["metric"]) for t in fig.data}
        assert got == expected[fam], fam
        assert {t.name for t in fig.data} == {f"{r} · {m}" for r, m in expected[fam]}
    # The trainer's real metric names land in the right figures; a new loss term joins the losses.
    assert {(names[ids[0]], m) for m in ("loss", "triplet", "ce")} <= expected["loss"]
    assert (names[ids[1]], "my_new_loss") in expected["loss"]
    assert (names[ids[0]], "lr") in expected["lr"] and (names[ids[0]], "sec_per_step") in expected["other"]
    acc_trace = next(t for t in acc.data if t.meta == {"run": names[ids[1]], "metric": "acc"})
    assert list(acc_trace.y) == [40.0, 40.0]            # fractions shown in percent
    assert [t.name for t in R.curves(studio, [])["loss_plot"].data] == []   # nothing selected: an empty-state figure


# -- one run in depth ------------------------------------------------------------------------------

def test_heatmap_cmc_and_scatter_of_the_trained_run(world):
    studio, run = world["studio"], _run(world)
    res = run["results"]
    d = RD.details(studio, run["id"], "pca", "JSON")
    heat, cmc, scatter, config, ckpt, opengait, button = (d[k] for k in ("heat", "cmc", "scatter", "config", "ckpt",
                                                                          "exported", "eval_btn"))
    assert [t.name for t in heat.data] == ["NM · plain", "BG · plain", "CL · plain"]
    for t, c in zip(heat.data, ("NM", "BG", "CL")):
        z = np.asarray(t.z, dtype=float)
        assert z.shape == (len(VIEWS), len(VIEWS)) and list(t.x) == list(VIEWS) == list(t.y)
        assert np.isnan(np.diag(z)).all()                # same-view pairs are excluded by the protocol
        expect = np.array([[np.nan if v is None else v for v in row] for row in res["matrix"][c]], float)
        np.testing.assert_allclose(z, expect)

    assert [t.meta["curve"] for t in cmc.data] == ["NM", "BG", "CL"]
    for t, c in zip(cmc.data, ("NM", "BG", "CL")):
        y = np.asarray(t.y, float)
        assert len(y) == 2                              # ranks over the 2 test identities
        assert (np.diff(y) >= 0).all() and y[-1] == pytest.approx(100.0)
        assert y[0] == pytest.approx(res[c], abs=1e-6)  # rank-1 of the curve is the reported rank-1

    n = _test_sequences(world)
    assert sum(len(t.x) for t in scatter.data) == n
    assert sorted(t.name for t in scatter.data) == ["bg", "cl", "nm"]
    assert json.loads(config["value"])["iterations"] == ITERS and config["language"] == "json"
    assert RD.config_text(run, "YAML")["value"].startswith("model: gaitbase")
    assert ckpt == str(Path(run["dir"]) / "checkpoints" / "latest.pt") and opengait is None
    assert button["interactive"] is True

    shown = RD.show(studio, run["id"])
    summary, per_cond, per_view = shown["summary"], shown["per_cond"], shown["per_view"]
    assert "protocol `casia-b`" in summary and list(per_cond["condition"]) == ["NM", "BG", "CL"]
    assert list(per_view.columns) == ["condition", *VIEWS, "mean"]


def test_the_evaluation_stores_what_the_page_draws(world):
    """eval/report.json holds the CMC and PCA map computed at the evaluation's end; the figures
    drawn from it equal those computed from the embeddings, and a changed embeddings file is
    recomputed from rather than shown with a stale report."""
    studio, run = world["studio"], _run(world)
    emb = Path(run["results"]["embeddings_file"])
    stored = studio.stored_report(emb)
    assert stored is not None and stored["step"] == ITERS and list(stored["cmc"]) == ["NM", "BG", "CL"]
    cmc, scatter = RD.cmc_and_scatter(studio, run, "pca")
    report_file = emb.with_name("report.json")
    kept = report_file.read_bytes()
    report_file.unlink()
    RD._CACHE.clear()
    try:
        cmc2, scatter2 = RD.cmc_and_scatter(studio, run, "pca")
    finally:
        report_file.write_bytes(kept)
    assert [list(t.y) for t in cmc.data] == [list(t.y) for t in cmc2.data]
    assert cmc.layout.title.text == cmc2.layout.title.text
    for a, b in zip(scatter.data, scatter2.data):
        assert a.name == b.name
        np.testing.assert_allclose(np.asarray(a.x, float), np.asarray(b.x, float), atol=1e-4)
    assert scatter.layout.title.text == scatter2.layout.title.text
    os.utime(emb, ns=(emb.stat().st_atime_ns, emb.stat().st_mtime_ns + 1))   # another version of the file
    assert studio.stored_report(emb) is None


def test_refined_results_get_their_own_rows(world):
    studio, run = world["studio"], _run(world)
    res = copy.deepcopy(run["results"])
    refined = copy.deepcopy(res)
    refined.pop("embeddings_file")
    refined["NM"] = 99.5
    refined["matrix"]["NM"] = [[None if i == j else 99.5 for j in range(len(VIEWS))] for i in range(len(VIEWS))]
    studio.catalog.update_run(run["id"], results={**res, "refined": refined})
    try:
        rows = R.runs_table(studio).to_dict("records")
        mine = [r for r in rows if r["run"] == "trained"]
        assert [r["evaluation"] for r in mine] == ["plain · casia-b", "refined · casia-b"]
        assert mine[1]["NM"] == 99.5 and mine[0]["NM"] == round(res["NM"], 2)
        heat = RD.details(studio, run["id"])["heat"]
        assert len(heat.data) == 6 and heat.data[3].name == "NM · refined"
        assert np.nanmax(np.asarray(heat.data[3].z, float)) == 99.5
        shown = RD.show(studio, run["id"])
        summary, per_cond, per_view = shown["summary"], shown["per_cond"], shown["per_view"]
        assert "**Refined**" in summary and list(per_cond["refined rank-1 %"])[0] == 99.5
        assert "NM (refined)" in list(per_view["condition"])
    finally:
        studio.catalog.update_run(run["id"], results=res)


def test_untrained_run_has_helpful_empty_states(world):
    studio, rid = world["studio"], world["sketch"]
    d = RD.details(studio, rid)
    heat, cmc, scatter, ckpt, opengait, button = (d[k] for k in ("heat", "cmc", "scatter", "ckpt", "exported",
                                                                 "eval_btn"))
    for fig in (heat, cmc, scatter):
        assert not fig.data and "has not been evaluated yet" in fig.layout.annotations[0].text
    assert ckpt is None and opengait is None and button["interactive"] is False
    assert "no checkpoint yet" in R.evaluate(studio, rid)
    out = R.export_opengait(studio, rid)
    msg, path = out["export_msg"], out["exported"]
    assert "no checkpoint" in msg and path is None
    assert "no results yet" in RD.show(studio, rid)["summary"]
    assert "select a run first" in R.evaluate(studio, None)


# -- polling ---------------------------------------------------------------------------------------------

def test_refresh_renders_only_what_changed(world):
    studio = world["studio"]
    out = R.refresh(studio, None, "")
    run_dd, table, empty, compare, sig = out["run"], out["table"], out["empty"], out["compare"], out["sig"]
    panels, plots = _panels(out), [out[k] for k in R.CURVES]
    assert run_dd["value"] == world["trained"]           # the newest run with results
    assert len(table) == 2 and empty["visible"] is False
    assert set(compare["value"]) == {world["trained"], world["sketch"]}
    # The heatmap, CMC and map wait for their section to open; everything else is drawn.
    assert all(_is_skip(out[k]) for k in RD.HEAVY)
    assert not any(_is_skip(p) for k, p in zip(RD.PANELS, panels) if k not in RD.HEAVY)
    assert not any(_is_skip(p) for p in plots)
    assert not any(_is_skip(R.refresh(studio, None, "", deep=True)[k]) for k in RD.HEAVY)

    again = R.refresh(studio, run_dd["value"], sig, compare["value"])
    # nothing changed: nothing re-rendered
    assert all(_is_skip(u) for k, u in again.items() if k not in ("progress", "sig"))

    studio.catalog.log_metrics(world["sketch"], 30, {"loss": 1.5})
    third = R.refresh(studio, run_dd["value"], again["sig"], compare["value"])
    plots = [third[k] for k in R.CURVES]
    assert not _is_skip(plots[0]) and any("sketch · loss" in t.name and len(t.x) == 3 for t in plots[0].data)
    assert all(_is_skip(u) for u in _panels(third))   # the selected run did not change

    # Picking a run renders its panels at once and records them, so the next tick skips them.
    sel = R.select(studio, world["sketch"], "pca", "JSON", compare["value"], third["sig"])
    assert "sketch" in sel["summary"] and "no results yet" in sel["summary"]
    after = R.refresh(studio, world["sketch"], sel["sig"], compare["value"])
    assert all(_is_skip(u) for u in _panels(after))

    # A training step moves: the table follows, the dropdowns and panels are left alone.
    studio.catalog.update_run(world["sketch"], step=7)
    try:
        moved = R.refresh(studio, world["sketch"], after["sig"], compare["value"])
    finally:
        studio.catalog.update_run(world["sketch"], step=0)
    table = moved["table"]
    assert not _is_skip(table) and "7/50" in list(table["step"])
    assert _is_skip(moved["run"]) and all(_is_skip(u) for u in _panels(moved))

    class Evt:
        row_value = [world["trained"], "trained"]
        index = [0, 1]
    row = R.select_row(studio, None, "pca", "JSON", compare["value"], after["sig"], False, Evt())
    assert row["run"]["value"] == world["trained"] and "`trained`" in row["summary"]


def test_empty_workspace(tmp_path):
    studio = Studio(tmp_path / "ws")
    out = R.refresh(studio, None, "")
    table, empty = out["table"], out["empty"]
    assert len(table) == 0 and empty["visible"] is True and "No training runs yet" in empty["value"]
    assert "No run selected" in out["summary"]
    assert all(not out[k].data for k in R.CURVES)       # curves say "select runs" instead


# -- actions ---------------------------------------------------------------------------------------------

def test_evaluate_button_brings_back_missing_embeddings(world):
    studio, run = world["studio"], _run(world)
    path = Path(run["results"]["embeddings_file"])
    path.unlink()          # as an evaluation made before embeddings were kept
    cmc = RD.details(studio, run["id"])["cmc"]
    assert not cmc.data and "kept no embeddings" in cmc.layout.annotations[0].text
    msg = R.evaluate(studio, run["id"])
    assert "job #" in msg, msg
    job = studio.wait(int(msg.split("job #")[1].split(")")[0]), timeout=240)
    assert job["state"] == "succeeded", job.get("error")
    assert path.is_file()
    cmc = RD.details(studio, run["id"])["cmc"]
    assert [t.meta["curve"] for t in cmc.data] == ["NM", "BG", "CL"]


def test_opengait_export_round_trips(world):
    keys = pytest.importorskip("core.models.opengait_keys")
    studio, run = world["studio"], _run(world)
    out = R.export_opengait(studio, run["id"])
    msg, path = out["export_msg"], out["exported"]
    assert path == str(Path(run["dir"]) / "export" / "opengait.pt"), msg
    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert set(saved) == {"model", "iteration"} and saved["iteration"] == run["step"]
    ours = torch.load(Path(run["dir"]) / "checkpoints" / "latest.pt", map_location="cpu", weights_only=True)
    assert any(k.startswith("Backbone.") for k in saved["model"])          # OpenGait's names, not ours
    back = keys.import_opengait_state_dict(ours.get("model_name", "gaitbase"), saved)
    assert set(back) == set(ours["model"])
    for k, v in ours["model"].items():
        assert torch.equal(back[k], v), k
    assert RD.details(studio, run["id"])["exported"] == path       # offered for download from now on


def test_export_without_the_mapping_module_says_so(world, monkeypatch):
    monkeypatch.setitem(sys.modules, "core.models.opengait_keys", None)    # import now raises ImportError
    out = R.export_opengait(world["studio"], world["trained"])
    msg, path = out["export_msg"], out["exported"]
    assert path is None and "OpenGait export is not available" in msg and "Traceback" not in msg


# -- report functions on hand-made inputs ------------------------------------------------------------

def test_cmc_from_ranks_and_identity_ranks():
    np.testing.assert_allclose(report.cmc_from_ranks([0, 1, -1, 3], 5), [25, 50, 50, 75, 75])
    np.testing.assert_allclose(report.cmc_from_ranks([0, 1, -1, 3], 4, over="valid"), [100 / 3, 200 / 3, 200 / 3, 100])
    # gallery: a a b c ; probe 0 is nearest to b, then a; probe 1 (id c) has c nearest; probe 2's id is absent
    dist = np.array([[2.0, 3.0, 1.0, 9.0], [5.0, 5.0, 5.0, 0.5], [1.0, 1.0, 1.0, 1.0]])
    ranks = report.identity_ranks(dist, ["a", "c", "z"], ["a", "a", "b", "c"])
    assert ranks.tolist() == [1, 0, -1]


def test_pca_finds_the_main_axis_and_tsne_is_optional(monkeypatch):
    rng = np.random.default_rng(0)
    t = rng.standard_normal(200)
    x = np.stack([t * 10, t * 10 + 0.01 * rng.standard_normal(200), 0.1 * rng.standard_normal(200)], 1)[:, :, None]
    p = report.project_2d(x)
    assert p.xy.shape == (200, 2) and p.method == "pca" and p.explained[0] > 0.99
    assert abs(np.corrcoef(p.xy[:, 0], t)[0, 1]) > 0.999
    np.testing.assert_allclose(report.project_2d(x).xy, p.xy)        # deterministic, signs included
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    assert report.projection_methods() == ["pca"]
    from core.errors import ConfigError
    with pytest.raises(ConfigError, match="scikit-learn"):
        report.project_2d(x, "tsne")


def test_casia_b_cmc_starts_at_the_protocol_rank1():
    """Noisy embeddings (rank-1 well below 100): the curve's first point is the protocol's number."""
    from core.evaluate.casia_b import evaluate_casia_b
    from core.records import CASIA_B_TYPES

    rng = np.random.default_rng(1)
    types = list(CASIA_B_TYPES)
    ids = [f"{i:03d}" for i in range(75, 87)]
    centre = {i: rng.standard_normal((8, 2)) for i in ids}
    noise = {"nm": 0.6, "bg": 0.9, "cl": 1.4}
    rows = [(i, t, v) for i in ids for t in types for v in VIEWS]
    emb = np.stack([centre[i] + noise[t[:2]] * rng.standard_normal((8, 2)) for i, t, _ in rows]).astype(np.float32)
    labels, typ, views = (np.array(col) for col in zip(*rows))
    res = evaluate_casia_b(emb, labels, typ, views)
    curves = report.cmc_casia_b(emb, labels, typ, views)
    assert list(curves) == ["NM", "BG", "CL"] and res["CL"] < 90
    for c, cur in curves.items():
        assert len(cur.values) == len(ids) and cur.num_probes == res["counts"][c]
        assert cur.values[0] == pytest.approx(res[c], abs=1e-9)
        assert (np.diff(cur.values) >= 0).all() and cur.values[-1] == pytest.approx(100.0)
    assert curves["NM"].at(3) >= curves["CL"].at(3)
    short = report.cmc_casia_b(emb, labels, typ, views, max_rank=5)
    np.testing.assert_allclose(short["BG"].values, curves["BG"].values[:5])


def test_opening_a_stored_run_page_does_not_import_torch(world):
    # torch's import alone took ~2 s of a cold 2.1 s open on 2 cores (issue 15's < 2 s target): the
    # page reads only stored figures and file paths, so a fresh app process must not need it.
    import subprocess

    code = ("import sys; from app import results_tab as R; from core.studio import Studio; "
            "R.refresh(Studio(sys.argv[1]), int(sys.argv[2]), '', None, 'pca', 'JSON', False); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(world["studio"].ws.root), str(world["trained"])],
                         cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr[-2000:]
