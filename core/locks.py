"""One writer per folder, one job per device: exclusive OS file locks that only a live process holds.

``fcntl.flock`` belongs to an open file: the kernel drops it the moment the process holding it
ends, however it ends (``kill -9`` included), so a lock never outlives its holder and nothing stale
ever needs clearing by hand. A check in the catalog ("is a job running?") is check-then-act and
believes rows a dead process left behind; these locks are neither.

The lock of a folder is the file ``.<name>.lock`` beside it (in its parent), so it never shows up
among the folder's own files and survives a writer swapping the whole folder into place. The
holder writes its job id, pid and command into the lock file, so a refused writer says who holds
it. A lock file is removed on release; one a killed holder left behind is an unlocked, harmless
file that the next writer takes over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from core.errors import StudioError

# Who this process is writing for; set by the job worker so a refusal can name the job.
_identity: dict = {}
_held: dict[str, list] = {}          # resolved lock path -> [FileLock, depth]: re-entrant per process
_guard = threading.Lock()


class FolderBusy(StudioError):
    """Another live process writes this folder (or holds this slot); the message names it."""


def set_identity(*, job: int | None = None, kind: str | None = None) -> None:
    """Record the job this process runs, for the lock files it writes from now on."""
    _identity.clear()
    _identity.update({k: v for k, v in (("job", job), ("kind", kind)) if v is not None})


def describe(holder: dict | None) -> str:
    """'job 7 (convert, pid 1234)', or 'pid 1234 (python -m core export ...)', or a plain phrase."""
    if not holder:
        return "another process"
    pid = holder.get("pid")
    if holder.get("job") is not None:
        kind = f"{holder['kind']}, " if holder.get("kind") else ""
        return f"job {holder['job']} ({kind}pid {pid})"
    cmd = " ".join(holder.get("command") or [])[:80]
    return f"pid {pid}" + (f" ({cmd})" if cmd else "")


class FileLock:
    """An exclusive, non-blocking flock on ``path``, with the holder recorded in the file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def try_acquire(self) -> bool:
        """Take the lock now if no live process holds it; False if one does."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fh = open(self.path, "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                return False
            # A releasing holder unlinks the file while it still holds it: a lock taken on that
            # unlinked file guards nothing, so take it again on the file now at the path.
            try:
                same = os.fstat(fh.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            fh.close()
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({**_identity, "pid": os.getpid(), "command": sys.argv[:8],
                             "since": time.time()}) + "\n")
        fh.flush()
        self._fh = fh
        return True

    def holder(self) -> dict | None:
        """What the current holder wrote into the lock file (None when unreadable or unheld)."""
        try:
            return json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fh is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()         # while still held, so nobody takes a lock on a dying file
        self._fh.close()
        self._fh = None


def live(path: str | Path) -> bool:
    """True while a live process holds the lock at ``path`` (a stale file is cleared on the way)."""
    probe = FileLock(path)
    if not Path(path).exists():
        return False
    if probe.try_acquire():
        probe.release()
        return False
    return True


def lock_path(folder: str | Path) -> Path:
    folder = Path(folder).resolve()
    return folder.parent / f".{folder.name}.lock"


def holder_of(folder: str | Path) -> dict | None:
    """Who writes ``folder`` right now, or None when nobody does."""
    path = lock_path(folder)
    with _guard:
        if str(path) in _held:
            return _held[str(path)][0].holder()
    return FileLock(path).holder() if live(path) else None


def check_free(folder: str | Path) -> None:
    """Raise :class:`FolderBusy` if another process writes ``folder`` (a courtesy before queueing a
    job; the writer itself takes the lock, which is what makes it safe)."""
    with _guard:
        if str(lock_path(folder)) in _held:
            return
    holder = holder_of(folder)
    if holder is not None:
        raise busy(folder, holder)


def busy(folder: str | Path, holder: dict | None) -> FolderBusy:
    return FolderBusy(f"{Path(folder)}: being written by {describe(holder)}; wait for it to finish or stop it")


@contextlib.contextmanager
def writing(folder: str | Path) -> Iterator[None]:
    """Hold the one writer's lock on ``folder`` for the block; refuse at once with FolderBusy when
    another live process holds it. Re-entrant within a process (a job writing a folder may call a
    function that locks the same folder)."""
    path = lock_path(folder)
    key = str(path)
    with _guard:
        entry = _held.get(key)
        if entry is None:
            lock = FileLock(path)
            if not lock.try_acquire():
                raise busy(folder, lock.holder())
            entry = _held[key] = [lock, 0]
        entry[1] += 1
    try:
        yield
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                entry[0].release()
