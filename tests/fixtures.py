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



def tree_walker(t: int, sid: str, view: str, index: int, h: int = 240, w: int = 320) -> np.ndarray:
    """Frame ``t`` of the ``index``-th sequence of :func:`make_tree`: the identity sets the body, and
    each sequence starts elsewhere along the street, so a camera's background can be voted from them."""
    k = sum(map(ord, sid)) % 7 + 1
    img = walker_frame(t, k, sum(map(ord, view)) % 30, h, w)
    return np.roll(img, (index * 37) % 150, axis=1)


def make_tree(root: Path, triples, frames: int = 8, *, name=lambda t: f"frame_{t + 1:04d}.png", grey: bool = False,
              rgb: bool = False, size: tuple[int, int] = (240, 320), bad_frames: bool = True) -> Path:
    """A ``<sid>/<seq>/<view>/<frames>`` tree of walker drawings, one sequence per (sid, seq, view).

    ``grey`` blurs the edges (grey silhouettes); ``rgb`` paints the walker over a fixed textured
    background as JPEG colour frames. With ``bad_frames`` frame 1 is empty and frame 2 holds a speck
    (pixel sum under OpenGait's 10000): both must be dropped."""
    h, w = size
    bg = cv2.GaussianBlur(np.random.default_rng(0).integers(40, 200, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    for index, (sid, seq, view) in enumerate(triples):
        d = root / sid / seq / view
        d.mkdir(parents=True, exist_ok=True)
        colour = (30 + 25 * (sum(map(ord, sid)) % 7), 60, 200)
        for t in range(frames):
            img = tree_walker(t, sid, view, index, h, w)
            if bad_frames and t == 0:
                img[:] = 0
            elif bad_frames and t == 1:
                img[:] = 0
                img[100:105, 100:105] = 255
            if grey:
                img = cv2.GaussianBlur(img, (7, 7), 2)
            if rgb:
                out = bg.copy()
                out[img > 127] = colour
                cv2.imwrite(str(d / (name(t).rsplit(".", 1)[0] + ".jpg")), out, [cv2.IMWRITE_JPEG_QUALITY, 95])
            else:
                cv2.imwrite(str(d / name(t)), img)
    return root
