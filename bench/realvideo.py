"""Real street footage: OpenCV's ``vtest.avi`` (768x576, a static camera, several walkers, from
Debian's ``opencv-doc`` package) through person tracking and both silhouette backends.

Prints the persons tracked, frames per second of each backend on the tracked crops
(``bgsub``: background subtraction restricted to the person's box; ``mediapipe``: BlazePose's
mask and 33 landmarks on the crop, both from one call), and the IoU agreement between the two
masks per track (frames where either is empty are counted; 1 when both are empty).

    python -m bench.realvideo                                # the first 200 frames, every 2nd
    python -m bench.realvideo --frames 400 --stride 2 --shots /work/plan/shots

``--shots DIR`` writes one PNG montage per track: the frame crop with the pose overlay, the
MediaPipe mask, the bgsub mask and the OpenGait-aligned MediaPipe silhouette, for a few frames.
The video is found at $HYBRIDGAIT_VTEST or /usr/share/doc/opencv-doc/examples/data/vtest.avi
(``apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb DIR``, see .ci/run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

DEFAULT = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def find_vtest() -> Path | None:
    p = Path(os.environ.get("HYBRIDGAIT_VTEST") or DEFAULT)
    return p if p.is_file() else None


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def _crop_matrix(box, pad: float = 0.25, h: int = 160) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1 + pad)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    return np.array([[h / side, 0, h / 2 - h / side * cx], [0, h / side, h / 2 - h / side * cy]])


def _crop(img: np.ndarray, box, h: int = 160) -> np.ndarray:
    return cv2.warpAffine(img, _crop_matrix(box, h=h), (h, h), flags=cv2.INTER_LINEAR)


def montage(frames, boxes, mp_masks, bg_masks, keypoints, picks) -> np.ndarray:
    from core.convert.align import align
    from core.pose.draw import draw_skeleton

    rows = []
    for i in picks:
        m = _crop_matrix(boxes[i])
        kp = keypoints[i].copy()
        kp[:, :2] = kp[:, :2] @ m[:, :2].T + m[:, 2]     # drawn at the crop's scale, thin lines
        pose = draw_skeleton(_crop(frames[i], boxes[i]), kp, min_conf=0.3)
        mpm = cv2.cvtColor(_crop(mp_masks[i], boxes[i]), cv2.COLOR_GRAY2RGB)
        bgm = cv2.cvtColor(_crop(bg_masks[i], boxes[i]), cv2.COLOR_GRAY2RGB)
        al, _ = align(mp_masks[i], "opengait", 64)
        al = np.zeros((64, 64), np.uint8) if al is None else al
        al = cv2.cvtColor(cv2.resize(al, (160, 160), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2RGB)
        rows.append(np.hstack([pose, mpm, bgm, al]))
    return np.vstack(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", default=None, help="default: $HYBRIDGAIT_VTEST or " + DEFAULT)
    ap.add_argument("--frames", type=int, default=200, help="raw frames read from the start")
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--detector", default="bgsub", choices=("bgsub", "hog"))
    ap.add_argument("--shots", default=None, help="write one PNG montage per track here")
    args = ap.parse_args(argv)
    video = Path(args.video) if args.video else find_vtest()
    if video is None or not video.is_file():
        print("vtest.avi not found: set HYBRIDGAIT_VTEST (see the doc string)", file=sys.stderr)
        return 2
    from core.pose.blazepose import BlazePose
    from core.readers.base import RawSequence
    from core.readers.media import read_frames
    from core.silhouette.bgsub import BackgroundSubtraction
    from core.silhouette.persons import person_boxes
    from core.silhouette.tracker import track_boxes

    raw = RawSequence(sid="vtest", seq_type="nm", view="", condition="nm", media="video", video=video)
    frames = read_frames(raw, stride=args.stride, max_frames=args.frames // args.stride).images
    t0 = time.perf_counter()
    tracks = track_boxes(person_boxes(frames, args.detector))
    t_track = time.perf_counter() - t0
    print(f"{video.name}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]} (stride {args.stride}), "
          f"{args.detector} boxes + IoU tracking at {len(frames) / t_track:.1f} frames/s")
    print(f"persons tracked: {len(tracks)}")
    runner = BlazePose()
    bgsub = BackgroundSubtraction()
    background = bgsub.background_model(frames).astype(np.uint8)   # the whole clip's, once
    bgsub.set_background(background)
    times = {"bgsub": 0.0, "mediapipe": 0.0}
    n_total, ious = 0, []
    print(f"{'track':>5} {'frames':>6} {'first':>5} {'bgsub fps':>9} {'mp fps':>7} {'IoU mp/bg':>9} {'mp empty':>8}")
    for tr in tracks:
        idx = np.asarray(tr.frames)
        f, b = frames[idx], tr.box_array()
        t0 = time.perf_counter()
        bg = bgsub.masks(f, boxes=b)
        t_bg = time.perf_counter() - t0
        t0 = time.perf_counter()
        mp, kp = runner.run(f, b)
        t_mp = time.perf_counter() - t0
        times["bgsub"] += t_bg
        times["mediapipe"] += t_mp
        n_total += len(f)
        iou = [mask_iou(x, y) for x, y in zip(mp, bg)]
        ious += iou
        empty = int(sum(not m.any() for m in mp))
        print(f"{tr.number:>5} {len(f):>6} {tr.first:>5} {len(f) / t_bg:>9.1f} {len(f) / t_mp:>7.1f} "
              f"{np.mean(iou):>9.3f} {empty:>8}")
        if args.shots:
            out = Path(args.shots)
            out.mkdir(parents=True, exist_ok=True)
            picks = np.linspace(0, len(f) - 1, min(4, len(f))).round().astype(int)
            img = montage(f, b, mp, bg, kp, picks)
            cv2.imwrite(str(out / f"realvideo-track{tr.number:02d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if n_total:
        print(f"all tracks: {n_total} person-frames; bgsub {n_total / times['bgsub']:.1f} frames/s, "
              f"mediapipe {n_total / times['mediapipe']:.1f} frames/s "
              f"(time ratio mediapipe/bgsub {times['mediapipe'] / times['bgsub']:.2f}); mean IoU mediapipe vs bgsub "
              f"{np.mean(ious):.3f}, median {np.median(ious):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
