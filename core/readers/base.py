from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Problem:
    """Something wrong with one file or folder; ``severity`` 'error' means it will be skipped."""

    path: str
    reason: str
    severity: str = "error"


MEDIA = ("silhouette", "rgb", "video", "array")


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


@dataclass
class ScanReport:
    root: Path
    format: str
    sequences: list[RawSequence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ids = sorted({s.sid for s in self.sequences})
        views = sorted({s.view for s in self.sequences})
        by_cond = Counter(s.condition for s in self.sequences)
        return {
            "root": str(self.root), "format": self.format, "ids": len(ids),
            "id_range": [ids[0], ids[-1]] if ids else [], "sequences": len(self.sequences),
            "frames": sum(len(s.frames) for s in self.sequences), "views": views,
            "conditions": dict(sorted(by_cond.items())),
            "errors": sum(p.severity == "error" for p in self.problems),
            "warnings": sum(p.severity == "warning" for p in self.problems),
            "notes": self.notes,
        }

    def to_json(self, max_problems: int = 500) -> dict[str, Any]:
        return {"summary": self.summary(), "problems": [asdict(p) for p in self.problems[:max_problems]],
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
