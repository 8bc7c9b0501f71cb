"""Raw dataset -> GREW-style layout (SPEC §2): plan, preview, and a resumable parallel run.

Each sequence is written under a temporary folder and renamed into place, then recorded in
``<out>/.progress/``; a rerun verifies those records by checksum and skips finished work.
``manifest.json``, ``partition.json`` and the packed arrays are written last, atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from core import __version__
from core.atomic import atomic_dir, write_bytes, write_json
from core.convert.align import METHODS, align, gait_energy_image
from core.convert.splits import Split, default_spec, make_split
from core.procpool import worker_context
from core.errors import InputError, JobCancelled
from core.readers.base import RawSequence, ScanReport
from core.records import Sequence

SPLIT_DIRS = {"train": "train", "gallery": "test/gallery", "probe": "test/probe"}


@dataclass
class ConvertOptions:
    split: str | None = None
    align: str = "opengait"
    size: int = 64
    workers: int | None = None

    def validate(self) -> None:
        if self.align not in METHODS:
            raise InputError(None, f"unknown alignment {self.align!r}; choose one of {', '.join(METHODS)}")


@dataclass
class PlanItem:
    raw: RawSequence
    target: Sequence

    @property
    def rel_dir(self) -> str:
        return f"{SPLIT_DIRS[self.target.split]}/{self.target.sid}/{self.target.seq}"

    @property
    def rel_gei(self) -> str:
        return f"{SPLIT_DIRS[self.target.split]}/{self.target.sid}/{self.target.sid}_{self.target.seq}_gei.png"


@dataclass
class ConversionPlan:
    source: Path
    out: Path
    format: str
    options: ConvertOptions
    split: Split
    items: list[PlanItem] = field(default_factory=list)

    def mapping_rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        rows = []
        for it in self.items[:limit]:
            rows.append({"source": os.path.relpath(it.raw.source, self.source), "target": it.rel_dir,
                         "split": it.target.split, "condition": it.target.condition, "view": it.target.view,
                         "frames": len(it.raw.frames)})
        return rows

    def split_counts(self) -> list[dict[str, Any]]:
        out: dict[tuple[str, str], list[int]] = {}
        for it in self.items:
            key = (it.target.split, it.target.condition)
            out.setdefault(key, [0, 0])
            out[key][0] += 1
        ids: dict[tuple[str, str], set[str]] = {}
        for it in self.items:
            ids.setdefault((it.target.split, it.target.condition), set()).add(it.target.sid)
        return [{"split": s, "condition": c, "sequences": n[0], "ids": len(ids[(s, c)])}
                for (s, c), n in sorted(out.items())]


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def plan_conversion(report: ScanReport, out: str | Path, options: ConvertOptions | None = None) -> ConversionPlan:
    options = options or ConvertOptions()
    options.validate()
    out = Path(out)
    if _inside(out, report.root):
        raise InputError(out, f"output folder lies inside the source dataset {report.root}; the source is never written to")
    if _inside(report.root, out):
        raise InputError(out, f"output folder contains the source dataset {report.root}")
    ids = sorted({s.sid for s in report.sequences})
    split = make_split(options.split or default_spec(ids), ids)
    items = []
    for raw in report.sequences:
        role = split.role(raw.sid, raw.seq_type)
        target = Sequence(sid=raw.sid, seq=raw.seq, split=role, condition=raw.condition, seq_type=raw.seq_type,
                          view=raw.view, clothes=raw.clothes, frames=len(raw.frames), source=raw.source)
        items.append(PlanItem(raw, target))
    return ConversionPlan(report.root, out, report.format, options, split, items)


def read_silhouette(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise InputError(path, "unreadable image (corrupt or not a PNG)")
    return img


def align_sequence(raw: RawSequence, method: str, size: int) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Aligned frames (T x size x size) and the frames dropped, each with its reason."""
    kept, dropped = [], []
    for f in sorted(raw.frames):
        try:
            img = read_silhouette(f)
        except InputError as exc:
            dropped.append({"file": str(f), "reason": exc.reason})
            continue
        out, why = align(img, method, size)
        if out is None:
            dropped.append({"file": str(f), "reason": why})
        else:
            kept.append(out)
    arr = np.stack(kept) if kept else np.zeros((0, size, size), np.uint8)
    return arr, dropped


def preview_item(item: PlanItem, options: ConvertOptions) -> dict[str, Any]:
    """Images for the before/after strip: a raw frame, its aligned version and the GEI."""
    aligned, dropped = align_sequence(item.raw, options.align, options.size)
    mid_raw = item.raw.frames[len(item.raw.frames) // 2]
    raw_img = cv2.imread(str(mid_raw), cv2.IMREAD_GRAYSCALE)
    return {"raw": raw_img, "aligned": aligned[len(aligned) // 2] if len(aligned) else None,
            "gei": gait_energy_image(aligned) if len(aligned) else None, "frames": len(aligned),
            "dropped": dropped, "raw_path": str(mid_raw)}


def _checksum(folder: Path) -> str:
    h = hashlib.sha1()
    for f in sorted(folder.glob("*.png")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _progress_path(out: Path, seq: Sequence) -> Path:
    return out / ".progress" / f"{seq.sid}__{seq.seq}.json"


def convert_one(item: PlanItem, out: Path, method: str, size: int) -> dict[str, Any]:
    """Convert one sequence (runs in a pool worker). Returns its manifest record."""
    aligned, dropped = align_sequence(item.raw, method, size)
    record = {**item.target.to_dict(), "frames": int(len(aligned)), "dropped": dropped,
              "groundtruth": str(item.raw.groundtruth) if item.raw.groundtruth else None}
    record.pop("extra", None)
    if len(aligned) == 0:
        record["status"] = "failed"
        record["error"] = f"{item.raw.source}: no usable frame (all {len(item.raw.frames)} frames empty or unreadable)"
        return record
    target = out / item.rel_dir
    with atomic_dir(target) as tmp:
        for i, frame in enumerate(aligned):
            ok, buf = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            (tmp / f"{i:05d}.png").write_bytes(buf.tobytes())
    ok, buf = cv2.imencode(".png", gait_energy_image(aligned))
    write_bytes(out / item.rel_gei, buf.tobytes())
    record["status"] = "ok"
    record["checksum"] = _checksum(target)
    if len(aligned) < 5:
        record["warning"] = f"only {len(aligned)} usable frames (< 5)"
    write_json(_progress_path(out, item.target), record)
    return record


def _already_done(item: PlanItem, out: Path) -> dict[str, Any] | None:
    p = _progress_path(out, item.target)
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text())
    except json.JSONDecodeError:
        return None
    folder = out / item.rel_dir
    if rec.get("status") != "ok" or not folder.is_dir() or rec.get("split") != item.target.split:
        return None
    return rec if rec.get("checksum") == _checksum(folder) else None


def run_conversion(plan: ConversionPlan, *, progress: Callable[[int, int, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Convert every planned sequence, then write manifest, partition and packed form."""
    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    params = {"align": plan.options.align, "size": plan.options.size, "split": plan.split.spec,
              "source": str(plan.source), "format": plan.format}
    marker = out / ".studio-conversion.json"
    if marker.exists():
        old = json.loads(marker.read_text())
        if old.get("params") != params:
            raise InputError(out, "holds a conversion with other parameters; choose an empty folder "
                                  f"(existing: {old.get('params')})")
    elif any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise InputError(out, "output folder is not empty and was not written by a conversion")
    write_json(marker, {"tool": "hybridgait-studio", "version": __version__, "params": params})

    total = len(plan.items)
    records: dict[tuple[str, str], dict[str, Any]] = {}
    todo = []
    for it in plan.items:
        rec = _already_done(it, out)
        if rec is not None:
            records[it.target.key] = rec
        else:
            todo.append(it)
    skipped = len(records)
    if progress:
        progress(len(records), total, f"{skipped} sequences already converted; {len(todo)} to do")
    workers = plan.options.workers or max(1, (os.cpu_count() or 1))
    if todo:
        with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context()) as pool:
            pending = {pool.submit(convert_one, it, out, plan.options.align, plan.options.size) for it in todo}
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    rec = fut.result()
                    records[(rec["sid"], rec["seq"])] = rec
                if should_stop and should_stop():
                    for fut in pending:
                        fut.cancel()
                    raise JobCancelled(f"conversion stopped after {len(records)} of {total} sequences; "
                                       "run it again to continue")
                if done and progress:
                    progress(len(records), total, f"{len(records)}/{total} sequences")
    return finalize(plan, records, params, skipped)


def finalize(plan: ConversionPlan, records: dict, params: dict, skipped: int) -> dict[str, Any]:
    from core.layout import build_packed  # late import: layout reads what this module writes

    out = plan.out
    ok = [r for r in records.values() if r.get("status") == "ok"]
    failed = [r for r in records.values() if r.get("status") != "ok"]
    ok.sort(key=lambda r: (r["sid"], r["seq"]))
    manifest = {"tool": "hybridgait-studio", "version": __version__, "parameters": params,
                "split": plan.split.summary(), "sequences": ok, "failed": failed}
    write_json(out / "manifest.json", manifest)
    train_ids = sorted({r["sid"] for r in ok if r["split"] == "train"})
    test_ids = sorted({r["sid"] for r in ok if r["split"] != "train"})
    write_json(out / "partition.json", {"TRAIN_SET": train_ids, "TEST_SET": test_ids})
    build_packed(out)
    dropped = sum(len(r.get("dropped", [])) for r in records.values())
    return {"out": str(out), "sequences": len(ok), "failed": len(failed), "skipped_done": skipped,
            "frames": sum(r["frames"] for r in ok), "dropped_frames": dropped,
            "failures": [r["error"] for r in failed][:20], "train_ids": len(train_ids), "test_ids": len(test_ids)}
