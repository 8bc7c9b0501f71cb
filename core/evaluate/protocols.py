"""One entry point for every evaluation protocol, on arrays or on an ``.npz`` file of them.

Each protocol names the arrays it needs (one row per sequence, ``embeddings`` n x C [x P]);
extra arrays are ignored, so files written by other frameworks can carry more. Results are plain
dicts (numbers, strings, lists) ready for JSON.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError, InputError

REQUIRED: dict[str, tuple[str, ...]] = {
    "casia-b": ("embeddings", "labels", "types", "views"),
    "ccvid": ("embeddings", "labels", "roles", "cameras", "clothes"),
    "grew": ("embeddings", "labels", "roles", "seqs"),
}
PROTOCOLS = tuple(REQUIRED)
METRICS = {"casia-b": ("euc", "cos"), "ccvid": ("cos", "euc"), "grew": ("euc", "cos")}
DEFAULT_METRIC = {p: m[0] for p, m in METRICS.items()}


def _protocol(protocol: str) -> str:
    key = str(protocol).strip().lower().replace("_", "-")
    key = {"casiab": "casia-b", "casia": "casia-b"}.get(key, key)
    if key not in REQUIRED:
        raise ConfigError(f"protocol: unknown protocol {protocol!r}; available: {list(PROTOCOLS)}")
    return key


def check_arrays(protocol: str, arrays: dict[str, Any]) -> list[str]:
    """Problems with ``arrays`` for ``protocol`` (missing, wrong shape, mismatched lengths); [] if none."""
    need = REQUIRED[_protocol(protocol)]
    missing = [k for k in need if k not in arrays or arrays[k] is None]
    if missing:
        return [f"missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(protocol {protocol} needs {', '.join(need)})"]
    problems = []
    emb = np.asarray(arrays["embeddings"])
    if emb.ndim not in (2, 3) or not np.issubdtype(emb.dtype, np.number):
        problems.append(f"embeddings must be a numeric n x C or n x C x P array, got dtype {emb.dtype} "
                        f"shape {emb.shape}")
    n = len(emb) if emb.ndim else 0
    for k in need[1:]:
        a = np.asarray(arrays[k])
        if a.ndim != 1:
            problems.append(f"{k} must be 1-D (one value per sequence), got shape {a.shape}")
        elif len(a) != n:
            problems.append(f"{k} has {len(a)} entries but embeddings has {n} rows")
    return problems


def evaluate(protocol: str, *, metric: str | None = None, device: str = "cpu", submission: str | Path | None = None,
             **arrays: Any) -> dict[str, Any]:
    """Run ``protocol`` ('casia-b' | 'ccvid' | 'grew') on the named arrays; ``submission`` is GREW's CSV path."""
    key = _protocol(protocol)
    metric = metric or DEFAULT_METRIC[key]
    if metric not in METRICS[key]:
        raise ConfigError(f"metric: {metric!r} is not available for protocol {key}; choose one of {list(METRICS[key])}")
    if submission is not None and key != "grew":
        raise ConfigError(f"submission: only the grew protocol writes a submission file, not {key}")
    problems = check_arrays(key, arrays)
    if problems:
        raise ValueError(f"{key} evaluation: " + "; ".join(problems))
    a = {k: arrays[k] for k in REQUIRED[key]}
    if key == "casia-b":
        from core.evaluate.casia_b import evaluate_casia_b
        res = evaluate_casia_b(a["embeddings"], a["labels"], a["types"], a["views"], metric=metric, device=device)
        res["protocol"] = key
        return res
    if key == "ccvid":
        from core.evaluate.ccvid import evaluate_ccvid
        return evaluate_ccvid(a["embeddings"], a["labels"], a["roles"], a["cameras"], a["clothes"], metric=metric,
                              device=device)
    from core.evaluate.grew import evaluate_grew
    return evaluate_grew(a["embeddings"], a["labels"], a["roles"], a["seqs"], metric=metric, submission=submission,
                         device=device)


def load_embeddings_npz(path: str | Path, protocol: str) -> dict[str, np.ndarray]:
    """The arrays ``protocol`` needs from an ``.npz``, checked; errors name the file and the array."""
    key = _protocol(protocol)
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such embeddings file")
    try:
        loaded = np.load(p, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputError(p, "holds a single array, not an .npz archive of named arrays")
        with loaded as z:
            names = list(z.files)
            missing = [k for k in REQUIRED[key] if k not in names]
            if missing:
                raise InputError(p, f"missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)} needed by "
                                    f"protocol {key} (the file has: {', '.join(names) or 'nothing'})")
            arrays = {k: z[k] for k in REQUIRED[key]}
    except InputError:
        raise
    except ValueError as exc:
        # allow_pickle=False refuses object arrays: strings must be saved as fixed-width unicode.
        raise InputError(p, f"unreadable array ({exc}); save labels as plain string arrays, not objects") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(p, f"not a readable .npz file ({exc})") from None
    problems = check_arrays(key, arrays)
    if problems:
        raise InputError(p, "; ".join(problems))
    return arrays


def evaluate_npz(path: str | Path, protocol: str, **kwargs: Any) -> dict[str, Any]:
    """``load_embeddings_npz`` then ``evaluate``; the result records the file it came from."""
    arrays = load_embeddings_npz(path, protocol)
    try:
        res = evaluate(protocol, **kwargs, **arrays)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    res["embeddings_file"] = str(path)
    return res


def protocol_for(dataset_root: str | Path) -> str:
    """The protocol a converted dataset is evaluated with, from the source format in its manifest:
    CCVID's lists -> 'ccvid', official GREW -> 'grew', everything else CASIA-B's."""
    import json

    manifest = Path(dataset_root) / "manifest.json"
    try:
        fmt = json.loads(manifest.read_text()).get("parameters", {}).get("format", "")
    except (OSError, ValueError):
        fmt = ""
    return {"ccvid": "ccvid", "grew": "grew"}.get(fmt, "casia-b")
