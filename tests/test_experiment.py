"""The augmentation experiment: one dataset, the same model trained with and without its merged
variants, compared side by side (the Runs page's *Augmentation experiment*)."""

from __future__ import annotations

import statistics

import cv2
import pytest

from app import experiment
from core.augment.merge import merge_accepted
from core.cli import build_parser
from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
from core.data.packed import PackedDataset
from core.errors import InputError
from core.experiment import seed_rows, split_name, summary
from core.jobs.kinds import register_converted
from core.layout import read_frames
from core.readers import scan
from core.studio import Studio
from core.train.sampler import PKSampler
from tests.fixtures import make_casia_b_silhouettes


@pytest.fixture()
def merged(tmp_path):
    raw = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2, 3, 4), views=("090",), frames=6)
    studio = Studio(tmp_path / "ws")
    out = studio.ws.datasets_dir / "tiny"
    run_conversion(plan_conversion(scan(raw), out, ConvertOptions(split="first:2", workers=1)))
    ds_id = register_converted(studio.catalog, out, name="tiny", source=str(raw), result={})
    return studio, ds_id, out


def _merge_one(studio, ds_id, out, tmp_path):
    src = next(s for s in studio.catalog.sequences(ds_id, "train") if s.seq == "nm-01-090")
    folder = tmp_path / "v"
    (folder / "frames").mkdir(parents=True)
    for i, f in enumerate(read_frames(out, src)):
        cv2.imwrite(str(folder / "frames" / f"{i:05d}.png"), f[:, ::-1])
    vid = studio.catalog.add_variant(ds_id, src.sid, src.seq, f"{src.seq}__aug-mf0-coat", "model-free",
                                     {"kind": "coat"}, "coat", 0, str(folder), None, None)
    studio.decide([vid], "accepted")
    assert merge_accepted(studio.catalog, ds_id)["merged"] == 1


def test_without_variants_leaves_merged_sequences_out(merged, tmp_path):
    studio, ds_id, out = merged
    with pytest.raises(InputError, match="no merged variants"):
        studio.start_experiment(ds_id)
    _merge_one(studio, ds_id, out, tmp_path)
    ds = PackedDataset(out)
    with_v = PKSampler(ds, 2, 2, frames=4)
    without = PKSampler(ds, 2, 2, frames=4, use_variants=False)
    assert len(with_v.rows) == len(without.rows) + 1
    assert all(not ds.entries[r].sequence.origin for r in without.rows)


def test_experiment_trains_both_arms_per_seed(merged, tmp_path):
    studio, ds_id, out = merged
    _merge_one(studio, ds_id, out, tmp_path)
    with pytest.raises(InputError, match="number of seeds"):
        studio.start_experiment(ds_id, seeds=0)
    msg = experiment.start(studio, ds_id, "demo-cpu", "2", 1)
    assert "queued 2 runs" in msg and "seeds 0–0" in msg
    runs = {r["name"]: r for r in studio.catalog.runs()}
    w, wo = runs["demo-cpu-tiny--seed0--with-variants"], runs["demo-cpu-tiny--seed0--without-variants"]
    assert (w["config"]["use_variants"], wo["config"]["use_variants"]) == (True, False)
    assert w["config"]["seed"] == wo["config"]["seed"] == 0 and w["config"]["iterations"] == 2
    assert experiment.summary(studio).iloc[0]["seeds"] == "0 of 1 finished"
    for job in studio.jobs(kind="train"):
        assert studio.wait(job["id"], timeout=300)["state"] == "succeeded"
    (row,) = studio.experiment_rows()
    assert (row["experiment"], row["seed"]) == ("demo-cpu-tiny", 0)
    for c in ("NM", "BG", "CL"):
        assert row[f"{c} with"] is not None and row[f"{c} without"] is not None
        assert row[f"{c} Δ"] == pytest.approx(row[f"{c} with"] - row[f"{c} without"], abs=0.011)
    (summ,) = studio.experiment_summary()
    assert summ["seeds"] == "1 of 1 finished" and summ["CL Δ beyond spread"] is None   # one seed has no spread
    assert list(experiment.table(studio)["seed"]) == [0]


def test_summary_is_mean_and_sample_spread_over_finished_seeds():
    rows = [{"experiment": "e", "seed": s, "state": "", "CL with": w, "CL without": wo, "CL Δ": w - wo}
            for s, (w, wo) in enumerate([(90.0, 80.0), (84.0, 82.0), (87.0, 83.0)])]
    rows.append({"experiment": "e", "seed": 3, "state": "", "CL with": None, "CL without": 70.0, "CL Δ": None})
    (s,) = summary(rows)
    deltas = [10.0, 2.0, 4.0]
    assert s["seeds"] == "3 of 4 finished"
    assert s["CL Δ"] == f"{statistics.fmean(deltas):.2f} ± {statistics.stdev(deltas):.2f}"
    assert s["CL with"] == "87.00 ± 3.00"
    assert s["CL Δ beyond spread"] == "yes"          # 5.33 > 4.16
    rows[0]["CL Δ"] = -10.0
    assert summary(rows)[0]["CL Δ beyond spread"] == "no"


def test_experiment_names_pair_seeds_and_arms():
    assert split_name("exp--seed2--with-variants") == ("exp", 2, "with")
    assert split_name("exp--without-variants") == ("exp", None, "without")
    assert split_name("plain-run") is None
    rows = seed_rows([{"name": "e--seed0--with-variants", "state": "running"}])
    assert rows == []      # one arm alone is not a row yet


def test_cli_experiment_runs_each_seed_here(merged, tmp_path, capsys):
    studio, ds_id, out = merged
    _merge_one(studio, ds_id, out, tmp_path)
    args = build_parser().parse_args(["--workspace", str(studio.ws.root), "experiment", "--dataset", str(out),
                                      "--seeds", "1", "--iterations", "2", "--name", "cli", "--json"])
    res = args.fn(args, studio)
    assert [r["seed"] for r in res["seeds"]] == [0] and res["summary"][0]["seeds"] == "1 of 1 finished"
    assert {studio.run(r)["state"] for r in res["runs"]} == {"finished"}
