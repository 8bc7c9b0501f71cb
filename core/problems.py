"""One thing wrong with an input, as every reader and importer reports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

_ORDER = {"error": 0, "warning": 1}


@dataclass(frozen=True)
class Problem:
    """``severity`` 'error' means the file is skipped; ``line`` is 1-based, None when the problem
    concerns the whole file or folder."""

    path: str
    reason: str
    severity: str = "error"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """path, reason, severity, and line only where one is meant (a dataset scan has none)."""
        d: dict[str, Any] = {"path": self.path, "reason": self.reason, "severity": self.severity}
        if self.line is not None:
            d["line"] = self.line
        return d


def problem_rows(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Errors first, then warnings, each as a plain dict for a table or JSON output."""
    return [p.to_dict() for p in sorted(problems, key=lambda p: (_ORDER.get(p.severity, 2), p.path, p.line or 0))]
