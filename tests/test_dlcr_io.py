"""DLCR artifact import/export on a small hand-made DLCR output folder (texts, masks, strips, generated)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import parts as P
from core.catalog import Catalog
from core.dlcr_io import import_into_catalog
from core.dlcr_io import lip as L
from core.dlcr_io import persons as PS
from core.dlcr_io import preview as PV
from core.dlcr_io import import_variants as IV
from core.dlcr_io import strip_export as SE
from core.dlcr_io import strips as S
from core.dlcr_io import text_export as TE
from core.dlcr_io import text_read as TR
from core.dlcr_io import texts as T
from core.dlcr_io import tiles as TL
from core.errors import InputError
from core.records import Sequence

TW, TH, K = 20, 60, 5          # tile width/height (DLCR's 1:3) and tiles per strip
PROMPT = "What clothes is the person wearing?"


# ------------------------------------------------------------------------------------------------
# the hand-made DLCR output folder
# ------------------------------------------------------------------------------------------------

def body_labels() -> np.ndarray:
    """A LIP parsing of one standing person in a TW x TH tile."""
    lab = np.zeros((TH, TW), np.uint8)
    lab[4:8, 7:13] = L.LIP["hair"]
    lab[8:14, 7:13] = L.LIP["face"]
    lab[14:32, 5:15] = L.LIP["upper_clothes"]
    lab[16:30, 3:5] = L.LIP["left_arm"]
    lab[16:30, 15:17] = L.LIP["right_arm"]
    lab[32:50, 6:14] = L.LIP["pants"]
    lab[50:56, 6:10] = L.LIP["left_shoe"]
    lab[50:56, 10:14] = L.LIP["right_shoe"]
    return lab


def tile(pos: int, frame: int) -> np.ndarray:
    """Tile ``pos`` of frame ``frame``: a background and body colour unique to both."""
    t = np.zeros((TH, TW, 3), np.uint8)
    t[:] = (10 + 40 * pos, 30 + 20 * frame, 200 - 30 * pos)
    t[body_labels() > 0] = (250 - 40 * pos, 60 + 10 * frame, 40 * pos)
    return t


def jl(obj) -> str:
    return json.dumps(obj) + "\n"


def make_dlcr(root: Path) -> Path:
    tx = root / "texts"
    tx.mkdir(parents=True)
    q = lambda i, img, d: {"question_id": i, "image": img, "text": PROMPT, "category": "conv", "dir": d}
    (tx / "questions.jsonl").write_text(
        jl(q(1, "00001.jpg", "001_01")) + jl(q(2, "00002.jpg", "001_01")) + jl(q(3, "A_0001.jpg", "002"))
        + jl(q(4, "B_0002.jpg", "002")) + "\n"
        + '{"question_id": 5, "image": "C_0003.jpg", "text": "What clo\n'          # line 6: truncated
        + jl({"image": "x.jpg", "dir": "003", "text": PROMPT})                    # line 7: no question_id
        + jl(q(6, "C_0004.jpg", "002")))
    a = lambda i, text, pid: {"question_id": i, "prompt": PROMPT, "text": text, "answer_id": f"id{i}",
                              "model_id": "llava-v1.5-7b", "metadata": {}, "pid": pid}
    (tx / "answers.jsonl").write_text(
        jl(a(1, "The person is wearing a white shirt and grey trousers.", "001_01"))
        + jl(a(2, "A white shirt with grey trousers.", "001_01"))
        + jl(a(3, "The person wears a red jacket and blue jeans.", "002"))
        + jl(a(4, "A red jacket, blue jeans and sneakers.", "002"))
        + "[1, 2]\n"                                                              # line 5: not an object
        + jl(a(99, "Nobody asked this.", "009"))                                  # no such question
        + jl(a(6, "A green coat over a black skirt.", "002")))
    grouped = {"00001.jpg_001_01": ["The person is wearing a white shirt and grey trousers."],
               "AB_002": ["The person wears a red jacket and blue jeans.", "A red jacket, blue jeans and sneakers."],
               "bad": 5}
    (tx / "grouped_clothes.json").write_text(json.dumps(grouped, indent=2))
    summaries = {"AB_002": "Sure! Here are the clothing items:\n1. Red jacket\n2. Blue jeans",
                 "C_002": "1. green coat\n2. black skirt"}
    (tx / "clothes_descriptions.json").write_text(json.dumps(summaries))
    (tx / "parsed_clothes.json").write_text(
        '{"AB_002": [" Red jacket", " Blue jeans"], "C_002": [" green coat", oops], '
        '"00001.jpg_001_01": [" white shirt"]}')

    # SCHP masks of the source frames: palette, single-channel, an RGB rendering, a bad label.
    lab = body_labels()
    m1 = root / "masks" / "session1" / "001_01"
    m1.mkdir(parents=True)
    L.write_lip_png(m1 / "00001.png", lab)
    Image.fromarray(lab).save(m1 / "00002.png")
    Image.fromarray(L.lip_palette()[lab]).save(m1 / "00003.png")
    m2 = root / "masks" / "session1" / "002_01"
    m2.mkdir(parents=True)
    for f in (1, 2, 3):
        L.write_lip_png(m2 / f"{f:05d}.png", lab)
    bad = np.zeros((TH, TW), np.uint8)
    bad[10:20, 5:10] = 25
    Image.fromarray(bad).save(root / "masks" / "bad_label.png")

    # Published augmented-CCVID strips: K tiles side by side; one strip of a third tracklet is 1 px too wide.
    for sid in ("001", "002"):
        d = root / "strips" / "session1" / f"{sid}_01"
        d.mkdir(parents=True)
        for f in (1, 2, 3):
            Image.fromarray(np.concatenate([tile(p, f) for p in range(K)], axis=1)).save(d / f"{f:05d}.png")
    d = root / "strips" / "session1" / "003_01"
    d.mkdir(parents=True)
    Image.fromarray(np.zeros((TH, TW * K + 1, 3), np.uint8)).save(d / "00001.png")

    # DLCR's generate_data tree: prcc/<clothes id>/<subject>/<frame>.png.
    for clothes, frames in (("AB_002", (1, 2)), ("C_002", (1,))):
        d = root / "generated" / "prcc" / clothes / "001_01"
        d.mkdir(parents=True)
        for f in frames:
            Image.fromarray(tile(4, f)).save(d / f"{f:05d}.png")
    return root


@pytest.fixture()
def dlcr(tmp_path: Path) -> Path:
    return make_dlcr(tmp_path / "dlcr")


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------
# texts
# ------------------------------------------------------------------------------------------------

def test_jsonl_lines_and_problems(dlcr: Path):
    qf, qprob = TR.parse_jsonl(dlcr / "texts" / "questions.jsonl")
    assert qf.kind == T.QUESTIONS
    assert [ln.question_id for ln in qf.lines] == [1, 2, 3, 4, 6]
    assert [ln.line for ln in qf.lines] == [1, 2, 3, 4, 8]
    assert {(p.line, p.severity) for p in qprob} == {(6, "error"), (7, "error")}
    by_line = {p.line: p for p in qprob}
    assert "not valid JSON" in by_line[6].reason and by_line[6].path.endswith("questions.jsonl")
    assert "question_id" in by_line[7].reason
    assert str(by_line[6]).startswith(str(dlcr / "texts" / "questions.jsonl") + ":6:")

    af, aprob = TR.parse_jsonl(dlcr / "texts" / "answers.jsonl")
    assert af.kind == T.ANSWERS and len(af.lines) == 6
    assert [(p.line, "JSON object" in p.reason) for p in aprob] == [(5, True)]

    descs, jprob = T.join_descriptions(qf.lines, af.lines)
    assert [d.question_id for d in descs] == [1, 2, 3, 4, 6]
    assert len(jprob) == 1 and "99" in jprob[0].reason and jprob[0].line == 6
    grouped = T.group_descriptions(descs)
    # DLCR's key: image name up to the first '_' (A/B folded into AB), then the person folder.
    assert list(grouped) == ["00001.jpg_001_01", "00002.jpg_001_01", "AB_002", "C_002"]
    assert grouped["AB_002"] == ["The person wears a red jacket and blue jeans.",
                                 "A red jacket, blue jeans and sneakers."]


def test_object_files_recover_after_a_bad_entry(dlcr: Path):
    gf, gprob = TR.parse_object_file(dlcr / "texts" / "parsed_clothes.json")
    assert gf.kind == T.GARMENTS
    assert gf.entries == {"AB_002": [" Red jacket", " Blue jeans"], "00001.jpg_001_01": [" white shirt"]}
    assert len(gprob) == 1 and "C_002" in gprob[0].reason and gprob[0].line == 1

    grf, grprob = TR.parse_object_file(dlcr / "texts" / "grouped_clothes.json")
    assert grf.kind == T.GROUPED and set(grf.entries) == {"00001.jpg_001_01", "AB_002"}
    text = (dlcr / "texts" / "grouped_clothes.json").read_text().split("\n")
    bad_line = next(i for i, ln in enumerate(text, 1) if '"bad"' in ln)
    assert [(p.line, "list of strings" in p.reason) for p in grprob] == [(bad_line, True)]

    sf, sprob = TR.parse_object_file(dlcr / "texts" / "clothes_descriptions.json")
    assert sf.kind == T.SUMMARIES and not sprob and len(sf.entries) == 2


def test_object_file_edge_cases(tmp_path: Path):
    p = tmp_path / "dup.json"
    p.write_text('{\n "a": ["x"],\n "b": ["y"],\n "a": ["z"]\n}')
    f, probs = TR.parse_object_file(p, T.GARMENTS)
    assert f.entries == json.loads(p.read_text())            # same result as json.load
    assert [(q.line, q.severity) for q in probs] == [(4, "warning")]
    p.write_text('{"a": ["x"], "b": ["y"')                      # truncated file
    f, probs = TR.parse_object_file(p, T.GARMENTS)
    assert f.entries == {"a": ["x"]} and probs and all(q.severity == "error" for q in probs)
    p.write_text('["not", "an", "object"]')
    f, probs = TR.parse_object_file(p, T.GARMENTS)
    assert not f.entries and "expected a JSON object" in probs[0].reason


def test_split_garments_rules():
    reply = "Sure! Here are the clothing items:\n1. Red jacket\n2) Blue jeans\n\nLet me know if you need more."
    assert T.split_garments(reply) == ["Red jacket", "Blue jeans"]
    assert T.split_garments("1. red jacket\n2. blue jeans") == ["red jacket", "blue jeans"]
    # DLCR's own rule drops the text before the first newline-number, so a first-line item is lost.
    assert T.split_garments("1. red jacket\n2. blue jeans", rule="dlcr") == [" blue jeans"]
    assert T.split_garments("Items:\n1. red jacket\n2. blue jeans", rule="dlcr") == [" red jacket", " blue jeans"]
    assert T.garment_prompt([" Red jacket,", "ok", " Blue jeans"]) == "red jacket blue jeans"


def test_texts_export_reimport_round_trip(dlcr: Path, tmp_path: Path):
    before = tree_digest(dlcr)
    arts = TR.read_texts(dlcr / "texts")
    assert arts.counts() == {T.QUESTIONS: 5, T.ANSWERS: 6, T.GROUPED: 2, T.SUMMARIES: 2, T.GARMENTS: 2}
    out = tmp_path / "export"
    written = TE.export_texts(arts, out)
    assert sorted(written) == sorted(p.name for p in (dlcr / "texts").iterdir())
    again = TR.read_texts(out)
    assert not again.problems
    assert again.records() == arts.records()
    # A clean file comes back byte for byte; JSON files are one json.dumps line, as DLCR writes them.
    name = "clothes_descriptions.json"
    assert (out / name).read_bytes() == (dlcr / "texts" / name).read_bytes()
    assert (out / "questions.jsonl").read_text().count("\n") == 5
    assert tree_digest(dlcr) == before                          # sources untouched
    with pytest.raises(InputError, match="already exists"):
        TE.export_texts(arts, out)


# ------------------------------------------------------------------------------------------------
# LIP masks
# ------------------------------------------------------------------------------------------------

def test_lip_palette_is_the_voc_colour_map():
    pal = L.lip_palette()
    assert pal.shape == (20, 3)
    # Well-known PASCAL VOC colours: aeroplane, bicycle, bird, boat, person (label 15).
    assert pal[0].tolist() == [0, 0, 0]
    assert pal[1].tolist() == [128, 0, 0] and pal[2].tolist() == [0, 128, 0]
    assert pal[3].tolist() == [128, 128, 0] and pal[4].tolist() == [0, 0, 128]
    assert pal[15].tolist() == [192, 128, 128]
    assert len({tuple(c) for c in pal}) == 20


def test_read_lip_masks_modes_and_problems(dlcr: Path, tmp_path: Path):
    masks, probs = L.read_lip_masks(dlcr / "masks")
    assert sorted(Path(m.path).name for m in masks) == ["00001.png", "00001.png", "00002.png", "00002.png",
                                                        "00003.png"]
    assert {m.mode for m in masks} == {"P", "L"}
    for m in masks:
        assert np.array_equal(m.labels, body_labels())
    errs = {Path(p.path).name: p.reason for p in probs if p.severity == "error"}
    assert set(errs) == {"00003.png", "bad_label.png"}
    assert "RGB colour image" in errs["00003.png"] and "label 25" in errs["bad_label.png"]
    assert all(m.palette_matches in (True, None) for m in masks)

    other = tmp_path / "other_palette.png"
    img = Image.frombytes("P", (TW, TH), body_labels().tobytes())
    img.putpalette([255 - i % 256 for i in range(60)])
    img.save(other)
    m = L.read_lip_mask(other)
    assert m.palette_matches is False and m.notes and np.array_equal(m.labels, body_labels())
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(body_labels().astype(np.uint16)).save(sixteen)
    assert np.array_equal(L.read_lip_mask(sixteen).labels, body_labels())
    onebit = tmp_path / "sil.png"
    Image.fromarray(body_labels() > 0).convert("1").save(onebit)
    with pytest.raises(InputError, match="silhouette"):
        L.read_lip_mask(onebit)


def test_lip_to_our_classes():
    lab = np.arange(20, dtype=np.uint8).reshape(4, 5)
    parts = L.lip_to_parts(lab).ravel().tolist()
    want = {"background": P.BACKGROUND, "hat": P.HEAD, "hair": P.HEAD, "face": P.HEAD, "sunglasses": P.HEAD,
            "upper_clothes": P.UPPER, "coat": P.COAT, "pants": P.LOWER, "skirt": P.LOWER, "left_arm": P.ARMS,
            "right_arm": P.ARMS, "glove": P.ARMS, "left_leg": P.LEGS, "right_leg": P.LEGS, "left_shoe": P.SHOES,
            "right_shoe": P.SHOES, "dress": P.UPPER, "jumpsuits": P.UPPER, "socks": P.LEGS, "scarf": P.UPPER}
    assert {name: parts[L.LIP[name]] for name in want} == want
    # Our parts -> LIP -> our parts keeps every class LIP has (BAG has none).
    ours = np.array([[P.BACKGROUND, P.HEAD, P.UPPER, P.LOWER, P.ARMS, P.LEGS, P.SHOES, P.COAT]], np.uint8)
    assert np.array_equal(L.lip_to_parts(L.parts_to_lip(ours)), ours)
    cm = L.clothes_mask(body_labels())
    assert cm.sum() == ((body_labels() == 5) | (body_labels() == 9) | (body_labels() >= 18)).sum()
    assert L.clothes_mask(body_labels(), dilate_px=2).sum() > cm.sum()


def test_lip_export_round_trip(dlcr: Path, tmp_path: Path):
    masks, _ = L.read_lip_masks(dlcr / "masks")
    out = tmp_path / "lip_out"
    written = L.export_lip_masks(masks, out, root=dlcr / "masks")
    assert sorted(written) == sorted(str(Path(m.path).relative_to(dlcr / "masks")) for m in masks)
    again, probs = L.read_lip_masks(out)
    assert not probs and len(again) == len(masks)
    for a in again:
        assert a.mode == "P" and a.palette_matches is True
        src = next(m for m in masks if Path(m.path).relative_to(dlcr / "masks") == Path(a.path).relative_to(out))
        assert np.array_equal(a.labels, src.labels)
    with pytest.raises(InputError, match="already exists"):
        L.export_lip_masks(masks, out)


# ------------------------------------------------------------------------------------------------
# strips and generated images
# ------------------------------------------------------------------------------------------------

def test_detect_k_and_cut(tmp_path: Path):
    assert TL.detect_k(TW * 10, TH) == 10
    assert TL.detect_k(TW * 5, TH) == 5
    assert TL.detect_k(300, 60, k=3) == 3
    with pytest.raises(InputError, match="not divisible by K=5") as ei:
        TL.detect_k(101, 60, path=tmp_path / "x.png")
    assert ei.value.path == str(tmp_path / "x.png")
    with pytest.raises(InputError, match="cannot tell"):
        TL.detect_k(150, 60)                                    # 7.5 tiles of 1:3
    assert TL.detect_k(150, 60, tile_aspect=0.5) == 5           # tiles of 30 x 60
    # Real frames are not exactly 1:3: 130 x 350 tiles, ten of them, still read as ten.
    assert TL.detect_k(1300, 350) == 10
    strip = np.concatenate([tile(p, 1) for p in range(K)], axis=1)
    cut = TL.cut_strip(strip, K, keep=3)
    assert len(cut) == 3 and all(np.array_equal(c, tile(p, 1)) for p, c in enumerate(cut))
    assert np.array_equal(TL.compose_strip(TL.cut_strip(strip, K)), strip)


def test_plan_strips_positions_and_problems(dlcr: Path):
    plan = S.plan_strips(dlcr / "strips", keep=2)
    assert plan.images == 7 and plan.k_counts == {K: 6}
    assert [(v.sid, v.source_seq, v.position, v.name) for v in plan.variants] == [
        ("001", "s1-01", 0, "s1-01__dlcr-p01"), ("001", "s1-01", 1, "s1-01__dlcr-p02"),
        ("002", "s1-01", 0, "s1-01__dlcr-p01"), ("002", "s1-01", 1, "s1-01__dlcr-p02")]
    v = plan.variants[1]
    assert [r.frame for r in v.frames] == ["00001", "00002", "00003"]
    assert {r.box for r in v.frames} == {(TW, 0, 2 * TW, TH)}
    assert np.array_equal(TL.load_tile(v.frames[2]), tile(1, 3))
    assert len(plan.problems) == 1
    bad = plan.problems[0]
    assert bad.path.endswith("003_01/00001.png") and "not divisible" in bad.reason
    wide = S.plan_strips(dlcr / "strips", keep=8, k=K)
    assert len(wide.variants) == 2 * K
    assert sum(p.severity == "warning" and "keep 8" in p.reason for p in wide.problems) == 2


def test_write_variants_records_and_catalog(dlcr: Path, tmp_path: Path):
    before = tree_digest(dlcr)
    plan = S.plan_strips(dlcr / "strips", keep=2)
    vroot = tmp_path / "variants"
    recs, probs = IV.write_variants(plan, vroot, silhouettes=IV.silhouettes_from_masks(dlcr / "masks"), keep=2)
    assert len(recs) == 4
    gen_keys = {"name", "sid", "source_seq", "method", "recipe", "description", "seed", "frames", "path", "thumb",
                "compare"}
    assert all(set(r) == gen_keys for r in recs)
    r = next(r for r in recs if r["sid"] == "001" and r["name"] == "s1-01__dlcr-p02")
    folder = Path(r["path"])
    assert folder == vroot / "001" / "s1-01__dlcr-p02"
    assert r["recipe"]["position"] == 1 and r["recipe"]["k"] == K and r["method"] == IV.METHOD
    for f in (1, 2, 3):
        got = np.asarray(Image.open(folder / "rgb" / f"{f:05d}.png").convert("RGB"))
        assert np.array_equal(got, tile(1, f))
    # 001_01's third mask is an RGB rendering: two of three frames get silhouettes, and it says so.
    assert r["frames"] == 2 and r["recipe"]["silhouette"] == "partial"
    assert len(list((folder / "frames").glob("*.png"))) == 2 and (folder / "gei.png").is_file()
    assert json.loads((folder / "variant.json").read_text()) == r
    assert (folder / "thumb.jpg").is_file() and (folder / "compare.jpg").is_file()
    assert any(p.severity == "warning" and "1 of 3 frames" in p.reason for p in probs)
    r2 = next(r for r in recs if r["sid"] == "002")
    assert r2["frames"] == 3 and r2["recipe"]["silhouette"] == "source-masks"
    assert not list(vroot.glob(".*"))                         # no staging left behind
    assert tree_digest(dlcr) == before

    # Re-running reuses the finished folders.
    stamp = (folder / "variant.json").stat().st_mtime_ns
    recs2, _ = IV.write_variants(plan, vroot)
    assert recs2 == recs and (folder / "variant.json").stat().st_mtime_ns == stamp

    cat = Catalog(tmp_path / "catalog.db")
    ds = cat.add_dataset("ccvid", "converted", "grew-layout", tmp_path / "ds")
    cat.add_sequences(ds, [Sequence("001", "s1-01", "train"), Sequence("002", "s1-01", "gallery")])
    ids, cprob = import_into_catalog(cat, ds, recs, job_id=None)
    assert len(ids) == 2
    rows = cat.variants(ds)
    assert [(v["sid"], v["name"], v["status"], v["method"]) for v in rows] == [
        ("001", "s1-01__dlcr-p01", "pending", IV.METHOD), ("001", "s1-01__dlcr-p02", "pending", IV.METHOD)]
    assert rows[1]["recipe"]["position"] == 1
    assert len(cprob) == 2 and all("gallery" in p.reason for p in cprob)
    ids_again, _ = import_into_catalog(cat, ds, recs)
    assert sorted(ids_again) == sorted(ids) and len(cat.variants(ds)) == 2


def test_generated_tree_with_garments(dlcr: Path, tmp_path: Path):
    plan = S.plan_generated(dlcr / "generated")
    assert [(v.sid, v.source_seq, v.clothes_id, len(v.frames), v.name) for v in plan.variants] == [
        ("001", "001_01", "AB_002", 2, "001_01__dlcr-AB_002"), ("001", "001_01", "C_002", 1, "001_01__dlcr-C_002")]
    arts = TR.read_texts(dlcr / "texts")
    garments = {v.clothes_id: T.garments_for(arts, v.clothes_id) for v in plan.variants}
    # AB_002 has a parsed list; C_002's list is broken, so its summary is split instead.
    assert garments == {"AB_002": ["Red jacket", "Blue jeans"], "C_002": ["green coat", "black skirt"]}
    recs, _ = IV.write_variants(plan, tmp_path / "v", garments=garments)
    by = {r["recipe"]["clothes_id"]: r for r in recs}
    assert by["AB_002"]["recipe"]["prompt"] == "red jacket blue jeans"
    assert "Red jacket" in by["AB_002"]["description"]
    assert by["C_002"]["frames"] == 0 and by["C_002"]["recipe"]["silhouette"] == "missing"


def test_strip_export_round_trip(tmp_path: Path):
    strips = {f"session1/004_02/{f:05d}": [tile(p, f) for p in range(K)] for f in (1, 2)}
    out = tmp_path / "strips_out"
    assert SE.export_strips(strips, out) == ["session1/004_02/00001.png", "session1/004_02/00002.png"]
    plan = S.plan_strips(out, keep=K)
    assert not plan.problems and len(plan.variants) == K
    for v in plan.variants:
        assert v.sid == "004" and v.source_seq == "s1-02"
        for ref in v.frames:
            assert np.array_equal(TL.load_tile(ref), strips[f"session1/004_02/{ref.frame}"][v.position])
    cut = SE.export_cut_tiles(S.plan_strips(out, keep=2), tmp_path / "cut")
    assert sorted(cut)[:2] == ["session1/004_02/00001_01.png", "session1/004_02/00001_02.png"] and len(cut) == 4


# ------------------------------------------------------------------------------------------------
# multi-person frames
# ------------------------------------------------------------------------------------------------

def two_person_frame() -> tuple[np.ndarray, np.ndarray]:
    """Two people with their heads parsed apart from their bodies, plus a speck of noise."""
    mask = np.zeros((120, 160), np.uint8)
    mask[10:22, 30:42] = L.LIP["face"]          # person A head, 2 px above the body
    mask[24:100, 26:46] = L.LIP["coat"]
    mask[15:27, 110:122] = L.LIP["hair"]         # person B head
    mask[29:105, 104:128] = L.LIP["pants"]
    mask[60, 80] = 5                             # one-pixel speck
    image = np.zeros((120, 160, 3), np.uint8)
    image[mask > 0] = (200, 180, 160)
    return mask, image


def test_split_two_persons():
    mask, image = two_person_frame()
    persons = PS.find_persons(mask)
    assert [(p.box, p.fragments) for p in persons] == [((26, 10, 46, 100), 2), ((104, 15, 128, 105), 2)]
    assert persons[0].area == 12 * 12 + 76 * 20
    crops = PS.split_persons(mask, image, pad=2)
    assert [c.crop_box for c in crops] == [(24, 8, 48, 102), (102, 13, 130, 107)]
    a, b = crops
    assert a.image.shape[:2] == a.mask.shape and set(np.unique(a.mask)) == {0, L.LIP["face"], L.LIP["coat"]}
    assert set(np.unique(b.mask)) == {0, L.LIP["hair"], L.LIP["pants"]}
    # Without merging, each head is too small to be a person on its own and is dropped.
    assert len(PS.find_persons(mask, merge_gap=0, min_area=0.05)) == 2
    assert [p.fragments for p in PS.find_persons(mask, merge_gap=0, min_area=0.001)] == [1, 1, 1, 1]
    # People who touch in the mask cannot be told apart by components: one region.
    touching = mask.copy()
    touching[60:62, 46:104] = 9
    assert len(PS.find_persons(touching)) == 1


# ------------------------------------------------------------------------------------------------
# previews
# ------------------------------------------------------------------------------------------------

def test_preview_summary_before_import(dlcr: Path):
    before = tree_digest(dlcr)
    s = PV.preview_import(dlcr, keep=2, first_n=2)
    assert tree_digest(dlcr) == before                           # reading only
    assert s.counts[PV.STRIPS] == {"images": 7, "variants": 4, "frames": 12, "identities": 2, "k=5": 6}
    assert s.counts[PV.GENERATED]["variants"] == 2
    assert s.counts[PV.MASKS] == {"files": 7, "masks": 5, "palette": 4, "single_channel": 1}
    t = s.counts[PV.TEXTS]
    assert (t[T.QUESTIONS], t[T.ANSWERS], t["descriptions"], t["files"]) == (5, 6, 5, 5)
    assert len(s.items[PV.STRIPS]) == 2 and s.items[PV.STRIPS][0]["name"] == "s1-01__dlcr-p01"
    paths = {(Path(p.path).name, p.line) for p in s.problems if p.severity == "error"}
    assert {("questions.jsonl", 6), ("questions.jsonl", 7), ("answers.jsonl", 5), ("00003.png", None),
            ("bad_label.png", None), ("00001.png", None), ("parsed_clothes.json", 1)} <= paths
    js = s.to_json()
    assert js["errors"] == s.errors and json.dumps(js)
    only = PV.preview_import(dlcr / "masks", PV.MASKS)
    assert set(only.counts) == {PV.MASKS} and only.counts[PV.MASKS]["masks"] == 5
    with pytest.raises(InputError, match="unknown import kind"):
        PV.preview_import(dlcr, "nonsense")


def test_preview_images():
    mask, image = two_person_frame()
    persons = PS.find_persons(mask)
    out = PV.persons_preview(image, persons)
    assert out.shape == image.shape and not np.array_equal(out, image)
    x0, y0, x1, y1 = persons[1].box
    assert tuple(out[(y0 + y1) // 2, x1 - 1]) == PV.PERSON_COLOURS[1]     # box edge in person 2's colour
    assert np.array_equal(out[110:, 60:90], image[110:, 60:90])           # elsewhere unchanged
    strip = np.concatenate([tile(p, 1) for p in range(K)], axis=1)
    sp = PV.strip_preview(strip, K, keep=2)
    assert tuple(sp[TH // 2, TW - 1]) == PV.KEEP_COLOUR                   # right edge of kept tile 1
    assert tuple(sp[TH // 2, 4 * TW]) == PV.DROP_COLOUR                   # left edge of dropped tile 5
