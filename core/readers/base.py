from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.problems import Problem

MEDIA = ("silhouette", "rgb", "video", "array")
HIDDEN_SID = "_probe"    # sid of a probe whose identity the source hides (official GREW test/probe)
MIN_FRAMES = 5


@dataclass
class PersonTrack:
    """One tracked walker of a multi-person video: the frame ids it is seen in (as
    ``read_frames`` names them) and its box (x0, y0, x1, y1) in each, an (N, 4) array."""

    number: int
    names: list[str]
    boxes: Any


@dataclass
class RawSequence:
    """One sequence as a reader found it, before any pixel is read.

    ``media`` says what the pixels are: ``silhouette`` / ``rgb`` image files in ``frames``, one
    ``video`` file, or an ``array`` file already aligned (an OpenGait pkl). ``role`` is the split
    the source itself fixes (CCVID's lists, GREW's folders: 'train' | 'gallery' | 'probe'); None
    when the user's split decides. ``name`` overrides the sequence folder name where the source
    has its own (CCVID ``s1-01``, GREW's random ids).
    """

    sid: str
    seq_type: str          # e.g. 'nm-01'; for sources without CASIA-B types, the condition
    view: str              # e.g. '090'; '' when the source has no view
    condition: str         # e.g. 'nm'
    frames: list[Path] = field(default_factory=list)
    clothes: str = ""
    groundtruth: Path | None = None   # synthetic ground truth (demo sets only)
    media: str = "silhouette"
    video: Path | None = None
    array: Path | None = None
    pose: list[Path] = field(default_factory=list)   # given per-frame keypoint files, aligned with frames
    role: str | None = None
    name: str | None = None
    camera: str = ""       # CCVID camera id, used by its evaluation protocol
    frame_count: int | None = None   # frames the container declares (videos), when known before decoding
    track: PersonTrack | None = None  # one person of a multi-person video (conversion with tracking)

    @property
    def seq(self) -> str:
        if self.name:
            return self.name
        return f"{self.seq_type}-{self.view}" if self.view else self.seq_type

    @property
    def source(self) -> str:
        if self.video is not None:
            return str(self.video)
        if self.array is not None:
            return str(self.array)
        return str(self.frames[0].parent) if self.frames else ""

    @property
    def size(self) -> int:
        """Frames known before decoding (0 for a video or an array until it is read)."""
        return len(self.frames)

    @property
    def known_frames(self) -> int | None:
        """Frame count known without decoding: image files, else the video container's count, else None."""
        if self.frames:
            return len(self.frames)
        return self.frame_count

    @property
    def key(self) -> tuple[str, str]:
        """(sid, seq): what must be unique within a dataset."""
        return (self.sid, self.seq)


@dataclass
class ScanReport:
    root: Path
    format: str
    sequences: list[RawSequence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ids = sorted({s.sid for s in self.sequences if s.sid != HIDDEN_SID})
        views = sorted({s.view for s in self.sequences})
        by_cond = Counter(s.condition for s in self.sequences)
        return {
            "root": str(self.root), "format": self.format, "ids": len(ids),
            "id_range": [ids[0], ids[-1]] if ids else [], "sequences": len(self.sequences),
            "frames": sum(s.known_frames or 0 for s in self.sequences), "views": views,
            "conditions": dict(sorted(by_cond.items())),
            "errors": sum(p.severity == "error" for p in self.problems),
            "warnings": sum(p.severity == "warning" for p in self.problems),
            "notes": self.notes,
            "media": dict(sorted(Counter(s.media for s in self.sequences).items())),
            "roles": dict(sorted(Counter(s.role or "unassigned" for s in self.sequences).items())),
        }

    def to_json(self, max_problems: int = 500) -> dict[str, Any]:
        return {"summary": self.summary(), "problems": [p.to_dict() for p in self.problems[:max_problems]],
                "problems_total": len(self.problems)}

    def counts_table(self) -> list[dict[str, Any]]:
        """Sequences per condition x view, the table a researcher checks first."""
        views = sorted({s.view for s in self.sequences})
        rows = []
        for cond in sorted({s.condition for s in self.sequences}):
            row: dict[str, Any] = {"condition": cond}
            for v in views:
                row[v] = sum(1 for s in self.sequences if s.condition == cond and s.view == v)
            rows.append(row)
        return rows

    # --------------------------------------------------------------------------------------------
    # validation
    # --------------------------------------------------------------------------------------------

    def add_problem(self, path: str | Path, reason: str, severity: str = "error") -> bool:
        """Append a problem unless the identical one is already listed; True when it was added."""
        p = Problem(str(path), reason, severity)
        if any(q == p for q in self.problems):
            return False
        self.problems.append(p)
        return True

    def problem_rows(self) -> list[dict[str, str]]:
        """Problems as rows for a UI table, errors first, each {severity, path, reason}."""
        order = {"error": 0, "warning": 1}
        rows = sorted(self.problems, key=lambda p: order.get(p.severity, 2))
        return [{"severity": p.severity, "path": p.path, "reason": p.reason} for p in rows]

    def validate(self, min_frames: int = MIN_FRAMES) -> list[dict[str, str]]:
        """Dataset-level checks; see :func:`validate`."""
        return validate(self, min_frames=min_frames)


class NothingReadable(InputError):
    """No sequence of the folder can be read; ``report`` still lists every file's problem."""

    def __init__(self, report: ScanReport):
        self.report = report
        first = "; ".join(f"{p.path}: {p.reason}" for p in report.problems[:3])
        more = f" (and {len(report.problems) - 3} more problems)" if len(report.problems) > 3 else ""
        super().__init__(report.root, f"no readable sequence found{' — ' + first if first else ''}{more}")


def validate(report: ScanReport, min_frames: int = MIN_FRAMES) -> list[dict[str, str]]:
    """Check the dataset as a whole and append what is wrong to ``report.problems``.

    * duplicate (sid, seq) keys: error; the later duplicates are dropped from ``report.sequences``
      (the first in reading order is kept), because both would be written to the same folder;
    * sequences with fewer than ``min_frames`` frames, where the count is known before decoding: warning;
    * views missing for a (sid, seq_type) relative to the views seen anywhere in the dataset: warning;
    * a probe identity with no gallery sequence, where the source fixes the roles: warning
      (hidden-id probes, sid ``HIDDEN_SID``, are not checked);
    * an identity present in the train role and in a test role (gallery/probe): error (a leak;
      nothing is dropped, the split itself must change).

    Running it twice adds nothing new. Returns ``report.problem_rows()`` (all problems, errors first).
    """
    listed = {(p.path, p.reason, p.severity) for p in report.problems}

    def add(path: str, reason: str, severity: str = "error") -> None:
        if (str(path), reason, severity) not in listed:
            listed.add((str(path), reason, severity))
            report.problems.append(Problem(str(path), reason, severity))

    # duplicates
    first: dict[tuple[str, str], RawSequence] = {}
    kept: list[RawSequence] = []
    for s in report.sequences:
        other = first.get(s.key)
        if other is None:
            first[s.key] = s
            kept.append(s)
            continue
        add(s.source, f"duplicate sequence {s.sid}/{s.seq}: also read from {other.source}; this one skipped")
    report.sequences[:] = kept

    # short sequences
    for s in report.sequences:
        n = s.known_frames
        if n is not None and n < min_frames:
            add(s.source, f"only {n} frames (< {min_frames})", "warning")

    # missing views
    views = sorted({s.view for s in report.sequences if s.view})
    if len(views) > 1:
        seen: dict[tuple[str, str], dict[str, RawSequence]] = {}
        for s in report.sequences:
            if s.view:
                seen.setdefault((s.sid, s.seq_type), {})[s.view] = s
        for (sid, seq_type), got in sorted(seen.items()):
            missing = [v for v in views if v not in got]
            if missing:
                any_seq = next(iter(got.values()))
                add(any_seq.source,
                    f"{sid} {seq_type}: no sequence for view{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"(the dataset has {len(views)} views)", "warning")

    # roles fixed by the source
    by_role: dict[str, dict[str, list[RawSequence]]] = {}
    for s in report.sequences:
        if s.role:
            by_role.setdefault(s.role, {}).setdefault(s.sid, []).append(s)
    gallery = by_role.get("gallery", {})
    for sid, seqs in sorted(by_role.get("probe", {}).items()):
        if sid == HIDDEN_SID or sid in gallery:
            continue
        add(seqs[0].source, f"probe identity {sid} ({len(seqs)} sequence{'s' if len(seqs) != 1 else ''}) "
                            f"has no gallery sequence: its probes can never be matched", "warning")
    train = by_role.get("train", {})
    test_ids = (set(gallery) | set(by_role.get("probe", {}))) - {HIDDEN_SID}
    for sid in sorted(set(train) & test_ids):
        tests = gallery.get(sid, []) + by_role.get("probe", {}).get(sid, [])
        n = len(train[sid])
        add(tests[0].source, f"identity {sid} is in train ({n} sequence{'s' if n != 1 else ''}, e.g. "
                             f"{train[sid][0].source}) and in the test roles ({len(tests)}): "
                             f"evaluation would leak training identities")
    return report.problem_rows()


def nonempty_frames(files, report: ScanReport) -> list[Path]:
    """The frame files that hold data, in order; an empty one (an interrupted copy) is reported and skipped."""
    frames = []
    for f in files:
        if f.stat().st_size == 0:
            report.problems.append(Problem(str(f), "empty file (0 bytes); frame skipped"))
            continue
        frames.append(f)
    return frames


def iter_files(root: Path, suffixes: tuple[str, ...], *, limit: int | None = None,
               max_dirs: int | None = None):
    """Files under ``root`` whose suffix (lower-cased) is in ``suffixes``, in sorted order, skipping
    folders and files whose names start with '_' or '.' (ground truth, temporaries of the demo
    writer, hidden files). ``limit`` stops after that many files, ``max_dirs`` after visiting that
    many folders (for quick sampling in format detection)."""
    found = 0
    visited = 0
    stack = [Path(root)]
    while stack:
        d = stack.pop()
        visited += 1
        if max_dirs is not None and visited > max_dirs:
            return
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith(("_", ".")):
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                continue
            if is_dir:
                subdirs.append(Path(e.path))
            elif os.path.splitext(e.name)[1].lower() in suffixes:
                yield Path(e.path)
                found += 1
                if limit is not None and found >= limit:
                    return
        stack.extend(reversed(subdirs))
