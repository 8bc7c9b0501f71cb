"""Every evaluation protocol as one object in one registry, and the typed result they produce.

A protocol knows its name (and aliases), the arrays it needs (one row per sequence,
``embeddings`` n x C [x P]; extra arrays are ignored, so files written by other frameworks can
carry more), its metrics (the first is its default), how to evaluate, which few numbers it is
quoted by (``headline``), its conditions (table rows, figure panels) and which figure kinds
apply. The ranking math lives in each protocol's own module (``casia_b``, ``ccvid``, ``grew``,
``metrics``); the objects here only dispatch to it, so their numbers are exactly that math's.

Adding a protocol = one ``Protocol`` subclass instance in ``REGISTRY`` below (its math in a new
module beside the others when no existing ranking fits). Everything else (CLI choices and result
line, job summaries, the trainer's periodic evaluation, Studio, the Runs page) asks the registry.

Results stay plain dicts where they are stored (catalog rows, ``eval/*.json``); ``EvalResult``
is the typed view of one, built by ``EvalResult.from_dict`` and turned back by ``to_dict``
without losing a key.

This module imports no torch: the app asks it for names and headlines without loading a model.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core import benchmarks as B
from core.errors import ConfigError, InputError
from core.records import CASIA_B_GALLERY, CASIA_B_PROBES

# Figure kinds a protocol's results can be drawn as (the Runs page decides how).
FIG_PER_VIEW = "per-view"        # rank-1 per (probe view, gallery view) heatmap and bars per view
FIG_CMC = "cmc"                  # CMC curves from the saved embeddings
FIG_EMBEDDINGS = "embeddings"    # 2-D map of the saved embeddings


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:.2f}"


@dataclass
class EvalResult:
    """One evaluation, typed: what every consumer reads, plus the protocol's full dict in ``detail``.

    ``conditions`` holds each condition's own numbers (CASIA-B: rank-1, probes and rank-1 per
    probe view; CCVID: each mode's rank-k/mAP/mINP summary; GREW: the probes' rank-k).
    ``per_view``/``views`` are filled for protocols with the per-view figure only.
    """

    protocol: str
    metric: str
    step: int | None
    headline: dict[str, float | None]
    conditions: dict[str, dict[str, Any]]
    views: list[str] = field(default_factory=list)
    per_view: dict[str, dict[str, float | None]] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    refined: "EvalResult | None" = None

    @property
    def spec(self) -> "Protocol":
        return get(self.protocol)

    def line(self) -> str:
        return self.spec.line(self.detail)

    def to_dict(self) -> dict[str, Any]:
        """The stored form: the protocol's dict as it was (refined results nested under 'refined')."""
        out = dict(self.detail)
        if self.refined is not None:
            out["refined"] = self.refined.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], protocol: str | None = None) -> "EvalResult":
        """A stored result dict (any age: results written before 'protocol' was recorded are
        CASIA-B's when they carry its condition keys) -> EvalResult."""
        return get(protocol or protocol_of(d) or DEFAULT_PROTOCOL).result(d)


class Protocol:
    """Base of the protocol objects; subclasses fill the class attributes and ``_run``/``headline``."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""                      # as papers write it
    aliases: ClassVar[tuple[str, ...]] = ()
    arrays: ClassVar[tuple[str, ...]] = ()         # embeddings first
    metrics: ClassVar[tuple[str, ...]] = ()        # the first is the default
    conditions: ClassVar[tuple[str, ...]] = ()
    quantity: ClassVar[str] = ""                   # what every headline number is, when its key does not say
    figures: ClassVar[tuple[str, ...]] = (FIG_CMC, FIG_EMBEDDINGS)
    submission: ClassVar[bool] = False             # writes an official submission file
    source_formats: ClassVar[tuple[str, ...]] = ()  # converted datasets' manifest formats it evaluates

    @property
    def default_metric(self) -> str:
        return self.metrics[0]

    def __repr__(self) -> str:
        return f"<protocol {self.name}>"

    # -- evaluating ------------------------------------------------------------------------------
    def check(self, arrays: dict[str, Any]) -> list[str]:
        """Problems with ``arrays`` (missing, wrong shape, mismatched lengths); [] if none."""
        need = self.arrays
        missing = [k for k in need if k not in arrays or arrays[k] is None]
        if missing:
            return [f"missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"(protocol {self.name} needs {', '.join(need)})"]
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

    def metric(self, metric: str | None) -> str:
        metric = metric or self.default_metric
        if metric not in self.metrics:
            raise ConfigError(f"metric: {metric!r} is not available for protocol {self.name}; "
                              f"choose one of {list(self.metrics)}")
        return metric

    def evaluate(self, *, metric: str | None = None, device: Any = "cpu", submission: str | Path | None = None,
                 **arrays: Any) -> dict[str, Any]:
        """The protocol on the named arrays, as a plain dict ready for JSON."""
        metric = self.metric(metric)
        if submission is not None and not self.submission:
            raise ConfigError(f"submission: only the grew protocol writes a submission file, not {self.name}")
        problems = self.check(arrays)
        if problems:
            raise ValueError(f"{self.name} evaluation: " + "; ".join(problems))
        a = {k: arrays[k] for k in self.arrays}
        return self._run(a, metric, device, submission)

    def _run(self, a: dict[str, Any], metric: str, device: Any, submission: str | Path | None) -> dict[str, Any]:
        raise NotImplementedError

    def add_set_sizes(self, res: dict[str, Any]) -> None:
        """Fill ``num_probe``/``num_gallery`` where the protocol's own dict does not have them."""

    def cmc(self, arrays: dict[str, Any], metric: str | None = None, max_rank: int | None = None) -> dict[str, Any]:
        """CMC curves (name -> ``report.CMCCurve``) of saved embeddings under this protocol."""
        raise NotImplementedError

    # -- reading results -------------------------------------------------------------------------
    def headline(self, result: dict[str, Any]) -> dict[str, float | None]:
        """The few numbers a table row or a CLI line quotes, in order."""
        raise NotImplementedError

    def line(self, result: dict[str, Any]) -> str:
        """The headline as a researcher would quote it (the CLI's result line)."""
        nums = "  ".join(f"{k} {_pct(v)}" for k, v in self.headline(result).items())
        return f"{self.title} ({result.get('metric', '')}): {nums}"

    def condition_detail(self, result: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {c: dict(result[c]) for c in self.conditions if isinstance(result.get(c), dict)}

    def result(self, d: dict[str, Any]) -> EvalResult:
        d = dict(d)
        refined = d.pop("refined", None)
        step = d.get("step")
        per_view = d.get("per_view") if FIG_PER_VIEW in self.figures else None
        return EvalResult(
            protocol=self.name, metric=str(d.get("metric") or ""), step=None if step is None else int(step),
            headline=self.headline(d), conditions=self.condition_detail(d),
            views=[str(v) for v in d.get("views") or []] if per_view is not None else [],
            per_view={c: dict(v) for c, v in (per_view or {}).items()}, detail=d,
            refined=self.result(refined) if isinstance(refined, dict) and refined else None)


class CasiaB(Protocol):
    """CASIA-B single-view gallery: nm-01..04 gallery, NM/BG/CL probes, rank-1 per view pair."""

    name, title, aliases = "casia-b", "CASIA-B", ("casiab", "casia")
    arrays = ("embeddings", "labels", "types", "views")
    metrics = ("euc", "cos")
    conditions = tuple(CASIA_B_PROBES)
    quantity = "rank-1"
    figures = (FIG_PER_VIEW, FIG_CMC, FIG_EMBEDDINGS)

    @property
    def gallery_types(self) -> tuple[str, ...]:
        return CASIA_B_GALLERY

    @property
    def probe_types(self) -> dict[str, tuple[str, ...]]:
        """Condition -> its probe sequence types (NM: nm-05/06, ...)."""
        return CASIA_B_PROBES

    @property
    def sequence_types(self) -> list[str]:
        """Every sequence type the protocol uses, gallery first (nm-01 ... cl-02)."""
        return [*self.gallery_types, *(t for ts in self.probe_types.values() for t in ts)]

    def _run(self, a, metric, device, submission):
        from core.evaluate.casia_b import evaluate_casia_b
        res = evaluate_casia_b(a["embeddings"], a["labels"], a["types"], a["views"], metric=metric, device=device)
        res["protocol"] = self.name
        return res

    def add_set_sizes(self, res):
        res["num_probe"] = sum(res["counts"][c] for c in self.conditions)
        res["num_gallery"] = res["counts"]["gallery"]

    def cmc(self, arrays, metric=None, max_rank=None):
        from core.evaluate.report import cmc_casia_b
        return cmc_casia_b(arrays["embeddings"], arrays["labels"], arrays["types"], arrays["views"],
                           metric or self.default_metric, max_rank)

    def headline(self, result):
        return {c: result.get(c) for c in self.conditions}

    def line(self, result):
        return (f"rank-1 ({result.get('metric', '')}): "
                + "  ".join(f"{c} {_pct(result.get(c))}" for c in self.conditions))

    def condition_detail(self, result):
        counts = result.get("counts") or {}
        per_view = result.get("per_view") or {}
        return {c: {"rank-1": result.get(c), "probes": counts.get(c), "per_view": dict(per_view.get(c) or {})}
                for c in self.conditions if c in result}


class CCVID(Protocol):
    """CCVID (Simple-CCReID): general, clothes-changing and same-clothes rank-k / mAP over tracklets."""

    name, title = "ccvid", "CCVID"
    arrays = ("embeddings", "labels", "roles", "cameras", "clothes")
    metrics = ("cos", "euc")
    conditions = ("general", "cc", "sc")
    quoted = ("general", "cc")          # the modes papers report
    source_formats = ("ccvid",)

    def _run(self, a, metric, device, submission):
        from core.evaluate.ccvid import evaluate_ccvid
        return evaluate_ccvid(a["embeddings"], a["labels"], a["roles"], a["cameras"], a["clothes"], metric=metric,
                              device=device)

    def cmc(self, arrays, metric=None, max_rank=None):
        from core.evaluate.report import cmc_ccvid
        return cmc_ccvid(arrays["embeddings"], arrays["labels"], arrays["roles"], arrays["cameras"],
                         arrays["clothes"], metric or self.default_metric, max_rank, modes=self.quoted)

    def headline(self, result):
        out: dict[str, float | None] = {}
        for mode in self.quoted:
            m = result.get(mode) if isinstance(result.get(mode), dict) else {}
            out[f"{mode} rank-1"] = m.get("rank-1")
            out[f"{mode} mAP"] = m.get("mAP")
        return out

    def line(self, result):
        g, cc = result.get("general") or {}, result.get("cc") or {}
        return (f"CCVID ({result.get('metric', '')}): general rank-1 {_pct(g.get('rank-1'))} mAP {_pct(g.get('mAP'))}"
                f" · clothes-changing rank-1 {_pct(cc.get('rank-1'))} mAP {_pct(cc.get('mAP'))}")


class GREW(Protocol):
    """GREW (OpenGait real-scene): rank-1/5/10/20 over gallery sequences, and the submission CSV."""

    name, title = "grew", "GREW"
    arrays = ("embeddings", "labels", "roles", "seqs")
    metrics = ("euc", "cos")
    conditions = ("probe",)
    ranks = (1, 5, 10, 20)
    submission = True
    source_formats = ("grew",)

    def _run(self, a, metric, device, submission):
        from core.evaluate.grew import evaluate_grew
        return evaluate_grew(a["embeddings"], a["labels"], a["roles"], a["seqs"], metric=metric,
                             submission=submission, device=device)

    def cmc(self, arrays, metric=None, max_rank=None):
        from core.evaluate.report import cmc_grew
        return cmc_grew(arrays["embeddings"], arrays["labels"], arrays["roles"], metric or self.default_metric,
                        max_rank)

    def headline(self, result):
        return {f"rank-{k}": result.get(f"rank-{k}") for k in self.ranks}

    def line(self, result):
        return super().line(result) + (f"  submission: {result['submission']}" if result.get("submission") else "")

    def condition_detail(self, result):
        keys = [f"rank-{k}" for k in self.ranks] + ["mAP", "mINP", "num_probe"]
        return {"probe": {k: result.get(k) for k in keys if k in result}}


class _SingleViewGallery(Protocol):
    """OpenGait's single-view-gallery evaluation on a benchmark's facts (:mod:`core.benchmarks`)."""

    arrays = ("embeddings", "labels", "types", "views")
    metrics = ("euc", "cos")
    quantity = "rank-1"
    figures = (FIG_PER_VIEW, FIG_CMC, FIG_EMBEDDINGS)
    gallery_types: ClassVar[tuple[str, ...]] = ()
    probe_types: ClassVar[dict[str, tuple[str, ...]]] = {}
    substring: ClassVar[bool] = False
    ranks: ClassVar[int] = 1

    def _run(self, a, metric, device, submission):
        from core.evaluate.gallery_probe import select, single_view_gallery
        res = single_view_gallery(a["embeddings"], a["labels"], a["types"], a["views"],
                                  gallery=select(self.gallery_types, self.substring),
                                  probes={c: select(t, self.substring) for c, t in self.probe_types.items()},
                                  ranks=self.ranks, metric=metric, device=device)
        res["protocol"] = self.name
        return res

    def add_set_sizes(self, res):
        counts = res.get("counts") or {}
        res["num_probe"] = sum(counts.get(c, 0) for c in self.conditions if c != "Overall")
        res["num_gallery"] = counts.get("gallery")

    def cmc(self, arrays, metric=None, max_rank=None):
        from core.evaluate.gallery_probe import select
        from core.evaluate.report import cmc_reid
        types = np.asarray(arrays["types"]).astype(str)
        gal = select(self.gallery_types, self.substring)(types)
        curves = {c: cmc_reid(arrays["embeddings"], arrays["labels"], select(t, self.substring)(types), gal,
                              metric or self.default_metric, max_rank, name=c) for c, t in self.probe_types.items()}
        return {c: v for c, v in curves.items() if v is not None}

    def headline(self, result):
        return {c: result.get(c) for c in self.conditions}

    def condition_detail(self, result):
        counts, per_view, ranks = (result.get(k) or {} for k in ("counts", "per_view", "ranks"))
        return {c: {"rank-1": result.get(c), "probes": counts.get(c), **dict(ranks.get(c) or {}),
                    "per_view": dict(per_view.get(c) or {})} for c in self.conditions if c in result}


class OUMVLP(_SingleViewGallery):
    """OU-MVLP: gallery type 01, probe type 00 (NM), rank-1 per view pair, identical views excluded."""

    name, title, aliases = "oumvlp", "OU-MVLP", ("ou-mvlp",)
    gallery_types, probe_types = B.OUMVLP_GALLERY, B.OUMVLP_PROBES
    conditions = tuple(B.OUMVLP_PROBES)
    source_formats = ("oumvlp",)


class SUSTech1K(_SingleViewGallery):
    """SUSTech1K: gallery 00-nm, eight covariate probes plus Overall (types matched by substring),
    rank-1 (to rank-5) per view pair, identical views excluded."""

    name, title = "sustech1k", "SUSTech1K"
    gallery_types, probe_types = B.SUSTECH1K_GALLERY, B.SUSTECH1K_PROBES
    substring, ranks = True, B.SUSTECH1K_RANKS
    conditions = tuple(B.SUSTECH1K_PROBES)
    source_formats = ("sustech1k",)


class CCPG(Protocol):
    """CCPG: CL/UP/DN/BG, each its own probe and gallery types; re-id rank-k/mAP/mINP with
    same-id same-camera entries removed, and rank-1 per view pair (identical views excluded)."""

    name, title = "ccpg", "CCPG"
    arrays = ("embeddings", "labels", "types", "views")
    metrics = ("euc", "cos")
    conditions = tuple(B.CCPG_CONDITIONS)
    quantity = "rank-1"
    figures = (FIG_PER_VIEW, FIG_CMC, FIG_EMBEDDINGS)
    source_formats = ("ccpg",)

    def _run(self, a, metric, device, submission):
        from core.evaluate.gallery_probe import reid, select, single_view_gallery
        types = np.asarray(a["types"]).astype(str)
        cams = np.array([B.ccpg_camera(v) for v in np.asarray(a["views"]).astype(str)], dtype=str)
        res: dict[str, Any] = {"protocol": self.name, "metric": metric, "reid": {}}
        per_view: dict[str, Any] = {}
        for c, (probes, gallery) in B.CCPG_CONDITIONS.items():
            res["reid"][c] = reid(a["embeddings"], a["labels"], select(probes)(types), select(gallery)(types),
                                  ks=tuple(range(1, B.CCPG_RANKS + 1)), metric=metric, junk_key=cams, device=device)
            one = single_view_gallery(a["embeddings"], a["labels"], types, cams, gallery=select(gallery),
                                      probes={c: select(probes)}, metric=metric, device=device)
            per_view[c] = one
            res[c] = one[c]
        res["views"] = sorted({v for one in per_view.values() for v in one["views"]})
        res["per_view"] = {c: one["per_view"][c] for c, one in per_view.items()}
        res["matrix"] = {c: one["matrix"][c] for c, one in per_view.items()}
        res["view_lists"] = {c: one["views"] for c, one in per_view.items()}
        res["counts"] = {c: res["reid"][c]["num_probe"] for c in self.conditions}
        res["note"] = "camera = view name before '_'; CL/UP/DN/BG rank-1 per view pair, identical views excluded"
        return res

    def add_set_sizes(self, res):
        res["num_probe"] = sum((res.get("counts") or {}).values())

    def cmc(self, arrays, metric=None, max_rank=None):
        from core.evaluate.gallery_probe import select
        from core.evaluate.report import cmc_reid
        types = np.asarray(arrays["types"]).astype(str)
        cams = np.array([B.ccpg_camera(v) for v in np.asarray(arrays["views"]).astype(str)], dtype=str)
        curves = {c: cmc_reid(arrays["embeddings"], arrays["labels"], select(p)(types), select(g)(types),
                              metric or self.default_metric, max_rank, junk_key=cams, name=c)
                  for c, (p, g) in B.CCPG_CONDITIONS.items()}
        return {c: v for c, v in curves.items() if v is not None}

    def headline(self, result):
        reid = result.get("reid") or {}
        out: dict[str, float | None] = {c: result.get(c) for c in self.conditions}
        out.update({f"{c} mAP": (reid.get(c) or {}).get("mAP") for c in self.conditions})
        return out

    def condition_detail(self, result):
        reid, per_view = result.get("reid") or {}, result.get("per_view") or {}
        return {c: {"rank-1": result.get(c), "reid": dict(reid.get(c) or {}), "per_view": dict(per_view.get(c) or {})}
                for c in self.conditions if c in result}


class _RolesReid(Protocol):
    """Probes (role 'probe') ranked against the gallery (role 'gallery') as one re-id ranking."""

    metrics = ("euc", "cos")
    ks: ClassVar[tuple[int, ...]] = (1, 5, 10, 20)
    over: ClassVar[str] = "valid"
    cross_view: ClassVar[bool] = False
    conditions = ("probe",)

    def _run(self, a, metric, device, submission):
        from core.evaluate.gallery_probe import reid
        roles = np.char.lower(np.asarray(a["roles"]).astype(str))
        res = reid(a["embeddings"], a["labels"], roles == "probe", roles == "gallery", ks=self.ks, metric=metric,
                   junk_key=a["views"] if self.cross_view else None, over=self.over, device=device)
        return {"protocol": self.name, "metric": metric, **res}

    def cmc(self, arrays, metric=None, max_rank=None):
        from core.evaluate.report import cmc_reid
        roles = np.char.lower(np.asarray(arrays["roles"]).astype(str))
        curve = cmc_reid(arrays["embeddings"], arrays["labels"], roles == "probe", roles == "gallery",
                         metric or self.default_metric, max_rank, junk_key=arrays["views"] if self.cross_view else None)
        return {"probe": curve} if curve is not None else {}

    def headline(self, result):
        out: dict[str, float | None] = {f"rank-{k}": result.get(f"rank-{k}") for k in self.ks}
        out["mAP"] = result.get("mAP")
        return out

    def condition_detail(self, result):
        keys = [*(f"rank-{k}" for k in self.ks), "mAP", "mINP", "num_probe", "num_gallery"]
        return {"probe": {k: result.get(k) for k in keys if k in result}}


class Gait3D(_RolesReid):
    """Gait3D: the partition file's PROBE_SET against every other test sequence; rank-1/5/10,
    mAP, mINP over probes with a match, nothing removed."""

    name, title = "gait3d", "Gait3D"
    arrays = ("embeddings", "labels", "roles")
    ks = B.GAIT3D_RANKS
    source_formats = ("gait3d",)

    def headline(self, result):
        return {**super().headline(result), "mINP": result.get("mINP")}


class GalleryProbe(_RolesReid):
    """Custom data: the gallery sequence types chosen at conversion against the probes; rank-1/5/10/20
    over all probes (one whose id has no gallery sequence is a miss), mAP and mINP over matched ones."""

    name, title, aliases = "gallery-probe", "gallery/probe", ("custom",)
    arrays = ("embeddings", "labels", "roles", "views")
    over = "all"
    source_formats = ("generic-tree",)


class GalleryProbeCrossView(GalleryProbe):
    """As gallery-probe, with gallery sequences of the probe's id seen from the probe's view removed."""

    name, title, aliases = "gallery-probe-cross-view", "gallery/probe, cross-view", ("custom-cross-view",)
    cross_view = True
    source_formats = ()


# -- the registry -------------------------------------------------------------------------------

REGISTRY: tuple[Protocol, ...] = (CasiaB(), CCVID(), GREW(), OUMVLP(), SUSTech1K(), CCPG(), Gait3D(), GalleryProbe(),
                                  GalleryProbeCrossView())
DEFAULT_PROTOCOL = "casia-b"         # what a dataset of no known source format is evaluated with
PROTOCOLS = tuple(p.name for p in REGISTRY)
_BY_KEY = {k: p for p in REGISTRY for k in (p.name, *p.aliases)}


def get(protocol: "str | Protocol") -> Protocol:
    """The protocol object for a name or alias (any case, '_' for '-'); ConfigError if unknown."""
    if isinstance(protocol, Protocol):
        return protocol
    key = str(protocol).strip().lower().replace("_", "-")
    if key not in _BY_KEY:
        raise ConfigError(f"protocol: unknown protocol {protocol!r}; available: {list(PROTOCOLS)}")
    return _BY_KEY[key]


def protocol_of(result: dict[str, Any]) -> str:
    """The protocol a stored result dict was computed under; '' when it cannot tell."""
    if result.get("protocol"):
        return str(result["protocol"])
    return next((p.name for p in REGISTRY if any(c in result for c in p.conditions)), "")


def headline(result: dict[str, Any]) -> dict[str, float | None]:
    """The headline numbers of a stored result dict ({} for an empty or unknown one)."""
    proto = protocol_of(result) if result else ""
    return get(proto).headline(result) if proto in _BY_KEY else {}


def results_line(protocol: str, result: dict[str, Any]) -> str:
    return get(protocol).line(result)


def check_arrays(protocol: str, arrays: dict[str, Any]) -> list[str]:
    """Problems with ``arrays`` for ``protocol`` (missing, wrong shape, mismatched lengths); [] if none."""
    return get(protocol).check(arrays)


def evaluate(protocol: str, *, metric: str | None = None, device: str = "cpu", submission: str | Path | None = None,
             **arrays: Any) -> dict[str, Any]:
    """Run ``protocol`` (a registry name or alias) on the named arrays; ``submission`` is GREW's CSV path."""
    return get(protocol).evaluate(metric=metric, device=device, submission=submission, **arrays)


def load_embeddings_npz(path: str | Path, protocol: str) -> dict[str, np.ndarray]:
    """The arrays ``protocol`` needs from an ``.npz``, checked; errors name the file and the array."""
    proto = get(protocol)
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such embeddings file")
    try:
        loaded = np.load(p, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputError(p, "holds a single array, not an .npz archive of named arrays")
        with loaded as z:
            names = list(z.files)
            missing = [k for k in proto.arrays if k not in names]
            if missing:
                raise InputError(p, f"missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)} needed by "
                                    f"protocol {proto.name} (the file has: {', '.join(names) or 'nothing'})")
            arrays = {k: z[k] for k in proto.arrays}
    except InputError:
        raise
    except ValueError as exc:
        # allow_pickle=False refuses object arrays: strings must be saved as fixed-width unicode.
        raise InputError(p, f"unreadable array ({exc}); save labels as plain string arrays, not objects") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(p, f"not a readable .npz file ({exc})") from None
    problems = proto.check(arrays)
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
    """The protocol a converted dataset is evaluated with, from the source format in its manifest
    (CCVID's lists -> 'ccvid', official GREW -> 'grew', a preset -> its benchmark's, a generic
    tree -> 'gallery-probe'); everything else CASIA-B's."""
    import json

    manifest = Path(dataset_root) / "manifest.json"
    try:
        fmt = json.loads(manifest.read_text()).get("parameters", {}).get("format", "")
    except (OSError, ValueError):
        fmt = ""
    return protocol_for_format(fmt)


def protocol_for_format(fmt: str) -> str:
    """The protocol a dataset read as source format ``fmt`` is evaluated with."""
    return next((p.name for p in REGISTRY if fmt in p.source_formats), DEFAULT_PROTOCOL)


def cmc_curves(arrays: dict[str, Any], protocol: str, metric: str | None = None,
               max_rank: int | None = None) -> dict[str, Any]:
    """CMC curves of saved embeddings under ``protocol`` (any name in the protocol registry)."""
    proto = get(protocol)
    problems = proto.check(arrays)
    if problems:
        raise ValueError(f"{proto.name} CMC: " + "; ".join(problems))
    return proto.cmc(arrays, metric, max_rank)
