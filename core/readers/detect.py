"""Format detection: which reader fits a folder, how sure we are, and why; and ``scan``, which
reads a folder with the detected (or the user's) reader and validates the result."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, InputError
from core.readers import casia_b, casia_b_video, ccvid, grew, opengait_pkl, presets, tree, video_folder
from core.readers.base import NothingReadable, ScanReport
from core.readers.verify import verify

VIDEO_RE = re.compile(r"^\d{3}-(nm|bg|cl)-\d{2}-\d{3}\.(avi|mp4)$", re.I)
FORMATS = ("casia-b-silhouette", "casia-b-video", "ccvid", "grew", "opengait-pkl", "video-folder",
           tree.FORMAT, *presets.PRESETS)
PATTERN_FORMATS = ("video-folder", tree.FORMAT, *presets.PRESETS)   # formats a pattern applies to
MIN_CONFIDENCE = 0.5


@dataclass
class Detection:
    format: str | None
    confidence: float
    reason: str
    readable: bool = False   # whether this version of the studio can convert it


def _groundtruth_dir(root: Path) -> Path | None:
    gt = root / "_groundtruth"
    return gt if gt.is_dir() else None


def _check_root(root: Path) -> None:
    if not root.exists():
        raise InputError(root, "folder does not exist")
    if not root.is_dir():
        raise InputError(root, "not a folder")


def detect_all(root: str | Path) -> list[Detection]:
    """Every format's score for ``root``, best first (reads only a small sample of the tree)."""
    root = Path(root)
    _check_root(root)
    found: list[Detection] = []
    videos = casia_b_video.sample_videos(root)
    for fmt, looks_like in (("casia-b-silhouette", casia_b.looks_like),
                            ("casia-b-video", lambda r: casia_b_video.looks_like(r, videos)),
                            ("ccvid", ccvid.looks_like), ("grew", grew.looks_like),
                            ("opengait-pkl", opengait_pkl.looks_like)):
        found.append(_inspect(fmt, looks_like, root))
    cb = next(d for d in found if d.format == "casia-b-video")
    vconf, vwhy = video_folder.looks_like(root, videos)
    if vconf:
        # CASIA-B names are the better explanation wherever they fit; a pattern is still possible
        vconf = max(0.05, min(vconf, 1.0 - cb.confidence))
    found.append(Detection("video-folder", round(vconf, 3), vwhy, readable=True))
    for preset in presets.PRESETS.values():
        found.append(_inspect(preset.name, preset.looks_like, root))
    # Any three folder levels fit the generic tree: its fixed 0.55 sits below every named layout
    # that fits (and, listed last, loses a tie), above the 0.5 a guess needs.
    found.append(_inspect(tree.FORMAT, tree.looks_like, root))
    return sorted(found, key=lambda d: -d.confidence)


def _inspect(fmt: str, looks_like, root: Path) -> Detection:
    try:
        conf, why = looks_like(root)
    except OSError as exc:
        conf, why = 0.0, f"could not be inspected ({exc})"
    return Detection(fmt, round(float(conf), 3), why, readable=True)


def pattern_format(root: str | Path) -> str:
    """The format a pattern given without one is meant for: the detected tree preset or generic
    tree, any folder tree of frames (a CASIA-B tree read by sequence-folder names), else a video folder."""
    root = Path(root)
    _check_root(root)
    found = detect(root).format
    if found in PATTERN_FORMATS:
        return found
    return tree.FORMAT if tree.looks_like(root)[0] else "video-folder"


def detect(root: str | Path) -> Detection:
    root = Path(root)
    candidates = detect_all(root)
    best = candidates[0]
    if best.confidence < MIN_CONFIDENCE:
        reasons = "; ".join(f"{d.format}: {d.reason}" for d in candidates)
        return Detection(None, best.confidence, f"not a recognised dataset ({reasons})")
    return best


def scan(root: str | Path, *, format: str | None = None, pattern: str | None = None,
         decode_sample: int | None = 0, progress=None) -> ScanReport:
    """Detect the format (or take ``format``), read the dataset's structure collecting per-file
    problems, decode its frames (:func:`core.readers.verify.verify`: all with ``decode_sample``
    None, at most that many per sequence, or none with 0; ``progress(done, total, message)``),
    then run the dataset-level validation (``ScanReport.validate``).

    ``pattern`` is the file-name pattern of a ``video-folder`` (required there) or the
    sequence-folder pattern of a generic tree or preset (optional there); given without a
    ``format`` it selects the detected tree format, else ``video-folder``. Raises
    :class:`NothingReadable` (an InputError that carries the report, every file's problem listed)
    when nothing readable is found.
    """
    root = Path(root)
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if pattern and format not in (None, *PATTERN_FORMATS):
        raise ConfigError(f"a pattern applies to {', '.join(PATTERN_FORMATS)}, not to {format}")
    if format is None and pattern:
        format = pattern_format(root)
    if format is None:
        det = detect(root)
        if det.format is None:
            raise InputError(root, det.reason)
        if not det.readable:
            raise InputError(root, f"detected {det.format} ({det.reason}); the reader for {det.format} is not built yet")
        note = f"detected {det.format} with confidence {det.confidence:.2f}: {det.reason}"
    else:
        _check_root(root)
        det = Detection(format, 1.0, "chosen by the user", readable=True)
        note = f"format {format} chosen by the user"
    fmt = det.format
    if fmt == "video-folder" and not pattern:
        raise InputError(root, f"{det.reason}; a video-folder needs a file-name pattern, e.g. "
                               f"{{sid}}_{{condition}}_{{view}}")

    if fmt == "casia-b-silhouette":
        report = casia_b.scan(root, groundtruth=_groundtruth_dir(root))
    elif fmt == "casia-b-video":
        report = casia_b_video.scan(root)
    elif fmt == "ccvid":
        report = ccvid.scan(root)
    elif fmt == "grew":
        report = grew.scan(root)
    elif fmt == "opengait-pkl":
        report = opengait_pkl.scan(root)
    elif fmt == tree.FORMAT:
        report = tree.scan(root, pattern)
    elif fmt in presets.PRESETS:
        report = presets.PRESETS[fmt].scan(root, pattern)
    else:
        report = video_folder.scan(root, pattern)
    report.notes.insert(0, note)
    verify(report, sample=decode_sample, progress=progress)
    if not report.sequences:
        if not report.problems:
            report.add_problem(root, "no frames, videos or arrays found under this folder")
        raise NothingReadable(report)
    report.validate()
    return report
