"""DLCR artifacts through the studio: preview, import job into the catalog and the workbench,
curation, export back to strips and re-import giving the same records."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
from core.demo.groundtruth import load_groundtruth
from core.demo.writer import generate
from core.jobs.kinds import register_converted
from core.readers.detect import scan
from core.studio import Studio

K, KEEP = 3, 2
ROOT = Path(__file__).resolve().parents[1]


def _tree_hash(root: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A converted CCVID demo set, and a DLCR output folder made from its first training tracklet:
    strips of K recoloured copies of each frame, and the frames' silhouettes as masks."""
    base = tmp_path_factory.mktemp("dlcr")
    raw = base / "ccvid"
    generate(raw, ids=4, seed=2, frames=6, layout="ccvid", workers=1)
    conv = base / "conv"
    run_conversion(plan_conversion(scan(raw), conv, ConvertOptions(silhouette="groundtruth", workers=1)))
    dlcr = base / "dlcr"
    tracklet = "session1/001_01"
    gt = load_groundtruth(raw / "_groundtruth" / "session1_001_01.npz")
    for t in range(len(gt)):
        rgb = gt.rgb(t)
        tiles = [np.roll(rgb, 40 * p, axis=2) if p else rgb for p in range(K)]   # channel shifts: other colours
        for sub, img in (("strips", np.concatenate(tiles, axis=1)), ("masks", gt.silhouettes()[t])):
            d = dlcr / sub / tracklet
            d.mkdir(parents=True, exist_ok=True)
            out = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(d / f"{t + 1:05d}.png"), out)
    (dlcr / "texts").mkdir()
    (dlcr / "texts" / "summaries.json").write_text(json.dumps({"001_c1": "1. red jacket\n2. blue jeans"}))
    return base, conv, dlcr


def test_preview_import_curate_export_reimport(setup, tmp_path):
    base, conv, dlcr = setup
    studio = Studio(tmp_path / "ws")
    ds_id = register_converted(studio.catalog, conv, name="conv", source="", result={})
    before = _tree_hash(dlcr)

    # 320x240 tiles are not DLCR's 256x768 ones, so the user says how many variants a strip holds
    pv = studio.preview_import(dlcr / "strips", "dlcr-strips", keep=KEEP, k=K).to_json()
    assert pv["errors"] == 0 and pv["counts"]["dlcr-strips"]["variants"] == KEEP

    job = studio.start_import(ds_id, dlcr / "strips", "dlcr-strips", keep=KEEP, k=K, masks=str(dlcr / "masks"))
    done = studio.wait(job, timeout=180)
    assert done["state"] == "succeeded", done
    assert done["result"]["variants"] == KEEP and done["result"]["refused"] == 0
    variants = studio.variants(ds_id)
    assert [v["name"] for v in variants] == ["s1-01__dlcr-p01", "s1-01__dlcr-p02"]
    for pos, v in enumerate(variants):
        # traceable to its source: folder, files and position in the strip
        assert v["sid"] == "001" and v["source_seq"] == "s1-01" and v["status"] == "pending"
        assert v["recipe"]["folder"] == "session1/001_01" and v["recipe"]["position"] == pos
        assert v["recipe"]["k"] == K and len(v["recipe"]["files"]) == 6
        assert len(list((Path(v["path"]) / "frames").glob("*.png"))) > 0     # silhouettes from the masks
    assert _tree_hash(dlcr) == before      # the DLCR folder was only read

    studio.decide([v["id"] for v in variants], "accepted")
    out = tmp_path / "export"
    res = studio.export_curated(ds_id, out)
    assert res["strips"] == 6 and (out / "session1" / "001_01" / "00001.png").is_file()
    strip = cv2.imread(str(out / "session1" / "001_01" / "00001.png"))
    src = cv2.imread(str(dlcr / "strips" / "session1" / "001_01" / "00001.png"))
    assert strip.shape[1] == src.shape[1] * KEEP // K
    np.testing.assert_array_equal(strip, src[:, :strip.shape[1]])     # the kept tiles, lossless

    # re-import of the export into a second workspace gives the same records
    other = Studio(tmp_path / "ws2")
    ds2 = register_converted(other.catalog, conv, name="conv", source="", result={})
    job2 = other.start_import(ds2, out, "dlcr-strips", keep=KEEP, k=KEEP, masks=str(dlcr / "masks"))
    assert other.wait(job2, timeout=180)["state"] == "succeeded"
    again = other.variants(ds2)
    keys = ("name", "sid", "source_seq")
    assert [{k: v[k] for k in keys} for v in again] == [{k: v[k] for k in keys} for v in variants]
    for a, b in zip(again, variants):
        assert a["description"] == b["description"].replace(f"of {K}", f"of {KEEP}")
        ra, rb = dict(a["recipe"]), dict(b["recipe"])
        assert ra.pop("source_root") != rb.pop("source_root")
        assert {**ra, "k": K} == rb       # the exported strip holds only the kept tiles
        for fa, fb in zip(sorted((Path(a["path"]) / "rgb").glob("*.png")), sorted((Path(b["path"]) / "rgb").glob("*.png"))):
            assert fa.read_bytes() == fb.read_bytes()


def test_import_refuses_test_identities_and_bad_kind(setup, tmp_path):
    base, conv, dlcr = setup
    studio = Studio(tmp_path / "ws")
    ds_id = register_converted(studio.catalog, conv, name="conv", source="", result={})
    # the same strips filed under a test identity's tracklet: refused, never a training variant
    leak = tmp_path / "leak" / "session1" / "003_01"
    leak.mkdir(parents=True)
    for f in sorted((dlcr / "strips" / "session1" / "001_01").glob("*.png")):
        (leak / f.name).write_bytes(f.read_bytes())
    job = studio.start_import(ds_id, tmp_path / "leak", "dlcr-strips", keep=KEEP, k=K)
    done = studio.wait(job, timeout=180)
    assert done["state"] == "succeeded" and done["result"]["variants"] == 0 and done["result"]["refused"] == KEEP
    assert studio.variants(ds_id) == []


def test_cli_import_preview_and_texts(setup, tmp_path):
    base, conv, dlcr = setup
    ws = tmp_path / "ws"
    run = lambda *a: subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), *a, "--json"],  # noqa: E731
                                    cwd=ROOT, capture_output=True, text=True)
    p = run("import", str(dlcr / "strips"), "--kind", "dlcr-strips", "--dataset", str(conv), "--k", str(K), "--preview")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["counts"]["dlcr-strips"]["variants"] == K   # keep 10 > K
    p = run("import", str(dlcr / "texts"), "--kind", "dlcr-texts", "--dataset", str(conv))
    assert p.returncode != 0 and "not a dataset" in p.stderr      # not in this workspace's catalog yet
    register_converted(Studio(ws).catalog, conv, name="conv", source="", result={})
    p = run("import", str(dlcr / "texts"), "--kind", "dlcr-texts", "--dataset", "conv")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    saved = json.loads(Path(res["saved"]).read_text())
    assert "001_c1" in json.dumps(saved["records"]) and Studio(ws).catalog.dataset("conv")["info"]["dlcr_texts"]
