"""Datasets are folders, not names: two folders called ``grew`` are two datasets (issue 14, item 4)."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from core.catalog import MIGRATIONS, SCHEMA_VERSION, Catalog, display_name

ROOT = Path(__file__).resolve().parents[1]


def test_same_name_other_folder_is_another_dataset(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    a = cat.add_dataset("grew", "converted", "grew-layout", tmp_path / "a" / "grew", info={"n": 1})
    b = cat.add_dataset("grew", "converted", "grew-layout", tmp_path / "b" / "grew", info={"n": 2})
    assert a != b
    assert cat.dataset(a)["name"] == "grew" and cat.dataset(b)["name"] == "b/grew"
    assert cat.dataset(a)["path"] == str((tmp_path / "a" / "grew").resolve()) and cat.dataset(a)["info"] == {"n": 1}
    # registering a folder again updates that record only, and keeps its id and name
    assert cat.add_dataset("other", "converted", "grew-layout", tmp_path / "a" / "grew", info={"n": 3}) == a
    assert cat.dataset(a)["info"] == {"n": 3} and cat.dataset(a)["name"] == "grew"
    assert cat.dataset(b)["info"] == {"n": 2}
    assert cat.dataset_by_path(tmp_path / "b" / "grew")["id"] == b


def test_display_name_grows_until_unique():
    p = Path("/x/y/b/grew")
    assert display_name("grew", p, set()) == "grew"
    assert display_name("grew", p, {"grew"}) == "b/grew"
    assert display_name("grew", p, {"grew", "b/grew"}) == "y/b/grew"
    assert display_name("grew", p, {"grew", "b/grew", "y/b/grew", "x/y/b/grew"}) == "grew-2"


def test_old_catalog_migrates_with_its_records(tmp_path):
    db = tmp_path / "c.sqlite"
    conn = sqlite3.connect(db)      # a catalog as the previous studio (schema v4) left it
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for sql in MIGRATIONS[:4]:
        conn.executescript(sql)
    conn.execute("INSERT INTO meta VALUES('schema_version', '4')")
    conn.execute("INSERT INTO datasets(id, name, kind, format, path, created) VALUES(7, 'grew', 'converted', "
                 "'grew-layout', ?, '2024-01-01T00:00:00Z')", (str(tmp_path / "a" / "grew"),))
    conn.execute("INSERT INTO variants(id, dataset_id, sid, source_seq, name, method, path, created, status) "
                 "VALUES(3, 7, '001', 'nm-01', 'nm-01__aug', 'model-free', '/v', 'now', 'accepted')")
    conn.execute("INSERT INTO decisions(variant_id, decision, who, at) VALUES(3, 'accepted', 'alice', 'now')")
    conn.execute("INSERT INTO runs(id, name, dataset_id, model, config, dir, created) "
                 "VALUES(5, 'r', 7, 'gaitbase', '{}', '/r', 'now')")
    conn.commit()
    conn.close()

    cat = Catalog(db)
    assert cat.schema_version == SCHEMA_VERSION and cat.integrity_ok()
    assert cat.dataset(7)["name"] == "grew" and cat.variant(3)["dataset_id"] == 7
    assert [d["who"] for d in cat.decisions(3)] == ["alice"] and cat.run(5)["dataset_id"] == 7
    # the old record is found by its folder; a second folder of that name is a new dataset beside it
    assert cat.add_dataset("grew", "converted", "grew-layout", tmp_path / "a" / "grew") == 7
    b = cat.add_dataset("grew", "converted", "grew-layout", tmp_path / "b" / "grew")
    assert b != 7 and cat.dataset(b)["name"] == "b/grew" and cat.variant_counts(7)["accepted"] == 1


def cli(ws: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_grew_folders_augment_and_merge_separately(tmp_path):
    """Reproduction 6: converting into a/grew and b/grew used to make one record (b's path, a's
    variants), so augmenting and merging b reported a's counts and merged into the wrong folder."""
    ws, raw = tmp_path / "ws", tmp_path / "raw"
    a, b = tmp_path / "a" / "grew", tmp_path / "b" / "grew"
    cli(ws, "demo", "--out", str(raw), "--ids", "4", "--views", "090", "--frames", "8")
    cli(ws, "convert", str(raw), "--out", str(a))
    assert cli(ws, "augment", str(a), "--per-sequence", "1", "--max-sequences", "2")["variants"] == 2
    cli(ws, "convert", str(raw), "--out", str(b))
    aug = cli(ws, "augment", str(b), "--per-sequence", "2", "--max-sequences", "2")
    assert aug["variants"] == 4 and aug["new"] == 4        # nothing reused from a's variants
    res = cli(ws, "curate", str(b), "--accept-all", "--merge")
    assert res["accepted"] == 4 and res["merge"]["merged"] == 4 and res["merge"]["dataset"] == str(b.resolve())
    assert res["counts"] == {"pending": 0, "accepted": 4, "rejected": 0, "merged": 4}

    cat = Catalog(ws / "catalog.sqlite")
    rows = {d["name"]: d for d in cat.datasets("converted")}
    assert set(rows) == {"grew", "b/grew"}
    assert rows["grew"]["path"] == str(a.resolve()) and rows["b/grew"]["path"] == str(b.resolve())
    assert cat.variant_counts(rows["grew"]["id"]) == {"pending": 2, "accepted": 0, "rejected": 0, "merged": 0}
    merged = lambda root: [r for r in json.loads((root / "manifest.json").read_text())["sequences"] if r.get("origin")]
    assert len(merged(b)) == 4 and merged(a) == []
    # each dataset's variants live in its own folder
    assert all(Path(v["path"]).parent.parent.name == f"{rows['b/grew']['id']}-b-grew"
               for v in cat.variants(rows["b/grew"]["id"]))
