"""Where a model comes from, how it is placed on a device, and the provenance record of what ran.

Every model-backed stage (silhouette and pose backends, the DLCR chain) loads through here. A model
source is either a local folder (what ``save_pretrained`` writes, or a snapshot folder of the
Hugging Face cache) or a hub id. The studio runs offline by default: a hub id is accepted only when
it is already in the local cache; otherwise loading fails at once with a ConfigError that names the
id and asks for a local folder, instead of transformers retrying the network for ~20 s. A folder
that is missing, holds no saved model or does not load is an InputError naming it; every stage
loads through :func:`load_pretrained` so that this holds for all of them. Devices and dtypes are
read by :mod:`core.device`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from core.errors import ConfigError, InputError

# Files whose presence marks a folder as a saved model (transformers model / processor, diffusers pipeline).
MODEL_MARKERS = ("config.json", "model_index.json", "preprocessor_config.json", "processor_config.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelSource:
    spec: str                 # what the user gave
    path: Path                # local folder that is actually loaded
    hub_id: str | None        # the hub id when ``spec`` was one (resolved from the local cache)
    revision: str | None      # commit hash when known (cache snapshot name, refs file, config)

    def describe(self) -> str:
        return f"{self.hub_id} (Hugging Face hub id)" if self.hub_id else self.spec


def go_offline() -> None:
    """Make every later hub call in this process fail fast instead of retrying the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:   # huggingface_hub reads the variable at import; keep its constant in step when already imported
        from huggingface_hub import constants
        if os.environ.get("HF_HUB_OFFLINE") not in ("0", "false", "False"):
            constants.HF_HUB_OFFLINE = True
    except Exception:   # pragma: no cover - huggingface_hub is a transformers dependency
        pass


def _looks_like_path(spec: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else can only be meant as a folder.
    if spec.startswith(("/", ".", "~")) or "\\" in spec or spec.count("/") > 1 or not _HUB_ID.match(spec):
        return True
    return len(spec) > 1 and spec[1] == ":"          # a Windows drive letter


def _revision_of(folder: Path) -> str | None:
    """Commit hash for a Hugging Face cache snapshot folder (``.../snapshots/<sha>``), else None."""
    if _SHA.match(folder.name) and folder.parent.name == "snapshots":
        return folder.name
    return None


def _refs_revision(folder: Path) -> str | None:
    """A ``refs/<name>`` file beside the snapshots that points at this snapshot (cache layout)."""
    refs = folder.parent.parent / "refs"
    if folder.parent.name != "snapshots" or not refs.is_dir():
        return None
    for ref in sorted(refs.iterdir()):
        try:
            sha = ref.read_text().strip()
        except OSError:
            continue
        if sha == folder.name:
            return sha
    return None


def resolve_source(spec: str | os.PathLike, *, role: str = "model", allow_download: bool = False) -> ModelSource:
    """Turn a user's model setting into a local folder, or raise an error saying what to do.

    Unless downloads are allowed, the process is switched to offline mode first, so that nothing
    loaded from the returned folder reaches for the network either."""
    text = str(spec if spec is not None else "").strip()
    if not text:
        raise ConfigError(f"no {role} given: set it to a local model folder")
    if not allow_download:
        go_offline()
    local = Path(text).expanduser()
    if local.is_dir():
        if not any((local / m).is_file() for m in MODEL_MARKERS):
            raise InputError(local, f"not a saved {role} folder (expected one of {', '.join(MODEL_MARKERS)}; "
                                    f"is it a save_pretrained folder?)")
        return ModelSource(text, local.resolve(), None, _revision_of(local.resolve()) or _refs_revision(local))
    if local.exists():
        raise InputError(local, f"expected a {role} folder, found a file")
    if _looks_like_path(text):
        raise InputError(local, f"{role} folder does not exist")
    # A hub id: only the local cache is consulted unless downloads were explicitly allowed.
    try:
        from huggingface_hub import snapshot_download
        folder = Path(snapshot_download(text, local_files_only=not allow_download))
    except Exception as exc:   # LocalEntryNotFoundError, offline errors, bad ids: all mean "not here"
        if allow_download:
            raise ConfigError(f"{role} {text!r} could not be downloaded ({type(exc).__name__}: {exc}); "
                              f"give a local folder that holds the model instead") from exc
        raise ConfigError(f"{role} {text!r}: there is no such folder here, and as a hub id it is not in the local "
                          f"Hugging Face cache; the studio does not download models (no network): download it "
                          f"once on a connected machine (huggingface-cli download ID) and give its local folder "
                          f"instead") from exc
    return ModelSource(text, folder, text, _revision_of(folder) or _refs_revision(folder))


# What a from_pretrained raises for a folder it cannot read: missing or corrupt files (OSError),
# a config it cannot parse or does not know (ValueError, KeyError), a config whose fields do not
# fit the class (TypeError).
LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError)

T = TypeVar("T")


def load_failed(source: ModelSource, role: str, exc: Exception) -> InputError:
    """A clear error for a from_pretrained that failed on a resolved folder, naming that folder."""
    return InputError(source.path, f"cannot load the {role} from this folder ({type(exc).__name__}: {exc})")


def load_pretrained(role: str, loader: Callable[[Path], T], spec: str | os.PathLike, *,
                    allow_download: bool = False) -> tuple[ModelSource, T]:
    """Resolve ``spec`` to a local folder and return it with ``loader(folder)``.

    Every model stage loads through here, so each failure reads the same: no model given or an
    uncached hub id is a ConfigError, a missing folder or one that does not load is an InputError
    naming the folder. Errors ``loader`` raises itself (a StudioError for a folder of the wrong
    kind) pass unchanged."""
    quiet_progress_bars()
    source = resolve_source(spec, role=role, allow_download=allow_download)
    try:
        return source, loader(source.path)
    except LOAD_ERRORS as exc:
        raise load_failed(source, role, exc) from exc


def count_parameters(obj: Any) -> int:
    """Parameters of a torch module, or of every module component of a diffusers pipeline."""
    if isinstance(obj, torch.nn.Module):
        return int(sum(p.numel() for p in obj.parameters()))
    comps = getattr(obj, "components", None) or {}
    return int(sum(count_parameters(c) for c in comps.values() if isinstance(c, torch.nn.Module)))


def _config_facts(folder: Path) -> tuple[str | None, str | None, str | None]:
    """(name_or_path, commit hash, sha1 of the config file) from the folder's config, where present."""
    for name in ("config.json", "model_index.json"):
        f = folder / name
        if f.is_file():
            raw = f.read_bytes()
            try:
                cfg = json.loads(raw)
            except ValueError:
                cfg = {}
            return (cfg.get("_name_or_path") or None, cfg.get("_commit_hash") or None,
                    hashlib.sha1(raw).hexdigest())
    return None, None, None


def provenance(role: str, source: ModelSource, obj: Any, *, device: torch.device, dtype: torch.dtype,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What produced an output: saved with every artifact so a result can be traced to its model."""
    import diffusers
    import transformers

    name, cfg_hash, cfg_sha1 = _config_facts(source.path)
    runtime_hash = getattr(getattr(obj, "config", None), "_commit_hash", None)
    rec = {
        "role": role,
        "source": source.spec,
        "model_id": source.hub_id or name or source.path.name,
        "path": str(source.path),
        "revision": source.revision or runtime_hash or cfg_hash,
        "config_sha1": cfg_sha1,
        "class": type(obj).__name__,
        "dtype": str(dtype).replace("torch.", ""),
        "device": str(device),
        "parameters": count_parameters(obj),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "diffusers": diffusers.__version__},
    }
    if extra:
        rec.update(extra)
    return rec


def quiet_progress_bars() -> None:
    """Loading and saving bars belong in a terminal; in a job they only flood the log."""
    try:
        from transformers.utils import logging as tlog
        tlog.disable_progress_bar()
    except Exception:   # pragma: no cover
        pass


def build_model_backend(cls, what: str, options: dict):
    """``cls(**options)`` for a model-backed backend, after checking that a model is named and that
    every option is one ``cls`` accepts (a misspelt option must not be silently ignored)."""
    import inspect

    if not options.get("model"):
        raise ConfigError(f"the {what} backend needs model=FOLDER_OR_HUB_ID")
    known = set(inspect.signature(cls.__init__).parameters) - {"self"}
    bad = sorted(set(options) - known)
    if bad:
        raise ConfigError(f"unknown {what} option(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    return cls(**options)
