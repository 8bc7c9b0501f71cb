"""Curation in the catalog: filters on meaning, bulk actions that count first, keep hand decisions
and undo as one, and the upgrade of a catalog written before the decision log existed."""

from __future__ import annotations

import sqlite3

import pytest

from core.augment.generators import METHOD_INPAINT, METHOD_MODEL_FREE
from core.catalog import MIGRATIONS, SCHEMA_VERSION, Catalog
from core.dlcr_io.import_variants import METHOD as METHOD_IMPORT
from core.records import Sequence

# A model-free recipe names every garment's colour, so its JSON holds 'coat' and 'upper' whatever its kind.
COLOURS = {"upper": [200, 30, 30], "lower": [20, 20, 90], "coat": [90, 60, 20]}


def _catalog(tmp_path) -> tuple[Catalog, int]:
    cat = Catalog(tmp_path / "c.sqlite")
    ds = cat.add_dataset("d", "converted", "grew-layout", tmp_path)
    cat.replace_sequences(ds, [Sequence("001", "nm-01-090", "train", "nm", "nm-01", "090", frames=8),
                               Sequence("001", "cl-01-090", "train", "cl", "cl-01", "090", frames=8)])
    rows = [("nm-01-090", "recolour", METHOD_MODEL_FREE, "recolour: upper red, lower navy", None),
            ("nm-01-090", "coat", METHOD_MODEL_FREE, "long loose coat, brown", None),
            ("nm-01-090", "dlcr-inpaint", METHOD_INPAINT, "a shirt", "a person wearing a green parka"),
            ("cl-01-090", "retexture", METHOD_MODEL_FREE, "retexture: fine stripes", None),
            ("cl-01-090", "dlcr-strip", METHOD_IMPORT, "imported strip", None)]
    for i, (seq, kind, method, desc, prompt) in enumerate(rows):
        recipe = {"kind": kind, "colours": COLOURS, **({"prompt": prompt} if prompt else {})}
        cat.add_variant(ds, "001", seq, f"{seq}__v{i}-{kind}", method, recipe, desc, i, str(tmp_path), None, None)
    return cat, ds


def _names(cat, ds, **f) -> list[str]:
    return sorted(v["name"].split("__")[1] for v in cat.query_variants(ds, **f)[0])


def test_filters_mean_what_they_say(tmp_path):
    cat, ds = _catalog(tmp_path)
    assert _names(cat, ds, text="coat") == ["v1-coat"]            # not every recipe naming a coat colour
    assert _names(cat, ds, text="RECOLOUR") == ["v0-recolour"]
    assert _names(cat, ds, text="parka") == ["v2-dlcr-inpaint"]   # the prompt is searched
    assert _names(cat, ds, text="200") == []                      # raw recipe numbers are not
    assert _names(cat, ds, kind="retexture") == ["v3-retexture"]
    assert _names(cat, ds, method="model-free") == ["v0-recolour", "v1-coat", "v3-retexture"]
    assert _names(cat, ds, method="model") == ["v2-dlcr-inpaint"]
    assert _names(cat, ds, method="imported") == ["v4-dlcr-strip"]
    assert _names(cat, ds, source_seq="cl-01-090") == ["v3-retexture", "v4-dlcr-strip"]
    assert _names(cat, ds, condition="nm", method="model-free") == ["v0-recolour", "v1-coat"]
    choices = cat.variant_choices(ds)
    assert choices["condition"] == ["cl", "nm"] and choices["source_seq"] == ["cl-01-090", "nm-01-090"]
    assert "coat" in choices["kind"] and "dlcr-strip" in choices["kind"]
    with pytest.raises(ValueError, match="method class"):
        cat.query_variants(ds, method="diffusion")
    with pytest.raises(ValueError, match="unknown variant filter"):
        cat.query_variants(ds, colour="red")
    groups, total = cat.variant_groups(ds, per_group=1)
    assert total == 2 and [(g["source_seq"], g["count"], len(g["variants"])) for g in groups] == \
        [("cl-01-090", 2, 1), ("nm-01-090", 3, 1)]


def test_bulk_counts_first_keeps_hand_decisions_and_undoes_as_one(tmp_path):
    cat, ds = _catalog(tmp_path)
    ids = {v["name"].split("__")[1]: v["id"] for v in cat.query_variants(ds)[0]}
    cat.decide([ids["v0-recolour"]], "accepted", who="alice")          # by hand
    cat.mark_merged(ids["v3-retexture"], "merged-seq")                  # final
    plan = cat.plan_bulk(ds, "rejected", method="model-free")
    assert plan == {"matching": 3, "change": 2, "by_hand": 1, "merged": 1}
    batch, n = cat.decide_bulk(ds, "rejected", who="bob", label="method=model-free", method="model-free")
    assert n == 1
    status = {k: cat.variant(v)["status"] for k, v in ids.items()}
    assert status == {"v0-recolour": "accepted", "v1-coat": "rejected", "v2-dlcr-inpaint": "pending",
                      "v3-retexture": "pending", "v4-dlcr-strip": "pending"}
    # ticked: the hand decision goes too, and the count said so
    assert cat.plan_bulk(ds, "rejected")["by_hand"] == 1
    batch2, n2 = cat.decide_bulk(ds, "rejected", include_hand=True)
    assert n2 == 3 and cat.variant(ids["v0-recolour"])["status"] == "rejected"
    # a later hand decision survives the undo of the bulk action it followed
    cat.decide([ids["v2-dlcr-inpaint"]], "accepted")
    undo = cat.undo_batch(batch2)
    assert undo["restored"] == 2 and undo["kept"] == 1
    assert cat.variant(ids["v0-recolour"])["status"] == "accepted" and cat.variant(ids["v0-recolour"])["by_hand"] == 1
    assert cat.variant(ids["v2-dlcr-inpaint"])["status"] == "accepted"
    assert cat.variant(ids["v4-dlcr-strip"])["status"] == "pending"
    assert cat.undo_batch(batch)["restored"] == 1 and cat.variant(ids["v1-coat"])["status"] == "pending"
    with pytest.raises(ValueError, match="already undone"):
        cat.undo_batch(batch)
    log = cat.decision_log(ds)
    assert [(b["id"], b["undone_by"] is not None) for b in log][-2:] == [(batch2, True), (batch, True)]
    hist = cat.decisions(ids["v1-coat"])
    assert [(d["decision"], d["previous"], d["batch_id"]) for d in hist] == \
        [("rejected", "pending", batch), ("pending", "rejected", log[0]["id"])]


def test_catalog_before_the_decision_log_upgrades(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:   # a v5 catalog, as the studio wrote it before
        conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for m in MIGRATIONS[:5]:
            conn.executescript(m)
        conn.execute("INSERT INTO meta VALUES('schema_version', '5')")
        conn.execute("INSERT INTO datasets(name, kind, format, path, created) VALUES('d','converted','g','/x','t')")
        for i, status in enumerate(("accepted", "pending")):
            conn.execute("INSERT INTO variants(dataset_id, sid, source_seq, name, method, status, path, created)"
                         " VALUES(1, '001', 'nm-01-090', ?, 'model-free', ?, '/x', 't')", (f"v{i}", status))
        conn.execute("INSERT INTO decisions(variant_id, decision, who, at) VALUES(1, 'accepted', 'alice', 't')")
    cat = Catalog(db)
    assert cat.schema_version == SCHEMA_VERSION and cat.integrity_ok()
    # an old decision cannot be told from a bulk one: it is kept safe as a hand decision
    assert [cat.variant(i)["by_hand"] for i in (1, 2)] == [1, 0]
    assert cat.plan_bulk(1, "rejected") == {"matching": 2, "change": 2, "by_hand": 1, "merged": 0}
    assert cat.decide_bulk(1, "rejected")[1] == 1 and cat.variant(1)["status"] == "accepted"
    assert cat.decisions(1)[0]["batch_id"] is None
