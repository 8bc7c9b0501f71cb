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
import io
import json
import os
import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar
from urllib.parse import urlparse

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


# Set beside HF_HUB_OFFLINE when the studio itself switched the process offline (launch.py, go_offline):
# an allowed download may lift that default, never an HF_HUB_OFFLINE=1 the user set.
STUDIO_OFFLINE = "HYBRIDGAIT_DEFAULT_OFFLINE"
CONNECT_TIMEOUT_S = 3.0
_online_lock = threading.Lock()


def go_offline() -> None:
    """Make every later hub call in this process fail fast instead of retrying the network."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if var not in os.environ:
            os.environ[var] = "1"
            os.environ[STUDIO_OFFLINE] = "1"
    try:   # huggingface_hub reads the variable at import; keep its constant in step when already imported
        from huggingface_hub import constants
        if os.environ.get("HF_HUB_OFFLINE") not in ("0", "false", "False"):
            constants.HF_HUB_OFFLINE = True
    except Exception:   # pragma: no cover - huggingface_hub is a transformers dependency
        pass


def user_forced_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is on and the user, not the studio, turned it on."""
    on = any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
             for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return on and not os.environ.get(STUDIO_OFFLINE)


def hub_endpoint() -> str:
    """The hub's address, read now (huggingface_hub reads HF_ENDPOINT once, at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _cache_dir() -> str | None:
    return os.environ.get("HF_HUB_CACHE") or None     # None: huggingface_hub's own default


def network_problem(endpoint: str | None = None, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when the hub's host accepts a TCP connection within ``timeout``, else why not. One
    connection attempt, so a machine without network is told so in at most ``timeout`` seconds."""
    url = urlparse(endpoint or hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{url.hostname}:{port} does not answer ({exc.strerror or type(exc).__name__})"


@contextmanager
def _online():
    """Lift the studio's offline default for one download (the user allowed it); restored after."""
    from huggingface_hub import constants

    with _online_lock:
        before = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = False
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = before


def _byte_bar(report: Callable[[int, int], None] | None):
    """A tqdm class for snapshot_download whose bytes-written bar calls ``report(done, total)``;
    it draws nothing (a job's progress goes to the catalog, not to a terminal)."""
    from tqdm.std import tqdm

    lock = threading.Lock()

    class ByteBar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)
            # huggingface_hub sums every file's bytes written into its "Reconstructing" bar
            self._reports = report is not None and str(kwargs.get("desc", "")).startswith("Reconstructing")

        def update(self, n=1):
            out = super().update(n)
            if self._reports:
                with lock:
                    report(int(self.n), int(self.total or 0))
            return out

    return ByteBar


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


NOT_CACHED = ("there is no such folder here, and as a hub id it is not in the local Hugging Face cache; {why}: "
              "download it once on a connected machine (huggingface-cli download ID) and give its local folder "
              "instead")


def _cached(text: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(text, local_files_only=True, cache_dir=_cache_dir()))
    except Exception:   # LocalEntryNotFoundError, bad ids: all mean "not here"
        return None


def _refuse(role: str, text: str, why: str) -> ConfigError:
    return ConfigError(f"{role} {text!r}: " + NOT_CACHED.format(why=why))


def _download_refusal(role: str, text: str) -> ConfigError | None:
    """Why ``text`` cannot be downloaded now (the user's offline switch, no network), else None."""
    if user_forced_offline():
        return _refuse(role, text, "downloads are allowed but HF_HUB_OFFLINE=1 is set in this environment "
                                   "(unset it to download)")
    problem = network_problem()
    if problem:
        return _refuse(role, text, f"downloads are allowed but no network answers ({problem})")
    return None


def resolve_source(spec: str | os.PathLike, *, role: str = "model", allow_download: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> ModelSource:
    """Turn a user's model setting into a local folder, or raise an error saying what to do.

    A hub id is looked up in the local cache first; one that is not there is downloaded only with
    ``allow_download`` and a network that answers (``progress(bytes done, bytes total)`` follows
    it). Unless downloads are allowed, the process is switched to offline mode first, so that
    nothing loaded from the returned folder reaches for the network either."""
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
    folder = _cached(text)
    if folder is None:
        if not allow_download:
            raise _refuse(role, text, "the studio downloads a model only when you allow it (--allow-download, "
                                      "or the download box beside the model field), or else")
        refusal = _download_refusal(role, text)
        if refusal:
            raise refusal
        from huggingface_hub import snapshot_download

        try:
            with _online():
                folder = Path(snapshot_download(text, endpoint=hub_endpoint(), cache_dir=_cache_dir(),
                                                tqdm_class=_byte_bar(progress)))
        except Exception as exc:   # no such repo, a gated one, the network gone midway
            raise ConfigError(f"{role} {text!r} could not be downloaded from {hub_endpoint()} "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              f"give a local folder that holds the model instead") from exc
    return ModelSource(text, folder, text, _revision_of(folder) or _refs_revision(folder))


def check_source(spec: str | os.PathLike, *, role: str = "model", allow_download: bool = False) -> ModelSource | None:
    """What a job's options are checked with before it is queued: the resolved source, or None for
    a hub id the job itself will download (allowed, and the network answers). Nothing is fetched."""
    try:
        return resolve_source(spec, role=role)
    except ConfigError:
        text = str(spec or "").strip()
        if not (allow_download and text and not _looks_like_path(text)):
            raise
        refusal = _download_refusal(role, text)
        if refusal:
            raise refusal from None
        return None


def fetch_models(specs: Iterable[tuple[str, str]], *, allow_download: bool,
                 progress: Callable[[int, int, str], None] | None = None,
                 log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Resolve (and, where allowed, download) each ``(role, spec)`` once, in the job's own process,
    before any worker loads it: the workers then find it in the cache. Returns one provenance
    record per model: the spec, the hub id, the resolved revision (commit hash) and the folder."""
    out = []
    for role, spec in specs:
        got = [0, 0]     # bytes done, quarters logged

        def bytes_done(done: int, total: int, role=role, spec=spec, got=got) -> None:
            got[0] = done
            quarter = 4 * done // max(total, 1)
            if log and quarter > got[1] and total:
                got[1] = quarter
                log(f"{role} {spec}: {done / 1e6:.1f} of {total / 1e6:.1f} MB downloaded")
            if progress:
                progress(done, max(total, 1), f"downloading the {role} {spec}: {done / 1e6:.1f} of "
                                              f"{total / 1e6:.1f} MB")

        is_hub = not _looks_like_path(spec) and not Path(spec).expanduser().exists()
        cached = _cached(spec) if is_hub else None
        if is_hub and cached is None and allow_download and log:
            log(f"{role} {spec}: not in the local cache; downloading from {hub_endpoint()}")
        src = resolve_source(spec, role=role, allow_download=allow_download, progress=bytes_done)
        downloaded = is_hub and cached is None
        if downloaded and log:
            log(f"{role} {spec}: downloaded revision {src.revision} ({got[0] / 1e6:.1f} MB) to {src.path}")
        out.append({"role": role, "source": spec, "model_id": src.hub_id or src.path.name, "revision": src.revision,
                    "path": str(src.path), "downloaded": downloaded})
    return out


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
