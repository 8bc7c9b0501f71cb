"""Conversion benchmark:

1. alignment throughput: our OpenGait-method aligner against a faithful re-statement of OpenGait's
   per-frame ``pretreatment.py`` code, on the same silhouettes in memory, one process each with
   OpenCV limited to one thread (same core count), outputs checked identical frame for frame;
2. the same pair including PNG decoding (what a whole pretreatment pass pays per frame);
3. end-to-end CASIA-B-style videos -> GREW-style layout with the process pool, sequences/s.

    python -m bench.convert                 # writes a small demo set to a temp folder
    python -m bench.convert --ids 8 --workers 2 --silhouette bgsub
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def _time(fn, items, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return best


def alignment(sil_root: Path, limit: int, repeat: int) -> None:
    from core.convert.align import align_opengait
    from bench.opengait_reference import opengait_reference

    files = sorted(sil_root.glob("*/*/*/*.png"))[:limit]
    frames = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    mismatched = 0
    for img in frames:
        ours, ref = align_opengait(img)[0], opengait_reference(img)
        if (ours is None) != (ref is None) or (ours is not None and not np.array_equal(ours, ref)):
            mismatched += 1
    print(f"identical output: {len(frames) - mismatched}/{len(frames)} frames "
          f"({sum(opengait_reference(i) is None for i in frames)} dropped by both)")
    t_ref = _time(opengait_reference, frames, repeat)
    t_ours = _time(lambda i: align_opengait(i), frames, repeat)
    print(f"alignment only   : OpenGait per-frame {len(frames) / t_ref:8.0f} frames/s | ours "
          f"{len(frames) / t_ours:8.0f} frames/s | ratio {t_ref / t_ours:.2f}x")

    def ref_io(f):
        return opengait_reference(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE))

    def ours_io(f):
        return align_opengait(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE))

    t_ref = _time(ref_io, files, repeat)
    t_ours = _time(ours_io, files, repeat)
    print(f"decode + align   : OpenGait per-frame {len(files) / t_ref:8.0f} frames/s | ours "
          f"{len(files) / t_ours:8.0f} frames/s | ratio {t_ref / t_ours:.2f}x (PNG decoding is the same for both)")


def end_to_end(video_root: Path, out: Path, workers: int, silhouette: str) -> None:
    from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
    from core.readers.detect import scan

    report = scan(video_root)
    plan = plan_conversion(report, out, ConvertOptions(workers=workers, silhouette=silhouette))
    t0 = time.perf_counter()
    res = run_conversion(plan)
    dt = time.perf_counter() - t0
    print(f"end to end       : {res['sequences']} CASIA-B-style videos ({res['frames']} frames kept) with "
          f"silhouettes '{silhouette}', {workers} workers: {dt:.1f} s = {res['sequences'] / dt:.2f} sequences/s, "
          f"{res['frames'] / dt:.0f} frames/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", type=int, default=6)
    ap.add_argument("--frames", type=int, default=36)
    ap.add_argument("--limit", type=int, default=3000, help="silhouettes in the alignment comparison")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--silhouette", default="bgsub", help="backend for the video arm (bgsub, groundtruth, ...)")
    ap.add_argument("--keep", default=None, help="keep the generated data in this folder")
    args = ap.parse_args()

    from core.demo.writer import generate

    cv2.setNumThreads(1)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="convert-bench-"))
    try:
        sil, vid = tmp / "sil", tmp / "vid"
        views = ("000", "054", "090", "144", "180")
        if not (sil / "demo.json").exists():
            generate(sil, ids=args.ids, views=views, frames=args.frames, layout="casia-b-silhouette")
        if not (vid / "demo.json").exists():
            generate(vid, ids=max(2, args.ids // 3), views=("090",), frames=args.frames, layout="casia-b-video")
        print(f"machine: {cv2.getNumberOfCPUs()} CPU cores; OpenCV threads 1 per process")
        alignment(sil, args.limit, args.repeat)
        cv2.setNumThreads(0)
        shutil.rmtree(tmp / "out", ignore_errors=True)
        end_to_end(vid, tmp / "out", args.workers, args.silhouette)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
