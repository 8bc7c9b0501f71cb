"""The one variant folder writer / reader and the small shared helpers (seeds, index spreading)."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from core.catalog import Catalog
from core.indices import spread_indices
from core.records import Sequence
from core.seeding import stable_seed
from core.variants import (VariantRecord, add_to_catalog, gei_file, is_finished, read_variant, silhouette_files,
                           update_record, write_variant)


def test_stable_seed_keeps_both_recorded_widths():
    # The formulas the chain (32 bits) and the DLCR prompts (31 bits) used before they shared one.
    old = int.from_bytes(hashlib.sha1("outfits|0|001|nm-01-090".encode()).digest()[:4], "little")
    assert stable_seed("outfits", 0, "001", "nm-01-090") == old
    assert stable_seed("outfits", 0, "001", "nm-01-090", bits=31) == old & 0x7FFFFFFF
    assert all(stable_seed(i, bits=31) < 2 ** 31 for i in range(200))
    assert any(stable_seed(i) >= 2 ** 31 for i in range(200))


def test_spread_indices():
    assert spread_indices(0, 3) == [] and spread_indices(5, 0) == []
    assert spread_indices(3, 10) == [0, 1, 2]
    assert spread_indices(10, 3) == [0, 4, 9]    # numpy rounds 4.5 to even
    assert spread_indices(100, 1) == [0]


def _record(tmp_path, **kw) -> VariantRecord:
    return VariantRecord.in_folder(tmp_path / "v" / "001" / "nm-01-090__x", name="nm-01-090__x", sid="001",
                                   source_seq="nm-01-090", method="model-free", recipe={"kind": "coat"},
                                   description="a coat", seed=7, frames=3, **kw)


def test_record_round_trip_keeps_order_and_omits_unset_optionals(tmp_path):
    rec = _record(tmp_path, score=0.5, extra={"models": {"inpaint": {}}, "prompt": "red coat"})
    d = rec.to_dict()
    assert list(d)[:12] == ["name", "sid", "source_seq", "method", "recipe", "description", "seed", "frames",
                            "path", "thumb", "compare", "score"]
    assert list(d)[12:] == ["models", "prompt"]
    assert VariantRecord.from_dict(d) == rec
    bare = _record(tmp_path)
    assert "score" not in bare.to_dict() and bare.to_dict()["seed"] == 7


def test_write_read_and_update(tmp_path):
    rec = _record(tmp_path, score=0.25)
    sils = np.zeros((3, 64, 64), np.uint8)
    sils[:, 10:50, 20:40] = 255
    rgb = np.full((3, 40, 20, 3), 90, np.uint8)
    folder = tmp_path / "v" / "001" / "nm-01-090__x"
    assert read_variant(folder) is None and not is_finished(folder)
    write_variant(rec, silhouettes=sils, compare=rgb[0], thumb=rgb[1], rgb=rgb, animation=rgb,
                  samples={"real": rgb[:1], "fake": rgb[:1]})
    assert is_finished(folder) and read_variant(folder) == rec
    assert [p.name for p in silhouette_files(folder)] == ["00000.png", "00001.png", "00002.png"]
    assert np.array_equal(np.asarray(Image.open(silhouette_files(folder)[1])), sils[1])
    assert np.array_equal(np.asarray(Image.open(folder / "rgb" / "00002.png")), rgb[2])
    assert gei_file(folder) is not None
    for name in ("thumb.jpg", "compare.jpg", "variant.gif", "samples.npz"):
        assert (folder / name).is_file(), name
    assert not (folder / "guidance.jpg").exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    rec.score = 0.75
    update_record(rec)
    assert read_variant(folder).score == 0.75
    # Without silhouettes there is nothing to merge: no frames/ and no GEI.
    empty = _record(tmp_path / "e")
    write_variant(empty, silhouettes=[], compare=rgb[0], thumb=rgb[0])
    assert silhouette_files(empty.path) == [] and gei_file(empty.path) is None


def test_add_to_catalog_puts_provenance_into_the_recipe(tmp_path):
    cat = Catalog(tmp_path / "catalog.db")
    ds = cat.add_dataset("d", "converted", "grew-layout", tmp_path / "ds")
    cat.add_sequences(ds, [Sequence("001", "nm-01-090", "train")])
    rec = _record(tmp_path, score=0.5, extra={"prompt": "red coat", "donors": ["002"], "models": None})
    vid = add_to_catalog(cat, ds, rec.to_dict(), job_id=None, purpose="train")
    row = cat.variant(vid)
    assert row["recipe"] == {"kind": "coat", "purpose": "train", "prompt": "red coat", "donors": ["002"]}
    assert (row["score"], row["seed"], row["thumb"], row["status"]) == (0.5, 7, rec.thumb, "pending")
    assert add_to_catalog(cat, ds, rec) == vid       # upsert on sid + name
