"""Launches and monitors job workers; holds no job state of its own (the catalog does).

Workers start in their own session so they outlive the app process: closing the browser or
restarting the studio never kills a running job. ``recover`` runs at start-up and marks jobs whose
worker is gone as interrupted, ready to resume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.errors import InputError
from core.procpool import process_alive, process_start
from core.workspace import Workspace

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Jobs that need the accelerator (or, on a CPU-only machine, all the cores) take the one device slot.
DEVICE_KINDS = {"train", "eval", "augment"}


def slot_for(kind: str) -> str:
    return "device" if kind in DEVICE_KINDS else "cpu"


def submit(ws: Workspace, kind: str, params: dict, *, run_id: int | None = None, resumed_from: int | None = None,
           spawn: bool = True) -> int:
    from core.jobs.kinds import KINDS
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    job_id = ws.catalog.create_job(kind, params, slot=slot_for(kind), run_id=run_id, resumed_from=resumed_from)
    if spawn:
        start_worker(ws, job_id)
    return job_id


def start_worker(ws: Workspace, job_id: int) -> int:
    log = open(ws.job_log(job_id), "ab")
    # ``-m`` from the project root makes ``core`` importable with or without an install; ``-u`` keeps
    # the log current while the job runs.
    proc = subprocess.Popen([sys.executable, "-u", "-m", "core.jobs.worker", "--workspace", str(ws.root), "--job", str(job_id)],
                            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    ws.catalog.update_job(job_id, pid=proc.pid, pid_start=process_start(proc.pid))
    return proc.pid


def pid_alive(pid: int | None, pid_start: str | None = None) -> bool:
    """True if the process that ran a job is still there (and is the same process)."""
    return process_alive(pid, pid_start)


def job_alive(job: dict) -> bool:
    return pid_alive(job["pid"], job.get("pid_start"))


# A worker records its pid a moment after the job row is written; until then it only looks dead.
RECOVER_GRACE_S = 15.0


def gone(job: dict, grace: float = RECOVER_GRACE_S, now: float | None = None) -> bool:
    """True when no live process runs ``job`` any more.

    A job whose pid and kernel start time are both recorded names one process: once that process
    has ended it can never come back, so the job is gone at once (a CLI job killed a second ago is
    not left 'running' for the next command). A job without that identity may still be starting,
    so it is gone only after ``grace`` seconds of silence.
    """
    from core.catalog import iso_epoch

    if job_alive(job):
        return False
    if job.get("pid") and job.get("pid_start"):
        return True
    now = time.time() if now is None else now
    last = job.get("heartbeat") or iso_epoch(job.get("created")) or now
    return now - last >= grace


def recover(ws: Workspace, grace: float = RECOVER_GRACE_S, now: float | None = None) -> list[int]:
    """Mark queued/running jobs whose worker is gone (crash, kill, reboot) as interrupted.

    Every entry point that opens a workspace runs this (``Studio()``, hence the CLI and the app,
    and each job worker), so a killed job never stays 'running' or 'queued'.
    """
    lost = []
    for job in ws.catalog.jobs(states=("queued", "running")):
        if not gone(job, grace, now):
            continue
        if ws.catalog.transition_job(job["id"], ("queued", "running"), "interrupted",
                                     message="worker process ended unexpectedly; resume to continue",
                                     finished=_now()):
            lost.append(job["id"])
            if job["run_id"]:
                ws.catalog.update_run(job["run_id"], state="interrupted")
    return lost


def _now() -> str:
    from core.catalog import now_iso
    return now_iso()


def cancel(ws: Workspace, job_id: int) -> str:
    """Ask a job to stop; it saves what it has (a checkpoint, finished sequences) and ends."""
    job = ws.catalog.job(job_id)
    if job is None:
        raise InputError(ws.root, f"no job {job_id} in this workspace")
    if job["state"] not in ("queued", "running"):
        return job["state"]
    ws.catalog.update_job(job_id, cancel_requested=1, message="stopping…")
    if not job_alive(job):
        ws.catalog.transition_job(job_id, ("queued", "running"), "cancelled", finished=_now(),
                                  message="cancelled (worker was not running)")
        return "cancelled"
    return "cancelling"


def kill(ws: Workspace, job_id: int) -> None:
    """Last resort when a job ignores the stop request: end its whole process group."""
    job = ws.catalog.job(job_id)
    if job and job_alive(job):
        try:
            os.killpg(job["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    ws.catalog.transition_job(job_id, ("queued", "running"), "cancelled", finished=_now(),
                              message="killed; resume from the last checkpoint")


def resume(ws: Workspace, job_id: int) -> int:
    """Start a new job that continues an interrupted, cancelled or failed one."""
    job = ws.catalog.job(job_id)
    if job is None:
        raise InputError(ws.root, f"no job {job_id} in this workspace")
    if job["state"] in ("queued", "running"):
        raise ValueError(f"job {job_id} is still {job['state']}")
    params = dict(job["params"])
    params["resume"] = True
    return submit(ws, job["kind"], params, run_id=job["run_id"], resumed_from=job_id)


def wait(ws: Workspace, job_id: int, timeout: float = 600, poll: float = 0.3) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = ws.catalog.job(job_id)
        if job["state"] not in ("queued", "running"):
            return job
        if not job_alive(job):
            time.sleep(poll)  # the worker may have just written its final state
            job = ws.catalog.job(job_id)
            if job["state"] in ("queued", "running"):
                recover(ws, grace=0)
                return ws.catalog.job(job_id)
            return job
        time.sleep(poll)
    raise TimeoutError(f"job {job_id} still {ws.catalog.job(job_id)['state']} after {timeout}s")
