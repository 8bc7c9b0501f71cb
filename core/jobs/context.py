from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from core.errors import JobCancelled
from core.workspace import Workspace


@dataclass
class JobContext:
    """What a job function gets: where to write, how to report, and whether to stop."""

    workspace: Workspace
    job_id: int
    params: dict[str, Any]
    _stop: threading.Event = field(default_factory=threading.Event)
    _last_progress: float = 0.0
    _reported: bool = False

    @property
    def catalog(self):
        return self.workspace.catalog

    def progress(self, done: float, total: float, message: str = "", force: bool = False) -> None:
        now = time.monotonic()
        # Throttled: a training loop may call this every step; the catalog needs ~1 write/s.
        if force or now - self._last_progress > 0.5 or done >= total:
            first = {} if self._reported else {"progress_start": float(done), "progress_t0": time.time()}
            self._last_progress, self._reported = now, True
            self.catalog.update_job(self.job_id, progress=float(done), total=float(total), message=message, **first)

    def log(self, message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def check_stop(self) -> None:
        if self._stop.is_set():
            raise JobCancelled("stopped by the user")
