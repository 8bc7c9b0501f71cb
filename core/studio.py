"""One object a UI, a notebook or the CLI drives: the workspace's datasets, jobs, runs and variants.

Everything long goes through ``core.jobs.runner`` (a worker process per job); everything here
returns plain data (dicts, dataclasses, numpy images) and never touches a UI toolkit.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import InputError
from core.jobs import runner
from core.workspace import Workspace, slug

DEMO_DEFAULTS = {"ids": 24, "views": ["036", "090", "144"], "frames": 36, "seed": 0}


class Studio:
    def __init__(self, workspace: str | Path = "workspace"):
        self.ws = Workspace(Path(workspace))
        self.catalog = self.ws.catalog

    # -- start-up ---------------------------------------------------------------------------
    def recover(self, **kw) -> list[int]:
        """Find jobs whose worker is gone; returns the ids marked interrupted (resumable)."""
        return runner.recover(self.ws, **kw)

    # -- datasets -----------------------------------------------------------------------------
    def datasets(self, kind: str | None = None) -> list[dict]:
        return self.catalog.datasets(kind)

    def create_demo(self, *, name: str = "demo", **kwargs: Any) -> int:
        params = {**DEMO_DEFAULTS, **kwargs}
        taken = {d["name"] for d in self.catalog.datasets()}
        name = self.ws.unique_name(name, taken | {p.name for p in self.ws.datasets_dir.iterdir()})
        params.update(out=str(self.ws.datasets_dir / name), name=name, layout="casia-b-silhouette")
        return runner.submit(self.ws, "demo", params)

    def open_dataset(self, path: str | Path) -> dict[str, Any]:
        """Detect and scan a raw dataset, register it, and return its report for display."""
        from core.readers import scan

        path = Path(path).expanduser().resolve()
        report = scan(path)
        existing = self.catalog.dataset_by_path(path)
        name = existing["name"] if existing else self.ws.unique_name(path.name, {d["name"] for d in self.catalog.datasets()})
        ds_id = self.catalog.add_dataset(name, "raw", report.format, path, info={"summary": report.summary()})
        return {"dataset_id": ds_id, "name": name, "report": report}

    def sample_frames(self, report, per_condition: int = 1) -> list[tuple[np.ndarray, str]]:
        """One mid-sequence frame per condition and view, captioned, for the dataset overview."""
        picked: dict[tuple[str, str], Any] = {}
        for s in report.sequences:
            picked.setdefault((s.condition, s.view), s)
        out = []
        for (cond, view), s in sorted(picked.items()):
            img = cv2.imread(str(s.frames[len(s.frames) // 2]), cv2.IMREAD_GRAYSCALE)
            if img is not None:
                out.append((img, f"{cond} · view {view} · {s.sid}"))
        return out

    # -- conversion -----------------------------------------------------------------------------
    def plan_conversion(self, source: str | Path, *, name: str | None = None, split: str | None = None,
                        align: str = "opengait"):
        from core.convert.converter import ConvertOptions, plan_conversion
        from core.readers import scan

        report = scan(source)
        out = self.ws.datasets_dir / slug(name or f"{Path(source).name}-grew")
        return plan_conversion(report, out, ConvertOptions(split=split, align=align)), report

    def preview_conversion(self, source: str | Path, *, name: str | None = None, split: str | None = None,
                           align: str = "opengait", samples: int = 4) -> dict[str, Any]:
        """What the conversion will do, computed without writing anything."""
        from core.convert.converter import preview_item

        plan, report = self.plan_conversion(source, name=name, split=split, align=align)
        step = max(1, len(plan.items) // samples)
        previews = []
        for it in plan.items[::step][:samples]:
            pv = preview_item(it, plan.options)
            pv["target"] = it.rel_dir
            pv["source"] = os.path.relpath(it.raw.source, plan.source)
            previews.append(pv)
        return {"plan": plan, "report": report, "mapping": plan.mapping_rows(), "split": plan.split.summary(),
                "split_counts": plan.split_counts(), "previews": previews, "out": str(plan.out)}

    def start_conversion(self, source: str | Path, *, name: str | None = None, split: str | None = None,
                         align: str = "opengait") -> int:
        plan, _ = self.plan_conversion(source, name=name, split=split, align=align)
        return runner.submit(self.ws, "convert", {"source": str(Path(source).resolve()), "out": str(plan.out),
                                                  "name": plan.out.name, "split": plan.split.spec, "align": align})

    # -- augmentation and curation ----------------------------------------------------------------
    def start_augmentation(self, dataset_id: int, *, per_sequence: int = 2, seq_types=("nm-01",),
                           kinds=None, seed: int = 0, sids=None, max_sequences: int | None = None) -> int:
        return runner.submit(self.ws, "augment", {"dataset_id": dataset_id, "per_sequence": per_sequence,
                                                  "seq_types": list(seq_types), "kinds": list(kinds) if kinds else None,
                                                  "seed": seed, "sids": list(sids) if sids else None,
                                                  "max_sequences": max_sequences})

    def variants(self, dataset_id: int, *, status: str | None = None, sid: str | None = None,
                 text: str = "") -> list[dict]:
        rows = self.catalog.variants(dataset_id, status=status or None, sid=sid or None)
        if text:
            t = text.lower()
            rows = [r for r in rows if t in r["description"].lower() or t in r["name"].lower()]
        return rows

    def decide(self, variant_ids, decision: str, who: str = "user") -> int:
        return self.catalog.decide(variant_ids, decision, who)

    def start_merge(self, dataset_id: int) -> int:
        return runner.submit(self.ws, "merge", {"dataset_id": dataset_id})

    # -- training and results -------------------------------------------------------------------
    def start_training(self, dataset_id: int, *, preset: str = "demo-cpu", name: str | None = None,
                       **overrides: Any) -> tuple[int, int]:
        from core.train.config import preset as make_preset

        ds = self.catalog.dataset(dataset_id)
        cfg = make_preset(preset, dataset=ds["path"], **overrides)
        cfg_dict = asdict(cfg)
        taken = {r["name"] for r in self.catalog.runs()}
        run_name = self.ws.unique_name(name or f"{cfg.model}-{ds['name']}", taken)
        run_dir = self.ws.runs_dir / run_name
        run_dir.mkdir(parents=True, exist_ok=True)
        run_id = self.catalog.create_run(run_name, cfg.model, cfg_dict, run_dir, dataset_id)
        job_id = runner.submit(self.ws, "train", {"run_id": run_id}, run_id=run_id)
        return job_id, run_id

    def start_eval(self, run_id: int, *, protocol: str = "casia-b") -> int:
        """Evaluate a run's latest checkpoint again, as a background job (results land on the run)."""
        run = self.catalog.run(run_id)
        if run is None:
            raise InputError(f"no training run #{run_id} in this workspace")
        dataset = (run.get("config") or {}).get("dataset")
        return runner.submit(self.ws, "eval", {"checkpoint": run["dir"], "dataset": dataset, "run_id": run_id,
                                               "protocol": protocol}, run_id=run_id)

    def runs(self) -> list[dict]:
        return self.catalog.runs()

    def run_metrics(self, run_id: int, after_step: int = -1) -> dict[str, list[tuple[int, float]]]:
        return self.catalog.metrics(run_id, after_step=after_step)

    # -- jobs ---------------------------------------------------------------------------------------
    def jobs(self, **kw) -> list[dict]:
        return self.catalog.jobs(**kw)

    def job(self, job_id: int) -> dict | None:
        return self.catalog.job(job_id)

    def cancel(self, job_id: int) -> str:
        return runner.cancel(self.ws, job_id)

    def resume(self, job_id: int) -> int:
        return runner.resume(self.ws, job_id)

    def wait(self, job_id: int, timeout: float = 600) -> dict:
        return runner.wait(self.ws, job_id, timeout=timeout)

    def job_log_tail(self, job_id: int, lines: int = 20) -> str:
        path = self.ws.job_log(job_id)
        if not path.is_file():
            return ""
        with open(path, "r", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))

    def active_job(self, kind: str | None = None) -> dict | None:
        jobs = self.catalog.jobs(states=("queued", "running"), kind=kind)
        return jobs[0] if jobs else None


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
