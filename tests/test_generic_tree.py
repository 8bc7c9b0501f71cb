"""Generic <sid>/<seq>/<view>/<frames> trees and the OU-MVLP / Gait3D / CCPG / SUSTech1K presets:
detection, scan, sequence-folder patterns, alignment against OpenGait's pretreatment (our
restatement, bench/opengait_reference.py), official and file splits, and their protocols, on
trees drawn in tmp_path."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.opengait_reference import opengait_sequence
from core.convert.converter import ConvertOptions, align_sequence, plan_conversion
from core.errors import ConfigError, InputError
from core.evaluate import protocols as P
from core.readers.detect import detect, detect_all, scan
from core.readers.tree import natural_key, preview_pattern
from tests.fixtures import make_tree

def cli(capsys, ws: Path, *args: str) -> dict:
    """One CLI verb, in this process (the parser and verb the command line runs, without the
    interpreter start-up each subprocess would cost)."""
    from core.cli import main

    capsys.readouterr()
    rc = main(["--workspace", str(ws), *args, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


FREE = [(s, q, v) for s in ("alice", "bob", "carol", "dave") for q in ("walk-1", "walk-2", "limp-1")
        for v in ("left", "right")]


@pytest.fixture(scope="module")
def free_tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("tree") / "free", FREE, name=lambda t: f"img_{t + 1:03d}.png", grey=True)


def test_natural_order():
    names = ["f10.png", "f2.png", "f1.png", "g.png", "f02.png"]
    assert sorted(names, key=natural_key) == ["f1.png", "f02.png", "f2.png", "f10.png", "g.png"]


def test_free_tree_detected_below_named_layouts_and_scanned(free_tree):
    det = detect(free_tree)
    assert det.format == "generic-tree" and det.confidence == 0.55
    assert det.reason == ("generic <sid>/<seq>/<view>/<frames> tree: 4 identity folders, e.g. alice/limp-1/left/ "
                          "with 8 PNG frames")
    rep = scan(free_tree)
    assert rep.format == "generic-tree" and rep.problems == [] and len(rep.sequences) == 24
    s = next(s for s in rep.sequences if s.key == ("bob", "limp-1-right"))
    assert (s.seq_type, s.view, s.condition, s.clothes, s.media) == ("limp-1", "right", "limp", "bob_limp", "silhouette")
    assert [f.name for f in s.frames] == [f"img_{i:03d}.png" for i in range(1, 9)]
    assert rep.summary()["conditions"] == {"limp": 8, "walk": 16}     # unknown names are kept


def test_named_layout_wins_over_generic(tmp_path):
    from tests.fixtures import make_casia_b_silhouettes

    root = make_casia_b_silhouettes(tmp_path / "cb", ids=(1, 2), views=("090",), frames=6)
    found = {d.format: d.confidence for d in detect_all(root)}
    assert found["casia-b-silhouette"] == 0.98 and found["generic-tree"] == 0.55
    assert detect(root).format == "casia-b-silhouette"
    # a sequence-folder pattern given without a format reads any tree of frames as the generic tree
    rep = scan(root, pattern="(?P<condition>[a-z]+)-(?P<seq>\\d+)")
    assert rep.format == "generic-tree" and {s.condition for s in rep.sequences} == {"nm", "bg", "cl"}


def test_sequence_folder_pattern_preview_and_scan(free_tree):
    rows = preview_pattern(free_tree, r"(?P<condition>[a-z]+)-(?P<clothes>\d)")
    assert [(r["seq_type"], r["condition"], r["clothes"], r["matched"]) for r in rows] == [
        ("limp-1", "limp", "1", True), ("walk-1", "walk", "1", True), ("walk-2", "walk", "2", True)]
    rep = scan(free_tree, pattern=r"(?P<condition>[a-z]+)-(?P<clothes>\d)")
    assert rep.format == "generic-tree"       # a pattern without a format keeps the detected tree
    s = next(s for s in rep.sequences if s.key == ("alice", "walk-2-left"))
    assert (s.condition, s.clothes) == ("walk", "alice_2")
    rows = preview_pattern(free_tree, "{condition}_{seq}")
    assert not rows[0]["matched"] and "expected '_'" in rows[0]["reason"]
    rep = scan(free_tree, format="generic-tree", pattern="{condition}_{seq}")
    warned = [p for p in rep.problems if "the pattern does not fit" in p.reason]
    assert len(warned) == 3 and all(p.severity == "warning" for p in warned)
    assert {s.condition for s in rep.sequences} == {"walk-1", "walk-2", "limp-1"}   # kept under their own name


def test_alignment_equals_opengait_pretreatment(free_tree):
    """Grey silhouettes with free names, an empty first frame and a speck: our conversion keeps and
    drops exactly the frames OpenGait's pretreatment does, pixel for pixel."""
    rep = scan(free_tree)
    opts = ConvertOptions(workers=1)
    for raw in rep.sequences[:6]:
        ours = align_sequence(raw, opts)
        theirs, kept = opengait_sequence(raw.frames[0].parent)
        assert kept == [f"img_{i:03d}.png" for i in range(3, 9)]
        assert [Path(d["file"]).name for d in ours.dropped] == ["img_001.png", "img_002.png"]
        assert ours.frames.shape == theirs.shape and np.array_equal(ours.frames, theirs)


def test_unpadded_names_keep_natural_order(tmp_path):
    """OpenGait sorts names as strings (1, 10, 11, 12, 2, ...); we keep the natural order: the same
    aligned frames, in walking order."""
    root = make_tree(tmp_path / "np", [("p1", "walk-1", "cam")], frames=12, name=lambda t: f"{t + 1}.png")
    raw = scan(root).sequences[0]
    assert [f.name for f in raw.frames] == [f"{i}.png" for i in range(1, 13)]
    ours = align_sequence(raw, ConvertOptions(workers=1))
    theirs, kept = opengait_sequence(raw.frames[0].parent)
    assert kept == ["10.png", "11.png", "12.png", "3.png", "4.png", "5.png", "6.png", "7.png", "8.png", "9.png"]
    order = [kept.index(f"{i}.png") for i in range(3, 13)]
    assert np.array_equal(ours.frames, theirs[order])


def test_rgb_tree_becomes_silhouettes(tmp_path):
    root = make_tree(tmp_path / "rgb", [(s, "walk-1", "cam1") for s in ("p1", "p2")], frames=10, rgb=True,
                     bad_frames=False)
    rep = scan(root)
    assert rep.format == "generic-tree" and {s.media for s in rep.sequences} == {"rgb"}
    raw = rep.sequences[0]
    from core.convert.extract import extract
    from tests.fixtures import tree_walker

    ext = extract(raw, silhouette="bgsub")
    truth = np.stack([tree_walker(t, raw.sid, raw.view, 0) > 127 for t in range(10)])
    inter = ((ext.masks > 0) & truth).sum()
    union = ((ext.masks > 0) | truth).sum()
    assert ext.silhouette_from == "bgsub" and inter / union > 0.6


# ------------------------------------------------------------------------------------------------
# presets
# ------------------------------------------------------------------------------------------------

OUMVLP_TREE = [(f"{i:05d}", q, v) for i in (1, 2, 3, 4, 10307) for q in ("00", "01") for v in ("000", "090")]
GAIT3D_TREE = [(f"{i:04d}", f"camid{c}_videoid{i % 3 + 1}", "seq0") for i in (7, 8, 11, 12) for c in (1, 2, 3)]
CCPG_TREE = [(f"{i:03d}", t, v) for i in (5, 100, 101) for t in ("U0_D0", "U0_D0_BG", "U1_D1", "U3_D3", "U0_D3",
                                                                 "U1_D0", "U2_D2") for v in ("01_a", "02_b")]
SUSTECH_TREE = [(f"{i:04d}", t, v) for i in (0, 1, 3) for t in ("00-nm", "01-nm", "02-bg", "03-cl")
                for v in ("000", "090")]


@pytest.mark.parametrize("fmt,triples,layout", [
    ("oumvlp", OUMVLP_TREE, "<sid:5 digits>/<00|01>/<view>"),
    ("gait3d", GAIT3D_TREE, "<sid:4 digits>/camid<C>_videoid<V>/seq<N>"),
    ("ccpg", CCPG_TREE, "<sid:3 digits>/U<u>_D<d>[_BG]/<view>"),
    ("sustech1k", SUSTECH_TREE, "<sid:4 digits>/<NN>-<covariate>/<view>"),
])
def test_presets_detected_above_generic(tmp_path, fmt, triples, layout):
    root = make_tree(tmp_path / fmt, triples, frames=6)
    found = {d.format: d for d in detect_all(root)}
    assert detect(root).format == fmt and found[fmt].confidence == 0.9
    assert found[fmt].reason.endswith(f"sampled sequences named {layout}")
    assert found["generic-tree"].confidence == 0.55
    assert scan(root).format == fmt


def _plan(root, tmp_path, **opts):
    return plan_conversion(scan(root), tmp_path / "out", ConvertOptions(workers=1, **opts))


def test_official_splits_and_roles(tmp_path):
    oum = _plan(make_tree(tmp_path / "oumvlp", OUMVLP_TREE, frames=6), tmp_path)
    assert oum.split.train_ids == ["00001", "00003"] and oum.split.test_ids == ["00002", "00004", "10307"]
    roles = {(it.target.sid, it.target.seq_type): it.target.split for it in oum.items}
    assert roles[("00001", "00")] == "train" and roles[("00002", "01")] == "gallery" and roles[("10307", "00")] == "probe"

    ccpg = _plan(make_tree(tmp_path / "ccpg", CCPG_TREE, frames=6), tmp_path)
    assert ccpg.split.train_ids == ["005"] and ccpg.split.test_ids == ["100", "101"]
    it = next(i for i in ccpg.items if i.target.sid == "100" and i.target.seq_type == "U0_D0_BG")
    assert (it.target.split, it.target.camera, it.target.clothes) == ("probe", "01", "100_U0_D0")

    from core.readers.presets import sustech1k_train

    assert len(sustech1k_train()) == 250 and {"0000", "1057"} <= sustech1k_train() and "0001" not in sustech1k_train()
    sus = _plan(make_tree(tmp_path / "sus", SUSTECH_TREE, frames=6), tmp_path)
    assert sus.split.train_ids == ["0000"] and sus.split.test_ids == ["0001", "0003"]
    assert {(i.target.seq_type, i.target.split) for i in sus.items if i.target.sid == "0003"} == {
        ("00-nm", "gallery"), ("01-nm", "probe"), ("02-bg", "probe"), ("03-cl", "probe")}

    g3 = make_tree(tmp_path / "g3d", GAIT3D_TREE, frames=6)
    with pytest.raises(ConfigError, match=r"Gait3D's official split \(and its probe sequences\) is in its partition "
                                          r"file; give it with --split"):
        _plan(g3, tmp_path)
    with pytest.raises(ConfigError, match="Gait3D's probe sequences are listed under PROBE_SET"):
        _plan(g3, tmp_path, split="first:2")


def test_partition_file_split(tmp_path):
    g3 = make_tree(tmp_path / "g3d", GAIT3D_TREE, frames=6)
    part = tmp_path / "Gait3D.json"
    part.write_text(json.dumps({"TRAIN_SET": ["0007", "0999"], "TEST_SET": ["0011", "0012"],
                                "PROBE_SET": ["0011-camid2_videoid3-seq0", "0012-camid1_videoid1-seq0"]}))
    plan = _plan(g3, tmp_path, split=str(part))
    assert plan.split.train_ids == ["0007"] and plan.split.test_ids == ["0011", "0012"]
    assert plan.split.left_out == ["0008"] and {i.target.sid for i in plan.items} == {"0007", "0011", "0012"}
    assert sorted((i.target.sid, i.target.seq_type) for i in plan.items if i.target.split == "probe") == [
        ("0011", "camid2_videoid3"), ("0012", "camid1_videoid1")]
    assert plan.split.summary()["probe_sequences"] == 2 and plan.split.summary()["left_out_ids"] == 1
    leak = tmp_path / "leak.json"
    leak.write_text(json.dumps({"TRAIN_SET": ["0007", "0011"], "TEST_SET": ["0011", "0012"]}))
    with pytest.raises(InputError, match=r"leak.json: identity 0011 in both TRAIN_SET and TEST_SET"):
        _plan(g3, tmp_path, split=str(leak))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"TRAIN": []}))
    with pytest.raises(InputError, match="no TRAIN_SET list"):
        _plan(g3, tmp_path, split=str(bad))


def test_generic_gallery_choice(free_tree, tmp_path):
    plan = _plan(free_tree, tmp_path, split="first:2")
    assert plan.split.gallery == ("limp-1",)          # the first sequence type, naturally ordered
    plan = _plan(free_tree, tmp_path, split="first:2", gallery="walk")
    test = {(i.target.seq_type, i.target.split) for i in plan.items if i.target.sid == "dave"}
    assert test == {("walk-1", "gallery"), ("walk-2", "gallery"), ("limp-1", "probe")}


# ------------------------------------------------------------------------------------------------
# protocols on hand-made embeddings
# ------------------------------------------------------------------------------------------------

def _onehot(labels, noise=None):
    ids = sorted(set(labels))
    emb = np.zeros((len(labels), 4, 2), np.float32)
    for r, sid in enumerate(labels):
        emb[r, ids.index(sid)] = 1.0
    if noise:
        for r, v in noise.items():
            emb[r] = v
    return emb


def test_oumvlp_protocol_counts_each_view_pair():
    labels = ["a", "a", "a", "a", "b", "b", "b", "b"]
    types = ["01", "01", "00", "00"] * 2
    views = ["000", "090"] * 4
    emb = _onehot(labels)
    emb[6] = emb[0]         # b's probe at view 000 looks like a: wrong against gallery view 090's a
    res = P.get("oumvlp").evaluate(embeddings=emb, labels=labels, types=types, views=views)
    # probe view 000 vs gallery 090: a right, b wrong -> 50; probe view 090 vs gallery 000: both right
    assert res["matrix"]["NM"] == [[None, 50.0], [100.0, None]]
    assert res["per_view"]["NM"] == {"000": 50.0, "090": 100.0} and res["NM"] == 75.0
    assert P.get("oumvlp").headline(res) == {"NM": 75.0}


def test_sustech1k_substring_types():
    labels = ["a", "a", "a", "b", "b", "b"]
    types = ["00-nm", "01-nm", "02-bg", "00-nm", "01-nm", "02-bg"]
    views = ["000"] * 6
    emb = _onehot(labels)
    emb[5] = emb[0]          # b's bag probe looks like a
    res = P.get("sustech1k").evaluate(embeddings=emb, labels=labels, types=types, views=views)
    assert res["Normal"] == 100.0 and res["Bag"] == 50.0 and res["Overall"] == 75.0
    assert res["Clothing"] is None and res["ranks"]["Bag"]["rank-2"] == 100.0


def test_ccpg_drops_same_camera_matches():
    labels = ["a", "a", "b", "b", "a", "b"]
    types = ["U1_D1", "U1_D1", "U1_D1", "U1_D1", "U0_D0", "U0_D0"]
    views = ["01_x", "02_x", "01_x", "02_x", "01_y", "01_y"]
    emb = _onehot(labels)
    emb[1] = emb[2]          # a's gallery from camera 02 looks like b
    res = P.get("ccpg").evaluate(embeddings=emb, labels=labels, types=types, views=views)
    cl = res["reid"]["CL"]
    # a's probe (camera 01): its camera-01 gallery is junk, so its only match is the camera-02 one, ranked 2nd
    assert cl["rank-1"] == 50.0 and cl["mAP"] == pytest.approx(75.0) and cl["num_probe"] == 2
    assert res["UP"] is None and res["reid"]["UP"]["num_probe"] == 0


def test_gait3d_and_generic_protocols():
    labels = ["a", "a", "b", "b", "c"]
    roles = ["gallery", "probe", "gallery", "probe", "probe"]
    views = ["v1", "v1", "v1", "v2", "v1"]
    emb = _onehot(labels)
    res = P.get("gait3d").evaluate(embeddings=emb, labels=labels, roles=roles)
    assert res["rank-1"] == 100.0 and res["num_probe_without_match"] == 1 and set(P.get("gait3d").headline(res)) == {
        "rank-1", "rank-5", "rank-10", "mAP", "mINP"}
    gen = P.get("gallery-probe").evaluate(embeddings=emb, labels=labels, roles=roles, views=views)
    assert gen["rank-1"] == pytest.approx(200 / 3)        # c has no gallery: a miss
    cross = P.get("gallery-probe-cross-view").evaluate(embeddings=emb, labels=labels, roles=roles, views=views)
    assert cross["rank-1"] == pytest.approx(100 / 3)      # a's same-view gallery is removed


# ------------------------------------------------------------------------------------------------
# the CLI: scan, convert, evaluate under the dataset's protocol
# ------------------------------------------------------------------------------------------------

def _gei_embeddings(conv: Path) -> Path:
    """Embeddings of the converted test sequences from their GEIs (a real, model-free signal)."""
    from core.data.packed import PackedDataset

    ds = PackedDataset(conv)
    rows = ds.indices(["gallery", "probe"])
    seqs = [ds.entries[r].sequence for r in rows]
    emb = []
    for s in seqs:
        gei = cv2.imread(str(conv / ("test/gallery" if s.split == "gallery" else "test/probe") / s.sid /
                             f"{s.sid}_{s.seq}_gei.png"), cv2.IMREAD_GRAYSCALE)
        emb.append(cv2.resize(gei, (8, 8)).astype(np.float32).reshape(64, 1) / 255)
    out = conv.parent / f"{conv.name}-emb.npz"
    arr = lambda k: np.array([getattr(s, k) for s in seqs])    # noqa: E731
    np.savez(out, embeddings=np.stack(emb), labels=arr("sid"), types=arr("seq_type"), views=arr("view"),
             roles=arr("split"))
    return out


@pytest.mark.parametrize("fmt,triples,extra", [
    ("generic-tree", FREE, ["--split", "first:2", "--pattern", "{condition}-{seq}"]),
    ("generic-tree", FREE, ["--split", "first:2", "--gallery", "walk-1", "RGB"]),
    ("oumvlp", OUMVLP_TREE, []),
    ("gait3d", GAIT3D_TREE, ["--split", "PARTITION"]),
    ("ccpg", CCPG_TREE, []),
    ("sustech1k", SUSTECH_TREE, []),
])
def test_cli_scan_convert_evaluate(tmp_path, capsys, fmt, triples, extra):
    rgb = "RGB" in extra
    extra = [x for x in extra if x != "RGB"]
    root = make_tree(tmp_path / "raw", triples, frames=6, rgb=rgb)
    if "PARTITION" in extra:
        part = tmp_path / "Gait3D.json"
        part.write_text(json.dumps({"TRAIN_SET": ["0007"], "TEST_SET": ["0008", "0011", "0012"],
                                    "PROBE_SET": [f"{i}-camid1_videoid{int(i) % 3 + 1}-seq0"
                                                  for i in ("0008", "0011", "0012")]}))
        extra = ["--split", str(part)]
    ws = tmp_path / "ws"
    s = cli(capsys, ws, "scan", str(root))
    assert s["summary"]["format"] == fmt and s["summary"]["sequences"] == len(triples)
    assert s["summary"]["media"] == {"rgb" if rgb else "silhouette": len(triples)}
    conv = tmp_path / "conv"
    c = cli(capsys, ws, "convert", str(root), "--out", str(conv), "--workers", "1", *extra)
    # the empty frame and the speck are dropped (from RGB: their background-subtraction masks)
    assert c["sequences"] == len(triples) and c["dropped_frames"] == 2 * c["sequences"]
    manifest = json.loads((conv / "manifest.json").read_text())
    assert manifest["parameters"]["format"] == fmt
    assert {r["silhouette"] for r in manifest["sequences"]} == {"bgsub" if rgb else "given"}
    proto = P.protocol_for(conv)
    assert proto == {"generic-tree": "gallery-probe"}.get(fmt, fmt)
    ev = cli(capsys, ws, "eval", "--embeddings", str(_gei_embeddings(conv)), "--protocol", proto)
    head = P.get(proto).headline(ev)
    assert head and all(v is None or 0.0 <= v <= 100.0 for v in head.values())
    assert any(v is not None for v in head.values())


def test_protocols_equal_opengaits_evaluator():
    """Seeded embeddings scored by OpenGait's own evaluator (run outside this repo, numbers in
    tests/opengait_ref/evaluator/scores.json) and by our protocol objects agree."""
    ref = Path(__file__).parent / "opengait_ref" / "evaluator"
    scores = json.loads((ref / "scores.json").read_text())["scores"]
    with np.load(ref / "cases.npz", allow_pickle=False) as z:
        cases = {}
        for key in z.files:
            name, array = key.split("/")
            cases.setdefault(name, {})[array] = z[key]
    for name in ("oumvlp", "sustech1k"):
        res = P.get(name).evaluate(**cases[name])
        assert {c: res[c] for c in scores[name]} == pytest.approx(scores[name], abs=1e-9), name
    res = P.get("ccpg").evaluate(**cases["ccpg"])
    og = scores["ccpg"]
    for c in ("CL", "UP", "DN", "BG"):
        assert res[c] == pytest.approx(og["rank-1 excluding identical views"][c], abs=5e-4)
        for ours, theirs in (("rank-1", "re-id rank-1"), ("mAP", "re-id mAP"), ("mINP", "re-id mINP")):
            assert res["reid"][c][ours] == pytest.approx(og[theirs][c], abs=5e-4), (c, ours)
    res = P.get("gait3d").evaluate(**cases["gait3d"])
    # OpenGait's CMC is float32: its 60.000004 is our 60.0
    assert {k: res[k] for k in scores["gait3d"]} == pytest.approx(scores["gait3d"], abs=1e-4)
