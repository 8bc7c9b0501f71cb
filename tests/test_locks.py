"""One writer per output, a device queue only live processes stand in, no orphans, swept temporaries.

Every concurrent actor here is a separate process (a CLI run, a job worker, a lock holder), as in
real use: threads would share the one process's locks and prove nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs import runner
from tests.fixtures import make_casia_b_silhouettes

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def cli(ws: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "core", "--workspace", str(ws), *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(cond, timeout: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def holder_process(path: Path, folder: bool) -> subprocess.Popen:
    """A separate process that takes a lock (a folder's writer lock or a plain lock file) and sleeps."""
    take = (f"from core import locks; ctx = locks.writing({str(path)!r}); ctx.__enter__()" if folder else
            f"import fcntl; fh = open({str(path)!r}, 'a'); fcntl.flock(fh, fcntl.LOCK_EX)")
    code = f"{take}\nprint('locked', flush=True)\nimport time; time.sleep(600)\n"
    proc = subprocess.Popen([PY, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def slow_source(tmp_path_factory) -> Path:
    """Enough sequences that a conversion with one or two workers runs for several seconds."""
    return make_casia_b_silhouettes(tmp_path_factory.mktemp("locks") / "raw", ids=(1, 2, 3, 4),
                                    views=("000", "090", "144"), frames=40)


def test_second_and_third_writer_of_one_folder_are_refused_naming_the_holder(tmp_path, slow_source):
    out = tmp_path / "out"
    first = cli(tmp_path / "ws", "convert", str(slow_source), "--out", str(out), "--workers", "1", "--json")
    # the marker is written under the lock, before any sequence: the first writer is at work
    wait_for(lambda: (out / ".studio-conversion.json").is_file(), what="the first conversion to start")
    others = [cli(tmp_path / "ws", "convert", str(slow_source), "--out", str(out), "--workers", "1", "--json")
              for _ in range(2)]
    for p in others:
        _, err = p.communicate(timeout=120)
        assert p.returncode != 0, "a second writer of the same folder ran"
        last = err.strip().splitlines()[-1]
        assert "being written by job" in last and f"pid {first.pid}" in last, err
        assert "Traceback" not in err
    assert first.poll() is None, "the refused writers took longer than the whole first conversion"
    stdout, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["sequences"] == 120 and result["failed"] == 0 and result["skipped_done"] == 0
    assert not list(out.rglob("*.tmp")) and not (out.parent / ".out.lock").exists()


def test_a_lock_dies_with_its_holder(tmp_path):
    from core import locks

    folder = tmp_path / "dataset"
    holder = holder_process(folder, folder=True)
    try:
        with pytest.raises(locks.FolderBusy, match=f"pid {holder.pid}"):
            with locks.writing(folder):
                pass
        assert locks.holder_of(folder)["pid"] == holder.pid
    finally:
        kill9(holder)
    # no clean-up ran in the killed holder, yet the next writer proceeds at once
    assert locks.holder_of(folder) is None
    with locks.writing(folder):
        assert locks.holder_of(folder)["pid"] == os.getpid()


def test_a_killed_queued_device_job_does_not_block_later_ones(tmp_path):
    from core.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    device = holder_process(ws.locks_dir / "device.lock", folder=False)   # another job uses the device
    try:
        first = runner.submit(ws, "eval", {"checkpoint": "x", "dataset": "y"})
        wait_for(lambda: "waiting for the device" in (ws.catalog.job(first)["message"] or ""), what="job 1 to queue")
        second = runner.submit(ws, "eval", {"checkpoint": "x", "dataset": "y"})
        wait_for(lambda: f"job {first}" in (ws.catalog.job(second)["message"] or ""),
                 what="job 2 to say it waits for job 1")
        os.kill(ws.catalog.job(first)["pid"], signal.SIGKILL)   # the queued job dies; its row stays 'queued'
        assert ws.catalog.job(first)["state"] == "queued"
    finally:
        kill9(device)
    # the device is free and the only job ahead is dead: the later job runs (and fails on its bogus input)
    wait_for(lambda: ws.catalog.job(second)["state"] not in ("queued", "running"), timeout=90,
             what="the later device job to run")
    assert ws.catalog.job(second)["state"] == "failed"
    assert f"job {second}" in Path(ws.job_log(second)).read_text()


def test_merge_sweeps_what_a_killed_merge_left_and_never_a_live_writers_files(tmp_path):
    from core.augment.merge import merge_accepted
    from core.cli import main
    from core.workspace import Workspace

    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=6)
    out = tmp_path / "grew"
    assert main(["--workspace", str(tmp_path / "ws"), "convert", str(src), "--out", str(out), "--json"]) == 0
    cat = Workspace(tmp_path / "ws").catalog
    ds = cat.dataset_by_path(out.resolve())
    sid_dir = next((out / "train").iterdir())

    def leave_temporaries() -> list[Path]:
        left = sid_dir / ".nm-01__v1.k3j2x9.tmp"          # what a merge killed inside atomic_dir leaves
        left.mkdir()
        (left / "00000.png").write_bytes(b"half")
        stray = out / ".manifest.json.abc123.json.tmp"    # and one killed while writing the manifest
        stray.write_text("{")
        return [left, stray]

    left = leave_temporaries()
    assert merge_accepted(cat, ds["id"])["merged"] == 0
    assert not any(p.exists() for p in left), "the rerun merge left a killed merge's temporaries"

    from core import locks

    left = leave_temporaries()
    holder = holder_process(out, folder=True)        # a live writer of the dataset: its files are its own
    try:
        with pytest.raises(locks.FolderBusy, match=f"pid {holder.pid}"):
            merge_accepted(cat, ds["id"])
        assert all(p.exists() for p in left)
    finally:
        kill9(holder)
    merge_accepted(cat, ds["id"])
    assert not any(p.exists() for p in left)


def _descendants(pid: int) -> dict[int, str]:
    """pid -> kernel start time of every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    starts = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(d.name))
            starts[int(d.name)] = fields[19]
    out, todo = {}, [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out[c] = starts[c]
            todo.append(c)
    return out


def _alive(pid: int, start: str) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return fields[0] != "Z" and fields[19] == start


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_kill_9_of_a_cli_conversion_leaves_no_process_behind(tmp_path, slow_source):
    out = tmp_path / "out"
    conv = cli(tmp_path / "ws", "convert", str(slow_source), "--out", str(out), "--workers", "2", "--json")
    # the forkserver, its two pool workers and the resource tracker are all up once sequences appear
    wait_for(lambda: len(list((out / ".progress").glob("*.json"))) >= 2 if (out / ".progress").is_dir() else False,
             timeout=120, what="the pool to convert sequences")
    below = _descendants(conv.pid)
    assert len(below) >= 3, below
    kill9(conv)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in below.items()):
        time.sleep(0.1)
    left = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
            for p, s in below.items() if _alive(p, s)}
    for p in left:   # never leave them running on the test machine
        os.kill(p, signal.SIGKILL)
    assert not left, f"orphans of the killed conversion: {left}"


def test_the_studio_refuses_a_busy_folder_before_queueing(tmp_path):
    from core import locks
    from core.studio import Studio

    studio = Studio(tmp_path / "ws")
    src = make_casia_b_silhouettes(tmp_path / "raw", ids=(1, 2), views=("090",), frames=4)
    out = studio.ws.datasets_dir / "raw-grew"     # where start_conversion puts it by default
    holder = holder_process(out, folder=True)     # e.g. a CLI conversion, or another app instance
    try:
        with pytest.raises(locks.FolderBusy, match=f"pid {holder.pid}"):
            studio.start_conversion(src)
        assert studio.jobs() == []
    finally:
        kill9(holder)
