"""The studio served from a subprocess for browser tests and benches: a free port, the app's log in
a file, its process group and its job workers ended afterwards."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_group(pid: int | None) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def serve_app(ws: Path, log_path: Path, demo_args: dict | None = None, timeout: float = 90) -> Iterator[str]:
    """launch.py on workspace ``ws``; yields its URL once it answers."""
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if demo_args is not None:
        env["HYBRIDGAIT_DEMO_ARGS"] = json.dumps(demo_args)
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--workspace", str(ws), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("app exited:\n" + log_path.read_text())
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("app did not answer:\n" + log_path.read_text())
                time.sleep(0.5)
        yield url
    finally:
        kill_group(proc.pid)
        proc.wait(timeout=10)
        log.close()
        # Job workers run in their own sessions so they outlive the app; end them by catalog pid.
        db = ws / "catalog.sqlite"
        if db.exists():
            with sqlite3.connect(db) as conn:
                for (pid,) in conn.execute("SELECT pid FROM jobs WHERE pid IS NOT NULL AND state IN ('queued','running')"):
                    kill_group(pid)
