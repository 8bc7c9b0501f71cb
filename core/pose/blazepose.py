"""MediaPipe's BlazePose (the real model, shipped inside the ``mediapipe`` wheel, Apache-2.0):
33 body landmarks and a person segmentation mask per frame, offline, on the CPU.

Only ``model_complexity=1`` is used: its ``pose_landmark_full.tflite`` is inside the wheel, while
the lite (0) and heavy (2) models are downloaded on first use, which fails offline.

Each frame is cropped around the person's box (a square region, the box's longer side times
``PADDING``, resized to ``CROP`` pixels) so that a walker 150 px tall in a 768x576 street frame
fills the network's input, and so that the other walkers are mostly outside it. Without boxes the
whole frame is the region. Landmarks and the mask are mapped back to frame pixels through the
inverse of the crop's affine transform. One MediaPipe graph serves one run of frames (a
sequence or a track), in video mode: the landmarks of one frame seed the next frame's region,
which is how BlazePose is meant to follow a walker. Its temporal smoothing is off because the
crop itself moves from frame to frame.

COCO-17 from BlazePose-33: the 17 COCO joints are a subset of BlazePose's landmarks (same names:
nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles); a landmark's ``visibility``
is the keypoint's confidence.
"""

from __future__ import annotations

import numpy as np
import cv2

from core.errors import ConfigError, InputError

#: BlazePose landmark index of each COCO-17 keypoint, in COCO order (core.pose.COCO_KEYPOINTS).
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
BLAZEPOSE_LANDMARKS = 33
PADDING = 1.3
CROP = 256
MASK_THRESHOLD = 0.5
#: A walker covers about half of their box; a mask under this fraction of it is a scrap (seen on
#: vtest.avi at the frame's border, where alignment would blow it up into a blocky blob).
MIN_BOX_FILL = 0.15
INSTALL_HINT = ("MediaPipe is not installed: install the optional extra with `.venv/bin/pip uninstall -y "
                "opencv-python-headless && .venv/bin/pip install -r requirements-mediapipe.txt` "
                "(README, 'Real offline models')")


def require_mediapipe():
    """The ``mediapipe`` module, or ConfigError saying how to install it."""
    import importlib

    try:
        mediapipe = importlib.import_module("mediapipe")
        importlib.import_module("mediapipe.python.solutions.pose")   # the part this module uses
    except ImportError as exc:
        raise ConfigError(f"{INSTALL_HINT} ({exc})") from exc
    return mediapipe


def coco_from_blazepose(landmarks: np.ndarray) -> np.ndarray:
    """(..., 33, 3) BlazePose landmarks x, y, visibility -> (..., 17, 3) COCO-17 x, y, conf."""
    lm = np.asarray(landmarks, np.float32)
    if lm.shape[-2:] != (BLAZEPOSE_LANDMARKS, 3):
        raise InputError(None, f"BlazePose landmarks must be (..., 33, 3), got shape {lm.shape}")
    out = lm[..., COCO_FROM_BLAZEPOSE, :].copy()
    out[..., 2] = np.clip(out[..., 2], 0.0, 1.0)
    return out


def crop_transform(box, frame_w: int, frame_h: int, size: int = CROP, padding: float = PADDING) -> np.ndarray:
    """2x3 affine matrix from frame pixels into the ``size`` x ``size`` crop of ``box``
    (x0, y0, x1, y1); None = the whole frame, letterboxed."""
    if box is None:
        x0, y0, x1, y1 = 0.0, 0.0, float(frame_w), float(frame_h)
        side = max(x1 - x0, y1 - y0)
    else:
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(x1 - x0, y1 - y0, 1.0) * padding
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    s = size / side
    return np.array([[s, 0.0, 0.5 * size - s * cx], [0.0, s, 0.5 * size - s * cy]], np.float64)


def to_frame(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) crop pixels -> frame pixels through the inverse of ``matrix``."""
    inv = cv2.invertAffineTransform(matrix)
    p = np.asarray(points, np.float64)
    return p @ inv[:, :2].T + inv[:, 2]


class BlazePose:
    """``run(frames, boxes=None)`` -> masks (T, H, W) uint8 {0, 255} and COCO-17 keypoints (T, 17, 3)."""

    label = "MediaPipe BlazePose (real model, full landmark model, bundled with the mediapipe wheel)"

    def __init__(self, *, min_confidence: float = 0.5, threshold: float = MASK_THRESHOLD, crop: int = CROP):
        self.mp = require_mediapipe()
        if not 0.0 < float(min_confidence) < 1.0 or not 0.0 < float(threshold) < 1.0:
            raise ConfigError(f"min_confidence and threshold must lie between 0 and 1, "
                              f"got {min_confidence}, {threshold}")
        self.min_confidence = float(min_confidence)
        self.threshold = float(threshold)
        self.crop = int(crop)
        self._last: tuple | None = None

    def _graph(self):
        return self.mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=False,
                                           enable_segmentation=True, smooth_segmentation=False,
                                           min_detection_confidence=self.min_confidence,
                                           min_tracking_confidence=self.min_confidence)

    def run(self, frames: np.ndarray, boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        from core.silhouette.bgsub import check_frames, fill_holes, keep_largest

        frames = check_frames(frames)
        t, h, w = frames.shape[:3]
        if boxes is not None and np.asarray(boxes).shape != (t, 4):
            raise InputError(None, f"boxes must be ({t}, 4) x0, y0, x1, y1; got shape {np.asarray(boxes).shape}")
        key = (frames.ctypes.data, frames.shape, None if boxes is None else np.asarray(boxes).tobytes())
        if self._last is not None and self._last[0] == key:   # mask and pose of one call, asked for twice
            return self._last[1]
        masks = np.zeros((t, h, w), np.uint8)
        keypoints = np.zeros((t, 17, 3), np.float32)
        with self._graph() as graph:
            for i in range(t):
                box = None if boxes is None else boxes[i]
                if box is not None and not (box[2] > box[0] and box[3] > box[1]):
                    continue     # no box in this frame: nothing to look at
                m = crop_transform(box, w, h, self.crop)
                crop = cv2.warpAffine(frames[i], m, (self.crop, self.crop), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                res = graph.process(crop)
                if res.pose_landmarks is None:
                    continue
                lm = np.array([(p.x * self.crop, p.y * self.crop, p.visibility)
                               for p in res.pose_landmarks.landmark], np.float32)
                coco = coco_from_blazepose(lm)
                coco[:, :2] = to_frame(coco[:, :2], m)
                keypoints[i] = coco
                if res.segmentation_mask is not None:
                    prob = cv2.warpAffine(res.segmentation_mask.astype(np.float32), m, (w, h),
                                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                    mask = np.where(prob > self.threshold, 255, 0).astype(np.uint8)
                    if mask.any():   # stray pixels of a neighbour at the crop's edge go, as in segmentation
                        mask = fill_holes(keep_largest(mask, near_px=6, min_frac=0.02), 0.15)
                    if box is not None and (mask > 0).sum() < MIN_BOX_FILL * (box[2] - box[0]) * (box[3] - box[1]):
                        mask[:] = 0   # a scrap, not the walker: empty, so alignment drops the frame
                    masks[i] = mask
        self._last = (key, (masks, keypoints))
        return masks, keypoints

