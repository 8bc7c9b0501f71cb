import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.convert.align import align_letterbox, align_opengait, gait_energy_image
from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
from core.convert.splits import default_spec, make_split
from core.data.packed import PackedDataset
from core.errors import ConfigError, InputError, JobCancelled
from core.readers import detect, scan
from tests.fixtures import make_casia_b_silhouettes, walker_frame
from bench.opengait_reference import opengait_reference, opengait_sequence


@pytest.mark.parametrize("t,sid,view", [(0, 1, 90), (5, 3, 144), (9, 2, 0)])
def test_opengait_alignment_equals_reference(t, sid, view):
    img = walker_frame(t, sid, view)
    ours, why = align_opengait(img)
    ref = opengait_reference(img)
    assert why == ""
    assert ours.shape == (64, 64) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, ref)


def test_alignment_edge_padding_and_drops():
    img = np.zeros((240, 320), np.uint8)
    img[40:200, 0:30] = 255  # person at the left border: the window runs off the edge
    ours, _ = align_opengait(img)
    np.testing.assert_array_equal(ours, opengait_reference(img))
    tiny = np.zeros((240, 320), np.uint8)
    tiny[100:106, 100:106] = 255  # 36 px * 255 = 9180 <= 10000: dropped like OpenGait
    assert align_opengait(tiny)[0] is None and opengait_reference(tiny) is None
    assert "10000" in align_opengait(tiny)[1]


def test_letterbox_keeps_aspect_and_centres():
    img = np.zeros((240, 320), np.uint8)
    img[20:220, 100:150] = 255
    out, _ = align_letterbox(img)
    cols = np.flatnonzero(out.sum(axis=0))
    assert out.shape == (64, 64)
    assert out[:, 32].max() == 255 and 14 <= len(cols) <= 18  # 50/200 of 64 wide
    assert abs((cols[0] + cols[-1]) / 2 - 31.5) <= 1


def test_gei_is_mean():
    a = np.zeros((2, 4, 4), np.uint8)
    a[0, 0, 0] = 255
    assert gait_energy_image(a)[0, 0] == 128


def test_splits():
    ids = [f"{i:03d}" for i in range(1, 125)]
    s = make_split("official", ids)
    assert s.train_ids[-1] == "074" and s.test_ids[0] == "075" and len(s.test_ids) == 50
    assert s.role("080", "nm-04") == "gallery" and s.role("080", "nm-05") == "probe"
    assert s.role("080", "cl-01") == "probe" and s.role("010", "cl-01") == "train"
    assert default_spec(ids[:10]) == "first:5"
    r1, r2 = make_split("random:0.5,3", ids[:10]), make_split("random:0.5,3", ids[:10])
    assert r1.train_ids == r2.train_ids and not set(r1.train_ids) & set(r1.test_ids)
    with pytest.raises(ConfigError):
        make_split("first:10", ids[:10])  # no test id left
    with pytest.raises(ConfigError):
        make_split("bogus", ids)


def test_scan_reports_bad_files(tmp_path):
    root = make_casia_b_silhouettes(tmp_path / "casia", ids=(1, 2), views=("090",), frames=6)
    (root / "001" / "nm-01" / "090" / "001-nm-01-090-007.png").write_bytes(b"")  # zero-byte PNG
    (root / "notes").mkdir()
    rep = scan(root)
    assert rep.format == "casia-b-silhouette" and len(rep.sequences) == 20
    reasons = {p.path: p.reason for p in rep.problems}
    assert any("0 bytes" in r and p.endswith("-007.png") for p, r in reasons.items())
    assert any(p.endswith("notes") for p in reasons)


def test_scan_rejects_non_dataset(tmp_path):
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "a.txt").write_text("hello")
    with pytest.raises(InputError, match="not a recognised dataset"):
        scan(tmp_path / "random")
    with pytest.raises(InputError, match="does not exist"):
        detect(tmp_path / "missing")


def _convert(tmp_path, **kw):
    src = make_casia_b_silhouettes(tmp_path / "raw", **kw)
    plan = plan_conversion(scan(src), tmp_path / "out", ConvertOptions(workers=2))
    return src, plan


def test_conversion_layout_manifest_packed(tmp_path):
    src, plan = _convert(tmp_path)
    before = sorted((p.relative_to(src), p.stat().st_mtime_ns) for p in src.rglob("*"))
    res = run_conversion(plan)
    out = tmp_path / "out"
    assert res["sequences"] == 4 * 10 * 2 and res["failed"] == 0
    assert res["dropped_frames"] == 80  # the empty first frame of every sequence
    assert res["dropped_sequences"] == 80 and sum(res["dropped_reasons"].values()) == 80
    listed = json.loads((tmp_path / "out" / "manifest.json").read_text())["sequences"]
    assert sum(len(r["dropped"]) for r in listed) == res["dropped_frames"]   # the text counts what the manifest lists
    assert (out / "train/001/nm-01-090/00000.png").is_file()
    assert (out / "train/001/001_nm-01-090_gei.png").is_file()
    assert (out / "test/gallery/003/nm-04-144").is_dir() and (out / "test/probe/004/cl-02-090").is_dir()
    part = json.loads((out / "partition.json").read_text())
    assert part == {"TRAIN_SET": ["001", "002"], "TEST_SET": ["003", "004"]}
    man = json.loads((out / "manifest.json").read_text())
    rec = next(r for r in man["sequences"] if r["sid"] == "003" and r["seq"] == "cl-01-144")
    assert rec["split"] == "probe" and rec["condition"] == "cl" and rec["view"] == "144" and rec["frames"] == 7
    assert rec["checksum"] and rec["dropped"][0]["file"].endswith("-001.png")
    assert man["parameters"]["align"] == "opengait"
    ds = PackedDataset(out)
    assert len(ds) == 80 and ds.frames(0).shape == (7, 64, 64)
    i = next(i for i, e in enumerate(ds.entries) if e.sequence.key == ("003", "cl-01-144"))
    img = cv2.imread(str(out / "test/probe/003/cl-01-144/00003.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(ds.frames(i)[3], img)
    after = sorted((p.relative_to(src), p.stat().st_mtime_ns) for p in src.rglob("*"))
    assert before == after  # the source is never touched


def test_conversion_resumes_after_stop(tmp_path):
    src, plan = _convert(tmp_path, frames=6)
    calls = {"n": 0}

    def stop_soon():
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(JobCancelled):
        run_conversion(plan, should_stop=stop_soon)
    out = tmp_path / "out"
    done_first = len(list((out / ".progress").glob("*.json")))
    assert 0 < done_first < 80
    assert not list(out.rglob("*.tmp"))  # no half-written sequence
    seen = []
    res = run_conversion(plan, progress=lambda d, t, m: seen.append(m))
    assert res["skipped_done"] == done_first and res["sequences"] == 80
    # a corrupted finished sequence is detected by checksum and redone
    victim = next((out / "train/001").glob("nm-01-090/00001.png"))
    victim.write_bytes(b"garbage")
    res = run_conversion(plan)
    assert res["skipped_done"] == 79
    assert cv2.imread(str(victim), cv2.IMREAD_GRAYSCALE) is not None


def test_conversion_refuses_unsafe_outputs(tmp_path):
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    with pytest.raises(InputError, match="inside the source"):
        plan_conversion(scan(src), src / "out")
    other = tmp_path / "busy"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    plan = plan_conversion(scan(src), other)
    with pytest.raises(InputError, match="not empty"):
        run_conversion(plan)
    assert (other / "thesis.tex").read_text() == "precious"


def test_missing_model_backend_fails_the_plan_not_every_sequence(tmp_path):
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    report = scan(src)
    missing = tmp_path / "no-such-segformer"
    with pytest.raises(InputError, match=f"{missing}: silhouette model folder does not exist"):
        plan_conversion(report, tmp_path / "out", ConvertOptions(silhouette=f"segmentation:{missing}"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=f"{empty}: not a saved pose model folder"):
        plan_conversion(report, tmp_path / "out", ConvertOptions(pose=f"transformers:{empty}"))
    with pytest.raises(ConfigError, match="'nobody/uncached-vitpose'.*not in the local Hugging Face cache"):
        plan_conversion(report, tmp_path / "out", ConvertOptions(pose="transformers:nobody/uncached-vitpose"))
    assert not (tmp_path / "out").exists()


def test_sequence_without_foreground_is_reported(tmp_path):
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    for f in (src / "002" / "bg-01" / "090").glob("*.png"):
        cv2.imwrite(str(f), np.zeros((240, 320), np.uint8))
    (src / "001" / "nm-02" / "090" / "001-nm-02-090-003.png").write_bytes(b"not a png at all")
    res = run_conversion(plan_conversion(scan(src), tmp_path / "out", ConvertOptions(workers=1)))
    assert res["failed"] == 1
    assert "002/bg-01/090" in res["failures"][0] and "no usable frame" in res["failures"][0]
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rec = next(r for r in man["sequences"] if r["sid"] == "001" and r["seq"] == "nm-02-090")
    assert any("cannot be decoded" in d["reason"] and d["file"].endswith("-003.png") for d in rec["dropped"])


def test_converted_sequence_equals_opengait_pretreatment_frame_for_frame(tmp_path):
    """Same PNGs in, same frames out as OpenGait's pretreatment, including which frames are dropped:
    empty frames, a 39-pixel speck (sum 9945 <= 10000), a 40-pixel one (10200, kept), a person cut
    by the left border (padding path) and ordinary walking frames."""
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), types=("nm-01", "nm-05"), frames=9)
    folder = src / "001" / "nm-01" / "090"
    files = sorted(folder.glob("*.png"))
    speck = np.zeros((240, 320), np.uint8)
    speck.reshape(-1)[5000:5039] = 255
    cv2.imwrite(str(files[2]), speck)
    speck.reshape(-1)[5039] = 255
    cv2.imwrite(str(files[3]), speck)
    edge = np.zeros((240, 320), np.uint8)
    edge[30:210, 0:22] = 255
    cv2.imwrite(str(files[4]), edge)
    ref, ref_names = opengait_sequence(folder)
    out = tmp_path / "out"
    run_conversion(plan_conversion(scan(src), out, ConvertOptions(split="first:1", workers=1)))
    ours = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted((out / "train/001/nm-01-090").glob("*.png"))])
    np.testing.assert_array_equal(ours, ref)
    rec = next(r for r in json.loads((out / "manifest.json").read_text())["sequences"] if r["seq"] == "nm-01-090"
               and r["sid"] == "001")
    dropped = sorted(Path(d["file"]).name for d in rec["dropped"])
    assert dropped == sorted(f.name for f in files if f.name not in ref_names)
    assert files[2].name in dropped and files[3].name not in dropped and files[0].name in dropped
