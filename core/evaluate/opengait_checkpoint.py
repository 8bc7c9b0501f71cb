"""Checkpoints from OpenGait (its model zoo, or your own OpenGait runs) with the YAML they were
trained with: the network comes from the exact import of the YAML, the weights from the file
(``{'model': state_dict, 'optimizer': ..., 'scheduler': ..., 'iteration': n}`` as OpenGait's
``save_ckpt`` writes it to ``output/<dataset>/<model>/<save_name>/checkpoints/<save_name>-<iter>.pt``),
loaded strictly through our key mapping. The result is one of our checkpoints' contents, so it
evaluates like a run of ours and can become an imported run on the Runs page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.errors import InputError
from core.models import build_model
from core.models.opengait_keys import (export_opengait_state_dict, import_opengait_state_dict,
                                       read_opengait_checkpoint, unwrap_state_dict)


def opengait_checkpoint_state(checkpoint: str | Path, config: str | Path, dataset: str | Path = "") -> dict[str, Any]:
    """Our checkpoint contents (model, model_name, model_args, config, step) for an OpenGait
    checkpoint and its YAML; a file that does not fit the YAML's network is an InputError naming it."""
    from core.train.opengait_config import import_opengait

    res = import_opengait(config, dataset=str(dataset))
    cfg = res.config
    # Test features at the precision OpenGait's tester used (evaluator_cfg.enable_float16).
    cfg.amp = "fp16" if res.eval_fp16 else "off"
    name = cfg.model
    raw = read_opengait_checkpoint(checkpoint)
    # A model without a classifier (GaitSet) takes any class count; it has no weights for it.
    args = {**cfg.model_args, "num_classes": res.num_classes or 1}
    with torch.device("meta"):
        model = build_model(name, **args)
    # Compared in OpenGait's key names: those are what the user's file holds.
    want = {k: tuple(v.shape) for k, v in export_opengait_state_dict(name, model.state_dict()).items()}
    theirs = unwrap_state_dict(raw)
    have = {k: tuple(getattr(v, "shape", ())) for k, v in theirs.items()}
    if want != have:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        shapes = [f"{k} {have[k]} (config: {want[k]})" for k in sorted(set(want) & set(have)) if want[k] != have[k]]
        detail = "; ".join(f"{label}: {', '.join(ks[:4])}{' ...' if len(ks) > 4 else ''}"
                           for label, ks in (("missing", missing), ("unexpected", extra), ("other shapes", shapes))
                           if ks)
        raise InputError(checkpoint, f"does not hold the network of {config} ({res.opengait_model}): {detail}")
    sd = import_opengait_state_dict(name, theirs)
    step = raw.get("iteration", 0)
    step = step if isinstance(step, int) else 0
    return {"model": sd, "model_name": name, "model_args": args, "config": cfg.to_dict(), "step": step,
            "opengait": {"checkpoint": str(Path(checkpoint).resolve()), "config": str(Path(config).resolve()),
                         "model_class": res.opengait_model}}


def load_opengait_model(checkpoint: str | Path, config: str | Path,
                        device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model in eval mode on ``device``, our checkpoint contents) for an OpenGait checkpoint + YAML."""
    state = opengait_checkpoint_state(checkpoint, config)
    model = build_model(state["model_name"], **state["model_args"])
    model.load_state_dict(state["model"], strict=True)
    return model.to(device).eval(), state
