"""Job states that tell the truth (issue 14, reproductions 3 and 7), with real processes and signals.

- a CLI job killed by ``kill -9`` reads 'interrupted' as soon as any entry point opens the workspace;
- SIGTERM / SIGINT end a job as 'cancelled' (training saves a checkpoint first), queued or running;
- Resume is offered only while the job's work is unfinished;
- an import, conversion or augmentation that produced nothing fails (non-zero exit, one-line
  reason) and leaves the previous good result in place.
"""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
from core.errors import InputError
from core.jobs import runner
from core.jobs.kinds import register_converted
from core.readers.detect import scan
from core.studio import Studio, runs
from core.workspace import Workspace
from tests.fixtures import make_casia_b_silhouettes

ROOT = Path(__file__).resolve().parents[1]


def cli(ws: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", "--workspace", str(ws), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(cond, timeout: float = 120, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def the_job(ws: Path, kind: str) -> dict | None:
    """The newest job of ``kind`` as its process left it (a bare Workspace recovers nothing)."""
    rows = Workspace(ws).catalog.jobs(kind=kind)
    return rows[0] if rows else None


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """A converted demo set in colour (augmentation needs colour frames): ids 001-002 train."""
    from core.demo.writer import generate

    base = tmp_path_factory.mktemp("states")
    generate(base / "raw", ids=4, views=("090",), seed=3, frames=8, layout="casia-b-video", workers=1)
    out = base / "conv"
    run_conversion(plan_conversion(scan(base / "raw"), out, ConvertOptions(silhouette="groundtruth", workers=1)))
    return out


@pytest.fixture
def cleanup():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


# -- every entry point recovers ---------------------------------------------------------------------

def test_kill_9_of_a_cli_job_reads_interrupted_at_the_next_cli_verb(tmp_path, cleanup):
    ws = tmp_path / "ws"
    p = cli(ws, "demo", "--out", str(tmp_path / "demo"), "--ids", "40", "--views", "000,018,036,054,090")
    cleanup.append(p)
    job = wait_for(lambda: (j := the_job(ws, "demo")) and j["state"] == "running" and j["pid"] == p.pid and j,
                   what="the CLI demo job to run")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert the_job(ws, "demo")["state"] == "running"     # the dead process could not say so itself
    # any verb opens the workspace, even one that fails on its own input
    q = subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), "scan", str(tmp_path / "nope")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert q.returncode == 1
    row = the_job(ws, "demo")
    assert row["id"] == job["id"] and row["state"] == "interrupted", row


def test_studio_construction_and_a_worker_recover_identified_dead_jobs_at_once(tmp_path):
    """A job whose pid and kernel start time are recorded and whose process is gone is interrupted
    at once, however fresh its heartbeat; without that identity it may be starting and keeps its grace."""
    studio = Studio(tmp_path / "ws")
    cat = studio.catalog
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    start = runner.process_start(dead.pid)
    dead.wait()
    killed = cat.create_job("convert", {}, slot="cpu")
    cat.transition_job(killed, ("queued",), "running")
    cat.update_job(killed, pid=dead.pid, pid_start=start, heartbeat=time.time())
    starting = cat.create_job("convert", {}, slot="cpu")
    assert Studio(tmp_path / "ws").recovered == [killed]
    assert cat.job(killed)["state"] == "interrupted" and cat.job(starting)["state"] == "queued"


# -- SIGTERM / SIGINT mean cancelled ------------------------------------------------------------------

def test_sigterm_of_a_cli_train_saves_a_checkpoint_and_ends_cancelled(tmp_path, converted, cleanup):
    ws = tmp_path / "ws"
    p = cli(ws, "train", "--dataset", str(converted), "--preset", "demo-cpu", "--iterations", "100000",
            "--name", "long")
    cleanup.append(p)
    cat = Workspace(ws).catalog
    wait_for(lambda: (r := cat.run("long")) and r["step"] >= 2, timeout=300, what="training to take two steps")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode != 0
    job, run = the_job(ws, "train"), cat.run("long")
    assert job["state"] == "cancelled" and "SIGTERM" in job["message"], job
    assert run["state"] == "stopped" and 2 <= run["step"] < 100000
    assert (Path(run["dir"]) / "checkpoints" / "latest.pt").is_file()
    reason = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(reason) == 1 and "checkpoint saved" in reason[0] and "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_of_a_queued_worker_job_ends_cancelled(tmp_path, sig):
    studio = Studio(tmp_path / "ws")
    lock = open(studio.ws.locks_dir / "device.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)     # another job holds the device: this one queues
    try:
        job_id = runner.submit(studio.ws, "eval", {"checkpoint": "x", "dataset": "y"})
        job = wait_for(lambda: (j := studio.job(job_id)) and "waiting for the device" in (j["message"] or "") and j,
                       what="the job to queue")
        os.kill(job["pid"], sig)
        wait_for(lambda: not runner.job_alive(job), timeout=60, what="the worker to end")
        job = studio.job(job_id)
        assert job["state"] == "cancelled" and sig.name in job["message"], job
    finally:
        lock.close()


def test_a_timeout_killed_queued_cli_job_ends_cancelled(tmp_path, converted):
    ws = tmp_path / "ws"
    Studio(ws)
    lock = open(ws / "locks" / "device.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        # `timeout` sends SIGTERM: the classic way a scheduler or a shell script ends a job
        p = subprocess.run(["timeout", "-s", "TERM", "20", sys.executable, "-m", "core", "--workspace", str(ws),
                            "augment", str(converted), "--seq-types", "nm-01"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        lock.close()
    assert p.returncode != 0
    job = the_job(ws, "augment")
    assert job["state"] == "cancelled" and "SIGTERM" in job["message"], job
    assert "cancelled while queued" in p.stderr and "Traceback" not in p.stderr


STUBBORN_JOB = """
import sys, time
from core.jobs import kinds, worker
from core.workspace import Workspace
worker.STOP_GRACE_S = float(sys.argv[2])
kinds.KINDS["merge"] = lambda ctx, p: time.sleep(600)     # a job that never looks at its stop flag
ws = Workspace(sys.argv[1])
worker.run_job(ws, ws.catalog.create_job("merge", {}, slot="cpu"))
"""


@pytest.mark.parametrize("grace, signals, why", [(1.0, 1, "after 1 s"), (600.0, 2, "after a second signal")])
def test_a_job_ignoring_its_stop_flag_is_ended_after_the_grace_or_a_second_signal(tmp_path, cleanup, grace, signals,
                                                                                   why):
    ws = tmp_path / "ws"
    p = subprocess.Popen([sys.executable, "-c", STUBBORN_JOB, str(ws), str(grace)], cwd=ROOT)
    cleanup.append(p)
    wait_for(lambda: (j := the_job(ws, "merge")) and j["state"] == "running", what="the job to run")
    for _ in range(signals):
        p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
    assert p.wait(timeout=30) == 128 + signal.SIGTERM
    job = the_job(ws, "merge")
    assert job["state"] == "cancelled" and "SIGTERM" in job["message"] and why in job["message"], job


# -- Resume only for unfinished work ------------------------------------------------------------------

def interrupted_training(studio, tmp_path):
    """A 20-step run whose first training job was interrupted: (run id, job id)."""
    cat = studio.catalog
    run_id = cat.create_run("r", "gaitbase", {"iterations": 20}, tmp_path / "r", None)
    job = cat.create_job("train", {"run_id": run_id}, slot="device", run_id=run_id)
    cat.transition_job(job, ("queued",), "interrupted")
    return run_id, job


def test_resumable_only_while_the_work_is_unfinished(tmp_path):
    studio = Studio(tmp_path / "ws")
    cat = studio.catalog
    run_id, first = interrupted_training(studio, tmp_path)
    assert studio.resumable(cat.job(first)) and runs.resumable(cat, cat.job(first))
    # the run is finished by a later job (a CLI `train --resume`, say)
    later = cat.create_job("train", {"run_id": run_id, "resume": True}, slot="device", run_id=run_id)
    cat.transition_job(later, ("queued",), "succeeded")
    cat.update_run(run_id, state="finished", step=20)
    assert not studio.resumable(cat.job(first)) and not studio.resumable(cat.job(later))
    assert "taken over by job" in runs.resume_refusal(cat, cat.job(first))
    with pytest.raises(InputError, match="taken over"):
        studio.resume(first)
    # a finished run is not resumable even from its newest (killed after the last step) job
    killed = cat.create_job("train", {"run_id": run_id, "resume": True}, slot="device", run_id=run_id)
    cat.transition_job(killed, ("queued",), "interrupted")
    assert "already finished" in runs.resume_refusal(cat, cat.job(killed))
    # a conversion killed after writing its manifest has nothing left to do
    out = tmp_path / "out"
    conv = cat.create_job("convert", {"out": str(out)}, slot="cpu")
    cat.transition_job(conv, ("queued",), "interrupted")
    assert studio.resumable(cat.job(conv))
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    assert "complete" in runs.resume_refusal(cat, cat.job(conv))


def test_train_tab_offers_resume_only_for_unfinished_work(tmp_path):
    from app import train_tab

    studio = Studio(tmp_path / "ws")
    cat = studio.catalog
    run_id, _ = interrupted_training(studio, tmp_path)
    assert train_tab.refresh(studio, "")["resume_btn"]["interactive"] is True
    cat.update_run(run_id, state="finished", step=20)
    out = train_tab.refresh(studio, "")
    assert out["resume_btn"]["interactive"] is False and "press **Resume**" not in out["info"]
    assert "already finished" in train_tab.resume(studio)


# -- failed means failed ---------------------------------------------------------------------------

def test_a_zero_record_text_import_fails_and_keeps_the_previous_import(tmp_path, converted):
    ws = tmp_path / "ws"
    register_converted(Studio(ws).catalog, converted, name="conv", source="", result={})
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "summaries.json").write_text(json.dumps({"001_c1": "1. red jacket\n2. blue jeans"}))
    (bad / "answers.jsonl").write_text("this is not json\n{also not\n")
    run = lambda src: subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), "import", str(src),  # noqa: E731
                                      "--kind", "dlcr-texts", "--dataset", "conv"],
                                     cwd=ROOT, capture_output=True, text=True, timeout=120)
    p = run(good)
    assert p.returncode == 0, p.stderr
    studio = Studio(ws)
    saved = studio.ws.dataset_dir("imports", studio.catalog.dataset("conv")) / "dlcr-texts.json"
    before = saved.read_bytes()
    p = run(bad)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "no valid DLCR text record" in lines[0], p.stderr
    assert saved.read_bytes() == before
    assert Studio(ws).catalog.dataset("conv")["info"]["dlcr_texts"] == str(good)
    assert the_job(ws, "import")["state"] == "failed"


def test_an_augmentation_that_makes_nothing_fails(tmp_path, converted, capsys, monkeypatch):
    from core.augment import chain
    from core.cli import main

    def unusable(*args, **kwargs):      # e.g. every generated silhouette empty
        raise InputError("variant", "the re-extracted silhouette is empty")

    monkeypatch.setattr(chain, "make_variant", unusable)
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "augment", str(converted), "--seq-types", "nm-01"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "augmentation produced no usable variant" in err[0], err
    assert "silhouette is empty" in err[0]
    assert the_job(ws, "augment")["state"] == "failed"


def test_a_conversion_that_converts_nothing_fails_and_keeps_the_old_manifest(tmp_path):
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    out = tmp_path / "out"
    opts = ConvertOptions(workers=1)
    run_conversion(plan_conversion(scan(src), out, opts))
    manifest = (out / "manifest.json").read_bytes()
    for png in src.rglob("*.png"):      # every frame unreadable now
        png.write_bytes(b"not a png")
    for d in (out / "train", out / "test"):     # and no finished sequence left to reuse
        shutil.rmtree(d, ignore_errors=True)
    with pytest.raises(InputError, match="no sequence converted"):
        run_conversion(plan_conversion(scan(src), out, opts))
    assert (out / "manifest.json").read_bytes() == manifest
