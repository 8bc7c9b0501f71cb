"""CASIA-B videos: ``**/<sid>-<type>-<NN>-<view>.avi`` (or ``.mp4``), e.g. ``001-nm-01-090.avi``.

Every video is opened once (container header only, no decoding) so that empty or unopenable files
are reported at scan time and the frame count the container declares is known.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.demo.groundtruth import GT_DIR, groundtruth_name
from core.readers.base import Problem, RawSequence, ScanReport, iter_files
from core.readers.media import VIDEO_SUFFIXES, probe_video

NAME_RE = re.compile(r"^(\d{3})-(nm|bg|cl)-(\d{2})-(\d{3})\.(avi|mp4)$", re.I)


def parse_name(name: str) -> tuple[str, str, str, str] | None:
    """``001-nm-01-090.avi`` -> ('001', 'nm', '01', '090'); None when the name is not CASIA-B's."""
    m = NAME_RE.match(name)
    if not m:
        return None
    return m.group(1), m.group(2).lower(), m.group(3), m.group(4)


def sample_videos(root: Path, limit: int = 400, max_dirs: int = 500) -> list[Path]:
    """Up to ``limit`` videos from the first ``max_dirs`` folders (quick, for detection)."""
    return list(iter_files(root, VIDEO_SUFFIXES, limit=limit, max_dirs=max_dirs))


def looks_like(root: Path, videos: list[Path] | None = None) -> tuple[float, str]:
    if videos is None:
        videos = sample_videos(root)
    if not videos:
        return 0.0, "no video files"
    named = sum(parse_name(v.name) is not None for v in videos)
    conf = 0.05 + 0.9 * named / len(videos)
    return conf, f"{named} of {len(videos)} sampled videos named <sid>-<type>-<NN>-<view>.avi|.mp4"


def scan(root: str | Path, *, probe: bool = True) -> ScanReport:
    """Find the videos; ``probe`` opens each one's header (set False to skip that on huge trees)."""
    root = Path(root)
    report = ScanReport(root=root, format="casia-b-video")
    gt_dir = root / GT_DIR
    seen: dict[tuple[str, str, str], Path] = {}
    for path in iter_files(root, VIDEO_SUFFIXES):
        parts = parse_name(path.name)
        if parts is None:
            report.problems.append(Problem(str(path), "name is not <sid>-<type>-<NN>-<view>.avi|.mp4 "
                                                      "(e.g. 001-nm-01-090.avi); ignored", "warning"))
            continue
        sid, cond, nn, view = parts
        seq_type = f"{cond}-{nn}"
        key = (sid, seq_type, view)
        if key in seen:
            report.problems.append(Problem(str(path), f"duplicate of {seen[key]}: both are {sid}-{seq_type}-{view}; "
                                                      f"this one skipped"))
            continue
        count, why = probe_video(path, probe)
        if why:
            report.problems.append(Problem(str(path), why))
            continue
        seen[key] = path
        gt = gt_dir / groundtruth_name(f"{sid}-{seq_type}-{view}")
        report.sequences.append(RawSequence(
            sid=sid, seq_type=seq_type, view=view, condition=cond, clothes=f"{sid}_{cond}", media="video",
            video=path, groundtruth=gt if gt.is_file() else None, frame_count=count))
    if not report.sequences and not report.problems:
        report.problems.append(Problem(str(root), "no .avi or .mp4 videos found"))
    return report
