"""Format detection: which reader fits a folder, how sure we are, and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.readers import casia_b
from core.readers.base import ScanReport

VIDEO_RE = re.compile(r"^\d{3}-(nm|bg|cl)-\d{2}-\d{3}\.(avi|mp4)$", re.I)


@dataclass
class Detection:
    format: str | None
    confidence: float
    reason: str
    readable: bool = False   # whether this version of the studio can convert it


def _groundtruth_dir(root: Path) -> Path | None:
    gt = root / "_groundtruth"
    return gt if gt.is_dir() else None


def detect(root: str | Path) -> Detection:
    root = Path(root)
    if not root.exists():
        raise InputError(root, "folder does not exist")
    if not root.is_dir():
        raise InputError(root, "not a folder")
    candidates: list[Detection] = []
    conf, why = casia_b.looks_like(root)
    candidates.append(Detection("casia-b-silhouette", conf, why, readable=True))
    videos = [p for p in root.rglob("*") if p.suffix.lower() in (".avi", ".mp4")][:50]
    if videos:
        named = sum(bool(VIDEO_RE.match(v.name)) for v in videos)
        candidates.append(Detection("casia-b-video", 0.9 * named / len(videos) + 0.05,
                                    f"{named} of {len(videos)} sampled videos named <sid>-<type>-<NN>-<view>"))
    if all((root / n).is_file() for n in ("train.txt", "query.txt", "gallery.txt")):
        candidates.append(Detection("ccvid", 0.95, "train.txt, query.txt and gallery.txt with session folders"))
    if (root / "train").is_dir() and (root / "test" / "probe").is_dir():
        candidates.append(Detection("grew", 0.9, "train/ and test/probe/ folders"))
    best = max(candidates, key=lambda d: d.confidence)
    if best.confidence < 0.5:
        reasons = "; ".join(f"{d.format}: {d.reason}" for d in candidates)
        return Detection(None, best.confidence, f"not a recognised dataset ({reasons})")
    return best


def scan(root: str | Path) -> ScanReport:
    """Detect the format and read the dataset's structure, collecting per-file problems."""
    root = Path(root)
    det = detect(root)
    if det.format is None:
        raise InputError(root, det.reason)
    if not det.readable:
        raise InputError(root, f"detected {det.format} ({det.reason}); this version converts CASIA-B silhouette "
                               f"folders only — the reader for {det.format} is not built yet")
    report = casia_b.scan(root, groundtruth=_groundtruth_dir(root))
    report.notes.append(f"detected {det.format} with confidence {det.confidence:.2f}: {det.reason}")
    if not report.sequences:
        first = "; ".join(f"{p.path}: {p.reason}" for p in report.problems[:3])
        raise InputError(root, f"no readable sequence found{' — ' + first if first else ''}")
    return report
