"""Evaluating a training run or a checkpoint file on a packed dataset's test split.

Evaluating a run also keeps its test embeddings (``<run_dir>/eval/embeddings.npz``) so the
Runs page can draw CMC curves and embedding maps without running the model again, and so the
same numbers can be recomputed with ``python -m core eval --embeddings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from core.atomic import atomic_path
from core.data.packed import PackedDataset
from core.errors import InputError, StudioError
from core.evaluate import protocols
from core.evaluate.embed import extract_embeddings
from core.evaluate.files import OPENGAIT_EXPORT_FILE, embeddings_path
from core.models import build_model
from core.train.checkpoint import checkpoint_dir, load_checkpoint
from core.train.config import TrainConfig, load_config
from core.device import resolve_device, resolve_precision

if TYPE_CHECKING:
    from core.train.trainer import Evaluator

PROTOCOLS = protocols.PROTOCOLS
# One row per test sequence in each; `embeddings` is n x C x P float32, the rest strings.
SAVED_ARRAYS = ("labels", "types", "views", "roles", "cameras", "clothes", "seqs", "conditions")


def resolve_checkpoint(target: str | Path) -> Path:
    """A run folder, its checkpoints folder, or a checkpoint file -> the checkpoint file."""
    p = Path(target)
    if p.is_file():
        return p
    for cand in (checkpoint_dir(p) / "latest.pt", p / "latest.pt"):
        if cand.is_file():
            return cand
    raise InputError(p, "no checkpoint here (expected a .pt file or a run folder with checkpoints/latest.pt)")


def load_model(checkpoint: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint was trained with (its config is stored inside) and load its weights."""
    ckpt = load_checkpoint(checkpoint)
    if "model" not in ckpt or "model_args" not in ckpt:
        raise InputError(checkpoint, "not a HybridGait training checkpoint (no model weights or model_args)")
    model = build_model(ckpt.get("model_name", "gaitbase"), **ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def run_dir_of(checkpoint: str | Path) -> Path | None:
    """The run folder a checkpoint file belongs to (``<run>/checkpoints/x.pt``), else None."""
    p = Path(checkpoint)
    return p.parent.parent if p.parent.name == checkpoint_dir("").name else None


def save_embeddings(path: str | Path, emb: dict[str, Any], **meta: Any) -> Path:
    """Write the test embeddings and their per-sequence labels as one ``.npz``, atomically.

    Strings are stored as fixed-width unicode so the file loads with ``allow_pickle=False``;
    ``meta`` values (protocol, metric, step) are stored as 0-d arrays beside them.
    """
    arrays = {"embeddings": np.asarray(emb["embeddings"], dtype=np.float32)}
    for k in SAVED_ARRAYS:
        if k in emb:
            arrays[k] = np.asarray(emb[k]).astype(str)
    for k, v in meta.items():
        arrays[k] = np.asarray(v if isinstance(v, (int, float)) else str(v))
    with atomic_path(path) as tmp:
        # A file object, not a name: np.savez would append '.npz' to the temporary name.
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return Path(path)


def evaluate_run(run_dir_or_checkpoint: str | Path, dataset_root: str | Path, protocol: str = protocols.DEFAULT_PROTOCOL,
                 metric: str | None = None, progress: Callable[[int, int, str], Any] | None = None,
                 device: str = "auto", submission: str | Path | None = None,
                 save_embeddings_to: str | Path | bool = True,
                 refine: dict[tuple[str, str], list[str | Path]] | None = None,
                 opengait_config: str | Path | None = None) -> dict[str, Any]:
    """Results of a checkpoint on the gallery/probe split under ``protocol``, plus chance level.

    ``metric`` None takes the protocol's own (CASIA-B and GREW Euclidean, CCVID cosine).
    ``save_embeddings_to``: True keeps the test embeddings in the run folder's
    ``eval/embeddings.npz`` when the checkpoint is a run folder's ``latest.pt``; a path writes them
    there instead; False keeps nothing. The file written is recorded as ``embeddings_file``.
    ``refine`` maps query sequences (sid, seq) to folders of their generated variants: the results
    then also hold ``refined``, the same protocol on queries averaged with their variants
    (DLCR's test-time refinement). ``opengait_config``: the checkpoint is OpenGait's own, trained
    with that YAML (core.evaluate.opengait_checkpoint); its metric is the default then."""
    from core.layout import require_split

    require_split(dataset_root, "evaluate on a benchmark protocol")
    proto = protocols.get(protocol)
    protocol = proto.name
    path = resolve_checkpoint(run_dir_or_checkpoint)
    dev = resolve_device(device)
    if opengait_config is not None:
        from core.evaluate.opengait_checkpoint import load_opengait_model

        model, ckpt = load_opengait_model(path, opengait_config, dev)
    else:
        model, ckpt = load_model(path, dev)
    cfg = load_config(ckpt["config"])
    if opengait_config is not None and metric is None:
        metric = cfg.eval_metric
    dataset = PackedDataset(dataset_root)
    rows = dataset.indices(["gallery", "probe"])
    if not rows:
        raise InputError(dataset.root, "no gallery/probe sequences to evaluate on")
    prec = resolve_precision(cfg.amp, dev)
    cb = (lambda d, t: progress(d, t, f"embedding {d}/{t} test sequences")) if progress else None
    emb = extract_embeddings(model, dataset, rows, dev, resize_to=cfg.model_input_size, autocast_dtype=prec.dtype,
                             progress=cb)
    emb["conditions"] = np.array([dataset.entries[int(r)].sequence.condition for r in emb["rows"]], dtype=str)
    res = proto.evaluate(metric=metric, device=dev, submission=submission, **{k: emb[k] for k in proto.arrays})
    proto.add_set_sizes(res)
    ids = set(emb["labels"].tolist())
    res.update({
        "chance": 100.0 / len(ids) if ids else None,
        "num_test_ids": len(ids),
        "step": int(ckpt.get("step", 0)),
        "checkpoint": str(path),
        "protocol": protocol,
    })
    if refine:
        res["refined"] = _refined_results(model, cfg, dev, prec, emb, dataset, protocol, metric, refine)
    target = _embeddings_target(path, save_embeddings_to)
    if target is not None:
        res["embeddings_file"] = str(save_embeddings(target, emb, protocol=protocol, metric=res.get("metric", ""),
                                                     step=res["step"]))
        # The Runs page's CMC and embedding map, computed now so opening the page computes nothing.
        from core.evaluate.stored import write_report

        write_report(res["embeddings_file"], res)
    return res


def periodic_evaluator(cfg: TrainConfig, protocol: str | None = None) -> Evaluator:
    """The trainer's ``evaluator`` for ``cfg``: it embeds the test split with the model being
    trained and returns the headline of the dataset's own protocol (``protocol_for``), so a CCVID
    or GREW run's periodic numbers are that protocol's, not CASIA-B's NM/BG/CL."""
    proto = protocols.get(protocol or protocols.protocol_for(cfg.dataset))
    metric, resize_to = cfg.eval_metric, cfg.model_input_size

    def evaluate(model: torch.nn.Module, dataset: PackedDataset, device: torch.device,
                 autocast_dtype: torch.dtype | None) -> dict[str, float | None]:
        rows = dataset.indices(["gallery", "probe"])
        if not rows:
            return {}
        emb = extract_embeddings(model, dataset, rows, device, resize_to=resize_to, autocast_dtype=autocast_dtype)
        res = proto.evaluate(metric=metric, device=device, **{k: emb[k] for k in proto.arrays})
        return proto.headline(res)

    evaluate.protocol = proto.name      # type: ignore[attr-defined]  (for logs and tests)
    return evaluate


def _refined_results(model, cfg, dev, prec, emb, dataset, protocol, metric, refine) -> dict[str, Any]:
    from core.evaluate.refine import embed_arrays, read_variant_frames, refine_queries

    if getattr(model, "heatmap_channels", 0) or getattr(model, "input_kind", "") == "pose":
        return {"note": "test-time refinement needs silhouette-only models; this one reads pose"}
    keys = [(dataset.entries[int(r)].sequence.sid, dataset.entries[int(r)].sequence.seq) for r in emb["rows"]]
    queries = {k for k, role in zip(keys, emb["roles"]) if role == "probe"}
    variant_emb = {}
    for key, folders in refine.items():
        if key not in queries:
            continue        # only queries are refined; a gallery variant would change the gallery
        arrays = [a for a in (read_variant_frames(f) for f in folders) if len(a)]
        if arrays:
            variant_emb[key] = embed_arrays(model, arrays, dev, resize_to=cfg.model_input_size,
                                            autocast_dtype=prec.dtype)
    refined, counts = refine_queries(emb["embeddings"], keys, emb["roles"], variant_emb)
    proto = protocols.get(protocol)
    out = proto.evaluate(metric=metric, device=dev, **{**{k: emb[k] for k in proto.arrays}, "embeddings": refined})
    out.update(counts)
    return out


def _embeddings_target(checkpoint: Path, choice: str | Path | bool) -> Path | None:
    if choice is False or choice is None:
        return None
    if choice is True:
        # Only the run's current weights speak for the run: evaluating an older numbered
        # checkpoint must not replace the embeddings behind the run's recorded results.
        run_dir = run_dir_of(checkpoint)
        return embeddings_path(run_dir) if run_dir is not None and checkpoint.name == "latest.pt" else None
    return Path(choice)


def export_opengait(run_dir_or_checkpoint: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's latest weights as an OpenGait checkpoint ``{'model': ..., 'iteration': step}``.

    Default target: ``<run_dir>/export/opengait.pt``. Key names are translated by
    ``core.models.opengait_keys``; a model whose weights have no OpenGait counterpart (or an
    installation without that module) raises StudioError saying so.
    """
    path = resolve_checkpoint(run_dir_or_checkpoint)
    if out is None:
        run_dir = run_dir_of(path)
        if run_dir is None:
            raise InputError(path, "not inside a run folder; give the export file to write")
        out = run_dir / OPENGAIT_EXPORT_FILE
    try:
        from core.models.opengait_keys import export_opengait_state_dict
    except ModuleNotFoundError as exc:
        # Only the module's absence (a partial installation) is reported as such; an ImportError
        # raised inside it is a bug and propagates with its traceback.
        if exc.name != "core.models.opengait_keys":
            raise
        raise StudioError(f"OpenGait export is not available in this installation ({exc})") from exc

    ckpt = load_checkpoint(path)
    if "model" not in ckpt:
        raise InputError(path, "not a HybridGait training checkpoint (no model weights)")
    model_name = ckpt.get("model_name", "gaitbase")
    # Only what the user can fix (weights with no OpenGait counterpart) is a StudioError; a bug in
    # the mapping propagates with its traceback, into the job log.
    try:
        theirs = export_opengait_state_dict(model_name, ckpt["model"])
    except StudioError as exc:
        raise InputError(path, f"cannot map {model_name} weights to OpenGait: {exc}") from exc
    with atomic_path(out) as tmp:
        torch.save({"model": theirs, "iteration": int(ckpt.get("step", 0))}, tmp)
    return Path(out)
