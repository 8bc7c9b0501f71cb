import sqlite3
import threading

import pytest

from core.catalog import SCHEMA_VERSION, Catalog
from core.records import Sequence


def test_schema_versioned_and_wal(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    assert cat.schema_version == SCHEMA_VERSION
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    Catalog(tmp_path / "c.sqlite")  # reopening migrates nothing and keeps data
    assert cat.integrity_ok()


def test_refuses_newer_schema(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    with cat.tx() as c:
        c.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    with pytest.raises(RuntimeError, match="newer"):
        Catalog(tmp_path / "c.sqlite")


def test_datasets_sequences_and_counts(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    ds = cat.add_dataset("demo", "converted", "grew-layout", tmp_path)
    assert cat.add_dataset("demo", "converted", "grew-layout", tmp_path) == ds  # upsert by name
    cat.replace_sequences(ds, [Sequence("001", "nm-01-090", "train", "nm", "nm-01", "090", frames=30),
                               Sequence("002", "cl-01-090", "probe", "cl", "cl-01", "090", frames=20)])
    assert [s.seq for s in cat.sequences(ds, split="probe")] == ["cl-01-090"]
    counts = {(r["split"], r["condition"]): r["frames"] for r in cat.sequence_counts(ds)}
    assert counts == {("probe", "cl"): 20, ("train", "nm"): 30}


def test_jobs_transitions_are_guarded(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    j = cat.create_job("convert", {"a": 1})
    assert cat.job(j)["state"] == "queued" and cat.job(j)["params"] == {"a": 1}
    assert cat.transition_job(j, ("queued",), "running")
    assert not cat.transition_job(j, ("queued",), "running")  # already running
    assert cat.transition_job(j, ("running",), "succeeded", result={"n": 3})
    assert cat.job(j)["result"] == {"n": 3}


def test_metrics_incremental_reads(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    run = cat.create_run("r1", "gaitbase", {"lr": 0.1}, tmp_path / "r1", None)
    for step in range(1, 6):
        cat.log_metrics(run, step, {"loss": 1.0 / step, "acc": step / 10})
    m = cat.metrics(run, after_step=3)
    assert m["loss"] == [(4, 0.25), (5, 0.2)] and len(m["acc"]) == 2


def test_decisions_persist_with_history(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    ds = cat.add_dataset("d", "converted", "grew-layout", tmp_path)
    v = cat.add_variant(ds, "001", "nm-01-090", "nm-01-090__aug-mf0-coat", "model-free", {"kind": "coat"}, "coat",
                        1, str(tmp_path), None, None)
    assert cat.decide([v], "accepted", who="alice") == 1
    assert cat.decide([v], "pending", who="alice") == 1  # undo
    assert cat.decide([v], "rejected", who="bob") == 1
    fresh = Catalog(tmp_path / "c.sqlite")  # as after a restart
    assert fresh.variant(v)["status"] == "rejected"
    assert [d["decision"] for d in fresh.decisions(v)] == ["accepted", "pending", "rejected"]
    assert fresh.variant_counts(ds)["rejected"] == 1
    with pytest.raises(ValueError):
        cat.decide([v], "maybe")


def test_concurrent_writers(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    run = cat.create_run("r", "m", {}, tmp_path, None)

    def writer(k):
        c = Catalog(tmp_path / "c.sqlite")
        for s in range(50):
            c.log_metrics(run, k * 1000 + s, {"loss": s})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cat.metrics(run)["loss"]) == 200 and cat.integrity_ok()
