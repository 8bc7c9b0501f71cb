"""Raw dataset -> GREW-style layout (docs/contracts.md, "Output layout"): plan, preview, and a resumable parallel run.

Each sequence is written under a temporary folder and renamed into place, then recorded in
``<out>/.progress/``; a rerun verifies those records by checksum and skips finished work.
``manifest.json``, ``partition.json`` and the packed arrays are written last, atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from core import __version__, locks
from core.atomic import atomic_dir, sweep_temporaries, write_bytes, write_json
from core.convert.align import align, gait_energy_image
from core.convert.extract import Extracted, camera_key, extract, fit_camera_backgrounds
from core.convert.splits import NONE, UNSPLIT_WARNING, Split, check_leak, default_spec, make_split, split_from_roles
from core.procpool import worker_pool
from core.errors import ConfigError, InputError, JobCancelled
from core.layout import SPLIT_DIRS
from core.convert.options import ConvertOptions
from core.readers import presets, tree
from core.readers.base import RawSequence, ScanReport
from core.records import CASIA_B_GALLERY, Sequence


@dataclass
class PlanItem:
    raw: RawSequence
    target: Sequence
    skipped: list[dict[str, str]] = field(default_factory=list)   # frame files the reader left out, with why

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
    models: list[dict[str, Any]] = field(default_factory=list)   # provenance of the models run (core.hub.fetch_models)

    def mapping_rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        rows = []
        for it in self.items[:limit]:
            rows.append({"source": os.path.relpath(it.raw.source, self.source), "target": it.rel_dir,
                         "split": it.target.split, "condition": it.target.condition, "view": it.target.view,
                         "frames": it.raw.known_frames if it.raw.known_frames is not None else "?"})
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
    if options.track:
        from core.convert.persons import split_persons

        report = split_persons(report, options.track, stride=options.stride, max_frames=options.max_frames)
    split = choose_split(report, options.split, options.gallery_types())
    skipped = reader_skipped(report)
    items = []
    for raw in report.sequences:
        role = split.role(raw.sid, raw.seq_type, raw.role, view=raw.view, condition=raw.condition)
        if role is None:         # an identity the partition file lists in neither set
            continue
        target = Sequence(sid=raw.sid, seq=raw.seq, split=role, condition=raw.condition, seq_type=raw.seq_type,
                          view=raw.view, clothes=raw.clothes, frames=raw.known_frames or 0, source=raw.source,
                          camera=raw.camera)
        items.append(PlanItem(raw, target, skipped.get(raw.source, [])))
    return ConversionPlan(report.root, out, report.format, options, split, items)


def reader_skipped(report: ScanReport) -> dict[str, list[dict[str, str]]]:
    """Frame files a reader left out of an image sequence (a zero-byte copy), by sequence folder:
    they never reach decoding, yet the manifest lists them among the sequence's dropped frames."""
    folders = {s.source: {str(f) for f in s.frames} for s in report.sequences if s.media in ("silhouette", "rgb")}
    out: dict[str, list[dict[str, str]]] = {}
    for p in report.problems:
        folder = str(Path(p.path).parent)
        if folder in folders and p.path not in folders[folder] and p.severity == "error":
            out.setdefault(folder, []).append({"file": p.path, "reason": p.reason})
    return out


def choose_split(report: ScanReport, spec: str | None, gallery: tuple[str, ...] = ()) -> Split:
    """For ``official`` or no choice: the source's own split (CCVID lists, GREW folders) when it
    has one, a preset's official split (OU-MVLP, CCPG, SUSTech1K; Gait3D's needs its partition
    file); else CASIA-B's official split or the spec given (a partition file among them).

    ``gallery``: the test sequence types (or conditions) that form the gallery; a generic tree
    given none takes CASIA-B's nm-01..04 where it has them, else its first sequence type."""
    preset = presets.get(report.format)
    ids = sorted({s.sid for s in report.sequences})
    if (spec or "").strip().lower() == NONE:      # extraction only: no protocol, gallery or probe set applies
        return make_split(NONE, ids)
    official = spec in (None, "official")
    if official and preset is not None:
        train = preset.official_train(ids)
        split = Split("official", train, [i for i in ids if i not in set(train)])
        check_leak("official", split.train_ids, split.test_ids)
    elif official and preset is None and any(raw.role for raw in report.sequences):
        roles: dict[str, set[str]] = {}
        for raw in report.sequences:
            if raw.role:
                roles.setdefault(raw.sid, set()).add(raw.role)
        split = split_from_roles(roles)
    else:
        split = make_split(spec or default_spec(ids), ids)
    if report.format == "gait3d" and split.probe_set is None:
        raise ConfigError(f"split {split.spec!r}: Gait3D's probe sequences are listed under PROBE_SET in its "
                          "partition file; give it with --split Gait3D.json")
    if gallery:
        split.gallery = tuple(gallery)
    elif report.format == tree.FORMAT and split.probe_set is None:
        types = sorted({s.seq_type for s in report.sequences}, key=tree.natural_key)
        split.gallery = tuple(t for t in types if t in CASIA_B_GALLERY) or tuple(types[:1])
    return split


@dataclass
class AlignedSequence:
    frames: np.ndarray                 # (T, size, size) uint8
    kept: list[int]                    # index into ``source.names`` of every aligned frame
    dropped: list[dict[str, str]]      # {'file', 'reason'} per frame left out
    source: Extracted


def align_sequence(raw: RawSequence, options: ConvertOptions, keep_rgb: bool = False,
                   background: np.ndarray | None = None) -> AlignedSequence:
    """Masks of ``raw`` by the chosen backends, aligned; frames dropped are listed with the reason."""
    ext = extract(raw, silhouette=options.silhouette, pose=options.pose, stride=options.stride,
                  max_frames=options.max_frames, keep_rgb=keep_rgb, background=background)
    dropped = [{"file": p.path, "reason": p.reason} for p in ext.problems]
    kept, frames = [], []
    for i, mask in enumerate(ext.masks):
        out, why = align(mask, options.align, options.size)
        if out is None:
            dropped.append({"file": frame_label(raw, ext.names[i]), "reason": why})
        else:
            kept.append(i)
            frames.append(out)
    arr = np.stack(frames) if frames else np.zeros((0, options.size, options.size), np.uint8)
    return AlignedSequence(arr, kept, dropped, ext)


def frame_label(raw: RawSequence, name: str) -> str:
    """A frame as a user can find it: the image file, or 'video.avi#frame 12'."""
    for f in raw.frames:
        if Path(f).stem == name:
            return str(f)
    return f"{raw.source}#frame {int(name) if name.isdigit() else name}"


def camera_backgrounds(plan: "ConversionPlan", items: list[PlanItem] | None = None, *, per_camera: int = 12,
                       cache: Path | None = None, log=None) -> dict[str, np.ndarray]:
    """Per-camera backgrounds for the items that background subtraction will segment (all of the
    plan's by default). With ``cache`` (the output's ``.backgrounds/``) a rerun reuses them, so
    resumed sequences are segmented against the very same images."""
    if not plan.options.camera_background:
        return {}
    raws = [it.raw for it in (plan.items if items is None else items) if plan.options.uses_bgsub(it.raw)]
    cams = sorted({camera_key(r) for r in raws})
    found: dict[str, np.ndarray] = {}
    if cache is not None:
        for cam in cams:
            f = cache / f"camera-{cam or 'any'}.png"
            img = cv2.imread(str(f), cv2.IMREAD_COLOR) if f.is_file() else None
            if img is not None:
                found[cam] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    missing = [r for r in raws if camera_key(r) not in found]
    if missing:
        wanted = {camera_key(r) for r in missing}
        # the whole plan's sequences of those cameras vote, not only the previewed ones
        pool = [it.raw for it in plan.items if plan.options.uses_bgsub(it.raw) and camera_key(it.raw) in wanted]
        new = fit_camera_backgrounds(pool, stride=plan.options.stride, per_camera=per_camera, log=log)
        for cam, img in new.items():
            if cache is not None:
                ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                write_bytes(cache / f"camera-{cam or 'any'}.png", buf.tobytes())
        found.update(new)
    return found


def preview_item(item: PlanItem, options: ConvertOptions, background: np.ndarray | None = None) -> dict[str, Any]:
    """Images for the before/after strip: raw frame, mask, aligned frame, GEI and the pose overlay."""
    seq = align_sequence(item.raw, options, keep_rgb=True, background=background)
    ext = seq.source
    mid = seq.kept[len(seq.kept) // 2] if seq.kept else len(ext.masks) // 2
    raw_img = ext.rgb[mid] if ext.rgb is not None else ext.masks[mid]
    overlay = None
    if ext.keypoints is not None:
        from core.pose.draw import draw_skeleton

        overlay = draw_skeleton(raw_img, ext.keypoints[mid])
    aligned = seq.frames
    return {"raw": raw_img, "mask": ext.masks[mid], "pose": overlay,
            "aligned": aligned[len(aligned) // 2] if len(aligned) else None,
            "gei": gait_energy_image(aligned) if len(aligned) else None, "frames": len(aligned),
            "dropped": seq.dropped, "raw_path": frame_label(item.raw, ext.names[mid]),
            "silhouette_from": ext.silhouette_from, "pose_from": ext.pose_from,
            "empty_masks": int((ext.masks.reshape(len(ext.masks), -1).max(1) == 0).sum())}


def _checksum(folder: Path) -> str:
    h = hashlib.sha1()
    for f in sorted(p for p in folder.iterdir() if p.suffix in (".png", ".txt")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _progress_path(out: Path, seq: Sequence) -> Path:
    return out / ".progress" / f"{seq.sid}__{seq.seq}.json"


def convert_one(item: PlanItem, out: Path, options: ConvertOptions,
                background: np.ndarray | None = None) -> dict[str, Any]:
    """Convert one sequence (runs in a pool worker). Returns its manifest record."""
    record = {**item.target.to_dict(), "groundtruth": str(item.raw.groundtruth) if item.raw.groundtruth else None,
              "media": item.raw.media}
    record.pop("extra", None)
    try:
        seq = align_sequence(item.raw, options, background=background)
    except InputError as exc:   # one unreadable sequence fails alone, with its reason
        record.update(status="failed", frames=0, dropped=item.skipped, error=str(exc))
        return record
    aligned, ext = seq.frames, seq.source
    record.update(frames=int(len(aligned)), dropped=item.skipped + seq.dropped, silhouette=ext.silhouette_from, pose=ext.pose_from,
                  empty_masks=int(sum(1 for m in ext.masks if not m.any())))
    if len(aligned) == 0:
        record["status"] = "failed"
        record["error"] = (f"{item.raw.source}: no usable frame (all {len(ext.masks)} decoded frames empty; "
                           f"{len(ext.problems)} unreadable)")
        return record
    target = out / item.rel_dir
    h, w = ext.masks.shape[1:3]
    with atomic_dir(target) as tmp:
        for i, frame in enumerate(aligned):
            ok, buf = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            (tmp / f"{i:05d}.png").write_bytes(buf.tobytes())
        if ext.keypoints is not None:
            from core.pose.posefile import format_pose

            for i, src in enumerate(seq.kept):
                (tmp / f"{i:05d}_2d_pose.txt").write_text(format_pose(w, h, ext.keypoints[src]))
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
    """Convert every planned sequence, then write manifest, partition and packed form.

    The output's writer lock is taken first: a second conversion into the folder is refused at
    once, and the sweep of a killed run's temporaries never takes a live writer's files."""
    with locks.writing(plan.out):
        return _convert(plan, progress, should_stop)


def _convert(plan: ConversionPlan, progress: Callable[[int, int, str], None] | None,
             should_stop: Callable[[], bool] | None) -> dict[str, Any]:
    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    params = {**plan.options.params(), "split": plan.split.spec, "source": str(plan.source), "format": plan.format}
    marker = out / ".studio-conversion.json"
    if marker.exists():
        old = json.loads(marker.read_text())
        if old.get("params") != params:
            raise InputError(out, "holds a conversion with other parameters; choose an empty folder "
                                  f"(existing: {old.get('params')})")
    elif any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise InputError(out, "output folder is not empty and was not written by a conversion")
    write_json(marker, {"tool": "hybridgait-studio", "version": __version__, "params": params})
    sweep_temporaries(out)   # half-written sequences of a killed run; the folder is ours (marker)

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
    backgrounds = {}
    if todo and any(plan.options.uses_bgsub(it.raw) for it in todo):
        if progress:
            progress(len(records), total, "estimating one background per camera")
        backgrounds = camera_backgrounds(plan, todo, cache=out / ".backgrounds")
    if todo:
        options = plan.options.with_folders(plan.models)
        with worker_pool(workers) as pool:
            pending = {pool.submit(convert_one, it, out, options, backgrounds.get(camera_key(it.raw)))
                       for it in todo}
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
    return finalize(plan, records, params, skipped, progress)


def finalize(plan: ConversionPlan, records: dict, params: dict, skipped: int,
             progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    from core.layout import build_packed

    out = plan.out
    ok = [r for r in records.values() if r.get("status") == "ok"]
    failed = [r for r in records.values() if r.get("status") != "ok"]
    ok.sort(key=lambda r: (r["sid"], r["seq"]))
    if not ok:   # nothing usable: fail before the manifest of an earlier good conversion is replaced
        first = f"; first: {failed[0].get('error')}" if failed else ""
        raise InputError(plan.source, f"no sequence converted ({len(failed)} of {len(plan.items)} failed{first})")
    manifest = {"tool": "hybridgait-studio", "version": __version__, "parameters": params,
                "split": plan.split.summary(), "models": plan.models, "sequences": ok, "failed": failed}
    write_json(out / "manifest.json", manifest)
    train_ids = sorted({r["sid"] for r in ok if r["split"] == "train"})
    test_ids = sorted({r["sid"] for r in ok if r["split"] in ("gallery", "probe")})
    unsplit_ids = sorted({r["sid"] for r in ok if r["split"] == "unsplit"})
    # split none leaves OpenGait's lists empty: its trainer then refuses too, rather than train on everything
    write_json(out / "partition.json", {"TRAIN_SET": train_ids, "TEST_SET": test_ids})
    # Drawing pose heatmaps takes minutes on a big set: say so rather than sit at 100%.
    build_packed(out, progress=progress)
    dropped = [d for _, r in sorted(records.items()) for d in r.get("dropped", [])]
    reasons = Counter(d.get("reason", "?") for d in dropped)
    return {"out": str(out), "sequences": len(ok), "failed": len(failed), "skipped_done": skipped,
            "frames": sum(r["frames"] for r in ok), "dropped_frames": len(dropped),
            "dropped": [f"{d['file']}: {d['reason']}" for d in dropped[:50]],
            "dropped_sequences": sum(bool(r.get("dropped")) for r in records.values()),
            "dropped_reasons": dict(reasons.most_common(5)),
            "failures": [r["error"] for r in failed][:20], "train_ids": len(train_ids), "test_ids": len(test_ids),
            **({"unsplit_ids": len(unsplit_ids), "warning": UNSPLIT_WARNING} if plan.split.is_none else {})}
