"""Merge accepted variants into a converted dataset as new sequences of the same identity."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from core import locks
from core.atomic import atomic_dir, sweep_temporaries, write_json
from core.catalog import Catalog
from core.layout import SPLIT_DIRS, build_packed, pose_files, read_manifest
from core.records import Sequence
from core.variants import FRAMES, gei_file, silhouette_files


def merge_accepted(catalog: Catalog, dataset_id: int, *,
                   progress: Callable[[int, int, str], None] | None = None) -> dict:
    ds = catalog.dataset(dataset_id)
    root = Path(ds["path"])
    # The converted dataset has one writer at a time (a conversion into it, or a merge); under that
    # lock whatever a killed writer left there (a half-copied `.<variant>.<random>.tmp` in
    # train/<sid>/, a manifest's temporary) is garbage and is swept before anything is written.
    with locks.writing(root):
        sweep_temporaries(root)
        return _merge(catalog, dataset_id, root, progress)


def _merge(catalog: Catalog, dataset_id: int, root: Path, progress: Callable[[int, int, str], None] | None) -> dict:
    manifest = read_manifest(root)
    by_key = {(r["sid"], r["seq"]): r for r in manifest["sequences"]}
    todo = [v for v in catalog.variants(dataset_id, status="accepted") if not v["merged_seq"]]
    added, skipped = [], []
    for i, v in enumerate(todo):
        src = by_key.get((v["sid"], v["source_seq"]))
        frames = silhouette_files(v["path"])
        why = ("its source sequence is not in the dataset" if src is None else
               "made from a test query for refinement; test identities never enter training"
               if src.get("split") != "train" else
               f"no silhouette frames in {Path(v['path']) / FRAMES}" if not frames else "")
        if why:   # an empty or test-identity sequence must never reach the training set
            skipped.append({"variant_id": v["id"], "name": v["name"], "reason": why})
            continue
        seq = Sequence(sid=v["sid"], seq=v["name"], split="train", condition=src["condition"],
                       seq_type=src["seq_type"], view=src["view"], clothes=f"{v['sid']}_{v['name'].split('__')[-1]}",
                       frames=len(frames), source=v["path"], origin=src["seq"])
        target = root / SPLIT_DIRS["train"] / seq.sid / seq.seq
        poses = pose_files(root, Sequence.from_dict(src)) or []
        with atomic_dir(target) as tmp:
            for f in frames:
                shutil.copy2(f, tmp / f.name)
            # A variant is the same walk in other clothes: the source's pose still holds frame for
            # frame, and without it the whole dataset would lose its SkeletonGait++ heatmaps.
            if len(poses) == len(frames):
                for f, pose in zip(frames, poses):
                    shutil.copy2(pose, tmp / f"{f.stem}_2d_pose.txt")
        gei = gei_file(v["path"])
        if gei is not None:
            shutil.copy2(gei, root / SPLIT_DIRS["train"] / seq.sid / f"{seq.sid}_{seq.seq}_gei.png")
        rec = {**seq.to_dict(), "status": "ok",
               "provenance": {"variant_id": v["id"], "method": v["method"], "recipe": v["recipe"],
                              "description": v["description"], "seed": v["seed"], "score": v["score"],
                              "source_seq": src["seq"]}}
        rec.pop("extra", None)
        by_key[seq.key] = rec
        added.append((v["id"], seq))
        if progress:
            progress(i + 1, len(todo), f"merged {seq.sid}/{seq.seq}")
    if added:
        manifest["sequences"] = sorted(by_key.values(), key=lambda r: (r["sid"], r["seq"]))
        write_json(root / "manifest.json", manifest)
        build_packed(root)
        catalog.add_sequences(dataset_id, [s for _, s in added])
        for vid, s in added:
            catalog.mark_merged(vid, s.seq)
    return {"merged": len(added), "skipped": skipped, "dataset": str(root)}
