"""One object a UI, a notebook or the CLI drives: the workspace's datasets, jobs, runs and variants.

Everything long goes through ``core.jobs.runner`` (a worker process per job); everything here
returns plain data (dicts, dataclasses, numpy images) and never touches a UI toolkit.

This module is the app's only door into ``core`` (tests/test_app_layer.py holds it to that): besides
``Studio`` it re-exports the few UI-neutral names a page needs to render what Studio returns:
``protocols`` (the registry: headline numbers, conditions, figure kinds), ``options`` (each job's
defaults, choices, help and CLI command), ``runs`` (run status and what a run allows),
``StudioError``, ``iso_epoch``, ``AUGMENT_STAGES``, ``roots`` (the allowed folders and hosts of a
served studio) and the image helpers ``as_rgb`` / ``upscale_nearest``.

A studio built with ``roots`` (the app's) resolves every path it is handed and refuses one outside
the workspace and those folders; without ``roots`` (the CLI, a notebook) paths are only resolved.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from core import experiment, locks, options, roots, runs
from core.augment.options import FALLBACKS
from core.catalog import Catalog, iso_epoch
from core.errors import InputError, StudioError
from core.evaluate import protocols
from core.imaging import as_rgb, upscale_nearest
from core.jobs import runner
from core.options import defaults
from core.roots import Roots
from core.workspace import Workspace, slug

__all__ = ["Studio", "protocols", "options", "runs", "roots", "StudioError", "InputError", "iso_epoch", "as_rgb",
           "upscale_nearest", "jsonable", "AUGMENT_STAGES"]

AUGMENT_STAGES = tuple(FALLBACKS)     # the DLCR stages a model folder can run, in chain order

DEMO_DEFAULTS = {k: v for k, v in defaults("demo").items() if k in ("ids", "views", "frames", "seed")}


class Studio:
    def __init__(self, workspace: str | Path = "workspace", roots: list[str | Path] | None = None):
        self.ws = Workspace(Path(workspace))
        self.catalog = self.ws.catalog
        self.roots = None if roots is None else Roots([self.ws.root, *roots])
        # Opening a workspace tells the truth about its jobs first: whatever opens it (the app, the
        # CLI, a notebook), a job whose process was killed reads 'interrupted', not 'running'.
        self.recovered = self.recover()

    def check_path(self, path: str | Path) -> Path:
        """``path`` resolved (symlinks included); InputError when this studio has roots and it is outside them."""
        if not str(path).strip():
            raise InputError(None, "no path given")
        return self.roots.check(path) if self.roots is not None else Path(path).expanduser().resolve()

    def listing(self, folder: str | Path) -> list[str]:
        """The entries of ``folder`` a user may see: with roots, none leading out of them."""
        if self.roots is not None:
            return self.roots.listing(folder)
        try:
            return sorted(os.listdir(folder))
        except OSError:
            return []

    def catalog_version(self) -> str:
        """Changes whenever what the app's pages poll for changes: jobs, datasets, runs, variants
        added or merged (by this process or a job worker); not curation decisions."""
        return self.catalog.shown_version()

    # -- start-up ---------------------------------------------------------------------------
    def recover(self, **kw) -> list[int]:
        """Find jobs whose worker is gone; returns the ids marked interrupted (resumable)."""
        return runner.recover(self.ws, **kw)

    # -- datasets -----------------------------------------------------------------------------
    def datasets(self, kind: str | None = None) -> list[dict]:
        return self.catalog.datasets(kind)

    def dataset(self, dataset_id: int | None, kind: str | None = None) -> dict | None:
        """The dataset row, or None when there is none of that id (and ``kind``, when given)."""
        ds = self.catalog.dataset(dataset_id) if dataset_id is not None else None
        return ds if ds and (kind is None or ds["kind"] == kind) else None

    def sequence_counts(self, dataset_id: int) -> list[dict]:
        """Sequences per condition × view of a converted dataset."""
        return self.catalog.sequence_counts(dataset_id)

    def detect_formats(self, path: str | Path) -> list:
        """Every format the folder could be (Detection: format, confidence, reason), best first."""
        from core.readers.detect import detect_all

        return detect_all(self.check_path(path))

    def preview_pattern(self, path: str | Path, pattern: str, format: str | None = None) -> list[dict[str, Any]]:
        """What a pattern takes from the folder's first names: a video folder's file names, or a
        tree's sequence-folder names (generic tree or preset, chosen or detected)."""
        from core.readers import tree, video_folder
        from core.readers.detect import pattern_format

        root = self.check_path(path)
        if format in (None, "", "auto"):
            format = pattern_format(root)
        if format == "video-folder":
            return video_folder.preview_pattern(root, pattern)
        return tree.preview_pattern(root, pattern)

    def create_demo(self, *, name: str = "demo", **kwargs: Any) -> int:
        params = {**DEMO_DEFAULTS, **kwargs}
        taken = {d["name"] for d in self.catalog.datasets()}
        name = self.ws.unique_name(name, taken | {p.name for p in self.ws.datasets_dir.iterdir()})
        params.update(out=str(self.ws.datasets_dir / name), name=name, layout="casia-b-silhouette")
        locks.check_free(params["out"])
        return runner.submit(self.ws, "demo", params)

    def open_dataset(self, path: str | Path, *, format: str | None = None, pattern: str | None = None,
                     decode_sample: int | None = None, progress=None) -> dict[str, Any]:
        """Detect (or take ``format``) and scan a raw dataset, decoding its frames (all, or
        ``decode_sample`` per sequence; ``progress(done, total, message)``), register it, and
        return its report. Raises NothingReadable, whose ``report`` lists every file's problem,
        when no sequence can be read.

        ``pattern`` is the file-name pattern of a video folder; both are remembered in the catalog
        so later scans of the same folder read it the same way."""
        resolved = Path(path).expanduser().resolve()
        if self.catalog.dataset_by_path(resolved) is None:    # a catalogued dataset may always be shown again
            resolved = self.check_path(path)
        report = self._scan(resolved, format=format, pattern=pattern, decode_sample=decode_sample, progress=progress)
        ds_id = self.catalog.add_dataset(slug(resolved.name), "raw", report.format, resolved,
                                         info={"summary": report.summary(),
                                               "scan": {"format": report.format, "pattern": pattern,
                                                        "chosen": format is not None}})
        return {"dataset_id": ds_id, "name": self.catalog.dataset(ds_id)["name"], "report": report}

    def scan_args(self, source: str | Path) -> dict[str, Any]:
        """How ``source`` was opened ({'format', 'pattern'}), as remembered in the catalog."""
        ds = self.catalog.dataset_by_path(Path(source).resolve())
        return dict(((ds or {}).get("info") or {}).get("scan") or {})

    def _scan(self, source: str | Path, *, format: str | None = None, pattern: str | None = None,
              decode_sample: int | None = 0, progress=None):
        """Scan ``source`` the way it was opened unless told otherwise; by default its structure
        only (opening a dataset is where its frames are decoded)."""
        from core.readers import scan

        if format is None and pattern is None:
            remembered = self.scan_args(source)
            pattern = remembered.get("pattern")
            # A detected format is detected again (so the report says "detected", not "chosen").
            format = remembered.get("format") if remembered.get("chosen") else None
        return scan(source, format=format, pattern=pattern, decode_sample=decode_sample, progress=progress)

    def sample_frames(self, report, per_condition: int = 1) -> list[tuple[np.ndarray, str]]:
        """One mid-sequence frame per condition and view, captioned, for the dataset overview."""
        from core.readers.media import read_frames

        picked: dict[tuple[str, str], Any] = {}
        for s in report.sequences:
            picked.setdefault((s.condition, s.view), s)
        out = []
        for (cond, view), s in sorted(picked.items())[:24]:
            n = s.known_frames or 1
            try:   # decode only up to the middle frame
                batch = read_frames(s, stride=max(1, n // 2), max_frames=2)
            except StudioError:
                continue
            img = batch.images[min(1, len(batch) - 1)]
            out.append((img, f"{cond} · view {view or '—'} · {s.sid}"))
        return out

    # -- conversion -----------------------------------------------------------------------------
    def plan_conversion(self, source: str | Path, *, name: str | None = None, **options: Any):
        """Scan ``source`` and plan its conversion; ``options`` are ConvertOptions fields."""
        from core.convert.converter import ConvertOptions, plan_conversion

        report = self._scan(source)
        return plan_conversion(report, self.conversion_out(source, name), ConvertOptions(**options)), report

    def conversion_out(self, source: str | Path, name: str | None = None) -> Path:
        """Where converting ``source`` writes: ``name`` (or ``<folder>-grew``) under the workspace's datasets."""
        return self.ws.datasets_dir / slug(name or f"{Path(source).name}-grew")

    def preview_conversion(self, source: str | Path, *, name: str | None = None, samples: int = 4,
                           **options: Any) -> dict[str, Any]:
        """What the conversion will do, computed without writing anything."""
        from core.convert.converter import camera_backgrounds, preview_item
        from core.convert.extract import camera_key

        from core.hub import check_source

        plan, report = self.plan_conversion(source, name=name, **options)
        # A model the job is allowed to download is not here yet: the preview cannot run it
        pending = [m for role, m in plan.options.models() if check_source(m, role=role, allow_download=True) is None]
        step = max(1, len(plan.items) // samples)
        picked = [] if pending else plan.items[::step][:samples]
        # the same per-camera backgrounds the conversion will use, from fewer videos (fast preview)
        backgrounds = camera_backgrounds(plan, picked, per_camera=6)
        previews = []
        for it in picked:
            try:
                pv = preview_item(it, plan.options, backgrounds.get(camera_key(it.raw)))
            except StudioError as exc:    # a bad sample is shown as such; the others still preview
                pv = {"raw": None, "mask": None, "pose": None, "aligned": None, "gei": None, "frames": 0,
                      "dropped": [], "error": str(exc)}
            pv["target"] = it.rel_dir
            pv["source"] = os.path.relpath(it.raw.source, plan.source)
            previews.append(pv)
        return {"plan": plan, "report": report, "mapping": plan.mapping_rows(), "split": plan.split.summary(),
                "protocol": protocols.protocol_for_format(plan.format),
                "split_counts": plan.split_counts(), "previews": previews, "out": str(plan.out),
                "validation": report.validate(),
                "notes": [f"No sample preview: {', '.join(pending)} is not in the local cache yet; the conversion "
                          f"job downloads it, preview again after it has."] if pending else []}

    def start_conversion(self, source: str | Path, *, name: str | None = None, opengait_pkl: bool = False,
                         **options: Any) -> int:
        """Queue the conversion; ``opengait_pkl`` also exports ``<out>-opengait-pkl`` beside it."""
        plan, _ = self.plan_conversion(source, name=name, **options)
        pkl = str(plan.out.with_name(plan.out.name + "-opengait-pkl")) if opengait_pkl else None
        # Refused now if another process writes there; the job's own lock is what makes it safe.
        for folder in (plan.out, pkl):
            if folder:
                locks.check_free(folder)
        return runner.submit(self.ws, "convert", {**plan.options.to_dict(), "split": plan.split.spec,
                                                  "source": str(Path(source).resolve()), "out": str(plan.out),
                                                  "name": plan.out.name, "scan": self.scan_args(source),
                                                  "opengait_pkl": pkl})

    def write_validation_report(self, preview: dict[str, Any]) -> Path:
        """The scan's validation report as JSON under the workspace (for download)."""
        from core.atomic import write_json

        report = preview["report"]
        target = self.ws.root / "reports" / f"{slug(Path(report.root).name)}-validation.json"
        write_json(target, {**report.to_json(max_problems=100000), "split": preview["split"],
                            "split_counts": preview["split_counts"]})
        return target

    # -- augmentation and curation ----------------------------------------------------------------
    def start_augmentation(self, dataset_id: int, **options: Any) -> int:
        """Queue the DLCR chain; ``options`` are ChainOptions fields (model folders or fallbacks)."""
        from core.augment.chain import ChainOptions

        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items() if v is not None}
        for k in (*AUGMENT_STAGES, "guidance_discriminator"):   # a model folder is a path like any other
            v = params.get(k)
            if isinstance(v, str) and v not in FALLBACKS.get(k, ()) and Path(v).expanduser().exists():
                self.check_path(v)
        ChainOptions.from_params(params).validate()     # a typo fails now, not in the worker
        return runner.submit(self.ws, "augment", {"dataset_id": dataset_id, **params})

    def variants(self, dataset_id: int, *, status: str | None = None, sid: str | None = None,
                 text: str = "") -> list[dict]:
        return self.catalog.query_variants(dataset_id, status=status or None, sid=sid or None,
                                           text=(text or "").strip() or None)[0]

    def variant_page(self, dataset_id: int, *, page: int, page_size: int, sort: str = "identity",
                     **filters: Any) -> tuple[list[dict], int, int, int]:
        """(rows of ``page``, the page actually shown, pages, total matching); ``filters`` are the
        catalog's (status, sid, text, score_min, score_max). Paged in SQL, so 10,000 variants stay fast."""
        _, total = self.catalog.query_variants(dataset_id, **filters, limit=0)
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        rows, _ = self.catalog.query_variants(dataset_id, **filters, sort=sort, offset=(page - 1) * page_size,
                                              limit=page_size)
        return rows, page, pages, total

    def variant(self, variant_id: int | None) -> dict | None:
        return self.catalog.variant(variant_id) if variant_id is not None else None

    def variant_ids(self, dataset_id: int, **filters: Any) -> list[int]:
        """Every variant matching ``filters`` (all pages)."""
        return self.catalog.variant_ids(dataset_id, **filters)

    def variant_sids(self, dataset_id: int) -> list[str]:
        return self.catalog.variant_sids(dataset_id)

    def variant_choices(self, dataset_id: int) -> dict[str, list[str]]:
        """The values of each meaning filter in this dataset ('sid', 'kind', 'source_seq', 'condition');
        the method classes are ``Studio.VARIANT_METHODS``."""
        return self.catalog.variant_choices(dataset_id)

    VARIANT_METHODS = tuple(Catalog.METHODS)

    def variant_groups(self, dataset_id: int, *, page: int, page_size: int, per_group: int = 8,
                       **filters: Any) -> tuple[list[dict], int, int, int]:
        """(groups of ``page``, the page shown, pages, sequences matching) for the review by sequence:
        each group is a source sequence ('sid', 'source_seq', counts per status, 'by_hand') with its
        first ``per_group`` matching variants, each given a playable 'preview', and the original's
        ('original', 'original_shows'). Previews are made on first request and cached."""
        from core.augment.previews import original_preview
        from core.layout import read_manifest

        _, total = self.catalog.variant_groups(dataset_id, limit=0, **filters)
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        groups, _ = self.catalog.variant_groups(dataset_id, offset=(page - 1) * page_size, limit=page_size,
                                                per_group=per_group, **filters)
        ds = self.catalog.dataset(dataset_id)
        try:
            manifest = read_manifest(ds["path"])
        except (InputError, OSError):
            manifest = {"sequences": []}
        records = {(r["sid"], r["seq"]): r for r in manifest.get("sequences", [])}
        cache = self.ws.root / "cache" / "previews"
        for g in groups:
            g["original"], g["original_shows"] = original_preview(cache, ds["path"], records.get((g["sid"], g["source_seq"])),
                                                                  manifest.get("parameters"))
            for v in g["variants"]:
                v["preview"] = self.variant_preview(v)
        return groups, page, pages, total

    def variant_preview(self, variant: dict) -> Path | None:
        """The variant walking (its job's animation, else one made now and cached); None without frames."""
        from core.augment.previews import variant_preview

        return variant_preview(self.ws.root / "cache" / "previews", variant)

    def plan_bulk(self, dataset_id: int, decision: str, **filters: Any) -> dict[str, int]:
        """What a bulk decision over ``filters`` would change, before it is made (see Catalog.plan_bulk)."""
        return self.catalog.plan_bulk(dataset_id, decision, **filters)

    def decide_bulk(self, dataset_id: int, decision: str, *, label: str = "", include_hand: bool = False,
                    who: str | None = None, **filters: Any) -> tuple[int, int]:
        """One bulk decision, recorded as one undoable batch; (batch id, variants changed)."""
        return self.catalog.decide_bulk(dataset_id, decision, who=who or _login(), label=label,
                                        include_hand=include_hand, **filters)

    def undo_batch(self, batch_id: int, who: str | None = None) -> dict[str, int]:
        """Undo one bulk action as one (see Catalog.undo_batch); InputError when it cannot be."""
        try:
            return self.catalog.undo_batch(batch_id, who=who or _login())
        except ValueError as exc:
            raise InputError(None, str(exc)) from None

    def decision_log(self, dataset_id: int, limit: int = 20) -> list[dict]:
        """The dataset's bulk actions, newest first."""
        return self.catalog.decision_log(dataset_id, limit)

    def variant_counts(self, dataset_id: int) -> dict[str, int]:
        """{'pending', 'accepted', 'rejected', 'merged': n}."""
        return self.catalog.variant_counts(dataset_id)

    def decisions(self, variant_id: int) -> list[dict]:
        """The variant's curation history, oldest first."""
        return self.catalog.decisions(variant_id)

    def has_unmerged_accepted(self, dataset_id: int) -> bool:
        c = self.variant_counts(dataset_id)
        return c["accepted"] - c["merged"] > 0 or bool(self.variants(dataset_id, status="accepted"))

    def decide(self, variant_ids, decision: str, who: str | None = None) -> int:
        """Record a curation decision now; ``who`` defaults to the login running the studio."""
        return self.catalog.decide(variant_ids, decision, who or _login())

    # -- DLCR artifacts ---------------------------------------------------------------------------
    def preview_import(self, source: str | Path, kind: str = "auto", *, keep: int = 10, k: int | None = None):
        """What importing ``source`` would bring in (counts, first items, problems); reads only."""
        from core.dlcr_io.preview import preview_import

        return preview_import(self.check_path(source), kind, keep=keep, k=k)

    def start_import(self, dataset_id: int, source: str | Path, kind: str, *, keep: int = 10, k: int | None = None,
                     masks: str | None = None, texts: str | None = None) -> int:
        if self.catalog.dataset(dataset_id) is None:
            raise InputError(None, f"no dataset #{dataset_id} in this workspace")
        src = self.check_path(source)
        if not src.exists():
            raise InputError(src, "does not exist")
        masks, texts = (str(self.check_path(p)) if p else None for p in (masks, texts))
        return runner.submit(self.ws, "import", {"dataset_id": dataset_id, "source": str(src), "kind": kind,
                                                 "keep": keep, "k": k, "masks": masks, "texts": texts})

    def export_curated(self, dataset_id: int, out: str | Path, status: str = "accepted") -> dict:
        """Curated DLCR strip variants back to DLCR's strip form in the new folder ``out``."""
        from core.dlcr_io.curated import export_curated

        return export_curated(self.catalog.query_variants(dataset_id, status=status)[0], self.check_path(out))

    def start_merge(self, dataset_id: int) -> int:
        ds = self.catalog.dataset(dataset_id)
        if ds:
            locks.check_free(ds["path"])
        return runner.submit(self.ws, "merge", {"dataset_id": dataset_id})

    # -- training and results -------------------------------------------------------------------
    def create_run(self, dataset_id: int, *, preset: str = "demo-cpu", name: str | None = None,
                   **overrides: Any) -> int:
        """A training run's catalog record and folder (not started): the preset with ``overrides``."""
        from core.train.config import preset as make_preset

        ds = self.catalog.dataset(dataset_id)
        cfg = make_preset(preset, dataset=ds["path"], **overrides)
        cfg_dict = asdict(cfg)
        taken = {r["name"] for r in self.catalog.runs()}
        run_name = self.ws.unique_name(name or f"{cfg.model}-{ds['name']}", taken)
        run_dir = self.ws.runs_dir / run_name
        run_dir.mkdir(parents=True, exist_ok=True)
        return self.catalog.create_run(run_name, cfg.model, cfg_dict, run_dir, dataset_id)

    def start_training(self, dataset_id: int, *, preset: str = "demo-cpu", name: str | None = None,
                       **overrides: Any) -> tuple[int, int]:
        run_id = self.create_run(dataset_id, preset=preset, name=name, **overrides)
        job_id = runner.submit(self.ws, "train", {"run_id": run_id}, run_id=run_id)
        return job_id, run_id

    def plan_experiment(self, dataset_id: int, *, preset: str = "demo-cpu", name: str | None = None,
                        seeds: int = 3, **overrides: Any) -> list[int]:
        """The augmentation experiment's runs (created, not started): per seed 0..seeds-1 the same
        model and config trained with and without the dataset's merged clothing variants."""
        ds = self.catalog.dataset(dataset_id)
        if ds is None:
            raise InputError(None, f"no dataset #{dataset_id} in this workspace")
        if int(seeds) < 1:
            raise InputError(None, f"seeds: {seeds} is not a number of seeds (1 or more)")
        if not any(s.origin for s in self.catalog.sequences(dataset_id, "train")):
            raise InputError(ds["path"], "has no merged variants yet: accept some in step 3 and merge them first")
        taken = {r["name"] for r in self.catalog.runs()}
        base = self.ws.unique_name(name or f"{preset}-{ds['name']}", experiment.bases(taken) | taken)
        return [self.create_run(dataset_id, preset=preset, name=experiment.run_name(base, seed, suffix),
                                use_variants=use, **{**overrides, "seed": seed})
                for seed in range(int(seeds)) for _, suffix, use in experiment.ARMS]

    def start_experiment(self, dataset_id: int, *, preset: str = "demo-cpu", name: str | None = None,
                         seeds: int = 3, **overrides: Any) -> list[int]:
        """``plan_experiment``, each run queued as a training job (they take the device in turn).
        Returns the run ids, seed by seed, with before without."""
        run_ids = self.plan_experiment(dataset_id, preset=preset, name=name, seeds=seeds, **overrides)
        for rid in run_ids:
            runner.submit(self.ws, "train", {"run_id": rid}, run_id=rid)
        return run_ids

    def experiment_rows(self) -> list[dict[str, Any]]:
        """Per experiment and seed, both arms side by side with the differences of each headline
        number of the dataset's protocol (CASIA-B: NM, BG, CL)."""
        return experiment.seed_rows(self.catalog.runs())

    def experiment_summary(self) -> list[dict[str, Any]]:
        """Per experiment, mean ± spread over its seeds of each with / without / Δ column."""
        return experiment.summary(self.experiment_rows())

    def start_eval(self, run_id: int, *, protocol: str | None = None) -> int:
        """Evaluate a run's latest checkpoint again, as a background job (results land on the run).
        ``protocol`` None uses the dataset's own (CASIA-B, CCVID or GREW)."""
        run = self.catalog.run(run_id)
        if run is None:
            raise InputError(None, f"no training run #{run_id} in this workspace")
        dataset = (run.get("config") or {}).get("dataset")
        return runner.submit(self.ws, "eval", {"checkpoint": run["dir"], "dataset": dataset, "run_id": run_id,
                                               "protocol": protocol}, run_id=run_id)

    def runs(self) -> list[dict]:
        return self.catalog.runs()

    def run(self, run_id: int | None) -> dict | None:
        return self.catalog.run(run_id) if run_id is not None else None

    @staticmethod
    def presets() -> list[str]:
        """Training presets whose model is registered here."""
        from core.train.config import available_presets

        return available_presets()

    @staticmethod
    def preset_iterations(preset: str) -> int | None:
        """The preset's default iteration count; None for an unknown preset (a hint only)."""
        from core.train.config import PRESETS

        make = PRESETS.get(preset)
        return make().iterations if make else None

    def newest_jobs(self, kind: str) -> dict[int, dict]:
        """The newest job of ``kind`` per run id."""
        out: dict[int, dict] = {}
        for j in self.catalog.jobs(kind=kind, limit=200):       # newest first
            if j.get("run_id") is not None:
                out.setdefault(int(j["run_id"]), j)
        return out

    def run_jobs(self, run_id: int) -> tuple[dict | None, dict | None]:
        """(newest train job, newest eval job) of one run."""
        return self.newest_jobs("train").get(run_id), self.newest_jobs("eval").get(run_id)

    def run_status(self, run: dict) -> str:
        return runs.status(run, *self.run_jobs(run["id"]))

    def is_training(self, run: dict) -> bool:
        return runs.is_active(self.run_jobs(run["id"])[0])

    def can_evaluate(self, run: dict | None) -> tuple[bool, str]:
        """(whether the run's latest checkpoint may be evaluated now, why not)."""
        jobs = self.run_jobs(run["id"]) if run is not None else (None, None)
        return runs.can_evaluate(run, *jobs)

    def evaluate_run(self, run_id: int) -> int:
        """Queue an evaluation under the run's protocol (the one used before, else its preset's)."""
        return self.start_eval(run_id, protocol=runs.protocol(self.run(run_id) or {}))

    def import_opengait_run(self, checkpoint: str | Path, config: str | Path, dataset: str | Path,
                            name: str | None = None) -> int:
        """An OpenGait checkpoint and its YAML as an imported run on ``dataset`` (a converted folder):
        its weights become the run's latest checkpoint, so it evaluates and exports like any run."""
        from core.evaluate.opengait_checkpoint import opengait_checkpoint_state
        from core.train.checkpoint import save_checkpoint

        dataset = Path(dataset).resolve()
        if not dataset.is_dir():
            raise InputError(dataset, "not a folder: give the converted dataset to evaluate on")
        ds = self.catalog.dataset_by_path(str(dataset))
        state = opengait_checkpoint_state(checkpoint, config, dataset=dataset)
        taken = {r["name"] for r in self.runs()}
        run_name = self.ws.unique_name(name or f"opengait-{Path(checkpoint).stem}", taken)
        run_dir = self.ws.runs_dir / run_name
        save_checkpoint(run_dir, state["step"], state, keep=1)
        run_id = self.catalog.create_run(run_name, state["model_name"], state["config"], run_dir,
                                         ds["id"] if ds else None)
        self.catalog.update_run(run_id, state="imported", step=state["step"])
        return run_id

    def export_opengait(self, run_id: int) -> Path:
        """Write ``<run_dir>/export/opengait.pt`` from the run's latest checkpoint."""
        from core.evaluate.run import export_opengait

        run = self.run(run_id)
        if run is None:
            raise InputError(None, f"no training run #{run_id} in this workspace")
        return export_opengait(run["dir"])

    @staticmethod
    def projection_methods() -> list[str]:
        from core.evaluate.report import projection_methods

        return projection_methods()

    @staticmethod
    def saved_embeddings(path: str | Path) -> dict[str, Any]:
        """The arrays an evaluation kept (embeddings, labels, seqs, views, roles, protocol, ...)."""
        from core.evaluate.report import load_saved_embeddings

        return load_saved_embeddings(path)

    @staticmethod
    def stored_report(path: str | Path) -> dict[str, Any] | None:
        """The CMC curves and PCA map stored when the evaluation that wrote the embeddings file
        ``path`` finished (None when missing or made from another version of that file)."""
        from core.evaluate.stored import read_report

        return read_report(path)

    @staticmethod
    def project_2d(embeddings: Any, method: str = "pca"):
        from core.evaluate.report import project_2d

        return project_2d(embeddings, method)

    @staticmethod
    def sequence_conditions(arrays: dict[str, Any]) -> np.ndarray:
        from core.evaluate.report import sequence_conditions

        return sequence_conditions(arrays)

    def run_metrics(self, run_id: int, after_step: int = -1) -> dict[str, list[tuple[int, float]]]:
        return self.catalog.metrics(run_id, after_step=after_step)

    # -- jobs ---------------------------------------------------------------------------------------
    def jobs(self, **kw) -> list[dict]:
        return self.catalog.jobs(**kw)

    def job(self, job_id: int) -> dict | None:
        return self.catalog.job(job_id)

    def cancel(self, job_id: int) -> str:
        return runner.cancel(self.ws, job_id)

    def resumable(self, job: dict | None) -> bool:
        """Whether Resume would continue unfinished work (see ``runs.resume_refusal``)."""
        return not runs.resume_refusal(self.catalog, job)

    def resume(self, job_id: int) -> int:
        """Continue a stopped, interrupted or failed job; refused when its work is already done."""
        job = self.catalog.job(job_id)
        why = runs.resume_refusal(self.catalog, job) if job and job["state"] not in runs.ACTIVE else ""
        if why:
            raise InputError(None, why)
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
        jobs = self.catalog.jobs(states=runs.ACTIVE, kind=kind)
        return jobs[0] if jobs else None

    def latest_job(self, kind: str, where=None) -> dict | None:
        """The active job of ``kind`` if any (oldest first is not useful here), else the newest one;
        ``where`` narrows the jobs considered."""
        jobs = [j for j in self.catalog.jobs(kind=kind, limit=50) if where is None or where(j)]
        for j in jobs:
            if j["state"] in runs.ACTIVE:
                return j
        return jobs[0] if jobs else None


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "user"


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
