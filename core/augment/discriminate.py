"""Scoring a job's variants with a discriminator trained on that job's own frames.

Each variant keeps person crops of a few real and generated frames (``samples.npz``, written by
:mod:`core.augment.assemble`), so a later job can score it without generating it again.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from core.augment.options import ChainOptions
from core.dlcr.describe import person_crop
from core.layout import gei_path
from core.records import Sequence
from core.variants import update_record


DISCRIMINATOR_LABEL = ("discriminator: realism (small CNN trained on this job's real vs generated frames) and "
                       "identity (GEI distance to the source vs other training identities)")
SAMPLES = 6          # frames per variant kept (as person crops) for the discriminator
CROP = (64, 32)      # (height, width) of those crops: the discriminator's input size


def person_samples(frames: np.ndarray, masks: np.ndarray, idx: list[int]) -> np.ndarray:
    h, w = CROP
    out = [cv2.resize(person_crop(frames[i], masks[i] > 0), (w, h), interpolation=cv2.INTER_AREA) for i in idx]
    return np.stack(out) if out else np.zeros((0, h, w, 3), np.uint8)


def _gei_vector(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if img is None else img.astype(np.float32).ravel() / 255.0


def score_with_discriminator(records: list[dict], root: Path, manifest: dict, o: ChainOptions, *,
                             should_stop=None, progress=None) -> dict:
    """Realism + identity scores for ``records`` (updated in place and in their variant.json).

    Realism: a small CNN trained on real vs generated person crops of this job, in two folds by
    identity so no variant is scored by a net that saw it (in-sample, and said so, when one fold
    would be too small). Identity: the GEI of the variant against its source's, ranked among the
    GEIs of the other training identities (model-free; a trained gait model can replace it).
    """
    from core.dlcr.discriminator import DiscriminatorConfig, VariantDiscriminator, identity_score

    items = []
    for rec in records:
        f = Path(rec["path"]) / "samples.npz"
        if f.is_file():
            with np.load(f, allow_pickle=False) as z:
                items.append((rec, z["real"], z["fake"]))
    if not items:
        return {"trained": False, "reason": "no variant carries samples.npz (made by an older version)"}
    sids = sorted({rec["sid"] for rec, _, _ in items})
    folds = [[s for i, s in enumerate(sids) if i % 2 == k] for k in (0, 1)]

    def frames(part: list[tuple], which: int) -> np.ndarray:
        seen, out = set(), []
        for rec, real, fake in part:
            if which == 1:
                key = (rec["sid"], rec["source_seq"])   # several variants share their source's real frames
                if key in seen:
                    continue
                seen.add(key)
            out.append(real if which == 1 else fake)
        return np.concatenate(out) if out else np.zeros((0, *CROP, 3), np.uint8)

    plans = []
    if all(folds):
        for k in (0, 1):
            train = [it for it in items if it[0]["sid"] not in folds[k]]
            test = [it for it in items if it[0]["sid"] in folds[k]]
            plans.append((train, test))
    ok = plans and all(len(frames(tr, 1)) >= 2 and len(frames(tr, 0)) >= 2 for tr, _ in plans)
    scheme = "held-out fold (2 folds by identity)"
    if not ok:
        plans, scheme = [(items, items)], "in-sample (too few identities for held-out folds)"
        if len(frames(items, 1)) < 2 or len(frames(items, 0)) < 2:
            return {"trained": False, "reason": "fewer than 2 real or 2 generated frames to train on"}
    # Identity references: one GEI per *other* training identity, from the layout.
    geis: dict[str, list[np.ndarray]] = {}
    for r in manifest.get("sequences", []):
        if r.get("split") == "train" and not r.get("origin"):
            v = _gei_vector(gei_path(root, Sequence.from_dict(r)))
            if v is not None:
                geis.setdefault(r["sid"], []).append(v)
    metrics = []
    cfg = DiscriminatorConfig(seed=o.seed, height=CROP[0], width=CROP[1])
    for n, (train, test) in enumerate(plans):
        disc = VariantDiscriminator(cfg, device=o.device)
        metrics.append(disc.fit(frames(train, 1), frames(train, 0), should_stop=should_stop))
        for rec, _, fake in test:
            var_gei = _gei_vector(Path(rec["path"]) / "gei.png")
            src_gei = _gei_vector(gei_path(root, Sequence(sid=rec["sid"], seq=rec["source_seq"])))
            ident = None
            if var_gei is not None and src_gei is not None and var_gei.shape == src_gei.shape:
                refs = [g for s, gs in geis.items() if s != rec["sid"] for g in gs if g.shape == src_gei.shape]
                ident, _ = identity_score(src_gei, var_gei, refs or None)
            realism = float(disc.realism(fake).mean()) if len(fake) else 0.0
            w = cfg.weight_realism
            combined = realism if ident is None else w * realism + (1 - w) * ident
            rec["scores"] = {**rec.get("scores", {}), "realism": round(realism, 4),
                             "identity": None if ident is None else round(float(ident), 4),
                             "combined": round(float(combined), 4)}
            rec["score"] = round(float(np.clip(combined, 0, 1)), 4)
            rec["score_kind"] = DISCRIMINATOR_LABEL
            rec.setdefault("models", {})["discriminator"] = {
                "role": "discriminator", "model_free": False, "trained_on": "this job's frames", "scheme": scheme,
                "fold": n, "config": {k: v for k, v in asdict(cfg).items() if k != "channels"},
                "metrics": {k: v for k, v in metrics[-1].items() if k != "loss"},
                "identity": "GEI distance vs other training identities (model-free)"}
            update_record(rec)
        if progress:
            progress(n + 1, len(plans), f"discriminator: scored fold {n + 1}/{len(plans)}")
    return {"trained": True, "scheme": scheme, "folds": len(plans),
            "val_accuracy": [m.get("val_accuracy") for m in metrics], "variants": len(items)}
