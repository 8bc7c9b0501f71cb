"""CASIA-B silhouette folders: ``<root>/<sid>/<type>-<NN>/<view>/<sid>-<type>-<NN>-<view>-<frame>.png``."""

from __future__ import annotations

import re
from pathlib import Path

from core.readers.base import Problem, RawSequence, ScanReport, nonempty_frames

SID_RE = re.compile(r"^\d{3}$")
TYPE_RE = re.compile(r"^(nm|bg|cl)-(\d{2})$")
VIEW_RE = re.compile(r"^\d{3}$")
FRAME_RE = re.compile(r"^(\d{3})-(nm|bg|cl)-(\d{2})-(\d{3})-(\d{3})\.png$")
MIN_FRAMES = 5


def looks_like(root: Path) -> tuple[float, str]:
    subjects = [p for p in root.iterdir() if p.is_dir() and SID_RE.match(p.name)]
    if not subjects:
        return 0.0, "no 3-digit subject folders"
    sample = subjects[0]
    types = [p for p in sample.iterdir() if p.is_dir() and TYPE_RE.match(p.name)]
    if not types:
        return 0.2, f"{sample.name}/ has no nm-/bg-/cl-NN folders"
    views = [p for p in types[0].iterdir() if p.is_dir() and VIEW_RE.match(p.name)]
    if not views:
        return 0.3, f"{types[0]} has no view folders"
    pngs = list(views[0].glob("*.png"))[:3]
    if pngs and all(FRAME_RE.match(p.name) for p in pngs):
        return 0.98, f"{len(subjects)} subject folders with <type>-<NN>/<view>/<sid>-<type>-<NN>-<view>-<frame>.png"
    return 0.6, "subject/type/view folders found but frame names differ from CASIA-B's"


def scan(root: Path, groundtruth: Path | None = None) -> ScanReport:
    root = Path(root)
    report = ScanReport(root=root, format="casia-b-silhouette")
    for sid_dir in sorted(root.iterdir()):
        if not sid_dir.is_dir() or sid_dir.name.startswith(("_", ".")):
            continue
        if not SID_RE.match(sid_dir.name):
            report.problems.append(Problem(str(sid_dir), "not a 3-digit subject folder; ignored", "warning"))
            continue
        for type_dir in sorted(p for p in sid_dir.iterdir() if p.is_dir()):
            m = TYPE_RE.match(type_dir.name)
            if not m:
                report.problems.append(Problem(str(type_dir), "not a <nm|bg|cl>-<NN> folder; ignored", "warning"))
                continue
            for view_dir in sorted(p for p in type_dir.iterdir() if p.is_dir()):
                if not VIEW_RE.match(view_dir.name):
                    report.problems.append(Problem(str(view_dir), "not a 3-digit view folder; ignored", "warning"))
                    continue
                pngs = (f for f in sorted(view_dir.iterdir()) if f.suffix.lower() == ".png")
                frames = nonempty_frames(pngs, report)
                seq = RawSequence(sid=sid_dir.name, seq_type=type_dir.name, view=view_dir.name,
                                  condition=m.group(1), frames=frames, clothes=f"{sid_dir.name}_{m.group(1)}")
                if not frames:
                    report.problems.append(Problem(str(view_dir), "no PNG frames; sequence skipped"))
                    continue
                if len(frames) < MIN_FRAMES:
                    report.problems.append(Problem(str(view_dir), f"only {len(frames)} frames (< {MIN_FRAMES})", "warning"))
                if groundtruth is not None:
                    gt = groundtruth / f"{sid_dir.name}-{type_dir.name}-{view_dir.name}.npz"
                    seq.groundtruth = gt if gt.is_file() else None
                report.sequences.append(seq)
    return report
