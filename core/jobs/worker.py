"""Job worker process: ``python -m core.jobs.worker --workspace W --job ID``.

Waits for the device slot if the job needs it, runs the job function, and records the outcome
(result, or the traceback of a failure) in the catalog. A heartbeat thread keeps ``heartbeat``
fresh and turns a cancel request in the catalog into the job's stop flag.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import threading
import time
import traceback

from core.catalog import now_iso
from core.errors import JobCancelled, StudioError
from core.jobs.context import JobContext
from core.jobs.runner import process_start
from core.workspace import Workspace


def _heartbeat(ctx: JobContext, done: threading.Event) -> None:
    while not done.wait(1.0):
        try:
            job = ctx.catalog.job(ctx.job_id)
            ctx.catalog.update_job(ctx.job_id, heartbeat=time.time())
            if job and job["cancel_requested"]:
                ctx._stop.set()
        except Exception:  # a busy catalog must not kill the job; the next beat retries
            pass


def _acquire_slot(ctx: JobContext, slot: str):
    """Block until this job holds ``slot``'s lock; the oldest waiting job goes first."""
    if slot != "device":
        return None
    fh = open(ctx.workspace.locks_dir / "device.lock", "w")
    announced = False
    while True:
        if ctx.should_stop():
            fh.close()
            raise JobCancelled("cancelled while queued")
        older = [j for j in ctx.catalog.jobs(states=("queued",)) if j["slot"] == "device" and j["id"] < ctx.job_id]
        if not older:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fh
            except BlockingIOError:
                pass
        if not announced:
            ctx.catalog.update_job(ctx.job_id, message="waiting for the device (another job is using it)")
            announced = True
        time.sleep(0.5)


def run_job(ws: Workspace, job_id: int) -> str:
    from core.jobs.kinds import KINDS

    cat = ws.catalog
    job = cat.job(job_id)
    if job is None:
        raise SystemExit(f"no job {job_id} in {ws.root}")
    cat.update_job(job_id, pid=os.getpid(), pid_start=process_start(os.getpid()), heartbeat=time.time())
    ctx = JobContext(ws, job_id, job["params"])
    done = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ctx, done), daemon=True)
    beat.start()
    lock = None
    state = "failed"
    try:
        lock = _acquire_slot(ctx, job["slot"])
        if not cat.transition_job(job_id, ("queued",), "running", started=now_iso(), started_at=time.time(),
                                  message="running"):
            return cat.job(job_id)["state"]
        ctx.log(f"job {job_id} ({job['kind']}) started with {job['params']}")
        result = KINDS[job["kind"]](ctx, job["params"])
        total = cat.job(job_id)["total"] or 1
        cat.transition_job(job_id, ("running",), "succeeded", finished=now_iso(), result=result or {},
                           message="done", progress=total, total=total)
        state = "succeeded"
        ctx.log(f"job {job_id} succeeded: {result}")
    except JobCancelled as exc:
        cat.transition_job(job_id, ("queued", "running"), "cancelled", finished=now_iso(), message=str(exc))
        state = "cancelled"
        ctx.log(f"job {job_id} cancelled: {exc}")
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the catalog
        tb = traceback.format_exc()
        msg = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        cat.transition_job(job_id, ("queued", "running"), "failed", finished=now_iso(), error=tb, message=msg)
        # A StudioError already names the file and what is wrong; its traceback stays in the catalog
        # for whoever debugs the studio, while the log (what the CLI and the UI show) gets the reason.
        ctx.log(f"job {job_id} failed: {msg}" if isinstance(exc, StudioError) else tb)
        state = "failed"
    finally:
        done.set()
        if lock is not None:
            lock.close()
    return state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--job", type=int, required=True)
    args = ap.parse_args(argv)
    state = run_job(Workspace(args.workspace), args.job)
    return 0 if state in ("succeeded", "cancelled") else 1


if __name__ == "__main__":
    raise SystemExit(main())
