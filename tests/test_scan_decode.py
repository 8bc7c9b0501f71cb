"""``scan`` decodes before anything is written: truncated videos, corrupt or zero-byte frames,
odd-sized frames and trees with no frames are named per file, in the library, the CLI and the UI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.readers import NothingReadable, scan
from tests.fixtures import make_casia_b_silhouettes, walker_frame


def _avi(path: Path, frames: int = 30) -> Path:
    # textured frames: a flat one compresses to a few bytes and a third of the file is then all header
    rng = np.random.default_rng(0)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(frames):
        img = rng.integers(0, 120, (48, 64, 3), dtype=np.uint8)
        img[10:40, i:i + 12] = 220
        w.write(img)
    w.release()
    return path


@pytest.fixture
def videos(tmp_path):
    """Two ids of CASIA-B-named clips; 001-nm-01-090.avi truncated to a third of its bytes."""
    root = tmp_path / "clips"
    root.mkdir()
    for sid in ("001", "002"):
        for seq in ("nm-01", "nm-02"):
            _avi(root / f"{sid}-{seq}-090.avi")
    cut = root / "001-nm-01-090.avi"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    return root


def _jpg(path: Path, t: int) -> Path:
    """A walker (tests.fixtures' blob) in grey on a textured wall, for background subtraction."""
    wall = np.tile(np.linspace(30, 90, 320, dtype=np.uint8), (240, 1))
    img = np.where(walker_frame(t, 1, 90) > 0, 200, wall).astype(np.uint8)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    return path


@pytest.fixture
def ccvid(tmp_path):
    """A CCVID tree; tracklet session1/001_01 holds a cut-off JPEG and a zero-byte PNG."""
    root = tmp_path / "ccvid"
    lists = {"train": ["session1/001_01 001 u1"], "query": ["session1/002_01 002 u1"],
             "gallery": ["session1/002_02 002 u2"]}
    for name, lines in lists.items():
        (root / f"{name}.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{name}.txt").write_text("\n".join(lines) + "\n")
        for line in lines:
            folder = root / line.split()[0]
            folder.mkdir(parents=True)
            for i in range(1, 9):
                _jpg(folder / f"{i:05d}.jpg", i)
    bad = root / "session1" / "001_01"
    data = (bad / "00003.jpg").read_bytes()
    (bad / "00003.jpg").write_bytes(data[: len(data) // 2])
    (bad / "00009.png").write_bytes(b"")
    return root


def _problems(report) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for p in report.problems:
        out.setdefault(p.path, []).append((p.severity, p.reason))
    return out


def test_truncated_video_is_named_by_its_decoded_count(videos):
    cut, good = videos / "001-nm-01-090.avi", videos / "001-nm-02-090.avi"
    assert str(cut) not in _problems(scan(videos, decode_sample=0))        # the header alone looks fine
    report = scan(videos, decode_sample=None)
    [(severity, reason)] = _problems(report)[str(cut)]
    decoded = int(reason.split()[1])
    assert severity == "warning" and 0 < decoded < 30
    assert reason == (f"decoded {decoded} of the 30 frames the container declares; the file looks truncated "
                      f"or corrupt — frames from {decoded + 1} on will be missing")
    assert str(good) not in _problems(report) and len(report.sequences) == 4
    sampled = _problems(scan(videos, decode_sample=3))[str(cut)]
    assert sampled[0][0] == "warning" and "(sampled check)" in sampled[0][1]


def test_corrupt_and_empty_frames_of_a_tracklet_are_named_then_dropped_in_the_manifest(ccvid, tmp_path):
    from core.convert.converter import ConvertOptions, plan_conversion, run_conversion

    bad = ccvid / "session1" / "001_01"
    report = scan(ccvid, decode_sample=None)
    probs = _problems(report)
    assert probs[str(bad / "00003.jpg")] == [("error", "truncated JPEG (no end-of-image marker); frame skipped")]
    assert probs[str(bad / "00009.png")] == [("error", "empty file (0 bytes); frame skipped")]
    assert not any(str(ccvid / "session1" / "002_01") in p for p in probs)
    assert len(report.sequences) == 3
    # a sample that misses the bad frame does not name it: the sample is what was checked
    assert str(bad / "00003.jpg") not in _problems(scan(ccvid, decode_sample=2))
    plan = plan_conversion(report, tmp_path / "out", ConvertOptions(silhouette="bgsub", workers=1))
    result = run_conversion(plan)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rec = next(r for r in manifest["sequences"] if r["source"] == str(bad))
    files = {d["file"]: d["reason"] for d in rec["dropped"]}
    assert files[str(bad / "00003.jpg")] == "truncated JPEG (no end-of-image marker); frame skipped"
    assert files[str(bad / "00009.png")] == "empty file (0 bytes); frame skipped"
    assert f"{bad / '00003.jpg'}: truncated JPEG (no end-of-image marker); frame skipped" in result["dropped"]
    assert result["dropped_frames"] == sum(len(r["dropped"]) for r in manifest["sequences"])


def test_mixed_size_sequence_keeps_its_majority_size(tmp_path):
    from core.convert.converter import ConvertOptions, plan_conversion, run_conversion

    root = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), types=("nm-01", "nm-02"),
                                    frames=8)
    seq = root / "001" / "nm-01" / "090"
    first = sorted(seq.glob("*.png"))[0]
    h, w = cv2.imread(str(first), cv2.IMREAD_GRAYSCALE).shape
    big = cv2.resize(cv2.imread(str(first), cv2.IMREAD_GRAYSCALE), (w * 2, h * 2), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(first), big)
    report = scan(root, decode_sample=None)
    reason = (f"size {w * 2}x{h * 2} differs from the sequence's majority size {w}x{h} (7 of 8 frames); "
              f"frame dropped")
    assert _problems(report)[str(first)] == [("error", reason)]
    assert sum(len(v) for v in _problems(report).values()) == 1
    plan = plan_conversion(report, tmp_path / "out", ConvertOptions(split="first:1", workers=1))
    run_conversion(plan)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rec = next(r for r in manifest["sequences"] if r["source"] == str(seq))
    assert rec["frames"] == 7 and rec["dropped"] == [{"file": str(first), "reason": reason}]


def _frameless_tree(root: Path) -> Path:
    for sid in ("001", "002"):
        for view in ("000", "090"):
            (root / sid / "nm-01" / view).mkdir(parents=True)
    return root


def test_tree_with_no_frames_lists_every_folder(tmp_path):
    root = _frameless_tree(tmp_path / "empty")
    with pytest.raises(NothingReadable) as err:
        scan(root, format="casia-b-silhouette")
    probs = _problems(err.value.report)
    assert set(probs) == {str(root / s / "nm-01" / v) for s in ("001", "002") for v in ("000", "090")}
    assert all(p == [("error", "no PNG frames; sequence skipped")] for p in probs.values())
    assert "no readable sequence found" in str(err.value) and "(and 1 more problems)" in str(err.value)


def test_every_frame_corrupt_still_lists_each_file(ccvid):
    for f in ccvid.rglob("*.jpg"):
        f.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    with pytest.raises(NothingReadable) as err:
        scan(ccvid, decode_sample=None)
    probs = _problems(err.value.report)
    assert len([p for p in probs if p.endswith(".jpg")]) == 24
    assert probs[str(ccvid / "session1" / "002_01")] == [("error", "no decodable frame among the 8 files checked; "
                                                                   "sequence skipped")]


def test_cli_scan_json_names_bad_files_and_decodes_by_default(videos, ccvid, tmp_path, capsys):
    from core.cli import main

    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "scan", str(videos), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cut = [p for p in out["problems"] if p["path"] == str(videos / "001-nm-01-090.avi")]
    assert len(cut) == 1 and "of the 30 frames the container declares" in cut[0]["reason"]
    assert main([*ws, "scan", str(ccvid), "--decode-sample", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not any(p["path"].endswith("00003.jpg") for p in out["problems"])
    empty = _frameless_tree(tmp_path / "empty")
    assert main([*ws, "scan", str(empty), "--format", "casia-b-silhouette", "--json"]) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert out["error"].startswith(f"{empty}: no readable sequence found") and out["problems_total"] == 4
    assert {p["path"] for p in out["problems"]} == {str(empty / s / "nm-01" / v) for s in ("001", "002")
                                                     for v in ("000", "090")}
    assert "no readable sequence found" in captured.err
    assert main([*ws, "scan", str(empty), "--format", "casia-b-silhouette"]) == 1
    text = capsys.readouterr().out
    assert f"error: {empty / '001' / 'nm-01' / '000'}: no PNG frames; sequence skipped" in text


def test_ui_problems_table_names_bad_files(ccvid, tmp_path):
    from app import dataset_tab
    from core.studio import Studio

    studio = Studio(tmp_path / "ws")
    calls = []
    out = dataset_tab.open_path(studio, str(ccvid), dataset_tab.AUTO, "", None,
                                lambda frac, desc: calls.append((frac, desc)))
    assert out["error"] == ""
    reasons = dict(zip(out["problems"]["file"], out["problems"]["reason"]))
    bad = ccvid / "session1" / "001_01"
    assert reasons[str(bad / "00003.jpg")] == "truncated JPEG (no end-of-image marker); frame skipped"
    assert reasons[str(bad / "00009.png")] == "empty file (0 bytes); frame skipped"
    assert calls[-1] == (1.0, "decoding frames: 3/3 sequences") and len(calls) == 3
    out = dataset_tab.open_path(studio, str(ccvid), dataset_tab.AUTO, "", 0)      # structure only
    assert str(bad / "00003.jpg") not in set(out["problems"]["file"])
    empty = _frameless_tree(tmp_path / "empty")
    out = dataset_tab.open_path(studio, str(empty), "casia-b-silhouette", "")
    assert "no readable sequence found" in out["error"] and len(out["problems"]) == 4
    assert set(out["problems"]["reason"]) == {"no PNG frames; sequence skipped"}


def test_picking_the_dataset_just_opened_does_not_scan_it_again(ccvid, tmp_path):
    from app import dataset_tab
    from core.studio import Studio

    studio = Studio(tmp_path / "ws")
    opened = dataset_tab.open_path(studio, str(ccvid), dataset_tab.AUTO, "")
    ds_id = opened["shown"]
    calls = []
    again = dataset_tab.show_dataset(studio, ds_id, None, lambda f, desc: calls.append(f), ds_id)
    assert all(v.get("__type__") == "update" and len(v) == 1 for v in again.values()) and calls == []
    other = dataset_tab.show_dataset(studio, ds_id, None, lambda f, desc: calls.append(f), None)
    assert other["shown"] == ds_id and calls[-1] == 1.0 and len(other["problems"]) == len(opened["problems"])
