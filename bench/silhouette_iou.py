"""Silhouette quality of background subtraction on the synthetic demo set: mean IoU against the
generator's ground truth per condition, per view and overall, and frames per second.

Two ways to get the background are measured:

* ``per-video``: each video's own temporal-mode background (what ``--silhouette bgsub`` does);
* ``camera``: one background per camera (same view and session), voted by all of its videos
  (``core.silhouette.bgsub.camera_background``), then the same subtraction.

    python -m bench.silhouette_iou                      # writes a small casia-b-video demo set to a temp dir
    python -m bench.silhouette_iou --ids 2 --views 090 --frames 24
    python -m bench.silhouette_iou --demo data/demo-videos --json

The demo frames go through the real file formats (MJPG video for casia-b-video, JPEG for ccvid),
so compression noise is part of the measurement. IoU per frame is |A & B| / |A | B| (1 when both
are empty); a sequence's IoU is the mean over its frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def frame_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    a, b = pred > 0, gt > 0
    inter = (a & b).sum((1, 2))
    union = (a | b).sum((1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def load_sequences(root: Path, limit: int | None):
    """[(key, camera, condition, view, rgb (T,H,W,3), gt masks (T,H,W))] for every sequence with ground truth."""
    from core.demo.groundtruth import load_groundtruth
    from core.readers.detect import scan
    from core.readers.media import read_frames

    meta = {}
    meta_path = root / "demo.json"
    if meta_path.is_file():
        for rec in json.loads(meta_path.read_text()).get("sequences", []):
            meta[rec["key"]] = rec
    report = scan(root)
    out = []
    for raw in report.sequences:
        if raw.groundtruth is None or raw.media not in ("video", "rgb"):
            continue
        key = Path(raw.groundtruth).stem
        rec = meta.get(key, {})
        gt = load_groundtruth(raw.groundtruth)
        batch = read_frames(raw)
        idx = [int(n) - 1 for n in batch.names] if all(n.isdigit() for n in batch.names) else list(range(len(batch)))
        if max(idx, default=-1) >= len(gt):
            print(f"skipping {key}: {len(batch)} frames but {len(gt)} ground-truth frames", file=sys.stderr)
            continue
        masks = gt.silhouettes()[idx]
        view = rec.get("view", raw.view)
        camera = f"{rec.get('session', '')}/{view}"
        out.append((key, camera, rec.get("condition", raw.condition), view, batch.images, masks))
        if limit and len(out) >= limit:
            break
    return report.format, out


def run(seqs, modes, options):
    from core.silhouette.bgsub import BackgroundSubtraction

    results = {m: {} for m in modes}          # mode -> key -> mean IoU
    timing = {m: {"frames": 0, "seconds": 0.0, "fit_seconds": 0.0} for m in modes}

    def score(mode, backend, group):
        for key, _, _, _, rgb, gt in group:
            t0 = time.perf_counter()
            pred = backend.masks(rgb)
            timing[mode]["seconds"] += time.perf_counter() - t0
            timing[mode]["frames"] += len(rgb)
            results[mode][key] = float(frame_iou(pred, gt).mean())

    if "per-video" in modes:
        score("per-video", BackgroundSubtraction(**options), seqs)
    if "camera" in modes:
        by_cam = defaultdict(list)
        for s in seqs:
            by_cam[s[1]].append(s)
        for cam, group in by_cam.items():
            b = BackgroundSubtraction(**options)
            t0 = time.perf_counter()
            b.fit_background([s[4] for s in group])
            timing["camera"]["fit_seconds"] += time.perf_counter() - t0
            score("camera", b, group)
    return results, timing


def summarise(seqs, results, timing):
    info = {s[0]: (s[2], s[3]) for s in seqs}
    summary = {}
    for mode, per_key in results.items():
        by_cond, by_view = defaultdict(list), defaultdict(list)
        for key, v in per_key.items():
            cond, view = info[key]
            by_cond[cond].append(v)
            by_view[view].append(v)
        t = timing[mode]
        summary[mode] = {
            "overall": float(np.mean(list(per_key.values()))) if per_key else None,
            "worst": float(np.min(list(per_key.values()))) if per_key else None,
            "conditions": {c: float(np.mean(v)) for c, v in sorted(by_cond.items())},
            "views": {v: float(np.mean(x)) for v, x in sorted(by_view.items())},
            "sequences": len(per_key), "frames": t["frames"],
            "fps": t["frames"] / t["seconds"] if t["seconds"] else None,
            "fps_with_fit": t["frames"] / (t["seconds"] + t["fit_seconds"]) if t["seconds"] else None,
        }
    return summary


def print_table(summary):
    modes = list(summary)
    print(f"{'':>14}" + "".join(f"{m:>12}" for m in modes))
    rows = [("overall", lambda s: s["overall"]), ("worst seq", lambda s: s["worst"])]
    conds = sorted({c for s in summary.values() for c in s["conditions"]})
    views = sorted({v for s in summary.values() for v in s["views"]})
    rows += [(f"cond {c}", lambda s, c=c: s["conditions"].get(c)) for c in conds]
    rows += [(f"view {v}", lambda s, v=v: s["views"].get(v)) for v in views]
    for name, get in rows:
        print(f"{name:>14}" + "".join(f"{get(summary[m]):>12.3f}" if get(summary[m]) is not None else f"{'-':>12}"
                                      for m in modes))
    print(f"{'frames/s':>14}" + "".join(f"{summary[m]['fps']:>12.1f}" for m in modes))
    print(f"{'  incl. fit':>14}" + "".join(f"{summary[m]['fps_with_fit']:>12.1f}" for m in modes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, help="an existing demo set (casia-b-video or ccvid layout)")
    ap.add_argument("--ids", type=int, default=4, help="identities to generate (default 4)")
    ap.add_argument("--views", default="000,036,090,144,180", help="views to generate")
    ap.add_argument("--frames", type=int, default=36)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", default="casia-b-video", choices=("casia-b-video", "ccvid"))
    ap.add_argument("--mode", default="both", choices=("per-video", "camera", "both"))
    ap.add_argument("--limit", type=int, default=None, help="at most this many sequences")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a bgsub option (BgSubParams field), e.g. --option threshold=20")
    ap.add_argument("--json", action="store_true", help="last stdout line: the summary as JSON")
    args = ap.parse_args()

    from core.silhouette.bgsub import BgSubParams

    options = {}
    for kv in args.option:
        k, _, v = kv.partition("=")
        if k not in BgSubParams.__dataclass_fields__:
            sys.exit(f"unknown bgsub option {k!r}")
        typ = type(getattr(BgSubParams(), k))
        options[k] = (v.lower() in ("1", "true", "yes")) if typ is bool else typ(v)

    tmp = None
    root = args.demo
    if root is None:
        from core.demo.writer import generate

        tmp = tempfile.TemporaryDirectory(prefix="sil-bench-")
        root = Path(tmp.name) / "demo"
        t0 = time.perf_counter()
        s = generate(root, ids=args.ids, views=args.views, seed=args.seed, layout=args.layout, frames=args.frames)
        print(f"demo set: {s.counts['sequences']} sequences x {args.frames} frames ({args.layout}) "
              f"in {time.perf_counter() - t0:.1f} s")
    try:
        fmt, seqs = load_sequences(root, args.limit)
        if not seqs:
            sys.exit(f"{root}: no sequence with colour frames and ground truth")
        print(f"{len(seqs)} sequences ({fmt}), {sum(len(s[4]) for s in seqs)} frames, "
              f"{seqs[0][4].shape[2]}x{seqs[0][4].shape[1]}")
        modes = ["per-video", "camera"] if args.mode == "both" else [args.mode]
        results, timing = run(seqs, modes, options)
        summary = summarise(seqs, results, timing)
        print_table(summary)
        if args.json:
            print(json.dumps({"format": fmt, "options": options, "summary": summary}))
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
