"""COCO-17 keypoints from a transformers ViTPose network (``VitPoseForPoseEstimation``).

Top-down, one person per frame: each frame's person box is cropped to the network's input with
the same geometry as ``VitPoseImageProcessor`` (box widened to the input's aspect ratio, padded
by 1.25, unbiased affine warp), the heatmaps are decoded by arg-max plus the DARK sub-pixel step
and mapped back to frame pixels as the processor's ``post_process_pose_estimation`` does (one
difference: the DARK step is limited to one heatmap pixel). Cropping and decoding are done here
with OpenCV because the processor's own versions need SciPy, which the studio does not install;
the processor is still read for its input normalisation. The confidence of a keypoint is its heatmap maximum.

Boxes: given (T, 4) ``x0, y0, x1, y1`` in pixels; else the bounding box of each frame's silhouette
(``masks=``), frames with an empty silhouette getting all-zero keypoints; else the whole frame.
"""

from __future__ import annotations

import numpy as np
import cv2

from core.errors import ConfigError, InputError
from core.silhouette.bgsub import check_frames
from core.device import resolve_device, resolve_dtype
from core.hub import load_pretrained

PADDING = 1.25          # box enlargement of ViTPose's top-down pipeline
DARK_KERNEL = 11        # Gaussian modulation window of the DARK step (transformers' default)
DARK_SIGMA = 0.8


def boxes_from_masks(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame bounding boxes (T, 4) float32 x0, y0, x1, y1 (x1/y1 exclusive) of the foreground,
    and which frames have any foreground at all."""
    m = np.asarray(masks)
    if m.ndim != 3:
        raise InputError(None, f"masks must be (T, H, W), got shape {m.shape}")
    t, h, w = m.shape
    boxes = np.zeros((t, 4), np.float32)
    rows, cols = m.any(2), m.any(1)
    valid = rows.any(1)
    for i in np.flatnonzero(valid):
        r, c = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
        boxes[i] = (c[0], r[0], c[-1] + 1, r[-1] + 1)
    return boxes, valid


def box_roi(box: np.ndarray, aspect: float, padding: float = PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Centre (x, y) and region size (w, h) in pixels that a box is cropped with: the box widened
    to the network's aspect ratio (``aspect`` = input width / height), then enlarged by ``padding``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    centre = np.array([x0 + 0.5 * w, y0 + 0.5 * h], np.float64)
    if w > aspect * h:
        h = w / aspect
    elif w < aspect * h:
        w = h * aspect
    return centre, np.array([w, h], np.float64) * padding


def crop_matrix(centre: np.ndarray, roi: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """2x3 affine matrix taking frame pixels into the network input (unbiased: the region's corner
    pixels map onto the input's corner pixels, as in the processor)."""
    sx, sy = (out_w - 1.0) / roi[0], (out_h - 1.0) / roi[1]
    return np.array([[sx, 0.0, sx * (0.5 * roi[0] - centre[0])],
                     [0.0, sy, sy * (0.5 * roi[1] - centre[1])]], np.float64)


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, K, h, w) heatmaps -> sub-pixel peak coordinates (B, K, 2) in heatmap pixels and the
    peak values (B, K). Arg-max, then one Newton step on the log of the Gaussian-smoothed heatmap
    (DARK); the step is limited to one heatmap pixel so a flat or noisy map cannot throw it off."""
    hm = np.asarray(heatmaps, np.float32)
    b, k, h, w = hm.shape
    flat = hm.reshape(b, k, -1)
    idx = flat.argmax(-1)
    scores = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    xs, ys = (idx % w).astype(np.float64), (idx // w).astype(np.float64)
    out = np.stack([xs, ys], -1)
    for i in range(b):
        for j in range(k):
            x, y = int(xs[i, j]), int(ys[i, j])
            sm = cv2.GaussianBlur(hm[i, j], (DARK_KERNEL, DARK_KERNEL), DARK_SIGMA, borderType=cv2.BORDER_REFLECT)
            lg = np.log(np.clip(sm, 1e-3, 50.0))
            p = np.pad(lg, 1, mode="edge")
            cy, cx = y + 1, x + 1
            dx = 0.5 * (p[cy, cx + 1] - p[cy, cx - 1])
            dy = 0.5 * (p[cy + 1, cx] - p[cy - 1, cx])
            dxx = p[cy, cx + 1] - 2 * p[cy, cx] + p[cy, cx - 1]
            dyy = p[cy + 1, cx] - 2 * p[cy, cx] + p[cy - 1, cx]
            # the mixed derivative as mmpose / transformers write it (a 7-point stencil)
            dxy = 0.5 * (p[cy + 1, cx + 1] - p[cy, cx + 1] - p[cy + 1, cx] + 2 * p[cy, cx]
                         - p[cy, cx - 1] - p[cy - 1, cx] + p[cy - 1, cx - 1])
            hess = np.array([[dxx, dxy], [dxy, dyy]]) + np.finfo(np.float32).eps * np.eye(2)
            det = np.linalg.det(hess)
            if abs(det) < 1e-12:
                continue
            step = np.linalg.solve(hess, np.array([dx, dy]))
            out[i, j] -= np.clip(step, -1.0, 1.0)
    return out, scores


class VitPoseBackend:
    """``keypoints(frames, boxes=None, *, masks=None)`` -> (T, 17, 3) float32 x, y, conf in pixels."""

    name = "transformers"
    model_free = False

    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 16, half: bool = False,
                 dataset_index: int = 0, allow_download: bool = False):
        from transformers import AutoImageProcessor, VitPoseForPoseEstimation

        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.source, self.model = load_pretrained(
            "pose model", lambda folder: VitPoseForPoseEstimation.from_pretrained(folder, local_files_only=True),
            model, allow_download=allow_download)
        try:
            proc = AutoImageProcessor.from_pretrained(self.source.path, local_files_only=True)
            self.processor_note = type(proc).__name__
        except (OSError, ValueError, KeyError):
            # a folder with weights only: ViTPose's standard ImageNet normalisation
            proc = None
            self.processor_note = "no processor config; ImageNet normalisation assumed"
        cfg = self.model.config
        if int(cfg.num_labels) != 17:
            raise InputError(self.source.path, f"the pose model predicts {cfg.num_labels} keypoints; COCO-17 is needed")
        self.in_h, self.in_w = (int(v) for v in cfg.backbone_config.image_size)
        mean = getattr(proc, "image_mean", None) or (0.485, 0.456, 0.406)
        std = getattr(proc, "image_std", None) or (0.229, 0.224, 0.225)
        self.mean = np.asarray(mean, np.float32) * 255.0
        self.std = np.asarray(std, np.float32) * 255.0
        self.experts = int(getattr(cfg.backbone_config, "num_experts", 1) or 1)
        if not 0 <= int(dataset_index) < self.experts:
            raise ConfigError(f"dataset_index {dataset_index} out of range for {self.experts} expert(s)")
        self.dataset_index = int(dataset_index)
        self.dtype = resolve_dtype(self.device, None if half else "fp32")   # half: fp16 on CUDA only
        self.model.to(self.device, dtype=self.dtype).eval()
        self.batch_size = int(batch_size)

    @property
    def label(self) -> str:
        return f"pose network {self.source.describe()} (ViTPose, COCO-17, {self.in_w}x{self.in_h} input)"

    def __repr__(self) -> str:
        return f"VitPoseBackend({self.source.spec!r}, device='{self.device}')"

    def _boxes(self, frames: np.ndarray, boxes, masks) -> tuple[np.ndarray, np.ndarray]:
        t, h, w = frames.shape[:3]
        if boxes is not None:
            b = np.asarray(boxes, np.float32)
            if b.shape != (t, 4):
                raise InputError(None, f"boxes must be ({t}, 4) x0, y0, x1, y1; got shape {b.shape}")
            if not np.isfinite(b).all():
                raise InputError(None, "boxes hold NaN or infinite values")
            valid = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
            return b, valid
        if masks is not None:
            m = np.asarray(masks)
            if m.shape != (t, h, w):
                raise InputError(None, f"masks must be ({t}, {h}, {w}) like the frames, got shape {m.shape}")
            return boxes_from_masks(m)
        return np.tile(np.array([0, 0, w, h], np.float32), (t, 1)), np.ones(t, bool)

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        import torch

        x = (crops.astype(np.float32) - self.mean) / self.std
        pixels = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(self.device, dtype=self.dtype)
        kwargs = {}
        if self.experts > 1:
            kwargs["dataset_index"] = torch.full((len(crops),), self.dataset_index, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            return self.model(pixel_values=pixels, **kwargs).heatmaps.float().cpu().numpy()

    def keypoints(self, frames, boxes=None, *, masks=None) -> np.ndarray:
        frames = check_frames(frames)
        t = len(frames)
        out = np.zeros((t, 17, 3), np.float32)
        b, valid = self._boxes(frames, boxes, masks)
        todo = np.flatnonzero(valid)
        aspect = self.in_w / self.in_h
        for s in range(0, len(todo), self.batch_size):
            idx = todo[s:s + self.batch_size]
            rois, crops = [], []
            for i in idx:
                centre, roi = box_roi(b[i], aspect)
                crops.append(cv2.warpAffine(frames[i], crop_matrix(centre, roi, self.in_w, self.in_h),
                                            (self.in_w, self.in_h), flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_CONSTANT, borderValue=0))
                rois.append((centre, roi))
            heat = self._forward(np.stack(crops))
            hm_h, hm_w = heat.shape[2:]
            coords, scores = decode_heatmaps(heat)
            for n, i in enumerate(idx):
                centre, roi = rois[n]
                out[i, :, 0] = coords[n, :, 0] * roi[0] / (hm_w - 1.0) + centre[0] - 0.5 * roi[0]
                out[i, :, 1] = coords[n, :, 1] * roi[1] / (hm_h - 1.0) + centre[1] - 0.5 * roi[1]
                out[i, :, 2] = np.maximum(scores[n], 0.0)
        return out
