"""Write the synthetic demo set in a real raw dataset layout.

Layouts (names exactly as the real datasets spell them):

* ``casia-b-silhouette``: ``<out>/<sid>/<type>-<NN>/<view>/<sid>-<type>-<NN>-<view>-<frame:03d>.png``
* ``casia-b-video``:      ``<out>/<sid>-<type>-<NN>-<view>.avi`` (MJPG, 25 fps, 320x240)
* ``ccvid``:              ``<out>/session{1,2,3}/<sid>_<NN>/<frame:05d>.jpg`` + train/query/gallery.txt

Every layout also gets ``<out>/_groundtruth/<key>.npz`` per sequence and ``<out>/demo.json``.
Each sequence appears whole or not at all (built under a temporary name, then renamed), and a rerun
with the same parameters skips finished sequences.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from core import locks
from core.atomic import atomic_dir, atomic_path, write_json, write_text
from core.demo.body import make_identity, make_jitter, rng_for, seed_for
from core.demo.garments import casia_outfit, ccvid_outfit
from core.demo.groundtruth import GT_DIR, groundtruth_name
from core.demo.render import VIEWS, render_rgb, render_sequence
from core.procpool import process_pool
from core.errors import ConfigError, InputError
from core.records import CASIA_B_TYPES

GENERATOR_VERSION = "hybridgait-demo/1"
LAYOUTS = ("casia-b-silhouette", "casia-b-video", "ccvid")
CCVID_VIEWS = ("000", "018", "162", "180")
FPS = 25
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
JPG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 92]


@dataclass
class DemoSummary:
    out_dir: Path
    layout: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    sequences: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# planning
# ------------------------------------------------------------------------------------------------

def _casia_plan(ids: int, views: tuple[str, ...], seed: int, frames: int, layout: str) -> list[dict[str, Any]]:
    plan = []
    for i in range(ids):
        sid = f"{i + 1:03d}"
        for st in CASIA_B_TYPES:
            outfit = casia_outfit(seed, sid, st)
            for view in views:
                key = f"{sid}-{st}-{view}"
                path = f"{sid}/{st}/{view}" if layout == "casia-b-silhouette" else f"{key}.avi"
                plan.append({"key": key, "sid": sid, "type": st, "view": view, "condition": st[:2],
                             "clothes": outfit.clothes_id, "outfit": outfit.description, "frames": frames,
                             "path": path})
    return plan


def _ccvid_plan(ids: int, seed: int, frames: int) -> list[dict[str, Any]]:
    """Per id: session1 two tracklets (outfit 1), session2 two (outfit 2, a coat), and for every
    other id session3 two more (outfit 3). First half of the ids train; the rest are split into
    gallery (session1 + one session2 tracklet) and query (the other session2 one + session3), so
    queries have both same-clothes and clothes-changing matches."""
    n_train = ids // 2
    plan = []
    for i in range(ids):
        sid = f"{i + 1:03d}"
        tracklets = [("session1", 1, 1), ("session1", 2, 1), ("session2", 1, 2), ("session2", 2, 2)]
        if i % 2 == 0:
            tracklets += [("session3", 1, 3), ("session3", 2, 3)]
        for session, nn, outfit_no in tracklets:
            outfit = ccvid_outfit(seed, sid, outfit_no)
            r = rng_for("ccvid-view", int(seed), sid, session, nn)
            view = CCVID_VIEWS[int(r.integers(len(CCVID_VIEWS)))]
            if i < n_train:
                split = "train"
            elif session == "session1" or (session == "session2" and nn == 1):
                split = "gallery"
            else:
                split = "query"
            tracklet = f"{session}/{sid}_{nn:02d}"
            plan.append({"key": tracklet.replace("/", "_"), "sid": sid, "type": session, "view": view,
                         "condition": outfit.condition, "clothes": outfit.clothes_id, "outfit": outfit.description,
                         "frames": frames, "path": tracklet, "tracklet": tracklet, "session": session,
                         "split": split, "outfit_no": outfit_no})
    return plan


# ------------------------------------------------------------------------------------------------
# one sequence (runs in a worker process)
# ------------------------------------------------------------------------------------------------

def _noisy_silhouettes(parts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binary 0/255 frames with segmentation-like noise: a ragged boundary, occasional local
    erosion/dilation, now and then a small shadow blob at the feet. Random per frame, never per id."""
    sil = (parts > 0).astype(np.uint8) * np.uint8(255)
    T, h, w = sil.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    # ragged boundary: flip ~5 % of the pixels on the one-pixel band around every outline (all
    # frames at once; frames stacked vertically never touch because the person keeps off the edges)
    flat = sil.reshape(T * h, w)
    edge = cv2.dilate(flat, kernel) ^ cv2.erode(flat, kernel)
    idx = np.flatnonzero(edge != 0)
    flat.reshape(-1)[idx[rng.random(idx.size) < 0.05]] ^= np.uint8(255)
    rows_any = sil.any(2)
    for t in range(T):
        r = rng.random()
        blob = rng.random() < 0.12
        if r >= 0.35 and not blob:
            continue
        rows = np.flatnonzero(rows_any[t])
        if rows.size == 0:
            continue
        y0, y1 = int(rows[0]), int(rows[-1]) + 1
        img = sil[t]
        if r < 0.35:                      # erode or dilate a third of the body
            a = y0 + int(rng.integers(0, max(1, (y1 - y0) * 2 // 3)))
            b = min(y1, a + (y1 - y0) // 3 + 1)
            band = img[a:b]
            band[:] = cv2.erode(band, kernel) if r < 0.17 else cv2.dilate(band, kernel)
        if blob:                          # a bit of shadow at the feet
            feet = np.flatnonzero(img[max(y0, y1 - 4):y1].any(0))
            if feet.size:
                cx = int(rng.integers(feet[0], feet[-1] + 1))
                cv2.ellipse(img, (cx, y1 - 1), (int(rng.integers(3, 9)), 2), 0, 0, 360, 255, -1)
    return sil


def _render_task(seed: int, frames: int, layout: str, rec: dict[str, Any]):
    sid, view = rec["sid"], rec["view"]
    ident = make_identity(seed, sid)
    if layout == "ccvid":
        outfit = ccvid_outfit(seed, sid, rec["outfit_no"])
        jitter = replace(make_jitter(seed, sid, rec["key"], view), empty_lead=0)
        render_seed = seed_for("background", int(seed), rec["session"], view)
    else:
        outfit = casia_outfit(seed, sid, rec["type"])
        jitter = make_jitter(seed, sid, rec["type"], view)
        render_seed = seed_for("background", int(seed), view)
    parts, kps = render_sequence(ident, jitter, outfit, view, frames)
    return parts, kps, outfit.palette(), render_seed


def _write_groundtruth(out: Path, key: str, parts, kps, palette, render_seed: int) -> None:
    target = out / GT_DIR / groundtruth_name(key)
    arrays = {"parts": parts, "keypoints": kps, "palette": palette, "seed": np.int64(render_seed)}
    with atomic_path(target, suffix=".npz") as tmp:
        # the np.savez_compressed format, written at deflate level 1 (3x faster on mostly-empty label maps)
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, arr in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)


def _write_video(target: Path, frames_rgb) -> None:
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.partial.avi")
    try:
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 240))
        if not vw.isOpened():
            raise InputError(target, "OpenCV cannot open an MJPG AVI writer here")
        for rgb in frames_rgb:
            vw.write(np.ascontiguousarray(rgb[..., ::-1]))
        vw.release()
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise InputError(target, "OpenCV wrote no video data")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _build(task: tuple) -> str:
    out_s, seed, frames, layout, rec = task
    out = Path(out_s)
    parts, kps, palette, render_seed = _render_task(seed, frames, layout, rec)
    _write_groundtruth(out, rec["key"], parts, kps, palette, render_seed)
    target = out / rec["path"]
    if layout == "casia-b-silhouette":
        sil = _noisy_silhouettes(parts, rng_for("silhouette-noise", int(seed), rec["key"]))
        prefix = rec["key"]
        with atomic_dir(target) as tmp:
            for t in range(frames):
                cv2.imwrite(str(tmp / f"{prefix}-{t + 1:03d}.png"), sil[t], PNG_PARAMS)
    elif layout == "casia-b-video":
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_video(target, (render_rgb(parts[t], palette, t, render_seed) for t in range(frames)))
    else:
        with atomic_dir(target) as tmp:
            for t in range(frames):
                rgb = render_rgb(parts[t], palette, t, render_seed)
                cv2.imwrite(str(tmp / f"{t + 1:05d}.jpg"), rgb[..., ::-1], JPG_PARAMS)
    return rec["key"]


def _done(out: Path, rec: dict[str, Any]) -> bool:
    return (out / rec["path"]).exists() and (out / GT_DIR / groundtruth_name(rec["key"])).is_file()


def _worker_init() -> None:
    cv2.setNumThreads(1)


# ------------------------------------------------------------------------------------------------
# public entry point
# ------------------------------------------------------------------------------------------------

def _params(ids: int, views: tuple[str, ...], seed: int, layout: str, frames: int) -> dict[str, Any]:
    return {"generator": GENERATOR_VERSION, "ids": ids, "views": list(views), "seed": seed, "layout": layout,
            "frames": frames}


def _check_out_dir(out: Path, params: dict[str, Any]) -> bool:
    """True when ``out`` holds an earlier run with the same parameters (resume), False when it is
    new or empty; raises InputError for anything else."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "output path exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return False
    meta_path = out / "demo.json"
    if not meta_path.is_file():
        raise InputError(out, "output folder is not empty and is not a demo set; choose an empty or new folder")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(meta_path, f"unreadable demo.json ({exc}); refusing to write into this folder") from exc
    old = meta.get("parameters") if isinstance(meta, dict) else None
    if old != params:
        raise InputError(out, f"output folder holds a demo set made with other parameters ({old}); "
                              f"choose an empty or new folder")
    return True


def _clean_leftovers(out: Path) -> None:
    """Remove temporaries an interrupted run left behind (hidden *.tmp / *.partial.avi)."""
    for dirpath, dirnames, filenames in os.walk(out):
        for d in list(dirnames):
            if d.startswith(".") and d.endswith(".tmp"):
                shutil.rmtree(Path(dirpath) / d, ignore_errors=True)
                dirnames.remove(d)
        for f in filenames:
            if f.startswith(".") and (f.endswith(".tmp") or f.endswith(".partial.avi")):
                (Path(dirpath) / f).unlink(missing_ok=True)


def generate(out_dir: str | Path, *, ids: int = 24, views=("036", "090", "144"), seed: int = 0,
             layout: str = "casia-b-silhouette", frames: int = 36, workers: int | None = None,
             progress: Callable[[int, int], Any] | None = None) -> DemoSummary:
    """Write the synthetic demo set to ``out_dir``; see the module docstring for the layouts."""
    t0 = time.perf_counter()
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown demo layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if isinstance(views, str):
        views = tuple(v.strip() for v in views.split(",") if v.strip())
    views = tuple(f"{int(v):03d}" for v in views)
    if layout == "ccvid":
        views = CCVID_VIEWS          # CCVID is filmed from the front and back; the argument is not used
    bad = [v for v in views if v not in VIEWS]
    if bad or not views:
        raise ConfigError(f"views must be CASIA-B angles ({', '.join(VIEWS)}); got {', '.join(bad) or 'none'}")
    ids, seed, frames = int(ids), int(seed), int(frames)
    if not 1 <= ids <= 999:
        raise ConfigError(f"ids must be between 1 and 999, got {ids}")
    if not 1 <= frames <= 9999:
        raise ConfigError(f"frames must be between 1 and 9999, got {frames}")

    out = Path(out_dir)
    params = _params(ids, views, seed, layout, frames)
    # Two clicks on "Create demo" (two app instances) must not become two writers of one folder.
    with locks.writing(out):
        return _write(out, params, ids, views, seed, layout, frames, workers, progress, t0)


def _write(out: Path, params: dict[str, Any], ids: int, views: tuple[str, ...], seed: int, layout: str,
           frames: int, workers: int | None, progress: Callable[[int, int], Any] | None, t0: float) -> DemoSummary:
    resuming = _check_out_dir(out, params)
    if layout == "ccvid":
        plan = _ccvid_plan(ids, seed, frames)
    else:
        plan = _casia_plan(ids, views, seed, frames, layout)

    meta = {
        "generator": GENERATOR_VERSION, "parameters": params, "layout": layout, "complete": False,
        "fps": FPS, "frame_size": [320, 240],
        "note": "synthetic walking people; identity is carried only by body shape and gait",
        "identities": [make_identity(seed, f"{i + 1:03d}").to_dict() for i in range(ids)],
        "sequences": [{k: v for k, v in rec.items() if k not in ("outfit_no",)} for rec in plan],
    }
    out.mkdir(parents=True, exist_ok=True)
    if resuming:
        _clean_leftovers(out)
    write_json(out / "demo.json", meta)

    pending = [rec for rec in plan if not (resuming and _done(out, rec))]
    skipped = len(plan) - len(pending)
    total = len(plan)
    if progress:
        progress(skipped, total)
    done = skipped
    tasks = [(str(out), seed, frames, layout, rec) for rec in pending]
    n_workers = max(1, min(int(workers or os.cpu_count() or 1), len(tasks)))
    if n_workers == 1:
        for task in tasks:
            _build(task)
            done += 1
            if progress:
                progress(done, total)
    else:
        chunk = max(1, min(4, len(tasks) // (n_workers * 8)))
        with process_pool(n_workers, initializer=_worker_init) as pool:
            for _ in pool.imap_unordered(_build, tasks, chunksize=chunk):
                done += 1
                if progress:
                    progress(done, total)

    if layout == "ccvid":
        for split in ("train", "query", "gallery"):
            # The list's third column is the clothes *label*; readers form the id as <pid>_<label>.
            lines = [f"{rec['tracklet']} {rec['sid']} {rec['clothes'].split('_', 1)[1]}"
                     for rec in plan if rec["split"] == split]
            write_text(out / f"{split}.txt", "".join(line + "\n" for line in lines))
    meta["complete"] = True
    write_json(out / "demo.json", meta)
    seconds = time.perf_counter() - t0
    counts = {"ids": ids, "views": len(views),
              "sequences": total, "written": len(pending), "skipped": skipped, "frames": total * frames}
    return DemoSummary(out_dir=out, layout=layout, counts=counts, seconds=seconds,
                       sequences=[rec["key"] for rec in plan])
