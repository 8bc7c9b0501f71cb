"""The one place that decides how worker processes start.

`fork` copies whatever locks other threads held at that instant (a UI server, torch's intra-op
pool, OpenCV's workers), and the child can block on them forever. `forkserver` forks from a clean,
single-threaded server instead, so it is safe to call from inside the app or a test run.
"""

import multiprocessing as mp
from multiprocessing.context import BaseContext


def worker_context() -> BaseContext:
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")
