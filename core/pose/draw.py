"""Pose overlays for previews: COCO-17 keypoints and limbs drawn on a frame."""

from __future__ import annotations

import cv2
import numpy as np

from core.pose import COCO_LIMBS

LEFT, RIGHT, CENTRE = (60, 160, 255), (255, 120, 40), (90, 220, 90)


def _side(a: int, b: int) -> tuple[int, int, int]:
    odd = a % 2 == 1 and b % 2 == 1 and a > 0 and b > 0
    even = a % 2 == 0 and b % 2 == 0 and a > 0 and b > 0
    return LEFT if odd else RIGHT if even else CENTRE


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, min_conf: float = 0.05) -> np.ndarray:
    """RGB copy of ``image`` (grey or RGB uint8) with the (17, 3) keypoints drawn; joints whose
    confidence is below ``min_conf`` and limbs touching them are left out."""
    img = np.asarray(image)
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img.copy()
    kp = np.asarray(keypoints, dtype=np.float32).reshape(-1, 3)
    ok = kp[:, 2] >= min_conf
    thick = max(1, round(min(out.shape[:2]) / 120))
    for a, b in COCO_LIMBS:
        if ok[a] and ok[b]:
            cv2.line(out, (int(round(kp[a, 0])), int(round(kp[a, 1]))), (int(round(kp[b, 0])), int(round(kp[b, 1]))),
                     _side(a, b), thick, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(out, (int(round(kp[j, 0])), int(round(kp[j, 1]))), thick + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return out
