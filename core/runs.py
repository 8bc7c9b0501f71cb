"""What a training run is and what may be done with it, read from its catalog row, its jobs and its folder.

A run row alone can lie: a worker that died leaves it 'running', and an evaluation in progress is
recorded only on its job. These rules correct the row with the run's newest train and eval jobs,
so the UI, a notebook and the CLI read one answer. Nothing here writes.
"""

from __future__ import annotations

from pathlib import Path

from core.evaluate import protocols as P
from core.evaluate.files import OPENGAIT_EXPORT_FILE, embeddings_path
from core.train.files import latest_checkpoint

ACTIVE = ("queued", "running")                       # a job that still holds (or waits for) its slot
RESUMABLE = ("cancelled", "interrupted", "failed")   # a job Resume continues from its last checkpoint


def is_active(job: dict | None) -> bool:
    return bool(job) and job["state"] in ACTIVE


def results(run: dict | None) -> dict:
    res = (run or {}).get("results")
    return res if isinstance(res, dict) else {}


def evaluations(res: dict) -> list[tuple[str, dict]]:
    """(label, results) per evaluation of a run: the plain one, then 'refined' when present."""
    out = []
    if res and any(k != "refined" for k in res):
        out.append(("plain", res))
    ref = res.get("refined") if res else None
    if isinstance(ref, dict) and ref:
        out.append(("refined", ref))
    return out


def status(run: dict, train_job: dict | None, eval_job: dict | None) -> str:
    """The run's state, corrected by its jobs: a run whose training job failed or was interrupted
    still says 'running' in the runs table, and an evaluation in progress is worth showing."""
    if is_active(eval_job):
        return "evaluating" if eval_job["state"] == "running" else "evaluation queued"
    if train_job and train_job["state"] in ("failed", "interrupted") and run["state"] in ("running", "created"):
        return train_job["state"]
    if train_job and train_job["state"] == "queued":
        return "queued"
    return run["state"]


# The torch-free path modules: reading a run's status or opening its page must not import torch.

def checkpoint_file(run: dict) -> Path | None:
    return latest_checkpoint(run["dir"])


def embeddings_file(run: dict) -> Path:
    """Where the run's last evaluation kept its embeddings (recorded in the results, else the default)."""
    recorded = results(run).get("embeddings_file")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    return embeddings_path(run["dir"])


def export_file(run: dict) -> Path | None:
    """The OpenGait export if one exists and is not older than the checkpoint it came from
    (an export of an earlier checkpoint would hand out weights the run no longer has)."""
    out = Path(run["dir"]) / OPENGAIT_EXPORT_FILE
    ck = checkpoint_file(run)
    if out.is_file() and (ck is None or out.stat().st_mtime >= ck.stat().st_mtime):
        return out
    return None


def can_evaluate(run: dict | None, train_job: dict | None, eval_job: dict | None) -> tuple[bool, str]:
    """(whether an evaluation may start now, why not)."""
    if run is None:
        return False, "select a run first"
    if checkpoint_file(run) is None:
        every = (run.get("config") or {}).get("checkpoint_every")
        # "(step 4)" meant the Train tab, but read as a training step beside "step 12/30"
        when = f" every {every} iterations" if every else ""
        return False, f"run {run['name']} has no checkpoint yet: training writes one{when} and when it stops"
    if is_active(train_job):
        return False, f"run {run['name']} is still training; it is evaluated when training finishes"
    if is_active(eval_job):
        return False, f"run {run['name']} is already being evaluated (job #{eval_job['id']})"
    return True, ""


def work_of(job: dict) -> tuple:
    """What a job works on: two jobs with the same answer do the same work (a resume continues it)."""
    p = job.get("params") or {}
    kind = job["kind"]
    if kind in ("train", "eval"):
        return kind, job.get("run_id") or p.get("run_id")
    if kind in ("convert", "demo"):
        return kind, p.get("out")
    if kind == "import":
        return kind, p.get("dataset_id"), p.get("kind"), p.get("source")
    return kind, p.get("dataset_id")


def conversion_complete(job: dict) -> bool:
    """A conversion writes its manifest only after every sequence is done: one written after this
    job was created means this job, or a later one, finished the work."""
    from core.catalog import iso_epoch

    out = (job.get("params") or {}).get("out")
    manifest = Path(out) / "manifest.json" if out else None
    created = iso_epoch(job.get("created")) or 0.0
    return bool(manifest and manifest.is_file() and manifest.stat().st_mtime >= created)


def resume_refusal(catalog, job: dict | None) -> str:
    """Why Resume must not be offered for ``job`` ('' when it may): only a stopped, interrupted or
    failed job whose work is still unfinished resumes. Work is finished when a later job took it
    over (resume that one instead), when its training run finished, or when its conversion's
    output is complete (a job killed after writing everything still reads 'interrupted')."""
    if not job:
        return "no job to resume"
    if job["state"] not in RESUMABLE:
        return f"job #{job['id']} is {job['state']}: only a cancelled, interrupted or failed job resumes"
    work = work_of(job)
    newer = [j for j in catalog.jobs(kind=job["kind"], limit=1000) if j["id"] > job["id"] and work_of(j) == work]
    if newer:
        last = newer[0]     # newest first
        return f"job #{job['id']} was taken over by job #{last['id']} ({last['state']}); resume that one instead"
    if job["kind"] == "train":
        run = catalog.run(int(job["run_id"])) if job.get("run_id") else None
        if run is not None and run["state"] == "finished":
            return f"run {run['name']} already finished (step {run['step']}); nothing is left to resume"
    if job["kind"] == "convert" and conversion_complete(job):
        return f"the conversion into {job['params']['out']} is complete; nothing is left to resume"
    return ""


def resumable(catalog, job: dict | None) -> bool:
    return not resume_refusal(catalog, job)


def protocol(run: dict) -> str:
    """Evaluate again under the protocol used before, else the dataset's own (its manifest's
    source format: an OU-MVLP tree is scored as OU-MVLP whatever the preset), else the one the
    training preset is for."""
    proto = P.protocol_of(results(run))
    if proto in P.PROTOCOLS:
        return proto
    dataset = (run.get("config") or {}).get("dataset")
    if dataset and (Path(dataset) / "manifest.json").is_file():
        return P.protocol_for(dataset)
    preset = str((run.get("config") or {}).get("preset", ""))
    return next((p for p in P.PROTOCOLS if preset.startswith(p)), P.DEFAULT_PROTOCOL)
