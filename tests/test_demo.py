"""The synthetic demo generator: real raw layouts on disk, determinism, ground truth, conditions."""

import json
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.demo.body import make_identity, make_jitter
from core.demo.garments import casia_outfit
from core.demo.groundtruth import find_groundtruth, load_groundtruth
from core.demo.render import H, W, render_rgb, render_sequence
from core.demo.writer import generate
from core.records import CASIA_B_TYPES as CASIA_TYPES
from core.errors import InputError
from core.parts import BAG, COAT, NUM_LABELS

VIEWS = ("036", "090")
FRAMES = 12


@pytest.fixture(scope="module")
def casia(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "casia"
    seen = []
    summary = generate(out, ids=2, views=VIEWS, seed=0, frames=FRAMES, workers=2,
                       progress=lambda d, t: seen.append((d, t)))
    return out, summary, seen


def _png_frames(root: Path, sid: str, typ: str, view: str) -> np.ndarray:
    files = sorted((root / sid / typ / view).iterdir())
    return np.stack([cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files])


def test_casia_silhouette_layout_exact(casia):
    out, summary, seen = casia
    assert summary.layout == "casia-b-silhouette" and summary.counts["sequences"] == 2 * 10 * 2
    assert seen[-1] == (40, 40) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert sorted(p.name for p in out.iterdir()) == ["001", "002", "_groundtruth", "demo.json"]
    for sid in ("001", "002"):
        assert sorted(p.name for p in (out / sid).iterdir()) == sorted(CASIA_TYPES)
        for typ in CASIA_TYPES:
            assert sorted(p.name for p in (out / sid / typ).iterdir()) == list(VIEWS)
            for view in VIEWS:
                names = sorted(p.name for p in (out / sid / typ / view).iterdir())
                assert names == [f"{sid}-{typ}-{view}-{i:03d}.png" for i in range(1, FRAMES + 1)]
    img = cv2.imread(str(out / "001" / "nm-01" / "090" / "001-nm-01-090-005.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (240, 320) and img.dtype == np.uint8
    assert set(np.unique(img)) <= {0, 255} and (img == 255).sum() > 2000
    gts = sorted(p.name for p in (out / "_groundtruth").iterdir())
    assert gts == sorted(f"{k}.npz" for k in summary.sequences) and "001-bg-02-036.npz" in gts
    meta = json.loads((out / "demo.json").read_text())
    assert meta["complete"] and meta["layout"] == "casia-b-silhouette" and len(meta["identities"]) == 2
    rec = next(s for s in meta["sequences"] if s["key"] == "002-cl-01-090")
    assert rec["sid"] == "002" and rec["type"] == "cl-01" and rec["view"] == "090" and rec["condition"] == "cl"
    assert rec["clothes"] == "002_cl" and rec["frames"] == FRAMES and "coat" in rec["outfit"]
    nm = next(s for s in meta["sequences"] if s["key"] == "002-nm-03-036")
    assert nm["clothes"] == "002_nm" and "coat" not in nm["outfit"] and "trousers" in nm["outfit"]


def test_groundtruth_files(casia):
    out, _, _ = casia
    path = find_groundtruth(out, "001-bg-01-090")
    assert path == out / "_groundtruth" / "001-bg-01-090.npz"
    assert find_groundtruth(out, "009-nm-01-090") is None
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"parts", "keypoints", "palette", "seed"}
        assert z["parts"].shape == (FRAMES, H, W) and z["parts"].dtype == np.uint8
        assert z["keypoints"].shape == (FRAMES, 17, 3) and z["keypoints"].dtype == np.float32
        assert z["palette"].shape == (NUM_LABELS, 3) and z["palette"].dtype == np.uint8
        assert int(z["parts"].max()) < NUM_LABELS
    gt = load_groundtruth(path)
    assert (gt.parts == BAG).any()
    rgb = gt.rgb_all()
    assert rgb.shape == (FRAMES, H, W, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[3], render_rgb(gt.parts[3], gt.palette, 3, gt.seed))
    assert np.array_equal(gt.silhouettes(), (gt.parts > 0).astype(np.uint8) * 255)


def test_silhouettes_match_groundtruth(casia):
    out, summary, _ = casia
    for key in summary.sequences:
        sid, cond, nn, view = key.split("-")
        sil = _png_frames(out, sid, f"{cond}-{nn}", view) > 0
        gt = load_groundtruth(find_groundtruth(out, key)).parts > 0
        iou = (sil & gt).sum() / (sil | gt).sum()
        assert iou > 0.9, key
        assert not np.array_equal(sil, gt), key        # the deliberate boundary noise is there
        empty = ~gt.reshape(len(gt), -1).any(1)
        assert not sil[empty].any()                    # empty frames stay empty


def test_determinism_and_seed(casia, tmp_path):
    out, _, _ = casia
    again = generate(tmp_path / "again", ids=2, views=VIEWS, seed=0, frames=FRAMES, workers=1)
    other = generate(tmp_path / "other", ids=2, views=VIEWS, seed=1, frames=FRAMES, workers=2)
    a = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert a == sorted(p.relative_to(again.out_dir) for p in again.out_dir.rglob("*.png"))
    assert all((out / p).read_bytes() == (again.out_dir / p).read_bytes() for p in a)
    differs = sum((out / p).read_bytes() != (other.out_dir / p).read_bytes() for p in a)
    assert differs > 0.9 * len(a)
    for key in ("001-nm-01-036", "002-cl-02-090"):
        x, y = load_groundtruth(find_groundtruth(out, key)), load_groundtruth(find_groundtruth(again.out_dir, key))
        assert np.array_equal(x.parts, y.parts) and np.array_equal(x.keypoints, y.keypoints)
        assert np.array_equal(x.palette, y.palette) and x.seed == y.seed
        z = load_groundtruth(find_groundtruth(other.out_dir, key))
        assert not np.array_equal(x.parts, z.parts)


def _mean_area(out: Path, key: str) -> float:
    parts = load_groundtruth(find_groundtruth(out, key)).parts > 0
    area = parts.sum((1, 2))
    return float(area[area > 0].mean())


def _mid_width(out: Path, key: str) -> float:
    """Mean silhouette width over the hip/thigh band (40-65 % of the body height)."""
    widths = []
    for f in load_groundtruth(find_groundtruth(out, key)).parts > 0:
        rows = np.flatnonzero(f.any(1))
        if rows.size:
            h = rows[-1] - rows[0]
            widths.append(f[rows[0] + int(0.4 * h): rows[0] + int(0.65 * h)].sum(1).mean())
    return float(np.mean(widths))


def test_bag_and_coat_change_the_silhouette(casia):
    out, _, _ = casia
    for sid in ("001", "002"):
        for view in VIEWS:
            nm_area = np.mean([_mean_area(out, f"{sid}-nm-0{i}-{view}") for i in range(1, 7)])
            nm_width = np.mean([_mid_width(out, f"{sid}-nm-0{i}-{view}") for i in range(1, 7)])
            bg_area = np.mean([_mean_area(out, f"{sid}-bg-0{i}-{view}") for i in (1, 2)])
            assert bg_area > nm_area, (sid, view)
            for i in (1, 2):
                key = f"{sid}-cl-0{i}-{view}"
                assert _mean_area(out, key) > 1.1 * nm_area, key
                assert _mid_width(out, key) > 1.15 * nm_width, key
                assert (load_groundtruth(find_groundtruth(out, key)).parts == COAT).sum() > 1000 * FRAMES
    # bag type varies between the two bg sequences of one person
    assert casia_outfit(0, "001", "bg-01").bag.kind != casia_outfit(0, "001", "bg-02").bag.kind
    assert casia_outfit(0, "001", "cl-01").coat.style != casia_outfit(0, "001", "cl-02").coat.style


def test_normal_clothes_carry_no_identity():
    """Swapping two people's everyday outfits changes colours only, never the silhouette."""
    ident = make_identity(0, "003")
    jit = make_jitter(0, "003", "nm-01", "054")
    own, _ = render_sequence(ident, jit, casia_outfit(0, "003", "nm-01"), "054", 10)
    for other in ("001", "002", "004", "005"):
        theirs, _ = render_sequence(ident, jit, casia_outfit(0, other, "nm-01"), "054", 10)
        assert np.array_equal(own > 0, theirs > 0)


def test_identities_differ_and_are_deterministic():
    people = [make_identity(0, f"{i:03d}") for i in range(1, 25)]
    assert make_identity(0, "001") == people[0] and make_identity(1, "001") != people[0]
    for field in ("height", "shoulder_width", "hip_width", "girth", "thigh", "shin", "cadence", "arm_swing",
                  "stride_length", "knee_flex"):
        values = np.array([getattr(p, field) for p in people])
        assert len(set(values.round(6))) == 24, field
        assert values.std() / values.mean() > 0.04, field
    cad = np.array([p.cadence for p in people])
    assert cad.min() >= 22 and cad.max() <= 34 and cad.max() - cad.min() > 4


def test_keypoints_inside_the_person(casia):
    out, summary, _ = casia
    kernel = np.ones((5, 5), np.uint8)
    scores = []
    for key in summary.sequences:
        gt = load_groundtruth(find_groundtruth(out, key))
        for t in range(len(gt)):
            mask = cv2.dilate((gt.parts[t] > 0).astype(np.uint8), kernel)
            kp = gt.keypoints[t]
            vis = kp[:, 2] > 0
            if not mask.any():
                assert not vis.any()
                continue
            assert vis.all()
            x = np.clip(np.rint(kp[:, 0]).astype(int), 0, W - 1)
            y = np.clip(np.rint(kp[:, 1]).astype(int), 0, H - 1)
            scores.append(mask[y, x].mean())
    assert np.mean(scores) > 0.95 and np.min(scores) > 0.7


def test_person_fully_visible_all_views():
    ident = make_identity(0, "007")
    for view in ("000", "018", "090", "162", "180"):
        for typ in ("nm-01", "bg-01", "bg-02", "cl-01"):
            jit = make_jitter(0, "007", typ, view)
            parts, _ = render_sequence(ident, jit, casia_outfit(0, "007", typ), view, 60)
            fg = parts > 0
            assert not fg[:, :, 0].any() and not fg[:, :, -1].any() and not fg[:, 0].any() and not fg[:, -1].any()
            for f in fg[jit.empty_lead:]:
                rows = np.flatnonzero(f.any(1))
                assert 130 <= rows[-1] - rows[0] <= 200


def test_empty_lead_frames():
    keys = [("001", t, v) for t in CASIA_TYPES for v in ("000", "036", "090", "144")]
    lead = [(k, make_jitter(0, *k).empty_lead) for k in keys]
    sid, typ, view = next(k for k, n in lead if n > 0)
    jit = make_jitter(0, sid, typ, view)
    parts, kps = render_sequence(make_identity(0, sid), jit, casia_outfit(0, sid, typ), view, 8)
    assert not parts[:jit.empty_lead].any() and parts[jit.empty_lead].any()
    assert (kps[:jit.empty_lead, :, 2] == 0).all() and (kps[jit.empty_lead:, :, 2] == 1).all()
    assert sum(n > 0 for _, n in lead) < len(lead) / 3


def test_render_rgb_fast_and_static_background():
    parts, _ = render_sequence(make_identity(0, "001"), make_jitter(0, "001", "nm-01", "090"),
                               casia_outfit(0, "001", "nm-01"), "090", 6)
    pal = casia_outfit(0, "001", "nm-01").palette()
    render_rgb(parts[0], pal, 0, 5)
    t0 = time.perf_counter()
    frames = [render_rgb(parts[i], pal, i, 5) for i in range(6)]
    assert (time.perf_counter() - t0) / 6 < 0.05
    assert frames[0].shape == (H, W, 3) and frames[0].dtype == np.uint8
    assert np.array_equal(frames[2], render_rgb(parts[2], pal, 2, 5))
    bg = ~((parts[0] > 0) | (parts[1] > 0))
    bg[200:] = False                                   # away from the contact shadow
    diff = np.abs(frames[0].astype(int) - frames[1].astype(int))[bg]
    assert diff.mean() < 6                             # static background, mild per-frame noise
    assert frames[0][bg].std() > 5                     # ... which is textured, not flat
    other = render_rgb(parts[0], pal, 0, 6)
    assert np.abs(other.astype(int) - frames[0].astype(int))[bg].mean() > 5


def test_casia_video_layout(tmp_path):
    s = generate(tmp_path / "vid", ids=1, views=("090",), seed=0, frames=8, layout="casia-b-video", workers=2)
    names = sorted(p.name for p in s.out_dir.iterdir())
    assert names == sorted([f"001-{t}-090.avi" for t in CASIA_TYPES] + ["_groundtruth", "demo.json"])
    cap = cv2.VideoCapture(str(s.out_dir / "001-cl-01-090.avi"))
    assert cap.isOpened()
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    assert len(frames) == 8 and frames[0].shape == (240, 320, 3)
    gt = load_groundtruth(find_groundtruth(s.out_dir, "001-cl-01-090"))
    assert np.abs(frames[4][..., ::-1].astype(int) - gt.rgb(4).astype(int)).mean() < 8


LINE_RE = re.compile(r"^(session[123])/(\d{3})_(\d{2})\s+(\d{3})\s+(\S+)$")


def test_ccvid_layout_and_lists(tmp_path):
    s = generate(tmp_path / "ccvid", ids=4, seed=0, frames=5, layout="ccvid", workers=2)
    out = s.out_dir
    assert {p.name for p in out.iterdir()} >= {"session1", "session2", "session3", "train.txt", "query.txt",
                                               "gallery.txt", "_groundtruth", "demo.json"}
    lists, tracklets = {}, []
    for split in ("train", "query", "gallery"):
        rows = []
        for line in (out / f"{split}.txt").read_text().splitlines():
            m = LINE_RE.match(line)
            assert m, line
            session, sid, nn, pid, clothes = m.groups()
            assert pid == sid
            frames = sorted(p.name for p in (out / session / f"{sid}_{nn}").iterdir())
            assert frames == [f"{i:05d}.jpg" for i in range(1, 6)]
            img = cv2.imread(str(out / session / f"{sid}_{nn}" / "00003.jpg"))
            assert img.shape == (240, 320, 3)
            assert find_groundtruth(out, f"{session}_{sid}_{nn}") is not None
            rows.append((session, sid, clothes))
            tracklets.append(f"{session}/{sid}_{nn}")
        lists[split] = rows
    train_ids = {r[1] for r in lists["train"]}
    test_ids = {r[1] for r in lists["query"] + lists["gallery"]}
    assert train_ids == {"001", "002"} and test_ids == {"003", "004"}
    all_rows = [r for rows in lists.values() for r in rows]
    assert len(tracklets) == len(set(tracklets)) == len(s.sequences)
    for sid in test_ids:
        clothes = {r[2] for r in lists["query"] + lists["gallery"] if r[1] == sid}
        assert len(clothes) >= 2
        q = {r[2] for r in lists["query"] if r[1] == sid}
        g = {r[2] for r in lists["gallery"] if r[1] == sid}
        assert q & g and (q - g or g - q)               # same-clothes and clothes-changing matches
    s3 = {r[1] for r in all_rows if r[0] == "session3"}
    assert s3 and s3 <= {r[1] for r in all_rows if r[0] == "session1"}
    meta = json.loads((out / "demo.json").read_text())
    assert {rec["view"] for rec in meta["sequences"]} <= {"000", "018", "162", "180"}


def test_refuses_foreign_folder_and_resumes(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError) as err:
        generate(foreign, ids=1, views=("090",), frames=4, workers=1)
    assert str(foreign) in str(err.value) and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    out = tmp_path / "demo"
    first = generate(out, ids=1, views=("090",), frames=4, workers=1)
    assert first.counts["written"] == 10
    with pytest.raises(InputError) as err:
        generate(out, ids=1, views=("090",), frames=5, workers=1)      # other parameters
    assert str(out) in str(err.value)
    again = generate(out, ids=1, views=("090",), frames=4, workers=1)
    assert again.counts == {**first.counts, "written": 0, "skipped": 10}
    shutil.rmtree(out / "001" / "bg-02" / "090")
    (out / "001" / "nm-01" / ".090.leftover.tmp").mkdir()             # an interrupted run's temporary
    third = generate(out, ids=1, views=("090",), frames=4, workers=1)
    assert third.counts["written"] == 1 and (out / "001" / "bg-02" / "090").is_dir()
    assert not (out / "001" / "nm-01" / ".090.leftover.tmp").exists()
    assert json.loads((out / "demo.json").read_text())["complete"]
