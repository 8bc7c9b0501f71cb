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


# -- a curation workspace of many variants, made cheaply -------------------------------------------

CURATION_SEQS = ("nm-01-090", "nm-02-090", "bg-01-090", "cl-01-090")
# (kind, method, description, prompt) of the few variant folders every row shares.
CURATION_KINDS = (("recolour", "model-free", "recolour: upper red, lower navy", None),
                  ("retexture", "model-free", "retexture: fine stripes, upper white", None),
                  ("coat", "model-free", "long loose coat, brown", None),
                  ("dlcr-inpaint", "sd-inpaint", "a green parka over dark trousers", "a person wearing a green parka"),
                  ("dlcr-strip", "dlcr-import", "imported DLCR strip", None))


def _small(frame: np.ndarray, size=(44, 64)) -> np.ndarray:
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def make_curation_workspace(workspace: Path, n_variants: int = 10_000, ids: int = 10) -> int:
    """A workspace whose converted dataset (silhouettes only, ``ids`` training identities ×
    CURATION_SEQS) has ``n_variants`` pending variants spread over its sequences, as a review of
    thousands meets them. Rows share a handful of tiny variant folders, so 10,000 take a second or
    two; every model-free recipe names a coat colour, as the chain's do. Returns the dataset id."""
    import json

    from core.catalog import Catalog, now_iso

    workspace = Path(workspace)
    root = workspace / "datasets" / "curation-grew"
    records = []
    for i in range(1, ids + 1):
        for seq in CURATION_SEQS:
            d = root / "train" / f"{i:03d}" / seq
            d.mkdir(parents=True, exist_ok=True)
            for t in range(8):
                cv2.imwrite(str(d / f"{t:05d}.png"), _small(walker_frame(t, i, 90)))
            records.append({"sid": f"{i:03d}", "seq": seq, "split": "train", "condition": seq[:2], "seq_type": seq[:5],
                            "view": "090", "frames": 8, "media": "silhouette", "status": "ok"})
    (root / "manifest.json").write_text(json.dumps({"sequences": records, "parameters": {}}))
    cat = Catalog(workspace / "catalog.sqlite")
    ds = cat.add_dataset("curation-grew", "converted", "grew-layout", root)
    from core.records import Sequence

    cat.replace_sequences(ds, [Sequence.from_dict(r) for r in records])
    folders = []
    for k, (kind, method, desc, prompt) in enumerate(CURATION_KINDS):
        f = workspace / "variants" / "shared" / kind
        (f / "frames").mkdir(parents=True, exist_ok=True)
        colour = np.zeros((64, 44, 3), np.uint8)
        colour[:] = ((60 * k) % 255, 120, 255 - 40 * k)
        cv2.imwrite(str(f / "thumb.jpg"), colour)
        cv2.imwrite(str(f / "compare.jpg"), np.concatenate([colour] * 4, axis=1))
        for t in range(8):
            cv2.imwrite(str(f / "frames" / f"{t:05d}.png"), _small(walker_frame(t, 3 + k, 90)))
        recipe = {"kind": kind, "colours": {"upper": [200, 30, 30], "lower": [20, 20, 90], "coat": [90, 60, 20]},
                  **({"prompt": prompt} if prompt else {})}
        folders.append((str(f), kind, method, desc, json.dumps(recipe)))
    at = now_iso()
    rows = []
    for n in range(n_variants):
        rec = records[n % len(records)]
        path, kind, method, desc, recipe = folders[(n // len(records)) % len(folders)]
        rows.append((ds, rec["sid"], rec["seq"], f"{rec['seq']}__v{n:05d}-{kind}", method, recipe, desc, n,
                     round((n * 37 % 100) / 100, 2), path, str(Path(path) / "thumb.jpg"), at))
    with cat.tx() as c:
        c.executemany("INSERT INTO variants(dataset_id, sid, source_seq, name, method, recipe, description, seed, score,"
                      " path, thumb, created) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    cat.close()
    return ds
