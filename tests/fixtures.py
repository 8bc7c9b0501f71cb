"""Small hand-made raw datasets for tests that must not depend on the synthetic generator."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TYPES = ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02")


def walker_frame(t: int, sid: int, view: int, h: int = 240, w: int = 320) -> np.ndarray:
    """A crude walking blob: body ellipse plus two swinging legs; size depends on sid a little."""
    img = np.zeros((h, w), np.uint8)
    cx = 60 + 6 * t + view // 10
    body_h = 50 + 3 * sid
    cv2.ellipse(img, (cx, 90), (14 + sid, body_h // 2), 0, 0, 360, 255, -1)
    cv2.circle(img, (cx, 90 - body_h // 2 - 12), 11, 255, -1)
    swing = int(18 * np.sin(t * 0.6))
    cv2.line(img, (cx, 90 + body_h // 2 - 5), (cx + swing, 200), 255, 9)
    cv2.line(img, (cx, 90 + body_h // 2 - 5), (cx - swing, 200), 255, 9)
    return img


def make_casia_b_silhouettes(root: Path, ids=(1, 2, 3, 4), views=("090", "144"), types=TYPES, frames=8,
                             empty_first: bool = True) -> Path:
    for sid in ids:
        for typ in types:
            for view in views:
                d = root / f"{sid:03d}" / typ / view
                d.mkdir(parents=True, exist_ok=True)
                for t in range(frames):
                    img = walker_frame(t, sid, int(view))
                    if empty_first and t == 0:
                        img[:] = 0  # CASIA-B has empty frames; they must be dropped
                    cv2.imwrite(str(d / f"{sid:03d}-{typ}-{view}-{t + 1:03d}.png"), img)
    return root

