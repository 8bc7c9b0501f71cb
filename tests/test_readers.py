"""Readers for every raw layout (docs/contracts.md, "Raw inputs"), format detection, scan dispatch
and dataset validation, on real files written in tmp_path."""

import os
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.demo.writer import generate
from core.records import CASIA_B_TYPES as CASIA_TYPES
from core.errors import ConfigError, InputError
from core.readers import casia_b_video, ccvid, grew, opengait_pkl, video_folder
from core.readers.base import HIDDEN_SID, Problem, RawSequence, ScanReport, validate
from core.readers.detect import detect, detect_all, scan
from core.readers.media import read_frames


def _reasons(report, path) -> list[str]:
    return [p.reason for p in report.problems if p.path == str(path)]


# ------------------------------------------------------------------------------------------------
# CASIA-B videos
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def video_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("readers") / "vid"
    generate(out, ids=2, views=("090",), seed=0, frames=8, layout="casia-b-video", workers=1)
    return out


def test_casia_b_video_demo_exact(video_demo):
    det = detect(video_demo)
    assert det.format == "casia-b-video" and det.readable and det.confidence >= 0.9
    assert det.reason == "20 of 20 sampled videos named <sid>-<type>-<NN>-<view>.avi|.mp4"
    rep = scan(video_demo)
    assert rep.format == "casia-b-video" and rep.problems == []
    assert len(rep.sequences) == 20
    assert sorted((s.sid, s.seq_type) for s in rep.sequences) == sorted(
        (sid, t) for sid in ("001", "002") for t in CASIA_TYPES)
    s = next(s for s in rep.sequences if s.sid == "002" and s.seq_type == "cl-01")
    assert s.media == "video" and s.video == video_demo / "002-cl-01-090.avi" and s.frames == []
    assert (s.view, s.condition, s.clothes, s.seq, s.role, s.frame_count) == ("090", "cl", "002_cl", "cl-01-090", None, 8)
    assert s.groundtruth == video_demo / "_groundtruth" / "002-cl-01-090.npz" and s.source == str(s.video)
    summary = rep.summary()
    assert summary["ids"] == 2 and summary["conditions"] == {"bg": 4, "cl": 4, "nm": 12}
    assert summary["media"] == {"video": 20} and summary["views"] == ["090"]


def test_casia_b_video_broken_files(video_demo, tmp_path):
    root = tmp_path / "vids"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for name in ("001-nm-01-090.avi", "001-nm-02-090.avi", "001-nm-03-090.avi"):
        shutil.copy(video_demo / name, root / "a" / name)
    shutil.copy(video_demo / "001-nm-01-090.avi", root / "b" / "001-nm-01-090.avi")   # duplicate key
    (root / "a" / "001-bg-01-090.avi").write_bytes(b"")                                # zero bytes
    (root / "a" / "001-bg-02-090.avi").write_bytes(b"RIFF not really a video" * 40)    # unopenable
    shutil.copy(video_demo / "001-cl-01-090.avi", root / "a" / "walk.avi")             # not CASIA-B's name
    rep = casia_b_video.scan(root)
    assert sorted(s.seq_type for s in rep.sequences) == ["nm-01", "nm-02", "nm-03"]
    assert next(s for s in rep.sequences if s.seq_type == "nm-01").video == root / "a" / "001-nm-01-090.avi"
    dup = _reasons(rep, root / "b" / "001-nm-01-090.avi")
    assert len(dup) == 1 and str(root / "a" / "001-nm-01-090.avi") in dup[0] and "duplicate" in dup[0]
    assert _reasons(rep, root / "a" / "001-bg-01-090.avi") == ["empty file (0 bytes); sequence skipped"]
    bad = _reasons(rep, root / "a" / "001-bg-02-090.avi")
    assert len(bad) == 1 and "cannot open" in bad[0] and bad[0].endswith("sequence skipped")
    assert "name is not <sid>-<type>-<NN>-<view>" in _reasons(rep, root / "a" / "walk.avi")[0]
    sev = {p.path: p.severity for p in rep.problems}
    assert sev[str(root / "a" / "walk.avi")] == "warning" and sev[str(root / "b" / "001-nm-01-090.avi")] == "error"
    # detection: 6 of the 7 videos (the zero-byte and the broken one included) carry CASIA-B names
    cands = {d.format: d for d in detect_all(root)}
    assert cands["casia-b-video"].reason == "6 of 7 sampled videos named <sid>-<type>-<NN>-<view>.avi|.mp4"
    # scan() runs validation on top: the missing views/types are not flagged (one view only)
    full = scan(root)
    assert full.format == "casia-b-video" and len(full.sequences) == 3
    assert sum(p.severity == "error" for p in full.problems) == 3


# ------------------------------------------------------------------------------------------------
# CCVID
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ccvid_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("readers") / "ccvid"
    generate(out, ids=4, seed=0, frames=5, layout="ccvid", workers=1)
    return out


def _list_rows(root: Path, name: str) -> list[list[str]]:
    return [line.split() for line in (root / f"{name}.txt").read_text().splitlines() if line.strip()]


def test_ccvid_demo_exact(ccvid_demo):
    root = ccvid_demo
    assert detect(root).format == "ccvid"
    rep = scan(root)
    lists = {n: _list_rows(root, n) for n in ("train", "query", "gallery")}
    assert rep.format == "ccvid" and rep.problems == []
    assert len(rep.sequences) == sum(len(v) for v in lists.values()) == 20     # 4 ids x 4 + 2 ids x 2 (session3)
    roles = {"train": "train", "query": "probe", "gallery": "gallery"}
    for list_name, rows in lists.items():
        for tracklet, pid, label in rows:
            session, folder = tracklet.split("/")
            nn = folder.split("_")[1]
            s = next(s for s in rep.sequences if s.source == str(root / tracklet))
            assert (s.sid, s.role, s.media, s.view) == (pid, roles[list_name], "rgb", "")
            assert s.clothes == f"{pid}_{label}" and s.condition == label == s.seq_type
            assert s.name == f"s{session[-1]}-{nn}" and s.seq == s.name
            assert s.camera == str(int(nn) + (12 if session == "session3" else 0))
            assert [f.name for f in s.frames] == [f"{i:05d}.jpg" for i in range(1, 6)]
            assert s.groundtruth == root / "_groundtruth" / f"{session}_{folder}.npz"
    s3 = [s for s in rep.sequences if s.name.startswith("s3-")]
    assert sorted((s.sid, s.name, s.camera) for s in s3) == [
        ("001", "s3-01", "13"), ("001", "s3-02", "14"), ("003", "s3-01", "13"), ("003", "s3-02", "14")]
    assert rep.summary()["roles"] == {"gallery": 6, "probe": 4, "train": 10}
    assert rep.summary()["ids"] == 4


def test_ccvid_broken_lists(ccvid_demo, tmp_path):
    root = tmp_path / "ccvid"
    shutil.copytree(ccvid_demo, root)
    query = root / "query.txt"
    lines = query.read_text().splitlines()
    first_gallery = _list_rows(root, "gallery")[0]
    lines += ["session2/009_01 009 c1",                     # folder does not exist
              "session1/003_01 003",                        # two fields
              "sessionX/003_01 003 c1",                     # not session<k>/<sid>_<NN>
              " ".join(first_gallery)]                      # also listed in gallery.txt
    query.write_text("\n".join(lines) + "\n")
    n = len(lines)
    (root / "session2" / "004_07").mkdir()                  # on disk, in no list
    cv2.imwrite(str(root / "session2" / "004_07" / "00001.jpg"), np.zeros((8, 8, 3), np.uint8))
    (root / "session1" / "001_02" / "00003.jpg").write_bytes(b"")
    rep = ccvid.scan(root)
    at_query = sorted(_reasons(rep, query), key=lambda r: int(r.split(":")[0].split()[1]))
    assert at_query[0] == f"line {n - 3}: folder session2/009_01 does not exist; sequence skipped"
    assert at_query[1].startswith(f"line {n - 2}: expected 3 fields") and "got 2" in at_query[1]
    assert at_query[2].startswith(f"line {n - 1}: 'sessionX/003_01' is not session<k>/<sid>_<NN>")
    assert at_query[3] == (f"line {n}: {first_gallery[0]} is also listed at gallery.txt line 1; "
                           f"a tracklet belongs to one list only — skipped everywhere")
    assert len(at_query) == 4
    assert _reasons(rep, root / "gallery.txt") == [
        f"line 1: {first_gallery[0]} is also listed at query.txt line {n}; "
        f"a tracklet belongs to one list only — skipped everywhere"]
    assert all(p.severity == "error" for p in rep.problems if p.path == str(query))
    assert _reasons(rep, root / "session2" / "004_07") == [
        "tracklet folder is in no list (train/query/gallery.txt); ignored"]
    assert _reasons(rep, root / "session1" / "001_02" / "00003.jpg") == ["empty file (0 bytes); frame skipped"]
    s = next(s for s in rep.sequences if s.source == str(root / "session1" / "001_02"))
    assert [f.name for f in s.frames] == ["00001.jpg", "00002.jpg", "00004.jpg", "00005.jpg"]
    # the doubly listed tracklet's role is ambiguous: it is read from neither list
    assert not [x for x in rep.sequences if x.source == str(root / first_gallery[0])]
    assert len(rep.sequences) == 19


# ------------------------------------------------------------------------------------------------
# GREW
# ------------------------------------------------------------------------------------------------

def _png(path: Path, value: int = 255) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((64, 44), np.uint8)
    img[10:50, 12:30] = value
    assert cv2.imwrite(str(path), img)


def _grew_seq(folder: Path, n: int, pose: bool | int = True) -> None:
    for i in range(1, n + 1):
        _png(folder / f"{i:05d}.png")
        if pose is True or (pose and i <= pose):
            kp = ",".join(["44", "64"] + ["1.0"] * 51)
            (folder / f"{i:05d}_2d_pose.txt").write_text(kp + "\n")


def test_grew_tree_by_hand(tmp_path):
    root = tmp_path / "grew"
    _grew_seq(root / "train" / "00001" / "aB3dE9xQ", 6)
    _png(root / "train" / "00001" / "aB3dE9xQ_gei.png")                      # GEI beside the folder
    _png(root / "train" / "00001" / "aB3dE9xQ" / "aB3dE9xQ_gei.png")         # ... or a stray one inside
    _grew_seq(root / "train" / "00001" / "k2LmN8pR", 5, pose=3)               # pose for 3 of 5 frames
    _grew_seq(root / "test" / "gallery" / "00002" / "Qw7eRt5Y", 6, pose=False)
    _grew_seq(root / "test" / "probe" / "Zx1cVb2N", 7)
    _png(root / "test" / "probe" / "Zx1cVb2N_gei.png")
    (root / "test" / "probe" / "Zx1cVb2N" / "00004.png").write_bytes(b"")   # zero-byte frame
    det = detect(root)
    assert det.format == "grew" and det.confidence >= 0.9 and "train/" in det.reason
    rep = scan(root)
    by_name = {s.name: s for s in rep.sequences}
    assert sorted(by_name) == ["Qw7eRt5Y", "Zx1cVb2N", "aB3dE9xQ", "k2LmN8pR"]
    a = by_name["aB3dE9xQ"]
    assert (a.sid, a.role, a.media, a.condition, a.seq_type, a.view, a.clothes) == (
        "00001", "train", "silhouette", "nm", "nm", "", "")
    assert [f.name for f in a.frames] == [f"{i:05d}.png" for i in range(1, 7)]
    assert [p.name for p in a.pose] == [f"{i:05d}_2d_pose.txt" for i in range(1, 7)]
    assert all(p.parent == f.parent and p.name.startswith(f.stem) for p, f in zip(a.pose, a.frames))
    k = by_name["k2LmN8pR"]
    assert k.pose == [] and len(k.frames) == 5
    assert _reasons(rep, k.frames[0].parent) == ["2D pose for 3 of 5 frames; given pose not used for this sequence"]
    g = by_name["Qw7eRt5Y"]
    assert (g.sid, g.role, g.pose) == ("00002", "gallery", [])
    p = by_name["Zx1cVb2N"]
    assert (p.sid, p.role, p.seq) == (HIDDEN_SID, "probe", "Zx1cVb2N")
    assert [f.name for f in p.frames] == ["00001.png", "00002.png", "00003.png", "00005.png", "00006.png",
                                          "00007.png"]
    assert len(p.pose) == 6 and p.pose[3].name == "00005_2d_pose.txt"
    assert _reasons(rep, root / "test" / "probe" / "Zx1cVb2N" / "00004.png") == ["empty file (0 bytes); frame skipped"]
    assert rep.summary()["ids"] == 2 and rep.summary()["roles"] == {"gallery": 1, "probe": 1, "train": 2}
    # hidden-id probes are never reported as "no gallery" and the GEI files never became frames
    assert not any("gallery" in p.reason for p in rep.problems)
    assert not any("_gei" in f.name for s in rep.sequences for f in s.frames)


def test_grew_probe_without_gallery(tmp_path):
    root = tmp_path / "grew"
    _grew_seq(root / "train" / "00001" / "aaaa1111", 5)
    _grew_seq(root / "test" / "probe" / "bbbb2222", 5)
    rep = grew.scan(root)
    assert len(rep.sequences) == 2
    assert _reasons(rep, root / "test" / "probe") == [
        "1 probe sequences but no gallery sequence (test/gallery/<sid>/<seq>/ missing or empty): "
        "probes cannot be matched against anything"]


def test_grew_known_ids_probe_gallery_and_leak(tmp_path):
    """A GREW-style tree with probe ids known (our own output layout): per-identity checks apply."""
    root = tmp_path / "ours"
    _grew_seq(root / "train" / "001" / "nm-01-090", 5, pose=False)
    _grew_seq(root / "test" / "gallery" / "001" / "nm-02-090", 5, pose=False)     # leak: 001 also trains
    _grew_seq(root / "test" / "gallery" / "002" / "nm-01-090", 5, pose=False)
    _grew_seq(root / "test" / "probe" / "002" / "nm-05-090", 5, pose=False)
    _grew_seq(root / "test" / "probe" / "003" / "nm-05-090", 3, pose=False)       # no gallery, short
    rep = scan(root)
    assert sorted((s.role, s.sid, s.seq) for s in rep.sequences) == [
        ("gallery", "001", "nm-02-090"), ("gallery", "002", "nm-01-090"), ("probe", "002", "nm-05-090"),
        ("probe", "003", "nm-05-090"), ("train", "001", "nm-01-090")]
    probe3 = str(root / "test" / "probe" / "003" / "nm-05-090")
    rows = rep.problem_rows()
    assert rows[0]["severity"] == "error" and rows[0]["path"] == str(root / "test" / "gallery" / "001" / "nm-02-090")
    assert rows[0]["reason"].startswith("identity 001 is in train (1 sequence, e.g. ") and "leak" in rows[0]["reason"]
    assert {"severity": "warning", "path": probe3, "reason": "only 3 frames (< 5)"} in rows
    assert {"severity": "warning", "path": probe3,
            "reason": "probe identity 003 (1 sequence) has no gallery sequence: its probes can never be matched"} in rows
    assert len(rows) == 3


# ------------------------------------------------------------------------------------------------
# OpenGait pkl
# ------------------------------------------------------------------------------------------------

class _Payload:
    """Unpickling this would run a shell command that creates a file."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _sil_array(t: int, w: int = 44, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    return (r.random((t, 64, w)) > 0.5).astype(np.uint8) * np.uint8(255)


def test_opengait_pkl_tree(tmp_path):
    root = tmp_path / "pkl"
    arrays = {}
    for i, (sid, typ, view, proto) in enumerate([("001", "nm-01", "090", 4), ("001", "cl-02", "090", 2),
                                                 ("002", "nm-01", "000", 5), ("002", "00", "180", 3)]):
        d = root / sid / typ / view
        d.mkdir(parents=True)
        arrays[(sid, typ, view)] = arr = _sil_array(6 + i, 64 if i == 3 else 44, i)
        (d / f"{view}.pkl").write_bytes(pickle.dumps(arr, protocol=proto))
    det = detect(root)
    assert det.format == "opengait-pkl" and det.confidence > 0.9
    rep = scan(root)
    assert len(rep.sequences) == 4
    # only validation findings: each (sid, type) has one of the 3 views the tree holds
    assert len(rep.problems) == 4 and all(p.severity == "warning" for p in rep.problems)
    assert Problem(str(root / "002" / "00" / "180" / "180.pkl"),
                   "002 00: no sequence for views 000, 090 (the dataset has 3 views)", "warning") in rep.problems
    by = {(s.sid, s.seq_type, s.view): s for s in rep.sequences}
    s = by[("001", "cl-02", "090")]
    assert (s.media, s.condition, s.clothes, s.seq, s.frames) == ("array", "cl", "001_cl", "cl-02-090", [])
    assert s.array == root / "001" / "cl-02" / "090" / "090.pkl" and s.source == str(s.array)
    assert by[("002", "00", "180")].condition == "00"          # not <cond>-<NN>: the type itself
    for key, raw in by.items():
        batch = read_frames(raw)
        assert np.array_equal(batch.images, arrays[key]) and batch.names[0] == "00001"
    batch = read_frames(by[("002", "00", "180")], stride=2, max_frames=2)
    assert batch.images.shape == (2, 64, 64) and batch.names == ["00001", "00003"]


def test_opengait_pkl_refuses_code_and_non_arrays(tmp_path):
    root = tmp_path / "pkl"
    sentinel = tmp_path / "pwned"
    good = root / "001" / "nm-01" / "090" / "090.pkl"
    evil = root / "001" / "nm-02" / "090" / "090.pkl"
    nested = root / "001" / "nm-03" / "090" / "090.pkl"
    floats = root / "001" / "nm-04" / "090" / "090.pkl"
    cube = root / "001" / "nm-05" / "090" / "090.pkl"
    for p in (good, evil, nested, floats, cube):
        p.parent.mkdir(parents=True)
    good.write_bytes(pickle.dumps(_sil_array(5), protocol=4))
    evil.write_bytes(pickle.dumps(_Payload(sentinel), protocol=4))
    nested.write_bytes(pickle.dumps({"sil": _sil_array(3), "x": _Payload(sentinel)}, protocol=2))
    floats.write_bytes(pickle.dumps(np.full((4, 64, 44), 0.5), protocol=4))
    cube.write_bytes(pickle.dumps(np.zeros((2, 4, 64, 44), np.uint8), protocol=4))
    refusal = f"pickle holds {os.system.__module__}.system, not a numpy array; refused without running it"

    rep = opengait_pkl.scan(root)
    assert _reasons(rep, evil) == [f"{refusal}; sequence skipped"]
    assert _reasons(rep, nested) == [f"{refusal}; sequence skipped"]
    assert sorted(s.seq_type for s in rep.sequences) == ["nm-01", "nm-04", "nm-05"]   # pixels judged at load

    for path in (evil, nested):
        with pytest.raises(InputError) as err:
            opengait_pkl.load_array(path)
        assert err.value.path == str(path) and err.value.reason == refusal
    with pytest.raises(InputError, match="float64 array with values 0.5..0.5"):
        opengait_pkl.load_array(floats)
    with pytest.raises(InputError, match=r"shape \(2, 4, 64, 44\)"):
        opengait_pkl.load_array(cube)
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError, match="pickle holds a list, not a numpy array"):
        opengait_pkl.load_array(tmp_path / "list.pkl")
    raw = next(s for s in rep.sequences if s.seq_type == "nm-04")
    with pytest.raises(InputError) as err:
        read_frames(raw)
    assert err.value.path == str(floats)
    assert not sentinel.exists()
    # the refusal is the same under every pickle protocol
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        evil.write_bytes(pickle.dumps(_Payload(sentinel), protocol=proto))
        with pytest.raises(InputError, match="refused without running it"):
            opengait_pkl.load_array(evil)
        good.write_bytes(pickle.dumps(_sil_array(3).astype(bool), protocol=proto))
        assert np.array_equal(opengait_pkl.load_array(good), _sil_array(3))
    assert not sentinel.exists()


# ------------------------------------------------------------------------------------------------
# a plain folder of videos with a file-name pattern
# ------------------------------------------------------------------------------------------------

@pytest.fixture()
def clip_folder(video_demo, tmp_path):
    root = tmp_path / "clips"
    (root / "day2").mkdir(parents=True)
    src = video_demo / "001-nm-01-090.avi"
    for name in ("p01_nm_090.avi", "p01_cl_090.avi", "p02_nm_000.avi", "day2/p02_bg_180.avi", "notes.avi"):
        shutil.copy(src, root / name)
    (root / "p03_nm_090.avi").write_bytes(b"")
    (root / "readme.txt").write_text("not a video")
    return root


def test_video_folder_pattern_preview_and_scan(clip_folder):
    root = clip_folder
    det = detect(root)
    assert det.format == "video-folder" and "pattern" in det.reason
    with pytest.raises(InputError, match="needs a file-name pattern"):
        scan(root)
    rows = video_folder.preview_pattern(root, "{sid}_{condition}_{view}", limit=20)
    assert [r["file"] for r in rows] == ["notes.avi", "p01_cl_090.avi", "p01_nm_090.avi", "p02_nm_000.avi",
                                         "p03_nm_090.avi", "day2/p02_bg_180.avi"]
    assert rows[0]["matched"] is False and rows[0]["sid"] == ""
    assert rows[0]["reason"] == "'notes': expected '_' after {sid}, but there is none in 'notes'"
    assert {k: rows[1][k] for k in ("matched", "sid", "condition", "view", "clothes", "sequence", "reason")} == {
        "matched": True, "sid": "p01", "condition": "cl", "view": "090", "clothes": "p01_cl",
        "sequence": "p01/p01_cl_090", "reason": ""}
    assert len(video_folder.preview_pattern(root, "{sid}_{condition}_{view}", limit=2)) == 2

    rep = scan(root, pattern="{sid}_{condition}_{view}")
    assert rep.format == "video-folder" and "file-name pattern: {sid}_{condition}_{view}" in rep.notes
    got = sorted((s.sid, s.condition, s.view, s.seq, s.clothes) for s in rep.sequences)
    assert got == [("p01", "cl", "090", "p01_cl_090", "p01_cl"), ("p01", "nm", "090", "p01_nm_090", "p01_nm"),
                   ("p02", "bg", "180", "p02_bg_180", "p02_bg"), ("p02", "nm", "000", "p02_nm_000", "p02_nm")]
    assert all(s.media == "video" and s.frame_count == 8 and s.role is None for s in rep.sequences)
    assert _reasons(rep, root / "p03_nm_090.avi") == ["empty file (0 bytes); sequence skipped"]
    notes = _reasons(rep, root / "notes.avi")
    assert len(notes) == 1 and notes[0].startswith("name does not match the pattern")
    # validation: views seen are 000/090/180; each (sid, condition) lacks some of them
    assert {"severity": "warning", "path": str(root / "p01_nm_090.avi"),
            "reason": "p01 nm: no sequence for views 000, 180 (the dataset has 3 views)"} in rep.problem_rows()

    # a regex with named groups, {seq} giving CASIA-like sequence names, and {*}
    rep2 = video_folder.scan(root, r"(?P<sid>p\d+)_(?P<condition>[a-z]+)_(?P<view>\d{3})")
    assert len(rep2.sequences) == 4
    rep3 = video_folder.scan(root, "{*}/{sid}_{condition}_{seq}")
    assert [(s.sid, s.seq_type, s.seq) for s in rep3.sequences] == [("p02", "bg-180", "bg-180")]


def test_compile_pattern_errors():
    for text, msg in [("{sid}_{foo}", "unknown field {foo}"), ("{view}_{condition}", "has no {sid}"),
                      ("{sid}_{sid}", "{sid} appears twice"), ("(?P<who>\\d+)", "unknown group name"),
                      ("(?P<sid>\\d+", "does not compile"), ("  ", "empty"), ("{sid}}", "unbalanced")]:
        with pytest.raises(ConfigError, match=msg.replace("{", r"\{").replace("}", r"\}")):
            video_folder.compile_pattern(text)
    pat = video_folder.compile_pattern("{sid}-{view}.mp4")       # an extension in the pattern is allowed
    assert pat.match("a/7-090.mp4") == {"sid": "7", "view": "090"}
    assert pat.match("7-.mp4") is None


# ------------------------------------------------------------------------------------------------
# dispatch and validation
# ------------------------------------------------------------------------------------------------

def test_scan_format_override_and_errors(video_demo, tmp_path):
    with pytest.raises(ConfigError, match="unknown format 'casia-c'"):
        scan(video_demo, format="casia-c")
    rep = scan(video_demo, format="video-folder", pattern="{sid}-{condition}-{seq}-{view}")
    assert rep.format == "video-folder" and len(rep.sequences) == 20
    assert rep.notes[0] == "format video-folder chosen by the user"
    assert {s.seq for s in rep.sequences} >= {"nm-01-090", "cl-02-090"}
    with pytest.raises(InputError, match="no readable sequence found"):
        scan(video_demo, format="ccvid")
    with pytest.raises(InputError, match="does not exist"):
        scan(tmp_path / "nowhere", format="grew")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a recognised dataset"):
        scan(tmp_path / "empty")


def _seq(sid, seq_type, view, n=6, role=None, name=None, count=None):
    frames = [Path(f"/d/{sid}/{seq_type}/{view}/{i:03d}.png") for i in range(n)]
    return RawSequence(sid=sid, seq_type=seq_type, view=view, condition=seq_type[:2], frames=frames,
                       role=role, name=name, frame_count=count)


def test_validate_rules():
    rep = ScanReport(root=Path("/d"), format="test")
    rep.sequences = [_seq("001", "nm-01", "000"), _seq("001", "nm-01", "090"), _seq("001", "nm-02", "090", n=2),
                     _seq("001", "nm-02", "090", n=7), _seq("002", "nm-01", "000")]
    video = RawSequence(sid="003", seq_type="nm-01", view="000", condition="nm", media="video",
                        video=Path("/d/v.avi"), frame_count=3)
    unknown = RawSequence(sid="004", seq_type="nm-01", view="000", condition="nm", media="video",
                          video=Path("/d/w.avi"))
    rep.sequences += [video, unknown]
    rows = validate(rep)
    assert len(rep.sequences) == 6                          # the duplicate 001/nm-02-090 was dropped
    assert [s.size for s in rep.sequences if s.sid == "001" and s.seq_type == "nm-02"] == [2]
    assert rows[0] == {"severity": "error", "path": "/d/001/nm-02/090",
                       "reason": "duplicate sequence 001/nm-02-090: also read from /d/001/nm-02/090; this one skipped"}
    reasons = {(r["path"], r["reason"]) for r in rows[1:]}
    assert reasons == {
        ("/d/001/nm-02/090", "only 2 frames (< 5)"),
        ("/d/v.avi", "only 3 frames (< 5)"),
        ("/d/001/nm-02/090", "001 nm-02: no sequence for view 000 (the dataset has 2 views)"),
        ("/d/002/nm-01/000", "002 nm-01: no sequence for view 090 (the dataset has 2 views)"),
        ("/d/v.avi", "003 nm-01: no sequence for view 090 (the dataset has 2 views)"),
        ("/d/w.avi", "004 nm-01: no sequence for view 090 (the dataset has 2 views)")}
    assert all(r["severity"] == "warning" for r in rows[1:])
    assert rep.validate() == rows                           # running it again adds nothing
    rep.problems.append(Problem("/d/x", "earlier finding", "warning"))
    assert rep.problem_rows()[-1] == {"severity": "warning", "path": "/d/x", "reason": "earlier finding"}
