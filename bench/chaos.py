"""Kill real jobs and check what survives: ``python -m bench.chaos --scenarios 30 --seed 0``.

Each scenario starts a job through the CLI (``python -m core --workspace W ...``, a subprocess in its
own session), ``SIGKILL``s it at a seeded point (a time after start, the job's progress in the
catalog passing a fraction, a training step, or a temporary appearing in the merge target), then
reruns the same command and checks:

- the catalog passes ``PRAGMA integrity_check`` (after the kill and after the rerun);
- no temporary (``.<name>.<random>.tmp`` / ``.<name>.old``, the names of core/atomic.py) and no
  half-written sequence folder (one the manifest does not list) remains once the rerun finished;
- the rerun does not redo finished work (conversion: ``skipped_done``; augmentation: ``reused``;
  merge: already merged variants are not merged again; curation: one decision per variant) and
  loses no record (every sequence / variant / decision / metric recorded before the kill is there
  after the rerun);
- training resumed with ``train --resume RUN`` ends with the same weights as an unkilled run.

It also counts processes of the killed job still alive after the kill (orphans) and job rows still
``queued`` / ``running`` after the next entry point opened the workspace (stale rows): issue 14 says
neither should exist; they are reported, and ``tests/test_chaos.py`` holds the expectations.

The catalog is only ever read here, read-only. Kinds run round-robin in the order of ``KINDS``;
within a round, curation and merge continue the augmentation scenario's workspace (so a merge has
accepted variants without a second augmentation), which is why augment comes before them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("convert", "train", "augment", "curate", "merge")

# The demo set: small enough that one scenario takes seconds on two busy cores, with colour frames
# (DLCR augmentation needs them) and three training identities.
DEMO_ARGS = ("--ids", "6", "--views", "090", "--frames", "12")
AUGMENT_ARGS = ("--per-sequence", "2", "--max-sequences", "3")
TRAIN_ITERATIONS = 14
TRAIN_CHECKPOINT_EVERY = 4


# -- processes ------------------------------------------------------------------------------------

def cli(ws: Path, *args: str, timeout: float = 600) -> tuple[int, dict | None, str]:
    """Run one CLI verb to the end: (exit code, its --json summary or None, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    summary = None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            summary = json.loads(lines[-1])
        except json.JSONDecodeError:
            summary = None
    return proc.returncode, summary, proc.stderr


def cli_ok(ws: Path, *args: str) -> dict:
    code, summary, err = cli(ws, *args)
    if code != 0 or summary is None:
        raise RuntimeError(f"python -m core {' '.join(args)} failed ({code}): {err[-2000:]}")
    return summary


def session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the killed CLI started it, so its workers are in it)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:   # state, ppid, pgrp, session
            found.append(int(d.name))
    return found


@dataclass
class Kill:
    killed: bool           # False: the job finished before its kill point
    seconds: float         # after start
    orphans: int           # processes of the job still alive 0.5 s after the kill
    returncode: int | None


def start_and_kill(ws: Path, args: list[str], trigger: Callable[[float], bool], log: Path,
                   timeout: float = 300) -> Kill:
    """Start ``python -m core`` with ``args``; ``SIGKILL`` the CLI process the first time
    ``trigger(seconds since start)`` is true. Whatever it left running is then counted and killed,
    so the rerun meets only what is on disk."""
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "core", "--workspace", str(ws), *args, "--json"], cwd=ROOT,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    killed = False
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - t0
            if elapsed > timeout:
                break
            try:
                fire = trigger(elapsed)
            except (sqlite3.Error, OSError, ValueError):
                fire = False         # the catalog or folder is not there yet
            if fire:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.0005 if getattr(trigger, "fast", False) else 0.02)
        seconds = time.monotonic() - t0
        proc.wait()
        orphans = 0
        if killed:
            time.sleep(0.5)
            orphans = len(session_pids(proc.pid))
    finally:
        _kill_session(proc.pid)
    return Kill(killed, round(seconds, 2), orphans, proc.returncode)


def _kill_session(sid: int) -> None:
    deadline = time.monotonic() + 10
    while (pids := session_pids(sid)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


# -- reading what is on disk ---------------------------------------------------------------------

def read_only(ws: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{ws / 'catalog.sqlite'}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def query(ws: Path, sql: str, args: tuple = ()) -> list[dict]:
    conn = read_only(ws)
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def integrity(ws: Path) -> bool:
    if not (ws / "catalog.sqlite").exists():
        return True   # killed before the catalog existed: nothing to corrupt
    return query(ws, "PRAGMA integrity_check")[0]["integrity_check"] == "ok"


def max_job_id(ws: Path) -> int:
    if not (ws / "catalog.sqlite").exists():
        return 0
    return query(ws, "SELECT COALESCE(MAX(id), 0) AS m FROM jobs")[0]["m"]


def jobs_after(ws: Path, first: int) -> list[dict]:
    if not (ws / "catalog.sqlite").exists():
        return []
    return query(ws, "SELECT id, kind, state, progress, total FROM jobs WHERE id > ? ORDER BY id", (first,))


def progress_trigger(ws: Path, first_job: int, kind: str, fraction: float) -> Callable[[float], bool]:
    def fire(_: float) -> bool:
        rows = [j for j in jobs_after(ws, first_job) if j["kind"] == kind]
        return bool(rows) and rows[0]["total"] > 0 and rows[0]["progress"] / rows[0]["total"] >= fraction
    return fire


def running_for(ws: Path, first_job: int, kind: str, seconds: float) -> Callable[[float], bool]:
    """Fires ``seconds`` after the job's row first reads ``running`` (the CLI's start-up, slow on a
    loaded machine, does not eat the window)."""
    seen: list[float] = []

    def fire(_: float) -> bool:
        if not seen:
            if any(j["kind"] == kind and j["state"] == "running" for j in jobs_after(ws, first_job)):
                seen.append(time.monotonic())
            return False
        return time.monotonic() - seen[0] >= seconds
    return fire


def is_temporary(p: Path) -> bool:
    """The names core/atomic.py gives what it has not finished (locks are not temporaries)."""
    return (p.name.startswith(".") and p.name.endswith((".tmp", ".old")) and p.name.count(".") >= 2
            and not p.name.endswith(".lock"))


def temporaries(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        if root.exists():
            found += [str(p) for p in root.rglob(".*") if is_temporary(p)]
    return sorted(found)


def half_written(dataset: Path) -> list[str]:
    """Sequence folders on disk that the manifest does not list (a half-done write or merge)."""
    from core.layout import SPLIT_DIRS, sequence_dir, sequences

    if not (dataset / "manifest.json").is_file():
        return []
    listed = {sequence_dir(dataset, s).resolve() for s in sequences(dataset)}
    found = []
    for split in SPLIT_DIRS.values():
        base = dataset / split
        if base.is_dir():
            found += [str(d) for d in base.glob("*/*") if d.is_dir() and not d.name.startswith(".")
                      and d.resolve() not in listed]
    return sorted(found)


def converted_done(out: Path) -> set[str]:
    """Sequences whose conversion finished: their progress record says ok."""
    done = set()
    for p in (out / ".progress").glob("*.json"):
        try:
            if json.loads(p.read_text()).get("status") == "ok":
                done.add(p.stem)
        except (json.JSONDecodeError, OSError):
            pass
    return done


def variants_on_disk(vroot: Path) -> set[str]:
    return {f"{d.parent.name}/{d.name}" for d in vroot.glob("*/*") if (d / "variant.json").is_file()
            and not d.name.startswith(".")}


def state_dict(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def same_weights(a: Path, b: Path) -> tuple[bool, str]:
    import torch

    sa, sb = state_dict(a), state_dict(b)
    if sa.get("step") != sb.get("step"):
        return False, f"steps {sa.get('step')} vs {sb.get('step')}"
    if set(sa["model"]) != set(sb["model"]):
        return False, "different tensors"
    worst = max((float((v.float() - sb["model"][k].float()).abs().max()) if v.numel() else 0.0)
                for k, v in sa["model"].items())
    ok = all(torch.allclose(v.float(), sb["model"][k].float(), rtol=0, atol=1e-6) for k, v in sa["model"].items())
    return ok, f"max |diff| {worst:.2e}"


# -- the demo set every scenario starts from -----------------------------------------------------

@dataclass
class DemoSet:
    root: Path
    raw: Path
    conv: Path
    train_config: Path
    _reference: Path | None = None

    @classmethod
    def build(cls, root: Path) -> "DemoSet":
        """Write the demo set and convert it once (the shared, read-only inputs of every scenario)."""
        root.mkdir(parents=True, exist_ok=True)
        ws = root / "setup-ws"
        raw, conv = root / "raw", root / "conv"
        cli_ok(ws, "demo", "--out", str(raw), *DEMO_ARGS)
        cli_ok(ws, "convert", str(raw), "--out", str(conv))
        cfg = root / "train.json"
        cfg.write_text(json.dumps(tiny_train_config(conv)))
        return cls(root, raw, conv, cfg)

    def reference_weights(self) -> Path:
        """latest.pt of one unkilled training run with the scenarios' config (made once)."""
        if self._reference is None:
            ws = self.root / "reference-ws"
            out = cli_ok(ws, "train", "--config", str(self.train_config), "--name", "reference")
            self._reference = Path(out["run_dir"]) / "checkpoints" / "latest.pt"
        return self._reference


def tiny_train_config(dataset: Path) -> dict:
    from core.train.config import load_config, preset

    base = asdict(preset("demo-cpu", dataset=str(dataset.resolve())))
    cfg = {**base, "iterations": TRAIN_ITERATIONS, "checkpoint_every": TRAIN_CHECKPOINT_EVERY, "log_every": 1,
           "keep_checkpoints": 2, "batch_ids": 3, "batch_seqs": 2, "device": "cpu", "amp": "off",
           "model_args": {"channels": [4, 8, 8, 8], "parts": 4, "embed_dim": 8}, "resize_to": [16, 11],
           "sampling": {**base["sampling"], "frames": 4},
           "scheduler": {**base["scheduler"], "milestones": [TRAIN_ITERATIONS // 2]}}
    load_config(cfg)   # fails here, not in a scenario, if the config is wrong
    return cfg


# -- scenarios ------------------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str
    seed: int
    trigger: str
    killed: bool = False
    kill_seconds: float = 0.0
    kills: int = 0
    integrity: bool = True
    rerun_ok: bool = True
    no_redo: bool = True
    lost: int = 0
    leftovers: list[str] = field(default_factory=list)
    orphans: int = 0
    stale_rows: int = 0
    exact_resume: bool | None = None
    temporaries_at_kill: int = 0
    detail: str = ""

    @property
    def survived(self) -> bool:
        return (self.integrity and self.rerun_ok and self.no_redo and self.lost == 0 and not self.leftovers
                and self.exact_resume is not False)


@dataclass
class Chain:
    """The augmentation scenario's workspace and dataset copy, which curation and merge continue."""
    ws: Path
    conv: Path


def _stale(ws: Path, first_job: int) -> int:
    """Jobs started by the killed command still queued / running after the next entry point ran."""
    return sum(1 for j in jobs_after(ws, first_job) if j["state"] in ("queued", "running"))


def _rerun(o: "Outcome", ws: Path, *args: str) -> dict | None:
    """Run the killed command again to its end: its --json summary, or None with the reason in ``o``."""
    code, res, err = cli(ws, *args)
    o.integrity = o.integrity and integrity(ws)
    o.rerun_ok = code == 0 and res is not None
    if not o.rerun_ok:
        o.detail = err[-500:]
        return None
    return res


def _finish(o: Outcome, ws: Path, first_job: int, kill: Kill) -> None:
    o.killed, o.kill_seconds, o.orphans = o.killed or kill.killed, kill.seconds, o.orphans + kill.orphans
    o.kills += int(kill.killed)
    o.integrity = o.integrity and integrity(ws)


def _time_or_progress(ws: Path, kind: str, rng: random.Random, mode: str | None,
                      max_seconds: float) -> tuple["Outcome", Callable[[float], bool]]:
    """A kill point for the workspace's first job: seconds after it runs, or its catalog progress
    passing a fraction (``mode`` "time" / "progress"; by default the seed chooses)."""
    if (mode or ("time" if rng.random() < 0.5 else "progress")) == "time":
        at = rng.uniform(0.0, max_seconds)
        return Outcome(kind, 0, f"{at:.2f}s after running"), running_for(ws, 0, kind, at)
    f = rng.uniform(0.05, 0.9)
    return Outcome(kind, 0, f"progress {f:.2f}"), progress_trigger(ws, 0, kind, f)


def scenario_convert(demo: DemoSet, where: Path, rng: random.Random, mode: str | None = None,
                     **_: Any) -> Outcome:
    """``mode``: "time" (seconds after the job runs) or "progress" (its catalog progress passes a
    fraction, so the worker pool is up); by default the seed chooses."""
    ws, out = where / "ws", where / "conv"
    o, trigger = _time_or_progress(ws, "convert", rng, mode, 5.0)
    args = ["convert", str(demo.raw), "--out", str(out)]
    kill = start_and_kill(ws, args, trigger, where / "killed.log")
    _finish(o, ws, 0, kill)
    before = converted_done(out)
    res = _rerun(o, ws, *args)
    if res is None:
        return o
    manifest = {f"{r['sid']}__{r['seq']}" for r in json.loads((out / "manifest.json").read_text())["sequences"]}
    ds = query(ws, "SELECT id FROM datasets WHERE path=?", (str(out.resolve()),))
    in_catalog = {f"{r['sid']}__{r['seq']}" for r in
                  query(ws, "SELECT sid, seq FROM sequences WHERE dataset_id=?", (ds[0]["id"],))} if ds else set()
    o.lost = len(before - (manifest & in_catalog))
    o.no_redo = res["skipped_done"] >= len(before)
    o.leftovers = temporaries(out, ws) + half_written(out)
    o.stale_rows = _stale(ws, 0) if kill.killed else 0
    o.detail = f"{len(before)} done before the kill, rerun skipped {res['skipped_done']}"
    return o


def scenario_train(demo: DemoSet, where: Path, rng: random.Random, on_temporary: bool | None = None,
                   **_: Any) -> Outcome:
    """Killed once the run's step in the catalog reaches a seeded step, or (``on_temporary``) the
    moment a checkpoint's temporary appears in ``runs/r/checkpoints/``."""
    ws = where / "ws"
    step = rng.randrange(1, TRAIN_ITERATIONS - 1)
    if on_temporary is None:
        on_temporary = rng.random() < 0.25
    o = Outcome("train", 0, "checkpoint temporary" if on_temporary else f"step {step}")

    def trigger(_: float) -> bool:
        if on_temporary:
            return any(is_temporary(Path(e.path)) for e in os.scandir(ws / "runs" / "r" / "checkpoints"))
        rows = query(ws, "SELECT step FROM runs WHERE name='r'")
        return bool(rows) and rows[0]["step"] >= step
    trigger.fast = on_temporary

    args = ["train", "--config", str(demo.train_config), "--name", "r"]
    # On a temporary, kill again (resuming each time) until a kill leaves one behind or training ends.
    for _attempt in range(4 if on_temporary else 1):
        has_run = (ws / "catalog.sqlite").exists() and query(ws, "SELECT id FROM runs WHERE name='r'")
        kill = start_and_kill(ws, ["train", "--resume", "r"] if has_run else args, trigger, where / "killed.log")
        _finish(o, ws, 0, kill)
        if not kill.killed or temporaries(ws):
            break
    run_dir = ws / "runs" / "r"
    latest = run_dir / "checkpoints" / "latest.pt"
    ckpt_step = state_dict(latest)["step"] if latest.is_file() else 0
    o.temporaries_at_kill = len(temporaries(ws))
    has_run = (ws / "catalog.sqlite").exists() and query(ws, "SELECT id FROM runs WHERE name='r'")
    metrics_before = ({(r["step"], r["name"]) for r in query(
        ws, "SELECT step, name FROM metrics WHERE run_id=(SELECT id FROM runs WHERE name='r')")} if has_run else set())
    first = max_job_id(ws)
    res = _rerun(o, ws, *(["train", "--resume", "r"] if has_run else args))
    if res is None:
        return o
    metrics_after = {(r["step"], r["name"]) for r in query(
        ws, "SELECT step, name FROM metrics WHERE run_id=(SELECT id FROM runs WHERE name='r')")}
    o.lost = len(metrics_before - metrics_after)
    resumed = query(ws, "SELECT progress_start FROM jobs WHERE id > ? AND kind='train' ORDER BY id LIMIT 1", (first,))
    o.no_redo = ckpt_step >= TRAIN_ITERATIONS or (bool(resumed) and (resumed[0]["progress_start"] or 0) >= ckpt_step)
    o.exact_resume, diff = same_weights(demo.reference_weights(), latest)
    o.leftovers = temporaries(ws)
    o.stale_rows = _stale(ws, 0) if o.kills else 0
    o.detail = f"{o.kills} kill(s); checkpoint at step {ckpt_step} when killed; weights vs unkilled run: {diff}"
    return o


def scenario_augment(demo: DemoSet, where: Path, rng: random.Random, chain: dict | None = None,
                     mode: str | None = None, **_: Any) -> Outcome:
    ws, conv = where / "ws", where / "conv"
    shutil.copytree(demo.conv, conv)   # curation and merge of this round continue here
    o, trigger = _time_or_progress(ws, "augment", rng, mode, 4.0)
    args = ["augment", str(conv), *AUGMENT_ARGS]
    kill = start_and_kill(ws, args, trigger, where / "killed.log")
    _finish(o, ws, 0, kill)
    vroot = ws / "variants" / conv.name
    on_disk = variants_on_disk(vroot)
    rows_before = ({(r["id"], r["sid"], r["name"]) for r in query(ws, "SELECT id, sid, name FROM variants")}
                   if (ws / "catalog.sqlite").exists() else set())
    res = _rerun(o, ws, *args)
    if res is None:
        return o
    rows_after = {(r["id"], r["sid"], r["name"]) for r in query(ws, "SELECT id, sid, name FROM variants")}
    o.lost = len(rows_before - rows_after) + len(on_disk - variants_on_disk(vroot))
    o.no_redo = res["reused"] >= len(on_disk) and res["new"] + res["reused"] == res["variants"]
    o.leftovers = temporaries(ws, conv)
    o.stale_rows = _stale(ws, 0) if kill.killed else 0
    o.detail = f"{len(on_disk)} variants on disk before the kill, rerun reused {res['reused']}"
    if chain is not None:
        chain["chain"] = Chain(ws, conv)
    return o


def _decisions(ws: Path) -> set[tuple]:
    return {(r["id"], r["variant_id"], r["decision"]) for r in query(ws, "SELECT id, variant_id, decision FROM decisions")}


def scenario_curate(demo: DemoSet, where: Path, rng: random.Random, chain: dict | None = None,
                    mode: str | None = None, **_: Any) -> Outcome:
    """``mode``: "time" (seconds after the process starts: mostly before the decisions, whose one
    transaction is all or nothing) or "decided" (the moment the first decision is visible)."""
    ch = (chain or {}).get("chain") or _fresh_chain(demo, where)
    ws, conv = ch.ws, ch.conv
    scores = sorted(r["score"] for r in query(ws, "SELECT score FROM variants WHERE status='pending'")
                    if r["score"] is not None)
    threshold = scores[len(scores) // 2] if scores else 0.5   # about half accepted, half left pending
    args = ["curate", str(conv), "--accept-above", f"{threshold:.6f}"]
    first = max_job_id(ws)
    before_status = {r["id"]: r["status"] for r in query(ws, "SELECT id, status FROM variants")}
    n_decisions = len(_decisions(ws))
    if (mode or ("time" if rng.random() < 0.5 else "decided")) == "time":
        at = rng.uniform(0.3, 3.0)    # no job row: from the start of the process
        o, trigger = Outcome("curate", 0, f"time {at:.2f}s"), (lambda t: t >= at)
    else:
        def trigger(_: float) -> bool:
            return len(_decisions(ws)) > n_decisions
        trigger.fast = True   # the CLI exits milliseconds after its one transaction
        o = Outcome("curate", 0, "first decision seen")
    kill = start_and_kill(ws, args, trigger, where / "killed-curate.log")
    _finish(o, ws, first, kill)
    decided = _decisions(ws)
    res = _rerun(o, ws, *args)
    if res is None:
        return o
    rows = query(ws, "SELECT id, status, score FROM variants")
    want = {r["id"] for r in rows if before_status.get(r["id"]) == "pending" and r["score"] is not None
            and r["score"] >= float(f"{threshold:.6f}")}
    got = {r["id"] for r in rows if r["status"] == "accepted" and before_status.get(r["id"]) == "pending"}
    per_variant = Counter(v for _, v, d in _decisions(ws) if d == "accepted")
    o.lost = len(decided - _decisions(ws)) + len(want - got)
    o.no_redo = all(n == 1 for v, n in per_variant.items() if v in want)
    o.leftovers = temporaries(ws, conv) + half_written(conv)
    o.detail = f"{len(decided)} decisions before the kill; {len(got)} of {len(want)} accepted after the rerun"
    return o


def _tmp_in(conv: Path) -> Callable[[float], bool]:
    dirs = [d for d in (conv / "train").iterdir() if d.is_dir()]

    def fire(_: float) -> bool:
        return any(e.name.startswith(".") and e.name.endswith(".tmp") for d in dirs for e in os.scandir(d))
    fire.fast = True
    return fire


def scenario_merge(demo: DemoSet, where: Path, rng: random.Random, chain: dict | None = None,
                   on_temporary: bool | None = None, attempts: int = 3, **_: Any) -> Outcome:
    """``on_temporary``: kill the moment a ``.<variant>.<random>.tmp`` appears in ``train/<sid>/``
    (again, up to ``attempts`` times, until a kill leaves one behind); else seconds after running."""
    ch = (chain or {}).get("chain") or _fresh_chain(demo, where)
    ws, conv = ch.ws, ch.conv
    if on_temporary is None:
        on_temporary = rng.random() < 0.5
    at = rng.uniform(0.0, 1.0)
    o = Outcome("merge", 0, "temporary in train/<sid>/" if on_temporary else f"{at:.2f}s after running")
    args = ["curate", str(conv), "--accept-all", "--merge"]
    first = max_job_id(ws)
    merged_before: set[int] = set()
    for _attempt in range(attempts if on_temporary else 1):
        trigger = _tmp_in(conv) if on_temporary else running_for(ws, first, "merge", at)
        kill = start_and_kill(ws, args, trigger, where / "killed-merge.log")
        _finish(o, ws, first, kill)
        o.temporaries_at_kill = len(temporaries(conv))
        if not kill.killed or o.temporaries_at_kill:
            break
    decided = _decisions(ws)
    merged_before = {r["id"] for r in query(ws, "SELECT id FROM variants WHERE merged_seq IS NOT NULL")}
    res = _rerun(o, ws, *args)
    if res is None:
        return o
    rows = query(ws, "SELECT id, sid, status, merged_seq FROM variants")
    ds = query(ws, "SELECT id FROM datasets WHERE path=?", (str(conv.resolve()),))[0]["id"]
    seqs = {(r["sid"], r["seq"]) for r in query(ws, "SELECT sid, seq FROM sequences WHERE dataset_id=?", (ds,))}
    manifest = {(r["sid"], r["seq"]) for r in json.loads((conv / "manifest.json").read_text())["sequences"]}
    unmerged = [r for r in rows if r["merged_seq"] is None or (r["sid"], r["merged_seq"]) not in seqs & manifest]
    o.lost = len(decided - _decisions(ws)) + len(unmerged)
    o.no_redo = res["merge"]["merged"] == len(rows) - len(merged_before)
    o.leftovers = temporaries(ws, conv) + half_written(conv)
    o.stale_rows = _stale(ws, first) if o.kills else 0
    o.detail = (f"{o.kills} kill(s), {o.temporaries_at_kill} temporaries at the last; {len(merged_before)} merged "
                f"before, {res['merge']['merged']} by the rerun")
    return o


def _fresh_chain(demo: DemoSet, where: Path) -> Chain:
    """An augmented copy of the demo set, for a curation or merge scenario run on its own."""
    ws, conv = where / "ws", where / "conv"
    shutil.copytree(demo.conv, conv)
    cli_ok(ws, "augment", str(conv), *AUGMENT_ARGS)
    return Chain(ws, conv)


SCENARIOS: dict[str, Callable[..., Outcome]] = {
    "convert": scenario_convert, "train": scenario_train, "augment": scenario_augment,
    "curate": scenario_curate, "merge": scenario_merge,
}


def run_scenario(kind: str, seed: int, demo: DemoSet, where: Path, chain: dict | None = None,
                 **options: Any) -> Outcome:
    """One seeded scenario of ``kind`` in the fresh folder ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    o = SCENARIOS[kind](demo, where, random.Random(f"{kind}-{seed}"), chain=chain, **options)
    o.seed = seed
    return o


def run_all(n: int, seed: int, root: Path, progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    demo = DemoSet.build(root / "demo")
    outcomes, chain = [], {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "convert":
            chain = {}     # a new round: curation and merge follow this round's augmentation
        o = run_scenario(kind, seed * 1000 + i, demo, root / f"{i:03d}-{kind}", chain=chain)
        outcomes.append(o)
        if progress:
            progress(o)
    return outcomes


def report(outcomes: list[Outcome], seconds: float) -> str:
    lines = []
    per_kind: dict[str, Counter] = {}
    for o in outcomes:
        c = per_kind.setdefault(o.kind, Counter())
        c["scenarios"] += 1
        c["survived"] += o.survived
        c["killed"] += o.killed or o.kills > 0
        c["lost"] += o.lost
        c["leftovers"] += len(o.leftovers)
        c["orphans"] += o.orphans
        c["stale rows"] += o.stale_rows
    survived = sum(o.survived for o in outcomes)
    lines.append(f"scenarios survived: {survived}/{len(outcomes)}")
    lines.append(f"records lost: {sum(o.lost for o in outcomes)}")
    lines.append(f"leftovers: {sum(len(o.leftovers) for o in outcomes)}")
    lines.append(f"orphan processes after a kill: {sum(o.orphans for o in outcomes)}")
    lines.append(f"job rows still queued/running after the next entry point: {sum(o.stale_rows for o in outcomes)}")
    exact = [o.exact_resume for o in outcomes if o.exact_resume is not None]
    lines.append(f"training resumed exactly: {sum(exact)}/{len(exact)}")
    lines.append(f"wall time: {seconds:.0f} s ({seconds / max(1, len(outcomes)):.1f} s per scenario), "
                 f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    cols = ("scenarios", "killed", "survived", "lost", "leftovers", "orphans", "stale rows")
    lines.append("kind      " + "  ".join(f"{c:>10}" for c in cols))
    for kind in KINDS:
        if kind in per_kind:
            lines.append(f"{kind:<10}" + "  ".join(f"{per_kind[kind][c]:>10}" for c in cols))
    for o in outcomes:
        if not o.survived:
            lines.append(f"FAILED {o.kind} seed {o.seed} ({o.trigger}): lost {o.lost}, leftovers {o.leftovers[:3]}, "
                         f"no_redo {o.no_redo}, rerun {o.rerun_ok}, integrity {o.integrity}, "
                         f"exact {o.exact_resume}; {o.detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=None, help="where to work (default: a temporary folder, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    args = ap.parse_args(argv)
    import tempfile

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="chaos-"))
    t0 = time.monotonic()

    def line(o: Outcome) -> None:
        print(f"{o.kind:<8} seed {o.seed:>5}  {o.trigger:<26} killed={int(o.killed or o.kills > 0)} "
              f"{'ok  ' if o.survived else 'FAIL'} lost={o.lost} leftovers={len(o.leftovers)} orphans={o.orphans} "
              f"stale={o.stale_rows}  {o.detail}", flush=True)

    try:
        outcomes = run_all(args.scenarios, args.seed, root, progress=line)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    print(report(outcomes, time.monotonic() - t0))
    bad = sum(o.lost for o in outcomes) or sum(len(o.leftovers) for o in outcomes)
    return 1 if bad or not all(o.survived for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
