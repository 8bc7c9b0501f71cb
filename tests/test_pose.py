"""Pose: GREW pose files, the ViTPose backend (tiny config-built model saved and loaded by path),
and SkeletonGait-style heatmaps."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError, InputError
from core.pose import COCO_LIMBS, make_pose_backend
from core.pose.heatmaps import pose_heatmaps, silhouette_transform
from core.pose.posefile import format_pose, parse_pose, pose_path, read_pose, read_poses, write_pose
from core.pose.vitpose import VitPoseBackend, box_roi, crop_matrix, decode_heatmaps


def skeleton(cx: float = 100.0, top: float = 40.0, scale: float = 1.0, conf: float = 1.0) -> np.ndarray:
    """A standing COCO-17 skeleton (17, 3) in pixels, head at ``top``, feet ~150 px lower."""
    rel = np.array([
        (0, 0), (-4, -4), (4, -4), (-9, -2), (9, -2),             # nose, eyes, ears
        (-18, 25), (18, 25), (-24, 55), (24, 55), (-26, 82), (26, 82),  # shoulders, elbows, wrists
        (-11, 80), (11, 80), (-13, 118), (13, 118), (-14, 152), (14, 152),  # hips, knees, ankles
    ], np.float32) * scale
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = cx + rel[:, 0]
    kp[:, 1] = top + rel[:, 1] + 4 * scale
    kp[:, 2] = conf
    return kp


# ------------------------------------------------------------------------------------------------
# GREW pose files
# ------------------------------------------------------------------------------------------------

def test_pose_file_round_trip_and_opengait_reading(tmp_path):
    kp = skeleton()
    kp[3, 2] = 0.0
    kp[5] = (-3.25, 250.5, 0.8765)                                 # off-frame joints are legal
    path = write_pose(tmp_path / "00001_2d_pose.txt", 320, 240, kp)
    assert path == pose_path(tmp_path / "00001.png")
    text = path.read_text()
    assert text.count("\n") == 1 and len(text.strip().split(",")) == 53
    back = read_pose(path)
    assert (back.width, back.height) == (320, 240)
    np.testing.assert_allclose(back.keypoints, kp, atol=1e-3)
    # how OpenGait's pretreatment reads it
    arr = np.genfromtxt(path, delimiter=",")
    np.testing.assert_allclose(arr[2:].reshape(-1, 3), kp, atol=1e-3)
    assert list(tmp_path.iterdir()) == [path]                       # nothing temporary left behind
    assert read_poses([path, path]).shape == (2, 17, 3)
    assert format_pose(320, 240, kp) == text


@pytest.mark.parametrize("content, reason", [
    ("", "empty pose file"),
    ("320,240," + ",".join(["1"] * 50) + "\n", "expected 53"),
    ("320,240," + ",".join(["1"] * 50) + ",abc\n", "not a number: 'abc'"),
    ("320,240," + ",".join(["1"] * 51) + "\n320,240," + ",".join(["1"] * 51) + "\n", "single line"),
    ("320,240," + ",".join(["nan"] * 51), "NaN"),
    ("0,240," + ",".join(["1"] * 51), "positive whole numbers"),
    ("320,240," + ",".join(["1", "1", "-0.5"] + ["1"] * 48), "negative keypoint confidence"),
])
def test_malformed_pose_file_names_the_file(tmp_path, content, reason):
    p = tmp_path / "00007_2d_pose.txt"
    p.write_text(content)
    with pytest.raises(InputError) as err:
        read_pose(p)
    assert err.value.path == str(p) and reason in str(err.value)


def test_missing_pose_file_and_bad_keypoints(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_pose(tmp_path / "nope_2d_pose.txt")
    with pytest.raises(InputError, match=r"\(17, 3\)") as err:
        write_pose(tmp_path / "x_2d_pose.txt", 320, 240, np.zeros((18, 3)))
    assert "x_2d_pose.txt" in str(err.value)
    assert not list(tmp_path.iterdir())
    assert parse_pose(" 64 , 64 ," + ",".join(["0.5"] * 51) + " \n\n").width == 64   # spaces and blank lines are fine


# ------------------------------------------------------------------------------------------------
# ViTPose backend
# ------------------------------------------------------------------------------------------------

def _save_tiny_vitpose(folder, num_labels=17):
    import torch
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    backbone = VitPoseBackboneConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, mlp_ratio=2,
                                     image_size=[64, 48], patch_size=[8, 8], out_indices=[1],
                                     out_features=["stage1"], stage_names=["stem", "stage1"])
    cfg = VitPoseConfig(backbone_config=backbone, num_labels=num_labels, scale_factor=2)
    torch.manual_seed(0)
    VitPoseForPoseEstimation(cfg).save_pretrained(folder)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vitpose_dir(tmp_path_factory):
    return _save_tiny_vitpose(tmp_path_factory.mktemp("vitpose"))


def test_vitpose_loads_by_path_and_returns_keypoints(vitpose_dir):
    b = make_pose_backend("transformers", model=str(vitpose_dir), device="cpu", batch_size=4)
    assert (b.name, b.model_free) == ("transformers", False) and str(vitpose_dir) in b.label
    assert (b.in_w, b.in_h) == (48, 64)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 120, 90, 3), dtype=np.uint8)
    kp = b.keypoints(frames)
    assert kp.shape == (6, 17, 3) and kp.dtype == np.float32
    assert np.isfinite(kp).all() and (kp[..., 2] >= 0).all()
    # whole-frame box (90 x 120, already 3:4) padded by 1.25: every estimate lies in that region,
    # give or take the one heatmap pixel (112.5 / 11 frame pixels) the sub-pixel step may move it
    step_x, step_y = 112.5 / 11 + 1e-3, 150 / 15 + 1e-3
    assert (np.abs(kp[..., 0] - 45) <= 56.25 + step_x).all() and (np.abs(kp[..., 1] - 60) <= 75 + step_y).all()
    masks = np.zeros((6, 120, 90), np.uint8)
    masks[:, 30:100, 40:60] = 255
    masks[4] = 0
    km = b.keypoints(frames, masks=masks)
    assert (km[4] == 0).all()                                             # no silhouette, no person
    live = km[[0, 1, 2, 3, 5]]
    # the mask box (x 40-60, y 30-100) widened to 3:4 and padded: 65.6 x 87.5 around (50, 65)
    rw, rh = 70 * 0.75 * 1.25, 70 * 1.25
    assert (np.abs(live[..., 0] - 50) <= rw / 2 + rw / 11 + 1e-3).all()
    assert (np.abs(live[..., 1] - 65) <= rh / 2 + rh / 15 + 1e-3).all()
    boxes = np.tile(np.array([40, 30, 60, 100], np.float32), (6, 1))
    kb = b.keypoints(frames, boxes)
    np.testing.assert_allclose(kb[[0, 1, 2, 3, 5]], km[[0, 1, 2, 3, 5]], atol=1e-4)   # mask box == that box
    with pytest.raises(InputError, match=r"\(6, 4\)"):
        b.keypoints(frames, boxes[:3])
    with pytest.raises(InputError, match="masks must be"):
        b.keypoints(frames, masks=masks[:, :50])


def test_vitpose_geometry_round_trip(vitpose_dir, monkeypatch):
    """Crop -> heatmap -> frame pixels: put each heatmap's peak where a marked pixel of the frame
    lands in the crop; the decoded keypoint must come back to that pixel."""
    b = VitPoseBackend(str(vitpose_dir), device="cpu")
    t, h, w = 3, 200, 160
    frames = np.zeros((t, h, w, 3), np.uint8)
    truth = np.array([[50.0, 60.0], [97.0, 140.0], [70.0, 101.0]])
    boxes = np.array([[30, 40, 90, 180], [60, 90, 130, 190], [20, 20, 140, 190]], np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for i, (x, y) in enumerate(truth):          # a soft blob: its centroid survives the resampling
        frames[i, ..., 0] = np.round(255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0 ** 2)))

    def fake_forward(crops):
        hm_h, hm_w = b.in_h // 4, b.in_w // 4          # ViTPose's heatmaps are a quarter of its input
        out = np.zeros((len(crops), 17, hm_h, hm_w), np.float32)
        yy, xx = np.mgrid[0:hm_h, 0:hm_w]
        for n, crop in enumerate(crops):
            g = crop[..., 0].astype(np.float64)
            cy, cx = (np.array(np.unravel_index(np.arange(g.size), g.shape)) * g.ravel()).sum(1) / g.sum()
            hx, hy = cx * (hm_w - 1) / (b.in_w - 1), cy * (hm_h - 1) / (b.in_h - 1)
            out[n] = np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * 1.5 ** 2))
        return out

    monkeypatch.setattr(b, "_forward", fake_forward)
    kp = b.keypoints(frames, boxes)
    err = np.abs(kp[:, :, :2] - truth[:, None, :]).max()
    assert err < 0.6, kp[:, 0]
    assert (kp[:, :, 2] > 0.9).all()                  # the heatmap maximum (a sampled unit Gaussian)


def test_box_roi_and_decode():
    centre, roi = box_roi(np.array([10, 20, 40, 140]), aspect=0.75)
    np.testing.assert_allclose(centre, (25, 80))
    np.testing.assert_allclose(roi, (90 * 1.25, 120 * 1.25))           # widened to 3:4, then padded
    m = crop_matrix(centre, roi, 48, 64)
    corner = m @ np.array([centre[0] - roi[0] / 2, centre[1] - roi[1] / 2, 1.0])
    np.testing.assert_allclose(corner, (0, 0), atol=1e-9)
    yy, xx = np.mgrid[0:32, 0:24]
    hm = np.exp(-((xx - 10.3) ** 2 + (yy - 7.6) ** 2) / (2 * 2.0 ** 2))[None, None].astype(np.float32)
    coords, scores = decode_heatmaps(np.concatenate([hm, 0.5 * hm], 1))
    np.testing.assert_allclose(coords[0], [[10.3, 7.6], [10.3, 7.6]], atol=0.1)
    np.testing.assert_allclose(scores[0], [hm.max(), 0.5 * hm.max()], rtol=1e-6)


def test_vitpose_errors(tmp_path):
    missing = tmp_path / "gone"
    with pytest.raises(InputError) as err:
        make_pose_backend("transformers", model=str(missing))
    assert str(missing) in str(err.value)
    with pytest.raises(ConfigError, match="unknown pose backend"):
        make_pose_backend("openpose", model="x")
    with pytest.raises(ConfigError, match="needs model"):
        make_pose_backend("transformers")
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache"):
        make_pose_backend("transformers", model="hybridgait-test/not-cached-vitpose")
    folder = _save_tiny_vitpose(tmp_path / "five", num_labels=5)
    with pytest.raises(InputError, match="predicts 5 keypoints") as err:
        make_pose_backend("transformers", model=str(folder))
    assert err.value.path == str(folder.resolve())


# ------------------------------------------------------------------------------------------------
# heatmaps
# ------------------------------------------------------------------------------------------------

def _peak(channel: np.ndarray, x: float, y: float, r: int = 2) -> float:
    xi, yi = int(round(x)), int(round(y))
    return float(channel[max(0, yi - r):yi + r + 1, max(0, xi - r):xi + r + 1].max())


def test_skeleton_heatmaps_peaks_limbs_and_confidence():
    kp = skeleton()[None]
    hm = pose_heatmaps(kp, size=(64, 64))
    assert hm.shape == (1, 2, 64, 64) and hm.dtype == np.uint8
    limbs, joints = hm[0]
    # where the joints should land: OpenGait's normalisation, then the crop of the joint channel
    pts = kp[0, :, :2]
    hip = (pts[11] + pts[12]) / 2
    s = (128 // 1.5) / (pts[:, 1].max() - pts[:, 1].min())
    canvas = (pts - hip) * s + 64
    rows = np.flatnonzero(joints.sum(1))
    assert rows[0] <= 1 and rows[-1] >= 62                               # the inked rows fill the height
    top = max(0, int(canvas[:, 1].min() - 3 * 8))
    bottom = min(127, int(canvas[:, 1].max() + 3 * 8))
    f = 64 / (bottom - top + 1)
    expect = np.stack([(canvas[:, 0] - 64) * f + 32, (canvas[:, 1] - top) * f], -1)
    for j in (0, 9, 10, 15, 16):                                         # nose, wrists, ankles
        assert _peak(joints, *expect[j]) >= 240, (j, expect[j])
    # nothing beyond the 3-sigma windows: pixels far from every joint stay dark in both channels
    sigma_out = 8 * f
    yy, xx = np.mgrid[0:64, 0:64]
    d_joint = np.min([np.hypot(xx - x, yy - y) for x, y in expect], 0)
    far = d_joint > 3 * sigma_out * np.sqrt(2) + 2
    assert far.sum() > 500 and joints[far].max() == 0 and limbs[far].max() == 0
    # limbs connect: the middle of each shin is bright in the limb channel, dimmer in the joint channel
    for a, b in ((13, 15), (14, 16)):
        mid = (expect[a] + expect[b]) / 2
        assert _peak(limbs, *mid, r=0) >= 240 and _peak(joints, *mid, r=0) < 200


def test_zero_confidence_joints_contribute_nothing():
    kp = skeleton()
    kp[9, :2] = kp[7, :2] + (-40, 10)                                    # left arm held out, wrist alone
    mask = _mask_for(kp)[None]
    base = pose_heatmaps(kp[None], align="silhouette", masks=mask, size=64)[0]
    gone = kp.copy()
    gone[9, 2] = 0.0                                                     # left wrist unseen
    cut = pose_heatmaps(gone[None], align="silhouette", masks=mask, size=64)[0]
    tf = silhouette_transform(mask[0], 64)
    to_out = lambda p: np.array([p[0] * tf[0] + tf[2], p[1] * tf[1] + tf[3]])  # noqa: E731
    wrist, elbow = to_out(kp[9]), to_out(kp[7])
    assert _peak(base[1], *wrist) >= 240 and _peak(cut[1], *wrist, r=1) == 0
    fore = (wrist + elbow) / 2                                           # the forearm limb vanished too
    assert _peak(base[0], *fore, r=0) >= 240 and _peak(cut[0], *fore, r=0) < 80   # (the upper arm is near)
    # what changed lies within the 3-sigma windows of the wrist and the forearm, nowhere else
    sigma_out = 8.0 / 2
    yy, xx = np.mgrid[0:64, 0:64]
    d = elbow - wrist
    t = np.clip(((xx - wrist[0]) * d[0] + (yy - wrist[1]) * d[1]) / (d @ d), 0, 1)
    dist = np.hypot(xx - wrist[0] - t * d[0], yy - wrist[1] - t * d[1])
    changed = (base != cut).any(0)
    assert changed.any() and dist[changed].max() <= 3 * sigma_out * np.sqrt(2) + 1
    half = pose_heatmaps((kp * [1, 1, 0.5])[None], align="silhouette", masks=mask, size=64)[0]
    assert abs(int(half[1].max()) - 128) <= 2                            # weighted by confidence
    assert (pose_heatmaps(np.zeros((2, 17, 3)))).max() == 0


def _mask_for(kp: np.ndarray, h: int = 240, w: int = 200) -> np.ndarray:
    """A crude silhouette around a skeleton: a box from the head to the feet."""
    m = np.zeros((h, w), np.uint8)
    x0, x1 = int(kp[:, 0].min()) - 6, int(kp[:, 0].max()) + 7
    y0, y1 = int(kp[:, 1].min()) - 14, int(kp[:, 1].max()) + 6
    m[y0:y1, x0:x1] = 255
    return m


def test_silhouette_alignment_matches_the_aligner():
    """Keypoints drawn with align='silhouette' land where the converter's aligned silhouette has them."""
    from core.convert.align import align

    kp = skeleton(cx=90, top=30)
    mask = _mask_for(kp)
    for method in ("opengait", "letterbox"):
        aligned, _ = align(mask, method, 64)
        hm = pose_heatmaps(kp[None], size=64, align="silhouette", masks=mask[None], method=method)[0]
        tf = silhouette_transform(mask, 64, method)
        ys, xs = np.nonzero(aligned > 127)
        # the box's corners map onto the aligned box's corners
        x0 = (int(kp[:, 0].min()) - 6) * tf[0] + tf[2]
        y1 = (int(kp[:, 1].max()) + 5) * tf[1] + tf[3]
        assert abs(x0 - xs.min()) <= 1.0 and abs(y1 - ys.max()) <= 1.0, (method, x0, xs.min(), y1, ys.max())
        for j in (0, 15, 16):
            assert _peak(hm[1], kp[j, 0] * tf[0] + tf[2], kp[j, 1] * tf[1] + tf[3]) >= 240
    empty = np.zeros_like(mask)
    assert silhouette_transform(empty, 64) is None
    assert pose_heatmaps(kp[None], align="silhouette", masks=empty[None]).max() == 0   # dropped frame: zeros


def test_keypoints_land_exactly_on_the_pixels_the_aligner_moved():
    """The heatmaps' transform is the aligner's own: where the scale is 1 the alignment only moves
    pixels, and a keypoint mapped through the transform lands on exactly the pixel it marked."""
    from core.alignment import align_frame

    rng = np.random.default_rng(7)
    # opengait: 64 foreground rows (scale 1: the bicubic resize copies them); letterbox: a 64-row box
    for method, top, (bx0, bx1) in (("opengait", 37, (30, 100)), ("opengait", 5, (70, 120)),
                                    ("letterbox", 20, (61, 101))):
        mask = np.zeros((140, 150), np.uint8)
        mask[top:top + 64, bx0:bx1] = 200
        # marks in the box's middle, inside the 64-wide window around the box's centre
        xs = rng.choice(np.arange((bx0 + bx1) // 2 - 15, (bx0 + bx1) // 2 + 15), 12, replace=False)
        marks = np.stack([xs, rng.integers(top + 1, top + 63, 12)], -1)
        for i, (x, y) in enumerate(marks):
            mask[y, x] = 10 + i                          # each mark a grey value found nowhere else
        aligned, why, tf = align_frame(mask, method, 64)
        assert aligned is not None, why
        assert silhouette_transform(mask, 64, method) == tf
        assert (tf.sx, tf.sy) == (1.0, 1.0)
        for i, (x, y) in enumerate(tf.apply(marks)):
            assert x == round(x) and y == round(y), (method, x, y)
            assert aligned[int(y), int(x)] == 10 + i, (method, i)
    # scaled frames: the transform is None exactly where the aligner drops the frame
    for t in range(40):
        mask = np.zeros((120, 90), np.uint8)
        h, w = rng.integers(1, 100), rng.integers(1, 80)
        y, x = rng.integers(0, 120 - h), rng.integers(0, 90 - w)
        mask[y:y + h, x:x + w] = 255
        for method in ("opengait", "letterbox"):
            aligned, _, tf = align_frame(mask, method, 64)
            assert (aligned is None) == (tf is None) == (silhouette_transform(mask, 64, method) is None)


def test_heatmap_options_and_errors():
    kp = np.stack([skeleton(), skeleton(cx=120, scale=0.8)])
    hm = pose_heatmaps(kp)
    swapped = pose_heatmaps(kp, order=("joints", "limbs"))
    assert np.array_equal(hm[:, ::-1], swapped)
    assert pose_heatmaps(kp, size=(64, 44)).shape == (2, 2, 64, 44)
    assert not np.array_equal(pose_heatmaps(kp, sigma=4.0), hm)
    # the normalisation removes position and scale: both skeletons have the same shape
    assert np.abs(hm[0].astype(int) - hm[1].astype(int)).max() <= 3
    with pytest.raises(InputError, match=r"\(T, 17, 3\)"):
        pose_heatmaps(np.zeros((2, 18, 3)))
    with pytest.raises(ConfigError, match="needs the frames' masks"):
        pose_heatmaps(kp, align="silhouette")
    with pytest.raises(ConfigError, match="unknown heatmap alignment"):
        pose_heatmaps(kp, align="centre")
    with pytest.raises(ConfigError, match="order"):
        pose_heatmaps(kp, order=("a", "b"))
    assert len(COCO_LIMBS) == 17
