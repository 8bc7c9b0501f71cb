"""The one place that decides how worker processes start, and that they end with their job.

`fork` copies whatever locks other threads held at that instant (a UI server, torch's intra-op
pool, OpenCV's workers), and the child can block on them forever. `forkserver` forks from a clean,
single-threaded server instead, so it is safe to call from inside the app or a test run.

A pool worker must never outlive the process that started the pool: after a ``kill -9`` of a
conversion its workers would otherwise go on for minutes finishing sequences for nobody, holding
memory and cores. Each worker asks the kernel for SIGKILL when its parent (the forkserver, which
itself exits when its client does) dies, and, since that covers only its direct parent, also
watches the pool's owner by pid and start time and ends itself when the owner is gone.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Callable

PR_SET_PDEATHSIG = 1
OWNER_POLL_S = 0.5


def worker_context() -> BaseContext:
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid``: with the pid it names one process, even after pid reuse.
    None for a zombie (dead, not yet reaped) or where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return None if fields[0] == "Z" else fields[19]


def process_alive(pid: int | None, start: str | None = None) -> bool:
    """True if process ``pid`` is still there and, when ``start`` is given, is the same process
    (same kernel start time: the pid was not reused). A zombie counts as gone, and is reaped
    when it is ours."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = process_start(pid)
    if now is None:
        if Path("/proc").is_dir():  # a zombie: our finished child, reap it
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            return False
        return True  # no /proc (not Linux): trust the signal probe
    return start is None or now == start


def _watch_owner(pid: int, start: str | None) -> None:
    while process_alive(pid, start):
        threading.Event().wait(OWNER_POLL_S)
    os.kill(os.getpid(), signal.SIGKILL)


def die_with_owner(owner: int, owner_start: str | None, init: Callable | None = None, initargs: tuple = ()) -> None:
    """Pool initializer: end this worker when its parent or the pool's owner dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):   # not Linux: the owner watch below still applies
        pass
    if not process_alive(owner, owner_start):    # died before the signal was armed
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=_watch_owner, args=(owner, owner_start), daemon=True, name="owner-watch").start()
    if init is not None:
        init(*initargs)


def _owner_args(initializer: Callable | None, initargs: tuple) -> tuple:
    return (os.getpid(), process_start(os.getpid()), initializer, tuple(initargs))


def worker_pool(max_workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor whose workers die with the process that made it."""
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=worker_context(), initializer=die_with_owner,
                               initargs=_owner_args(initializer, initargs))


def process_pool(processes: int, initializer: Callable | None = None, initargs: tuple = ()):
    """A multiprocessing Pool whose workers die with the process that made it."""
    return worker_context().Pool(processes, initializer=die_with_owner, initargs=_owner_args(initializer, initargs))
