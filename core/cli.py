"""Headless entry point: ``python -m core <verb> [options]`` (docs/contracts.md, "Command line").

Long verbs run as catalog jobs in this process (the same code path the app's workers use), so a
CLI conversion or training run shows up in the studio and can be resumed from either side.
``--json`` makes the last stdout line one JSON object; failures exit non-zero with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.errors import StudioError


def _progress_printer(studio, job_id: int, stop: threading.Event) -> None:
    last = ""
    while not stop.wait(0.5):
        job = studio.job(job_id)
        if not job or not job["total"]:
            continue
        frac = job["progress"] / job["total"]
        bar = "#" * int(frac * 30)
        line = f"\r[{bar:<30}] {frac * 100:5.1f}%  {job['message'][:60]}"
        if line != last:
            sys.stderr.write(line)
            sys.stderr.flush()
            last = line
    sys.stderr.write("\n" if last else "")


def run_job_here(studio, kind: str, params: dict, *, run_id: int | None = None, quiet: bool = False) -> dict:
    from core.jobs import runner
    from core.jobs.worker import run_job

    job_id = runner.submit(studio.ws, kind, params, run_id=run_id, spawn=False)
    stop = threading.Event()
    printer = None
    if not quiet and sys.stderr.isatty():
        printer = threading.Thread(target=_progress_printer, args=(studio, job_id, stop), daemon=True)
        printer.start()
    try:
        state = run_job(studio.ws, job_id)
    finally:
        stop.set()
        if printer:
            printer.join()
    job = studio.job(job_id)
    if state != "succeeded":
        raise StudioError(job["message"] or state)
    return {"job_id": job_id, **(job["result"] or {})}


def cmd_demo(args, studio) -> dict:
    from core.options import DemoOptions, from_args

    o = from_args(DemoOptions, args)
    params = {**o.to_dict(), "out": str(Path(o.out).resolve()), "name": o.name or Path(o.out).name}
    return run_job_here(studio, "demo", params, quiet=args.json)


def cmd_scan(args, studio) -> dict:
    from core.options import ScanOptions, from_args
    from core.readers import NothingReadable, scan

    o = from_args(ScanOptions, args)
    progress = _scan_progress if not args.json and sys.stderr.isatty() else None
    try:
        report = scan(o.source, format=o.format, pattern=o.pattern, decode_sample=o.decode_sample,
                      progress=progress)
    except NothingReadable as exc:   # still every file's problem, then the one-line error
        _print_problems(exc.report, args.json, error=str(exc))
        raise
    data = report.to_json()
    if not args.json:
        s = data["summary"]
        print(f"{s['format']}: {s['ids']} ids ({'–'.join(s['id_range'])}), {s['sequences']} sequences, "
              f"{s['frames']} frames, views {', '.join(s['views'])}")
        for row in report.counts_table():
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
        _print_problems(report, False)
    return data


def _scan_progress(done: int, total: int, message: str) -> None:
    sys.stderr.write(f"\r{message}" + ("\n" if done >= total else ""))
    sys.stderr.flush()


def _print_problems(report, as_json: bool, error: str | None = None, limit: int = 200) -> None:
    if as_json:
        print(json.dumps({**report.to_json(), "error": error}))
        return
    for p in report.problem_rows()[:limit]:
        print(f"  {p['severity']}: {p['path']}: {p['reason']}")
    if len(report.problems) > limit:
        print(f"  ... and {len(report.problems) - limit} more (--json lists up to 500)")


def cmd_convert(args, studio) -> dict:
    from core.options import ConvertJob, ConvertOptions, from_args

    job = from_args(ConvertJob, args)
    out = Path(job.out).resolve()
    opts = ConvertOptions(**{k: getattr(job, k) for k in ConvertOptions.model_fields})
    opts.validate()   # a typo fails here, before a job is queued
    params = {**opts.to_dict(), "source": str(Path(job.source).resolve()), "out": str(out), "name": out.name,
              "scan": {"format": job.format, "pattern": job.pattern, "decode_sample": job.decode_sample},
              "opengait_pkl": str(Path(job.opengait_pkl).resolve()) if job.opengait_pkl else None}
    return run_job_here(studio, "convert", params, quiet=args.json)


def cmd_import(args, studio) -> dict:
    from core.options import ImportOptions, from_args

    o = from_args(ImportOptions, args)
    if args.preview:
        summary = studio.preview_import(o.source, o.kind, keep=o.keep, k=o.k).to_json()
        if not args.json:
            print(json.dumps(summary, indent=2))
        return summary
    ds = _find_dataset(studio, o.dataset)
    if ds is None:
        raise StudioError(f"{o.dataset}: not a dataset in {studio.ws.root} (convert it first, or give its name)")
    return run_job_here(studio, "import", {"dataset_id": ds["id"], "source": str(Path(o.source).resolve()),
                                           "kind": o.kind, "keep": o.keep, "k": o.k,
                                           "masks": o.masks, "texts": o.texts}, quiet=args.json)


def cmd_export(args, studio) -> dict:
    from core.convert.export import export_opengait_pkl

    if args.to == "dlcr-strips":
        ds = _find_dataset(studio, args.dataset)
        if ds is None:
            raise StudioError(f"{args.dataset}: not a dataset in {studio.ws.root}")
        return studio.export_curated(ds["id"], args.out, status=args.status)

    def progress(done: int, total: int) -> None:
        if not args.json and (done == total or done % 50 == 0):
            print(f"  exported {done}/{total} sequences", file=sys.stderr)

    return export_opengait_pkl(Path(args.dataset).resolve(), Path(args.out).resolve(), progress=progress)


def _find_dataset(studio, ref: str) -> dict | None:
    """``--dataset`` is a folder or a display name; a folder that exists wins, since a name such as
    ``grew`` may belong to another folder of that name."""
    by_path = studio.catalog.dataset_by_path(ref) if Path(ref).exists() else None
    return by_path or studio.catalog.dataset(ref)


def _dataset_id(studio, path: str) -> int:
    from core.jobs.kinds import register_converted

    ds = studio.catalog.dataset_by_path(path)
    if ds:
        return ds["id"]
    from core.layout import read_manifest
    info = read_manifest(path)
    return register_converted(studio.catalog, Path(path).resolve(), name=Path(path).name,
                              source=info.get("parameters", {}).get("source", ""), result={})


def cmd_augment(args, studio) -> dict:
    from core.options import AugmentJob, ChainOptions, from_args

    job = from_args(AugmentJob, args)
    ds_id = _dataset_id(studio, job.dataset)
    # Only what was given: a refine job without --seq-types takes every query, whatever its type.
    params = {k: v for k, v in job.given().items() if k != "dataset"}
    ChainOptions(**params).validate()    # a typo fails here, before a job is queued
    return run_job_here(studio, "augment", {"dataset_id": ds_id, **params}, quiet=args.json)


def cmd_curate(args, studio) -> dict:
    ds_id = _dataset_id(studio, args.dataset)
    pending = studio.variants(ds_id, status="pending")
    accept = set(args.accept or [])
    reject = set(args.reject or [])
    if args.accept_all:
        accept |= {v["id"] for v in pending}
    if args.accept_above is not None:
        accept |= {v["id"] for v in pending if v["score"] is not None and v["score"] >= args.accept_above}
    if args.reject_below is not None:
        reject |= {v["id"] for v in pending if v["score"] is not None and v["score"] < args.reject_below}
    n_acc = studio.decide(sorted(accept - reject), "accepted", who="cli") if accept - reject else 0
    n_rej = studio.decide(sorted(reject), "rejected", who="cli") if reject else 0
    result: dict[str, Any] = {"accepted": n_acc, "rejected": n_rej}
    if args.merge:
        result["merge"] = run_job_here(studio, "merge", {"dataset_id": ds_id}, quiet=args.json)
    result["counts"] = studio.catalog.variant_counts(ds_id)
    return result


def cmd_train(args, studio) -> dict:
    from core.options import TrainOverrides, from_args
    from core.train import launch
    from core.train.config import load_config, preset

    o = from_args(TrainOverrides, args)
    # Under torchrun, ranks > 0 only train what rank 0 announces: one run, one catalog record.
    if launch.is_follower():
        return launch.follow_leader()
    if args.resume:
        run = studio.catalog.run(int(args.resume) if args.resume.isdigit() else args.resume)
        if run is None:
            raise StudioError(f"no run {args.resume!r} in {studio.ws.root}")
        launch.announce(load_config(run["config"]), run["dir"])
        return run_job_here(studio, "train", {"run_id": run["id"], "resume": True}, run_id=run["id"], quiet=args.json)
    if args.check:
        return _opengait_check(args, o.dataset)
    if args.opengait:
        from core.train.opengait_config import import_opengait

        if not o.dataset:
            raise StudioError("--opengait FILE needs --dataset DIR (OpenGait configs name their own data paths)")
        imported = import_opengait(args.opengait, dataset=str(Path(o.dataset).resolve()))
        print(imported.summary(), file=sys.stderr)
        cfg = imported.config
    elif args.config:
        cfg = load_config(args.config)
    else:
        if not o.dataset:
            raise StudioError("train needs --config FILE, or --dataset DIR with --preset")
        cfg = preset(o.preset, dataset=str(Path(o.dataset).resolve()))
    overrides = {}
    if o.iterations:
        overrides["iterations"] = o.iterations
    if overrides:
        cfg = load_config({**asdict(cfg), **overrides})
    ds_id = _dataset_id(studio, cfg.dataset)
    name = studio.ws.unique_name(o.name or f"{cfg.model}-{Path(cfg.dataset).name}", {r["name"] for r in studio.runs()})
    run_dir = studio.ws.runs_dir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = studio.catalog.create_run(name, cfg.model, asdict(cfg), run_dir, ds_id)
    launch.announce(cfg, run_dir)
    res = run_job_here(studio, "train", {"run_id": run_id}, run_id=run_id, quiet=args.json)
    return {**res, "run": name, "run_dir": str(run_dir)}


def _opengait_check(args, dataset: str | None) -> dict:
    from core.train.opengait_config import check, check_folder

    if not args.opengait:
        raise StudioError("--check needs --opengait FILE (or a folder of OpenGait configs)")
    if Path(args.opengait).is_dir():
        rows = check_folder(args.opengait)
        if not args.json:
            for r in rows:
                what = (f"{r['opengait_model']} -> {r['model']} {r['model_args']}, {r['params']:,} parameters"
                        if r["result"] == "exact" else r["reason"])
                print(f"| {r['config']} | {r['result']} | {what} |")
            print(f"{sum(r['result'] == 'exact' for r in rows)} exact, "
                  f"{sum(r['result'] == 'refused' for r in rows)} refused", file=sys.stderr)
            return {}
        return {"configs": rows}
    rep = check(args.opengait, dataset=str(Path(dataset).resolve()) if dataset else "")
    if not args.json:
        print(rep["summary"])
        print(f"network ({rep['params']:,} parameters, {rep['num_classes'] or 'no'} classes):")
        print(rep["network"])
        print("equivalent studio config:")
        print(json.dumps(rep["config"], indent=2))
        return {}
    return {k: v for k, v in rep.items() if k != "summary"}


def cmd_experiment(args, studio) -> dict:
    """The augmentation experiment run here, run by run; prints each seed's row and the summary."""
    from core.options import ExperimentOptions, from_args

    o = from_args(ExperimentOptions, args)
    if not o.dataset:
        raise StudioError("experiment needs --dataset DIR (a converted dataset with merged variants)")
    overrides = {"iterations": o.iterations} if o.iterations else {}
    run_ids = studio.plan_experiment(_dataset_id(studio, str(Path(o.dataset).resolve())), preset=o.preset,
                                     name=o.name, seeds=o.seeds, **overrides)
    base = studio.run(run_ids[0])["name"].split("--seed")[0]
    for rid in run_ids:
        run_job_here(studio, "train", {"run_id": rid}, run_id=rid, quiet=args.json)
        if not args.json:
            print(f"{studio.run(rid)['name']}: {results_line_of(studio.run(rid))}", flush=True)
    rows = [r for r in studio.experiment_rows() if r["experiment"] == base]
    summary = [s for s in studio.experiment_summary() if s["experiment"] == base]
    if not args.json:
        for s in summary:
            print("  ".join(f"{k} {v}" for k, v in s.items()))
    return {"experiment": base, "runs": run_ids, "seeds": rows, "summary": summary}


def results_line_of(run: dict) -> str:
    from core.evaluate.protocols import protocol_of

    res = run.get("results") or {}
    return results_line(protocol_of(res) or "casia-b", res)


def cmd_eval(args, studio) -> dict:
    if args.embeddings:
        from core.evaluate.protocols import evaluate_npz

        args.protocol = args.protocol or "casia-b"
        res = evaluate_npz(args.embeddings, args.protocol, metric=args.metric, submission=args.submission)
    else:
        from core.evaluate.run import evaluate_run

        if not args.target:
            raise StudioError("eval needs RUN|CHECKPOINT --dataset DIR, or --embeddings FILE.npz")
        target = args.target
        run = studio.catalog.run(int(target) if target.isdigit() else target) if not Path(target).exists() else None
        if run:
            target = run["dir"]
        if args.opengait_config and (run or not Path(target).is_file()):
            raise StudioError("--opengait-config FILE goes with an OpenGait checkpoint file (.pt), not a run")
        if not args.dataset:
            if not run:
                raise StudioError("--dataset DIR is needed when evaluating a checkpoint file")
            args.dataset = run["config"]["dataset"]
        from core.evaluate.protocols import protocol_for
        from core.jobs.kinds import refinement_variants

        args.protocol = args.protocol or protocol_for(args.dataset)   # the dataset's own, from its manifest

        res = evaluate_run(target, args.dataset, protocol=args.protocol, metric=args.metric,
                           submission=args.submission, refine=refinement_variants(studio.catalog, args.dataset),
                           opengait_config=args.opengait_config)
        if run:
            studio.catalog.update_run(run["id"], results=res)
    if not args.json:
        print(results_line(args.protocol, res))
        if isinstance(res.get("refined"), dict) and "metric" in res["refined"]:
            print("refined " + results_line(args.protocol, res["refined"]) +
                  f"  ({res['refined']['refined_queries']} of {res['refined']['queries']} queries had variants)")
    return res


def results_line(protocol: str, res: dict) -> str:
    """The headline numbers of one evaluation, as a researcher would quote them."""
    from core.evaluate.protocols import results_line as line

    return line(protocol, res)


def protocol_names() -> list[str]:
    from core.evaluate.protocols import PROTOCOLS

    return list(PROTOCOLS)


def build_parser() -> argparse.ArgumentParser:
    """The verbs with a job schema get their options from :mod:`core.options`; the others are here."""
    from core.options import AugmentJob, ConvertJob, DemoOptions, ExperimentOptions, ImportOptions, ScanOptions, \
        TrainOverrides, add_arguments

    ap = argparse.ArgumentParser(prog="python -m core", description="HybridGait Studio, headless.")
    ap.add_argument("--workspace", default="workspace", help="workspace folder holding the catalog (default ./workspace)")
    sub = ap.add_subparsers(dest="verb", required=True)

    def verb(name: str, help_: str):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
        return p

    p = verb("demo", "write the synthetic demo set in a real raw layout")
    add_arguments(p, DemoOptions)
    p.set_defaults(fn=cmd_demo)

    p = verb("scan", "detect a dataset's format and print its validation report")
    add_arguments(p, ScanOptions)
    p.set_defaults(fn=cmd_scan)

    p = verb("convert", "convert a raw dataset into the GREW-style layout")
    add_arguments(p, ConvertJob)
    p.set_defaults(fn=cmd_convert)

    p = verb("export", "export a converted dataset (opengait-pkl) or its curated DLCR variants (dlcr-strips)")
    p.add_argument("dataset")
    p.add_argument("--to", required=True, choices=["opengait-pkl", "dlcr-strips"])
    p.add_argument("out")
    p.add_argument("--status", default="accepted", choices=["accepted", "pending", "rejected"],
                   help="dlcr-strips: which variants to export")
    p.set_defaults(fn=cmd_export)

    p = verb("import", "bring DLCR artifacts into the catalog and the curation workbench (sources are only read)")
    add_arguments(p, ImportOptions)
    p.add_argument("--preview", action="store_true", help="only show what would be imported")
    p.set_defaults(fn=cmd_import)

    p = verb("augment", "DLCR clothing variants: each stage a model folder (or cached hub id) or its labelled "
                        "model-free fallback")
    add_arguments(p, AugmentJob)
    p.set_defaults(fn=cmd_augment)

    p = verb("curate", "accept / reject variants and merge the accepted ones")
    p.add_argument("dataset")
    p.add_argument("--accept", type=int, nargs="*", help="variant ids to accept")
    p.add_argument("--reject", type=int, nargs="*", help="variant ids to reject")
    p.add_argument("--accept-all", action="store_true")
    p.add_argument("--accept-above", type=float, default=None)
    p.add_argument("--reject-below", type=float, default=None)
    p.add_argument("--merge", action="store_true", help="merge accepted variants into the dataset")
    p.set_defaults(fn=cmd_curate)

    p = verb("train", "train a gait model")
    p.add_argument("--config", default=None, help="YAML or JSON config file")
    p.add_argument("--opengait", default=None, metavar="YAML", help="an OpenGait config to import (keys it cannot "
                   "use are listed with the reason)")
    p.add_argument("--check", action="store_true", help="with --opengait: only print the import report, the "
                   "network, its parameter count and the equivalent studio config; train nothing (a folder: "
                   "one line per config, exact or refused)")
    add_arguments(p, TrainOverrides)
    p.add_argument("--resume", default=None, metavar="RUN", help="run name or id to continue")
    p.set_defaults(fn=cmd_train)

    p = verb("experiment", "the augmentation experiment: train with and without the merged variants, per seed")
    add_arguments(p, ExperimentOptions)
    p.set_defaults(fn=cmd_experiment)

    p = verb("eval", "evaluate a run, a checkpoint or an embeddings file")
    p.add_argument("target", nargs="?", help="run name/id or checkpoint path")
    p.add_argument("--dataset", default=None)
    p.add_argument("--protocol", default=None, choices=protocol_names(),
                   help="default: the dataset's own (from its manifest's source format); casia-b for --embeddings")
    p.add_argument("--metric", default=None, choices=["euc", "cos"],
                   help="default: the protocol's own (CASIA-B and GREW euc, CCVID cos)")
    p.add_argument("--embeddings", default=None,
                   help=".npz of arrays: casia-b, oumvlp, sustech1k, ccpg embeddings, labels, types, views; ccvid "
                        "embeddings, labels, roles, cameras, clothes; grew embeddings, labels, roles, seqs; gait3d "
                        "embeddings, labels, roles; gallery-probe[-cross-view] embeddings, labels, roles, views")
    p.add_argument("--submission", default=None, metavar="CSV", help="GREW: write the submission CSV here")
    p.add_argument("--opengait-config", default=None, metavar="YAML",
                   help="the target is an OpenGait checkpoint (e.g. from its model zoo) trained with this YAML")
    p.set_defaults(fn=cmd_eval)
    return ap


def main(argv: list[str] | None = None) -> int:
    from core.studio import Studio, jsonable

    args = build_parser().parse_args(argv)
    try:
        studio = Studio(args.workspace)
        result = args.fn(args, studio)
    except (StudioError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(jsonable(result)))
    elif args.verb not in ("scan", "eval") and result != {}:
        print(json.dumps(jsonable(result), indent=2))
    return 0
