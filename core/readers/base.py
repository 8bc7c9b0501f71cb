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


@dataclass
class RawSequence:
    sid: str
    seq_type: str          # e.g. 'nm-01'
    view: str              # e.g. '090'
    condition: str         # e.g. 'nm'
    frames: list[Path] = field(default_factory=list)
    clothes: str = ""
    groundtruth: Path | None = None   # synthetic ground truth (demo sets only)

    @property
    def seq(self) -> str:
        return f"{self.seq_type}-{self.view}"

    @property
    def source(self) -> str:
        return str(self.frames[0].parent) if self.frames else ""


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
