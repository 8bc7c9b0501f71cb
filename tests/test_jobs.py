import fcntl
import json
import os
import time

import pytest

from core.errors import InputError
from core.jobs import runner
from core.studio import Studio
from tests.fixtures import make_casia_b_silhouettes


@pytest.fixture
def studio(tmp_path):
    s = Studio(tmp_path / "ws")
    yield s
    for job in s.jobs():
        if runner.job_alive(job):
            os.killpg(job["pid"], 9)


def test_convert_job_runs_in_worker_process(studio, tmp_path):
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    job_id = studio.start_conversion(src, name="conv")
    job = studio.wait(job_id, timeout=120)
    assert job["state"] == "succeeded", job["error"]
    assert job["pid"] != os.getpid() and job["progress"] == job["total"] == 20
    ds = studio.catalog.dataset("conv")
    assert ds["kind"] == "converted" and len(studio.catalog.sequences(ds["id"])) == 20
    assert "succeeded" in studio.job_log_tail(job_id)


def test_failed_job_records_reason_and_traceback(studio, tmp_path):
    empty = tmp_path / "not-a-dataset"
    empty.mkdir()
    job_id = runner.submit(studio.ws, "convert", {"source": str(empty), "out": str(tmp_path / "o")})
    job = studio.wait(job_id, timeout=60)
    assert job["state"] == "failed"
    assert str(empty) in job["message"] and "not a recognised dataset" in job["message"]
    assert "Traceback" in job["error"]
    log = studio.job_log_tail(job_id)
    assert f"job {job_id} failed: {empty}" in log and "Traceback" not in log


def test_a_bug_in_a_job_keeps_its_traceback_in_the_log(studio, monkeypatch, capsys):
    """Only a StudioError is shortened to its reason; anything else is a bug and is logged whole."""
    from core.jobs import kinds, worker

    def buggy_kind(ctx, params):
        return {}["missing"]

    monkeypatch.setitem(kinds.KINDS, "convert", buggy_kind)
    job_id = studio.catalog.create_job("convert", {}, slot="cpu")
    try:
        assert worker.run_job(studio.ws, job_id) == "failed"   # in this process: the log is its stdout
    finally:
        studio.catalog.update_job(job_id, pid=None)             # so the fixture does not signal us
    job = studio.catalog.job(job_id)
    assert job["message"] == "KeyError: 'missing'" and "buggy_kind" in job["error"]
    log = capsys.readouterr().out
    assert "Traceback" in log and "buggy_kind" in log and "KeyError: 'missing'" in log


def test_unknown_job_is_a_user_error_naming_the_workspace(studio):
    for act in (runner.cancel, runner.resume):
        with pytest.raises(InputError, match="no job 999") as err:
            act(studio.ws, 999)
        assert err.value.path == str(studio.ws.root)


def test_recover_marks_dead_workers_interrupted_and_resume(studio, tmp_path):
    cat = studio.catalog
    run_id = cat.create_run("r", "gaitbase", {}, tmp_path / "r", None)
    job_id = cat.create_job("train", {"run_id": run_id}, slot="device", run_id=run_id)
    cat.transition_job(job_id, ("queued",), "running")
    fresh = cat.create_job("convert", {}, slot="cpu")  # its worker has not recorded a pid yet
    cat.update_job(job_id, pid=2 ** 22 + 12345, heartbeat=time.time() - 60)  # no such process, silent
    assert studio.recover() == [job_id]
    assert cat.job(fresh)["state"] == "queued"
    assert cat.job(job_id)["state"] == "interrupted" and cat.run(run_id)["state"] == "interrupted"
    new_id = runner.resume(studio.ws, job_id)
    new = cat.job(new_id)
    assert new["resumed_from"] == job_id and new["params"]["resume"] is True and new["run_id"] == run_id
    with pytest.raises(ValueError, match="still"):
        cat.update_job(new_id, state="running")
        runner.resume(studio.ws, new_id)


def test_device_slot_queues_and_cancel_while_queued(studio, tmp_path):
    lock = open(studio.ws.locks_dir / "device.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # pretend another job holds the device
    try:
        job_id = runner.submit(studio.ws, "eval", {"checkpoint": "x", "dataset": "y"})
        deadline = time.time() + 30
        while "waiting for the device" not in (studio.job(job_id)["message"] or "") and time.time() < deadline:
            time.sleep(0.2)
        job = studio.job(job_id)
        assert job["state"] == "queued" and "waiting for the device" in job["message"]
        assert studio.cancel(job_id) == "cancelling"
        job = studio.wait(job_id, timeout=30)
        assert job["state"] == "cancelled"
    finally:
        lock.close()


def test_cli_scan_json_and_errors(tmp_path, capsys):
    from core.cli import main

    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    assert main(["--workspace", str(tmp_path / "ws"), "scan", str(src), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["summary"]["sequences"] == 20 and out["summary"]["format"] == "casia-b-silhouette"
    assert main(["--workspace", str(tmp_path / "ws"), "scan", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and str(tmp_path / "nope") in err


def test_cli_convert_json(tmp_path, capsys):
    from core.cli import main

    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    code = main(["--workspace", str(tmp_path / "ws"), "convert", str(src), "--out", str(tmp_path / "out"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sequences"] == 20 and out["train_ids"] == 1 and (tmp_path / "out" / "manifest.json").is_file()
