"""A real multi-person street video (OpenCV's vtest.avi) converted with tracking into one
silhouette + pose sequence per walker by the real MediaPipe model. A short clip keeps it fast:
the first 120 frames, every 3rd."""

import json
import shutil

import cv2
import numpy as np
import pytest

from core.convert.converter import plan_conversion, run_conversion
from core.convert.options import ConvertOptions
from core.pose.posefile import read_pose
from core.readers.detect import scan
from core.silhouette.tracker import iou_matrix
from tests.realvideo import need_mediapipe, need_vtest


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    need_mediapipe()
    video = need_vtest()
    src = tmp_path_factory.mktemp("street")
    shutil.copy(video, src / "vtest.avi")
    out = tmp_path_factory.mktemp("out") / "persons"
    opts = ConvertOptions(track="bgsub", silhouette="mediapipe", pose="mediapipe", stride=3, max_frames=40,
                          workers=1)
    plan = plan_conversion(scan(src, pattern="{sid}"), out, opts)
    summary = run_conversion(plan)
    return plan, summary, out


def test_several_walkers_become_several_sequences(converted):
    plan, summary, out = converted
    sids = [it.target.sid for it in plan.items]
    assert len(sids) >= 3, sids
    assert sids == [f"vtest-p{n:02d}" for n in range(1, len(sids) + 1)]
    assert summary["sequences"] == len(sids) and summary["failed"] == 0
    # tracks are different people: where two overlap in time, their boxes are apart
    for a in plan.items:
        for b in plan.items:
            if a is b:
                continue
            common = set(a.raw.track.names) & set(b.raw.track.names)
            for name in list(common)[:5]:
                ba = a.raw.track.boxes[a.raw.track.names.index(name)]
                bb = b.raw.track.boxes[b.raw.track.names.index(name)]
                assert iou_matrix(ba[None], bb[None])[0, 0] < 0.3


def test_masks_are_people_and_pose_files_parse(converted):
    plan, _, out = converted
    manifest = json.loads((out / "manifest.json").read_text())
    assert {r["silhouette"] for r in manifest["sequences"]} == {"mediapipe"}
    assert {r["pose"] for r in manifest["sequences"]} == {"mediapipe"}
    for it in plan.items:
        folder = out / it.rel_dir
        pngs = sorted(p for p in folder.glob("*.png"))
        assert len(pngs) >= 5
        fill = [(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 127).mean() for p in pngs]
        assert min(fill) > 0.05, (it.rel_dir, min(fill))     # an aligned walker, never an empty frame
        confident, upright = [], []
        for p in pngs:
            pose = read_pose(folder / (p.stem + "_2d_pose.txt"))
            assert (pose.width, pose.height) == (768, 576)
            kp = pose.keypoints
            good = kp[:, 2] > 0.5
            confident.append(good.mean())
            if good.all():
                # a confident skeleton stands upright: shoulders above hips above ankles
                upright.append(kp[[5, 6], 1].mean() < kp[[11, 12], 1].mean() < kp[[15, 16], 1].mean())
        assert np.mean(confident) > 0.5, it.rel_dir
        # BlazePose on a 100 px walker now and then folds a frame's skeleton; most frames stand
        assert upright and np.mean(upright) >= 0.8, (it.rel_dir, upright)


def test_packed_heatmaps_come_from_the_pose_files(converted):
    _, _, out = converted
    heat = np.load(out / "packed" / "heatmaps.npy", mmap_mode="r")
    frames = np.load(out / "packed" / "frames.npy", mmap_mode="r")
    assert heat.shape[0] == frames.shape[0] and heat.shape[1] == 2
    assert heat.reshape(len(heat), -1).max(1).min() > 0
