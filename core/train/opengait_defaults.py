"""What OpenGait fills in for keys a config leaves out: its launcher merges every config over
``configs/default.yaml`` (mappings merge key by key, any other value replaces), so an import
must start from the same values to build what OpenGait builds. Values as of OpenGait commit
0efafd4779f127fbce34f22aff301bd82e923da5; names of OpenGait's own files are left out, since
the importer ignores them anyway."""

from __future__ import annotations

import copy
from typing import Any

DEFAULTS: dict[str, Any] = {
    "data_cfg": {"dataset_name": "CASIA-B", "num_workers": 1, "remove_no_gallery": False, "cache": False},
    "evaluator_cfg": {"enable_float16": False, "restore_ckpt_strict": True, "restore_hint": 80000,
                      "eval_func": "evaluate_indoor_dataset", "metric": "euc", "cross_view_gallery": False,
                      "sampler": {"batch_size": 4, "sample_type": "all_ordered", "type": "InferenceSampler"},
                      "transform": [{"type": "BaseSilCuttingTransform"}]},
    "loss_cfg": {"loss_term_weight": 1.0, "margin": 0.2, "type": "TripletLoss", "log_prefix": "triplet"},
    "model_cfg": {"model": "Baseline"},
    "optimizer_cfg": {"lr": 0.1, "momentum": 0.9, "solver": "SGD", "weight_decay": 0.0005},
    "scheduler_cfg": {"gamma": 0.1, "milestones": [20000, 40000, 60000], "scheduler": "MultiStepLR"},
    "trainer_cfg": {"find_unused_parameters": False, "enable_float16": True, "with_test": False, "fix_BN": False,
                    "log_iter": 100, "restore_ckpt_strict": True, "optimizer_reset": False, "scheduler_reset": False,
                    "restore_hint": 0, "save_iter": 2000, "sync_BN": False, "total_iter": 80000,
                    "sampler": {"batch_shuffle": False, "batch_size": [8, 16], "frames_num_fixed": 30,
                                "frames_num_max": 50, "frames_num_min": 25, "sample_type": "fixed_unordered",
                                "type": "TripletSampler"},
                    "transform": [{"type": "BaseSilCuttingTransform"}]},
}


def _merge(src: dict[str, Any], dst: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(v, dst[k])
        else:
            dst[k] = v


def with_defaults(src: dict[str, Any]) -> dict[str, Any]:
    """``src`` merged over OpenGait's defaults, as its launcher does (``src`` is not changed)."""
    out = copy.deepcopy(DEFAULTS)
    _merge(copy.deepcopy(src), out)
    return out
