"""Job worker process: ``python -m core.jobs.worker --workspace W --job ID``.

Waits for the device slot if the job needs it, runs the job function, and records the outcome
(result, or the traceback of a failure) in the catalog. A heartbeat thread keeps ``heartbeat``
fresh and turns a cancel request in the catalog into the job's stop flag.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
import traceback

from core import locks
from core.catalog import now_iso
from core.errors import JobCancelled, StudioError
from core.jobs.context import JobContext
from core.jobs.runner import process_start, recover
from core.workspace import Workspace

# After SIGTERM / SIGINT a job has this long to save what it has (training writes a checkpoint) and
# end as 'cancelled'; then, or at a second signal, the process ends anyway, still as 'cancelled'.
STOP_GRACE_S = 60.0


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
    """Block until this job holds ``slot``'s lock; the oldest live waiting job goes first.

    Each waiting job holds a ticket lock of its own, so only a live process can wait: a queued
    job killed with ``-9`` drops its ticket with its life and never blocks those behind it (a
    queue read from catalog rows would wait for ever on a row a dead process left ``queued``)."""
    if slot != "device":
        return None
    queue = ctx.workspace.locks_dir / "device-queue"
    mine = f"job-{ctx.job_id:09d}.lock"
    ticket = locks.FileLock(queue / mine)
    while not ticket.try_acquire():   # only a prober clearing a stale file can hold it for an instant
        time.sleep(0.05)
    device = locks.FileLock(ctx.workspace.locks_dir / "device.lock")
    said = None
    try:
        while True:
            if ctx.should_stop():
                raise JobCancelled("cancelled while queued")
            ahead = [p for p in sorted(queue.glob("job-*.lock")) if p.name < mine and locks.live(p)]
            if not ahead and device.try_acquire():
                return device
            holder = device.holder() if not ahead else locks.FileLock(ahead[0]).holder()
            msg = f"waiting for the device: {locks.describe(holder)} {'is using' if not ahead else 'waits for'} it"
            if msg != said:
                ctx.catalog.update_job(ctx.job_id, message=msg)
                ctx.log(msg)
                said = msg
            time.sleep(0.5)
    finally:
        ticket.release()


class _StopSignals:
    """SIGTERM and SIGINT (``timeout``, ``kill``, Ctrl-C) become the job's stop request.

    The handler only sets the stop flag: it runs between two bytecodes of the main thread, which
    may be inside a catalog transaction, so everything that writes happens on a watchdog thread.
    Only the main thread may install handlers; elsewhere (a job run from a thread) this is a no-op.
    """

    def __init__(self, ctx: JobContext, done: threading.Event):
        self.ctx, self.done = ctx, done
        self.received: list[int] = []
        self.force = threading.Event()
        self.previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.received.append(signum)
        self.ctx._stop.set()
        if len(self.received) == 1:
            threading.Thread(target=self._watchdog, daemon=True).start()
        else:
            self.force.set()

    def _watchdog(self) -> None:
        deadline = time.monotonic() + STOP_GRACE_S
        while not self.done.is_set():
            if self.force.wait(0.2) or time.monotonic() > deadline:
                self._end_now()

    def _end_now(self) -> None:
        cat, job_id = self.ctx.catalog, self.ctx.job_id
        why = "a second signal" if self.force.is_set() else f"{STOP_GRACE_S:.0f} s"
        try:
            job = cat.job(job_id)
            cat.transition_job(job_id, ("queued", "running"), "cancelled", finished=now_iso(),
                               message=f"stopped by {self.name} and ended after {why} without finishing cleanly")
            if job and job["run_id"] and job["kind"] == "train":
                cat.update_run(job["run_id"], state="stopped")
        finally:
            os._exit(128 + self.received[0])

    @property
    def name(self) -> str:
        return signal.Signals(self.received[0]).name if self.received else ""

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run_job(ws: Workspace, job_id: int) -> str:
    from core.jobs.kinds import KINDS

    cat = ws.catalog
    job = cat.job(job_id)
    if job is None:
        raise SystemExit(f"no job {job_id} in {ws.root}")
    cat.update_job(job_id, pid=os.getpid(), pid_start=process_start(os.getpid()), heartbeat=time.time())
    locks.set_identity(job=job_id, kind=job["kind"])
    ctx = JobContext(ws, job_id, job["params"])
    done = threading.Event()
    signals = _StopSignals(ctx, done)
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
        msg = f"{exc} ({signals.name})" if signals.received else str(exc)
        cat.transition_job(job_id, ("queued", "running"), "cancelled", finished=now_iso(), message=msg)
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
        signals.restore()
        if lock is not None:
            lock.release()
    return state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--job", type=int, required=True)
    args = ap.parse_args(argv)
    ws = Workspace(args.workspace)
    recover(ws)     # a killed job ahead of this one must not look queued (it would hold the device queue)
    state = run_job(ws, args.job)
    return 0 if state in ("succeeded", "cancelled") else 1


if __name__ == "__main__":
    raise SystemExit(main())
