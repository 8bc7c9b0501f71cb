"""Person tracking and BlazePose's keypoint mapping, on synthetic boxes and landmarks."""

import numpy as np
import pytest

from core.errors import ConfigError
from core.pose import COCO_KEYPOINTS
from core.pose.blazepose import COCO_FROM_BLAZEPOSE, coco_from_blazepose, crop_transform, to_frame
from core.silhouette.persons import blob_boxes, non_max_suppression
from core.silhouette.tracker import iou_matrix, track_boxes


def test_iou_matrix_of_known_boxes():
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 120]], np.float32)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == pytest.approx(1.0)
    assert iou[0, 2] == 0 and iou[1].max() == 0


def _walker(x0, t, speed, y=100, w=20, h=60):
    x = x0 + speed * t
    return [x, y, x + w, y + h]


def test_two_walkers_crossing_keep_their_tracks_and_gaps_are_filled():
    frames = []
    for t in range(30):
        boxes = [_walker(10, t, 3), _walker(300, t, -3, y=200)]
        if t in (12, 13):          # the detector misses walker A twice
            boxes = boxes[1:]
        frames.append(np.array(boxes, np.float32))
    tracks = track_boxes(frames, min_length=10)
    assert len(tracks) == 2
    a, b = tracks                   # numbered by first frame, then left edge: A (x=10) first
    assert a.number == 1 and b.number == 2
    assert a.frames == list(range(30)) and b.frames == list(range(30))
    assert a.detected[12] is False and a.detected[13] is False and sum(a.detected) == 28
    # the filled boxes lie between the sightings before and after the gap
    np.testing.assert_allclose(a.box_array()[12], _walker(10, 12, 3), atol=1e-4)
    assert all(bx[0] < 200 for bx in a.box_array()[:20])     # A never takes B's box


def test_a_long_absence_ends_a_track_and_short_tracks_are_dropped():
    frames = [np.array([_walker(10, t, 2)], np.float32) if t < 15 or t >= 25 else np.zeros((0, 4), np.float32)
              for t in range(40)]
    frames[5] = np.concatenate([frames[5], np.array([[600, 0, 620, 50]], np.float32)])   # one-frame noise
    tracks = track_boxes(frames, max_gap=4, min_length=10)
    assert [(tr.first, tr.last) for tr in tracks] == [(0, 14), (25, 39)]
    assert [tr.number for tr in tracks] == [1, 2]


def test_tracker_refuses_bad_settings():
    with pytest.raises(ConfigError):
        track_boxes([], min_iou=0)


def test_blob_boxes_keep_person_shapes_only():
    m = np.zeros((200, 300), np.uint8)
    m[20:120, 10:40] = 255       # a standing person: tall
    m[150:160, 100:250] = 255    # a kerb-like streak: wide, not a person
    m[50:55, 200:203] = 255      # a speck
    boxes = blob_boxes(m)
    np.testing.assert_array_equal(boxes, [[10, 20, 40, 120]])


def test_non_max_suppression_drops_the_nested_duplicate():
    boxes = np.array([[0, 0, 50, 100], [2, 2, 48, 98], [200, 0, 250, 100]], np.float32)
    np.testing.assert_array_equal(non_max_suppression(boxes, 0.4), boxes[[0, 2]])


def test_coco_mapping_takes_the_named_blazepose_landmarks():
    lm = np.zeros((33, 3), np.float32)
    lm[:, 0] = np.arange(33)          # x = the landmark's own index
    lm[:, 1] = 2 * np.arange(33)
    lm[:, 2] = 1.5                    # out-of-range visibility is clipped to 1
    coco = coco_from_blazepose(lm)
    assert coco.shape == (17, 3)
    assert coco[COCO_KEYPOINTS.index("nose"), 0] == 0
    assert coco[COCO_KEYPOINTS.index("left_shoulder"), 0] == 11
    assert coco[COCO_KEYPOINTS.index("right_ankle"), 0] == 28
    assert coco[COCO_KEYPOINTS.index("left_hip"), 1] == 46
    assert (coco[:, 2] == 1).all()


def test_coco_mapping_matches_mediapipes_own_landmark_names():
    from tests.realvideo import need_mediapipe

    need_mediapipe()
    from mediapipe.python.solutions.pose import PoseLandmark

    assert [PoseLandmark(i).name.lower() for i in COCO_FROM_BLAZEPOSE] == list(COCO_KEYPOINTS)


def test_crop_transform_round_trips_frame_points():
    m = crop_transform([300, 100, 360, 260], 768, 576, size=256)
    pts = np.array([[330.0, 180.0], [300, 100], [360, 260]])
    crop = pts @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(crop[0], [128, 128])            # the box centre is the crop centre
    assert 0 < crop[1:, 1].min() and crop[1:, 1].max() < 256   # the whole box is inside, padded
    np.testing.assert_allclose(to_frame(crop, m), pts, atol=1e-9)
