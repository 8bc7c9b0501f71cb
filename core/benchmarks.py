"""Evaluation facts of OpenGait's other benchmarks, written down once: the readers' presets give
sequences their gallery/probe roles by them, the protocols pick gallery and probes by them.

Read from OpenGait's ``opengait/evaluation/evaluator.py`` (commit 0efafd4779f127fbce34f22aff301bd82e923da5);
``types`` are the sequence folder names (OpenGait's ``seq_type``), ``views`` the view folder names.

* OU-MVLP: gallery type ``01``, probe type ``00`` (condition NM); rank-1 per probe view against
  each other gallery view (identical views excluded), averaged.
* SUSTech1K: gallery = types containing ``00-nm``; each condition's probes = types containing one
  of its keys (substring, as OpenGait tests them); rank-1 (and up to rank-5) as for OU-MVLP.
* CCPG: four conditions, each with its own probe and gallery types; the camera is the view name
  before its first ``_``; re-id rank-k / mAP / mINP with same-id same-camera gallery entries
  removed, and rank-1 per view pair (identical views excluded).
* Gait3D: the probes are the sequences ``<sid>-<type>-<view>`` its partition file lists under
  ``PROBE_SET``; every other test sequence is gallery; rank-1/5/10, mAP, mINP, nothing removed.
"""

from __future__ import annotations

OUMVLP_GALLERY = ("01",)
OUMVLP_PROBES = {"NM": ("00",)}

SUSTECH1K_GALLERY = ("00-nm",)
SUSTECH1K_PROBES = {"Normal": ("01-nm",), "Bag": ("bg",), "Clothing": ("cl",), "Carrying": ("cr",),
                    "Umbrella": ("ub",), "Uniform": ("uf",), "Occlusion": ("oc",), "Night": ("nt",),
                    "Overall": ("01", "02", "03", "04")}
SUSTECH1K_RANKS = 5

# condition -> (probe types, gallery types)
CCPG_CONDITIONS = {"CL": (("U0_D0_BG", "U0_D0"), ("U1_D1", "U2_D2", "U3_D3")),
                   "UP": (("U3_D3",), ("U0_D3",)),
                   "DN": (("U1_D0",), ("U1_D1",)),
                   "BG": (("U0_D0_BG",), ("U0_D0",))}
CCPG_RANKS = 5

GAIT3D_RANKS = (1, 5, 10)


def contains_any(name: str, keys: tuple[str, ...]) -> bool:
    """SUSTech1K's test: a type belongs to a set when one of its keys occurs in it."""
    return any(k in name for k in keys)


def ccpg_camera(view: str) -> str:
    return str(view).split("_")[0]


def ccpg_role(seq_type: str) -> str:
    """A CCPG type is a probe when some condition probes it, else gallery (its protocol selects by
    type per condition; the role is what the rest of the studio shows)."""
    return "probe" if any(seq_type in probes for probes, _ in CCPG_CONDITIONS.values()) else "gallery"


def gait3d_key(sid: str, seq_type: str, view: str) -> str:
    """A sequence as Gait3D's PROBE_SET names it: ``0002-camid33_videoid2-seq0``."""
    return f"{sid}-{seq_type}-{view}"
