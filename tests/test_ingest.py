"""Raw layouts -> GREW-style layout end to end: every demo layout in its real naming, the source's own
splits, pose files, hand-broken inputs, a kill in the middle, and the OpenGait pkl export."""

import json
import pickle
import shutil

import cv2
import numpy as np
import pytest

from core.convert.converter import ConvertOptions, align_sequence, plan_conversion, run_conversion
from core.convert.export import export_opengait_pkl
from core.demo.groundtruth import load_groundtruth
from core.demo.writer import generate
from core.errors import ConfigError, InputError
from core.readers.detect import scan
from tests.fixtures import make_casia_b_silhouettes


@pytest.fixture(scope="module")
def video_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest") / "vid"
    generate(out, ids=4, views=("090",), seed=3, frames=10, layout="casia-b-video", workers=1)
    return out


@pytest.fixture(scope="module")
def ccvid_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest") / "ccvid"
    generate(out, ids=4, seed=1, frames=6, layout="ccvid", workers=1)
    return out


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def test_video_groundtruth_masks_and_pose_files(video_demo, tmp_path):
    """Videos decode, masks come from the demo's ground truth (labelled as such), pose files follow
    GREW's format for exactly the kept frames."""
    report = scan(video_demo)
    opts = ConvertOptions(silhouette="groundtruth", pose="groundtruth", workers=1)
    plan = plan_conversion(report, tmp_path / "out", opts)
    res = run_conversion(plan)
    assert res["failed"] == 0 and res["sequences"] == len(report.sequences) == 4 * 10
    man = _manifest(tmp_path / "out")
    assert {r["silhouette"] for r in man["sequences"]} == {"groundtruth"}
    assert man["parameters"]["silhouette"] == "groundtruth"

    item = next(it for it in plan.items if it.target.split == "train" and it.target.seq_type == "cl-01")
    folder = tmp_path / "out" / item.rel_dir
    pngs = sorted(folder.glob("?????.png"))
    poses = sorted(folder.glob("*_2d_pose.txt"))
    assert len(pngs) == len(poses) > 0
    gt = load_groundtruth(item.raw.groundtruth)
    seq = align_sequence(item.raw, opts)
    # frame i of the output is ground-truth frame kept[i]; its pose file holds that frame's keypoints
    for i in (0, len(pngs) - 1):
        values = np.genfromtxt(poses[i], delimiter=",")      # as OpenGait reads GREW's files
        assert values[:2].tolist() == [320, 240]
        np.testing.assert_allclose(values[2:].reshape(17, 3), gt.keypoints[seq.kept[i]], atol=1e-3)
        assert np.array_equal(cv2.imread(str(pngs[i]), cv2.IMREAD_GRAYSCALE), seq.frames[i])


def test_video_needs_a_silhouette_backend_not_given(video_demo, tmp_path):
    plan = plan_conversion(scan(video_demo), tmp_path / "out", ConvertOptions(silhouette="given"))
    with pytest.raises(ConfigError, match="not masks"):
        align_sequence(plan.items[0].raw, plan.options)
    with pytest.raises(ConfigError, match="needs a model"):
        ConvertOptions(silhouette="segmentation").validate()
    with pytest.raises(ConfigError, match="unknown choice"):
        ConvertOptions(pose="openpose").validate()


def test_broken_videos_are_reported_per_file_and_the_rest_converts(video_demo, tmp_path):
    src = tmp_path / "vid"
    shutil.copytree(video_demo, src)
    header_only = src / "002-nm-03-090.avi"
    header_only.write_bytes(header_only.read_bytes()[:300])
    zero = src / "003-bg-01-090.avi"
    zero.write_bytes(b"")
    half = src / "001-cl-02-090.avi"
    data = half.read_bytes()
    half.write_bytes(data[:len(data) * 6 // 10])         # cut mid-stream: the first frames still decode
    report = scan(src)
    reasons = {p.path: p.reason for p in report.problems}
    assert "cannot open" in reasons[str(header_only)] and "0 bytes" in reasons[str(zero)]
    assert len(report.sequences) == 38
    res = run_conversion(plan_conversion(report, tmp_path / "out", ConvertOptions(silhouette="groundtruth", workers=2)))
    assert res["failed"] == 0 and res["sequences"] == 38
    rec = next(r for r in _manifest(tmp_path / "out")["sequences"] if r["source"] == str(half))
    assert 0 < rec["frames"] < 10


def test_ccvid_keeps_lists_clothes_cameras_and_session3_ids(ccvid_demo, tmp_path):
    report = scan(ccvid_demo)
    plan = plan_conversion(report, tmp_path / "out", ConvertOptions(silhouette="groundtruth", workers=1))
    assert plan.split.spec == "official"
    assert plan.split.train_ids == ["001", "002"] and plan.split.test_ids == ["003", "004"]
    res = run_conversion(plan)
    assert res["failed"] == 0
    recs = {(r["sid"], r["seq"]): r for r in _manifest(tmp_path / "out")["sequences"]}
    lists = {name: [ln.split() for ln in (ccvid_demo / f"{name}.txt").read_text().splitlines()]
             for name in ("train", "query", "gallery")}
    role = {"train": "train", "query": "probe", "gallery": "gallery"}
    for name, rows in lists.items():
        for tracklet, pid, label in rows:
            session, folder = tracklet.split("/")
            seq = f"s{session[-1]}-{folder.split('_')[1]}"
            r = recs[(pid, seq)]
            assert r["split"] == role[name] and r["clothes"] == f"{pid}_{label}"
            assert r["camera"] == str(int(folder.split("_")[1]) + (12 if session == "session3" else 0))
    # session 3 re-records session-1 people under the same id: kept, not renumbered or dropped
    assert any(seq.startswith("s3-") for _, seq in recs)
    assert (tmp_path / "out" / "test" / "probe").is_dir() and (tmp_path / "out" / "test" / "gallery").is_dir()


def test_random_split_on_a_listed_source_keeps_gallery_and_probe(ccvid_demo, tmp_path):
    plan = plan_conversion(scan(ccvid_demo), tmp_path / "out", ConvertOptions(split="random:0.5,7"))
    roles = {(it.target.sid, it.raw.role, it.target.split) for it in plan.items}
    test_ids = set(plan.split.test_ids)
    for sid, source_role, split in roles:
        if sid in test_ids:
            assert split == (source_role if source_role in ("gallery", "probe") else "probe")
        else:
            assert split == "train"


def test_leaking_identity_is_refused(tmp_path):
    root = tmp_path / "grew"
    img = np.zeros((128, 88), np.uint8)
    img[20:110, 30:60] = 255
    for part, sid, seq in (("train", "00001", "aaaa1111"), ("test/gallery", "00001", "bbbb2222")):
        d = root / part / sid / seq
        d.mkdir(parents=True)
        for t in range(6):
            cv2.imwrite(str(d / f"{t + 1:03d}.png"), img)
    report = scan(root)
    assert any("leak" in p.reason for p in report.problems)
    with pytest.raises(ConfigError, match="both train and test"):
        plan_conversion(report, tmp_path / "out")


def test_pickle_with_an_object_is_refused_and_the_rest_converts(tmp_path):
    root = tmp_path / "pkl"
    rng = np.random.default_rng(0)
    for sid in ("001", "002"):
        for typ in ("nm-01", "nm-05"):
            d = root / sid / typ / "090"
            d.mkdir(parents=True)
            arr = np.zeros((8, 64, 64), np.uint8)
            arr[:, 8:56, 20:44] = 255
            arr[:, 30:40, 10:54] = rng.integers(0, 2, (8, 10, 44)).astype(np.uint8) * 255
            (d / "090.pkl").write_bytes(pickle.dumps(arr))
    evil = root / "002" / "nm-05" / "090" / "090.pkl"
    evil.write_bytes(pickle.dumps({"frames": [1, 2, 3], "note": object.__name__}))
    before = evil.read_bytes()
    report = scan(root)
    res = run_conversion(plan_conversion(report, tmp_path / "out", ConvertOptions(split="first:1", workers=1)))
    # refused when scanned, or when its sequence is read: either way named, never unpickled as an object
    errors = [p.reason for p in report.problems if p.path == str(evil)] + \
             [e for e in res["failures"] if str(evil) in e]
    assert errors and res["sequences"] == 3
    assert evil.read_bytes() == before


def test_kill_mid_run_resumes_without_redoing_or_half_sequences(tmp_path):
    """A worker killed mid-sequence leaves only a temporary folder; the rerun removes it, keeps the
    finished sequences (verified by checksum) and does only what is left."""
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    out = tmp_path / "out"
    plan = plan_conversion(scan(src), out, ConvertOptions(workers=1))
    first = run_conversion(plan)
    victim = out / plan.items[3].rel_dir
    # simulate the kill: the progress record of one sequence is gone and a half-written temp dir remains
    (out / ".progress" / f"{plan.items[3].target.sid}__{plan.items[3].target.seq}.json").unlink()
    half = victim.parent / f".{victim.name}.k1ll3d.tmp"
    half.mkdir()
    (half / "00000.png").write_bytes(b"\x89PNG half")
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "train").rglob("*.png")}
    again = run_conversion(plan)
    assert again["skipped_done"] == first["sequences"] - 1 and again["sequences"] == first["sequences"]
    changed = [p for p, m in mtimes.items() if p.exists() and p.stat().st_mtime_ns != m]
    assert all(victim in p.parents or p.name.endswith("_gei.png") for p in changed)
    assert not half.exists()


def test_opengait_pkl_export_round_trips(tmp_path):
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090", "144"), frames=6)
    conv = tmp_path / "conv"
    run_conversion(plan_conversion(scan(src), conv, ConvertOptions(split="first:1", workers=1)))
    res = export_opengait_pkl(conv, tmp_path / "pkl")
    assert res["sequences"] == 40 and res["written"] == 40
    part = json.loads((tmp_path / "pkl" / "partition.json").read_text())
    assert part == {"TRAIN_SET": ["001"], "TEST_SET": ["002"]}
    back = scan(tmp_path / "pkl")
    assert back.format == "opengait-pkl" and len(back.sequences) == 40
    from core.layout import read_frames, sequences
    from core.readers.media import read_frames as read_raw

    ours = {(s.sid, s.seq): read_frames(conv, s) for s in sequences(conv)}
    for raw in back.sequences:
        assert np.array_equal(read_raw(raw).images, ours[(raw.sid, raw.seq)])
    assert export_opengait_pkl(conv, tmp_path / "pkl")["skipped"] == 40    # a rerun resumes
    with pytest.raises(InputError, match="not empty"):
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "x").write_text("keep")
        export_opengait_pkl(conv, tmp_path / "busy")


def test_background_subtraction_with_a_background_per_camera(video_demo, tmp_path):
    """Videos segmented by background subtraction against one background per camera come out close
    to the ground-truth conversion; the backgrounds are kept so a rerun uses the same ones."""
    report = scan(video_demo)
    gt = tmp_path / "gt"
    run_conversion(plan_conversion(report, gt, ConvertOptions(silhouette="groundtruth", workers=2)))
    out = tmp_path / "bg"
    res = run_conversion(plan_conversion(report, out, ConvertOptions(silhouette="bgsub", workers=2)))
    assert res["failed"] == 0
    cached = out / ".backgrounds" / "camera-090.png"
    assert cached.is_file()
    man = _manifest(out)
    assert {r["silhouette"] for r in man["sequences"]} == {"bgsub"}
    ious = []
    for r in man["sequences"]:
        a = [cv2.imread(str(p), 0) > 127 for p in sorted((gt / "train" if r["split"] == "train" else gt / "test" /
                                                           r["split"]).glob(f"{r['sid']}/{r['seq']}/*.png"))]
        b = [cv2.imread(str(p), 0) > 127 for p in sorted((out / "train" if r["split"] == "train" else out / "test" /
                                                           r["split"]).glob(f"{r['sid']}/{r['seq']}/*.png"))]
        if len(a) == len(b):
            ious += [(x & y).sum() / max((x | y).sum(), 1) for x, y in zip(a, b)]
    assert len(ious) > 200 and np.mean(ious) > 0.75
    before = cached.stat().st_mtime_ns
    (out / ".progress" / "001__nm-01-090.json").unlink()
    run_conversion(plan_conversion(report, out, ConvertOptions(silhouette="bgsub", workers=1)))
    assert cached.stat().st_mtime_ns == before
