"""OpenGait packed sequences: ``<root>/<sid>/<type>/<view>/<view>.pkl``, one pickled uint8 array
(T x 64 x 44 or T x 64 x 64) per sequence.

A pickle can run any code it names, so these files are never handed to ``pickle.load``. They are
read with :class:`ArrayUnpickler`, whose ``find_class`` resolves only the handful of numpy names an
ndarray pickle refers to (protocols 0 to 5, numpy 1.x and 2.x module paths) and refuses every other
name *before* anything is called. The value that comes out must then be a 2-D or 3-D array whose
values fit uint8.
"""

from __future__ import annotations

import codecs
import io
import pickle
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.errors import InputError
from core.readers.base import Problem, RawSequence, ScanReport

TYPE_RE = re.compile(r"^([A-Za-z]+)-\d+$")
HEADER_BYTES = 128 * 1024      # enough for the opening frame of any ndarray pickle (payload comes after)


def _numpy_attr(module: str, name: str) -> Any:
    """``name`` from numpy's private ``_core`` (numpy 2) or ``core`` (numpy 1) submodule."""
    try:
        import numpy._core as core  # type: ignore[import-not-found]
        mod = getattr(core, module)
    except (ImportError, AttributeError):  # numpy 1.x
        import numpy.core as core  # type: ignore[no-redef]
        mod = getattr(core, module)
    return getattr(mod, name)


def _allowed(path: Path) -> dict[tuple[str, str], Callable[..., Any] | type]:
    reconstruct = _numpy_attr("multiarray", "_reconstruct")
    frombuffer = _numpy_attr("numeric", "_frombuffer")

    def latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        # protocol 0-2 pickles store bytes as a latin-1 str passed to _codecs.encode
        if not isinstance(obj, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
            raise InputError(path, f"pickle calls _codecs.encode with {encoding!r}, not latin-1 bytes; refused")
        return codecs.encode(obj, "latin-1", errors)

    table: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                         ("_codecs", "encode"): latin1_encode}
    for pkg in ("numpy.core", "numpy._core"):
        table[(f"{pkg}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{pkg}.numeric", "_frombuffer")] = frombuffer
    return table


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can build numpy arrays and nothing else.

    ``find_class`` never imports: it looks the (module, name) pair up in a fixed table of numpy's
    array-reconstruction helpers and raises :class:`InputError` for anything else, so the pickle's
    code is never reached. Persistent ids and out-of-band buffers are refused too.
    """

    def __init__(self, file: io.BufferedIOBase, path: Path):
        super().__init__(file, encoding="latin1")
        self.path = Path(path)
        self._table = _allowed(self.path)

    def find_class(self, module: str, name: str) -> Any:
        found = self._table.get((module, name))
        if found is None:
            raise InputError(self.path, f"pickle holds {module}.{name}, not a numpy array; refused without running it")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(self.path, "pickle refers to a persistent id, not a numpy array; refused")


def check_header(path: str | Path) -> None:
    """Run the restricted unpickler over the file's first ``HEADER_BYTES``: the global names an
    array pickle needs all sit there, before the pixel payload. Raises InputError for a forbidden
    name; a pickle cut short by the prefix is fine (the full check happens in :func:`load_array`)."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(HEADER_BYTES)
    if not head:
        raise InputError(path, "empty file (0 bytes)")
    if head[:1] != b"\x80" and head[:1] not in (b"c", b"(", b"]", b"}"):
        raise InputError(path, "not a pickle file (unexpected first byte)")
    try:
        ArrayUnpickler(io.BytesIO(head), path).load()
    except InputError:
        raise
    except Exception:  # truncated by the prefix, or a shape the prefix cannot finish: decided at load
        pass


def to_uint8_frames(value: Any, path: Path) -> np.ndarray:
    """Check an unpickled value and return it as (T, H, W) uint8; 2-D arrays are one frame."""
    if not isinstance(value, np.ndarray):
        raise InputError(path, f"pickle holds a {type(value).__name__}, not a numpy array; refused")
    if value.ndim not in (2, 3):
        raise InputError(path, f"array has shape {value.shape}; expected T x H x W (or one H x W frame)")
    if value.ndim == 2:
        value = value[None]
    if value.dtype == np.uint8:
        return np.ascontiguousarray(value)
    if value.dtype == np.bool_:
        return value.astype(np.uint8) * np.uint8(255)
    if value.dtype.kind in "iuf" and value.size:
        lo, hi = value.min(), value.max()
        whole = value.dtype.kind in "iu" or bool(np.all(np.mod(value, 1) == 0))
        if lo >= 0 and hi <= 255 and whole:
            return value.astype(np.uint8)
        raise InputError(path, f"{value.dtype} array with values {lo}..{hi}; silhouettes must be whole numbers in 0..255")
    raise InputError(path, f"array of dtype {value.dtype}; silhouettes must be uint8")


def load_array(path: str | Path) -> np.ndarray:
    """Unpickle one OpenGait sequence safely and return it as (T, H, W) uint8."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb") as fh:
            value = ArrayUnpickler(fh, path).load()
    except InputError:
        raise
    except Exception as exc:  # truncated or corrupt stream, bad arguments to the numpy helpers
        raise InputError(path, f"unreadable pickle ({type(exc).__name__}: {exc})") from exc
    return to_uint8_frames(value, path)


def _condition(seq_type: str) -> str:
    m = TYPE_RE.match(seq_type)
    return m.group(1) if m else seq_type


def _dirs(p: Path) -> list[Path]:
    return sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith(("_", ".")))


def looks_like(root: Path) -> tuple[float, str]:
    subjects = _dirs(root)
    if not subjects:
        return 0.0, "no subject folders"
    checked = found = 0
    for sid_dir in subjects[:5]:
        for type_dir in _dirs(sid_dir)[:2]:
            for view_dir in _dirs(type_dir)[:2]:
                checked += 1
                if any(view_dir.glob("*.pkl")):
                    found += 1
    if not checked:
        return 0.0, "no <sid>/<type>/<view> folders"
    if not found:
        return 0.05, f"none of {checked} sampled <sid>/<type>/<view> folders holds a .pkl"
    return 0.05 + 0.9 * found / checked, (f"{found} of {checked} sampled <sid>/<type>/<view> folders hold "
                                          f"a .pkl ({len(subjects)} subject folders)")


def _pick_pkl(view_dir: Path, report: ScanReport) -> Path | None:
    pkls = sorted(p for p in view_dir.iterdir() if p.is_file() and p.suffix.lower() == ".pkl")
    if not pkls:
        report.problems.append(Problem(str(view_dir), "no .pkl file; sequence skipped"))
        return None
    own = view_dir / f"{view_dir.name}.pkl"
    if own in pkls:
        if len(pkls) > 1:
            report.problems.append(Problem(str(view_dir), f"{len(pkls)} .pkl files; read {own.name}, "
                                                          f"ignored {', '.join(p.name for p in pkls if p != own)}",
                                           "warning"))
        return own
    if len(pkls) == 1:
        return pkls[0]
    report.problems.append(Problem(str(view_dir), f"{len(pkls)} .pkl files and none named {view_dir.name}.pkl; "
                                                  f"cannot tell which holds the silhouettes; sequence skipped"))
    return None


def scan(root: str | Path) -> ScanReport:
    """Read the tree's structure. Each pickle's header is checked with the restricted unpickler
    (a forbidden name skips the sequence); pixels are only read by ``core.readers.media``."""
    root = Path(root)
    report = ScanReport(root=root, format="opengait-pkl")
    for sid_dir in _dirs(root):
        for type_dir in _dirs(sid_dir):
            for view_dir in _dirs(type_dir):
                pkl = _pick_pkl(view_dir, report)
                if pkl is None:
                    continue
                try:
                    check_header(pkl)
                except InputError as exc:
                    report.problems.append(Problem(str(pkl), f"{exc.reason}; sequence skipped"))
                    continue
                cond = _condition(type_dir.name)
                report.sequences.append(RawSequence(
                    sid=sid_dir.name, seq_type=type_dir.name, view=view_dir.name, condition=cond,
                    clothes=f"{sid_dir.name}_{cond}", media="array", array=pkl))
            stray = [p for p in type_dir.iterdir() if p.is_file() and p.suffix.lower() == ".pkl"]
            if stray:
                report.problems.append(Problem(str(type_dir), f"{len(stray)} .pkl file(s) directly in a type folder "
                                                              f"(expected <type>/<view>/<view>.pkl); ignored", "warning"))
    if not report.sequences and not report.problems:
        report.problems.append(Problem(str(root), "no <sid>/<type>/<view>/<view>.pkl sequences found"))
    return report
