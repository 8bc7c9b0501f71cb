"""The job functions, one per kind. Each takes (JobContext, params) and returns a JSON-able result.

Heavy imports (torch, the generator) happen inside the functions so a worker loads only what
its job needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from core.errors import ConfigError, InputError
from core.jobs.context import JobContext


def job_demo(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    from core.demo.writer import generate
    from core.options import DemoOptions

    o = DemoOptions.from_params(p)
    out = Path(o.out)
    summary = generate(out, ids=o.ids, views=o.views, seed=o.seed, layout=o.layout, frames=o.frames,
                       progress=lambda d, t: (ctx.progress(d, t, f"{d}/{t} sequences"), ctx.check_stop()))
    name = o.name or out.name
    ds_id = ctx.catalog.add_dataset(name, "raw", summary.layout, out, info={"demo": True, "seed": o.seed})
    return {"dataset_id": ds_id, "path": str(out), "sequences": len(summary.sequences),
            "seconds": round(summary.seconds, 1)}


def job_convert(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
    from core.hub import fetch_models
    from core.readers import scan

    scan_args = p.get("scan") or {}
    # Decoding in the scan is asked for, not the default: the conversion decodes every frame anyway
    # and lists in the manifest each one it drops.
    sample = scan_args.get("decode_sample")
    report = scan(p["source"], format=scan_args.get("format"), pattern=scan_args.get("pattern"),
                  decode_sample=0 if sample is None else sample,
                  progress=lambda d, t, m: ctx.progress(d, t, m))
    for prob in report.problem_rows()[:100]:
        ctx.log(f"scan {prob['severity']}: {prob['path']}: {prob['reason']}")
    fields = set(ConvertOptions.model_fields)
    opts = ConvertOptions(**{k: v for k, v in p.items() if k in fields})
    plan = plan_conversion(report, p["out"], opts)
    if plan.split.is_none:
        ctx.log(f"warning: {plan.split.summary()['warning']}")
    plan.models = fetch_models(opts.models(), allow_download=opts.allow_download, progress=ctx.progress, log=ctx.log)
    ctx.log(f"converting {len(plan.items)} sequences from {plan.source} to {plan.out}")
    result = run_conversion(plan, progress=ctx.progress, should_stop=ctx.should_stop)
    register_converted(ctx.catalog, Path(p["out"]), name=p.get("name"), source=p["source"], result=result)
    result["problems"] = len(report.problems)
    result["models"] = plan.models
    if p.get("opengait_pkl"):
        from core.convert.export import export_opengait_pkl

        ctx.log(f"exporting the OpenGait pkl tree to {p['opengait_pkl']}")
        result["opengait_pkl"] = export_opengait_pkl(p["out"], p["opengait_pkl"],
                                                     progress=lambda d, t: ctx.progress(d, t, f"pkl export {d}/{t}"))
    return result


def register_converted(catalog, out: Path, *, name: str | None, source: str, result: dict) -> int:
    from core.layout import sequences

    raw = catalog.dataset_by_path(source)
    ds_id = catalog.add_dataset(name or out.name, "converted", "grew-layout", out,
                                info={"source": str(source), "conversion": result},
                                parent_id=raw["id"] if raw else None)
    catalog.replace_sequences(ds_id, sequences(out))
    return ds_id


def job_augment(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    """Variants by the DLCR chain: each stage a model folder or its labelled model-free fallback."""
    from core.augment.chain import ChainOptions, run_chain
    from core.hub import fetch_models
    from core.variants import add_to_catalog

    ds = ctx.catalog.dataset(int(p["dataset_id"]))
    opts = ChainOptions.from_params(p)
    if "seq_types" not in p and opts.purpose == "refine":
        opts.seq_types = None        # every query, whatever its condition
    # downloaded here (byte progress in the job) so every stage then loads it from the cache
    models = fetch_models(opts.models(), allow_download=opts.allow_download, progress=ctx.progress, log=ctx.log)

    def record(rec: dict) -> None:
        add_to_catalog(ctx.catalog, ds["id"], rec, job_id=ctx.job_id, purpose=opts.purpose)

    result = run_chain(ds["path"], ctx.workspace.dataset_dir("variants", ds), opts, on_variant=record,
                       progress=ctx.progress, should_stop=ctx.should_stop, log=ctx.log)
    if not result["variants"]:
        failed = result.get("failed") or []
        why = f"{len(failed)} failed, first: {failed[0]['reason']}" if failed else \
            f"none planned from {result['sources']} source sequences (check the sequence types)"
        raise InputError(ds["path"], f"augmentation produced no usable variant ({why})")
    return {**result, "models": models} if models else result


def job_merge(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    from core.augment.merge import merge_accepted

    return merge_accepted(ctx.catalog, int(p["dataset_id"]), progress=ctx.progress)


def job_import(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    """DLCR artifacts -> pending variants of the dataset's training sequences (sources only read)."""
    from core.atomic import write_json
    from core.dlcr_io import import_into_catalog, problem_rows
    from core.dlcr_io.preview import GENERATED, MASKS, STRIPS, TEXTS
    from core.dlcr_io.import_variants import silhouettes_from_masks, write_variants
    from core.dlcr_io.strips import plan_generated, plan_strips
    from core.dlcr_io.text_read import read_texts
    from core.dlcr_io.texts import garments_for

    ds = ctx.catalog.dataset(int(p["dataset_id"]))
    kind, source = p["kind"], Path(p["source"])
    if kind == TEXTS:
        texts = read_texts(source)
        # Validated before anything is written: an unusable import must not replace the last good one.
        if not any(texts.counts().values()):
            first = f"; first problem: {texts.problems[0].path}: {texts.problems[0].reason}" if texts.problems else ""
            raise InputError(source, f"no valid DLCR text record ({len(texts.problems)} problems{first}); "
                                     "the previous import is kept")
        target = ctx.workspace.dataset_dir("imports", ds) / "dlcr-texts.json"
        write_json(target, {"source": str(source), "records": texts.records()})
        ctx.catalog.update_dataset_info(ds["id"], {**(ds["info"] or {}), "dlcr_texts": str(source)})
        return {"kind": kind, "counts": texts.counts(), "problems": problem_rows(texts.problems)[:200],
                "saved": str(target)}
    if kind == MASKS:   # masks are a source of silhouettes for a later strips/variants import
        if not source.is_dir() or next(source.rglob("*.png"), None) is None:
            raise InputError(source, "holds no mask (.png) files; the previous masks are kept")
        ctx.catalog.update_dataset_info(ds["id"], {**(ds["info"] or {}), "dlcr_masks": str(source)})
        return {"kind": kind, "masks": str(source)}
    if kind not in (STRIPS, GENERATED):
        raise ConfigError(f"import kind {kind!r}: use one of dlcr-strips, dlcr-texts, lip-masks, variants")
    plan = (plan_strips(source, int(p.get("keep") or 10), k=p.get("k")) if kind == STRIPS else plan_generated(source))
    if not plan.variants:
        first = f"; first problem: {plan.problems[0].path}: {plan.problems[0].reason}" if plan.problems else ""
        raise InputError(source, f"no importable {kind} found ({len(plan.problems)} problems{first})")
    masks = p.get("masks") or (ds["info"] or {}).get("dlcr_masks")
    texts_src = p.get("texts") or (ds["info"] or {}).get("dlcr_texts")
    garments = {}
    if texts_src:
        texts = read_texts(texts_src)
        garments = {v.clothes_id: garments_for(texts, v.clothes_id) for v in plan.variants if v.clothes_id}
    ctx.log(f"importing {len(plan.variants)} variants from {source}")
    align_method = ((ds["info"] or {}).get("conversion") or {}).get("align", "opengait")
    records, problems = write_variants(plan, ctx.workspace.dataset_dir("variants", ds),
                                       silhouettes=silhouettes_from_masks(masks) if masks else None,
                                       align_method=align_method, keep=p.get("keep"), garments=garments,
                                       progress=ctx.progress, should_stop=ctx.should_stop)
    if not records:
        first = f"; first problem: {problems[0].path}: {problems[0].reason}" if problems else ""
        raise InputError(source, f"none of {len(plan.variants)} variants could be read ({len(problems)} problems{first})")
    ids, refused = import_into_catalog(ctx.catalog, ds["id"], records, job_id=ctx.job_id)
    return {"kind": kind, "variants": len(ids), "refused": len(refused), "plan": plan.summary(),
            "problems": problem_rows(list(plan.problems) + list(problems) + list(refused))[:200]}


def job_train(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    from core.evaluate.protocols import protocol_for
    from core.evaluate.run import evaluate_run, periodic_evaluator
    from core.train.config import load_config
    from core.train.trainer import train

    cat = ctx.catalog
    run = cat.run(int(p["run_id"]))
    cfg = load_config(run["config"])
    run_dir = Path(run["dir"])
    cat.update_run(run["id"], state="running")

    def report(ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "metrics":
            vals = {k: v for k, v in ev.items() if k not in ("type", "step") and isinstance(v, (int, float))}
            cat.log_metrics(run["id"], int(ev["step"]), vals)
        elif kind == "eval":
            # The protocol's headline numbers, whatever they are called (NM, general rank-1, rank-5...).
            cat.log_metrics(run["id"], int(ev["step"]), {f"eval_{k}": v for k, v in ev.items()
                                                        if k not in ("type", "step") and isinstance(v, (int, float))})
        elif kind == "progress":
            ctx.progress(ev["step"], ev["total"], f"step {ev['step']}/{ev['total']}")
            cat.update_run(run["id"], step=int(ev["step"]))
        elif kind == "warning":
            ctx.log(f"warning: {ev.get('message')}")
        elif kind == "checkpoint":
            cat.update_run(run["id"], step=int(ev.get("step", 0)))
            ctx.log(f"checkpoint {ev.get('path')}")

    result = train(cfg, run_dir, report=report, should_stop=ctx.should_stop, resume=True,
                   evaluator=periodic_evaluator(cfg) if cfg.eval_every else None)
    if getattr(result, "stopped", False):
        cat.update_run(run["id"], state="stopped")
        from core.errors import JobCancelled
        raise JobCancelled(f"training stopped at step {getattr(result, 'step', '?')}; checkpoint saved, resume to continue")
    ctx.progress(1, 1, "evaluating on the test identities", force=True)
    results = evaluate_run(run_dir, cfg.dataset, protocol=protocol_for(cfg.dataset),
                           refine=refinement_variants(cat, cfg.dataset))
    cat.update_run(run["id"], state="finished", results=results)
    return {"run_id": run["id"], **headline(results)}


def job_eval(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    from core.evaluate.protocols import protocol_for
    from core.evaluate.run import evaluate_run

    results = evaluate_run(p["checkpoint"], p["dataset"], protocol=p.get("protocol") or protocol_for(p["dataset"]),
                           metric=p.get("metric"), refine=refinement_variants(ctx.catalog, p["dataset"]))
    if p.get("run_id"):
        ctx.catalog.update_run(int(p["run_id"]), results=results)
    return headline(results)


def refinement_variants(catalog, dataset_root: str) -> dict[tuple[str, str], list[str]]:
    """Query variants made for test-time refinement of this dataset: (sid, seq) -> variant folders.
    Rejected ones are left out, so curation applies to refinement too."""
    ds = catalog.dataset_by_path(Path(dataset_root).resolve())
    if ds is None:
        return {}
    out: dict[tuple[str, str], list[str]] = {}
    for v in catalog.query_variants(ds["id"])[0]:
        if (v.get("recipe") or {}).get("purpose") == "refine" and v["status"] != "rejected":
            out.setdefault((v["sid"], v["source_seq"]), []).append(v["path"])
    return out


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers a job summary shows: the protocol's headline, chance level and the protocol."""
    from core.evaluate.protocols import headline as protocol_headline

    return {**protocol_headline(results), "chance": results.get("chance"), "protocol": results.get("protocol")}


KINDS: dict[str, Callable[[JobContext, dict[str, Any]], dict[str, Any]]] = {
    "demo": job_demo, "convert": job_convert, "augment": job_augment, "merge": job_merge, "import": job_import,
    "train": job_train, "eval": job_eval,
}
