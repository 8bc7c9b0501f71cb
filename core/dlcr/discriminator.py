"""Variant scoring (DLCR stage 5): does a variant look real, and does it keep the person?

DLCR's own discriminator only steers denoising and never filters; curation needs a score per
variant instead (docs/contracts.md, "DLCR stages"), so this one is trained inside the studio on the data at hand:

* realism: a small CNN told real frames from generated ones, applied to person crops, averaged
  over a variant's frames;
* identity keeping: the distance between the variant's gait embedding and its source's under a
  gait model the caller supplies as ``embed_fn`` (so any trained model can judge), turned into
  [0, 1] -- by rank against other identities when their embeddings are given (1 = the variant is
  still closer to its source than to anyone else), else as the cosine similarity itself;
* combined: a weighted mean of both, in [0, 1]; low scores are filtered or shown last.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from core.atomic import atomic_path
from core.device import resolve_device
from core.errors import ConfigError, InputError, JobCancelled

FORMAT = "hybridgait-dlcr-discriminator"


@dataclass
class DiscriminatorConfig:
    height: int = 64
    width: int = 32
    channels: tuple[int, ...] = (16, 32, 64)
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    seed: int = 0
    weight_realism: float = 0.5    # combined = w * realism + (1 - w) * identity
    crop_margin: float = 0.1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DiscriminatorConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "channels" in known:
            known["channels"] = tuple(int(c) for c in known["channels"])
        return cls(**known)


class RealismNet(nn.Module):
    """Strided conv blocks, global average pooling, one logit (real > 0)."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.LeakyReLU(0.2, inplace=True)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)


def _box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    if ys.size == 0:
        return 0, h, 0, w
    my, mx = int(margin * (np.ptp(ys) + 1)), int(margin * (np.ptp(xs) + 1))
    return max(0, ys.min() - my), min(h, ys.max() + 1 + my), max(0, xs.min() - mx), min(w, xs.max() + 1 + mx)


def prepare(frames: np.ndarray, masks: np.ndarray | None, config: DiscriminatorConfig) -> torch.Tensor:
    """(N, 3, h, w) float in [-1, 1]: person crops (by ``masks``, else whole frames) at the net's size.

    Real and generated frames go through exactly this, so the net cannot tell them apart by framing.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(None, f"expected RGB frames (N, H, W, 3), got {frames.shape}")
    out = np.empty((len(frames), config.height, config.width, 3), np.float32)
    for i, f in enumerate(frames):
        if masks is not None:
            y0, y1, x0, x1 = _box(np.asarray(masks[i]).astype(bool), config.crop_margin)
            f = f[y0:y1, x0:x1]
        out[i] = cv2.resize(f, (config.width, config.height), interpolation=cv2.INTER_AREA)
    t = torch.from_numpy(out).permute(0, 3, 1, 2)
    return t / 127.5 - 1.0


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a random real frame outscores a random generated one (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def _as_parts(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, np.float64)
    if e.ndim == 1:
        return e[:, None]
    if e.ndim != 2:
        raise InputError(None, f"an embedding must be (c,) or (c, parts), got shape {e.shape}")
    return e


def _part_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over parts of the cosine similarity of per-part L2-normalised vectors, as the
    evaluation protocols define it (docs/contracts.md, "Evaluation protocols")."""
    a, b = _as_parts(a), _as_parts(b)
    if a.shape != b.shape:
        raise InputError(None, f"embeddings differ in shape: {a.shape} vs {b.shape}")
    na = a / np.maximum(np.linalg.norm(a, axis=0, keepdims=True), 1e-12)
    nb = b / np.maximum(np.linalg.norm(b, axis=0, keepdims=True), 1e-12)
    return float((na * nb).sum(0).mean())


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine distance 1 - mean part cosine, in [0, 2]; embeddings are (c,) or (c, p)."""
    return 1.0 - _part_cosine(a, b)


def identity_score(source: np.ndarray, variant: np.ndarray,
                   references: Sequence[np.ndarray] | None = None) -> tuple[float, float]:
    """(score in [0, 1], distance). With ``references`` (other identities' embeddings) the score is
    the share of them farther from the source than the variant is; without, the clipped cosine."""
    d = embedding_distance(source, variant)
    if references is not None and len(references):
        others = np.array([embedding_distance(source, r) for r in references])
        return float((others > d).mean() + 0.5 * (others == d).mean()), d
    return float(np.clip(1.0 - d, 0.0, 1.0)), d


@dataclass
class VariantScore:
    realism: float
    identity: float | None
    combined: float
    distance: float | None
    realism_frames: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class VariantDiscriminator:
    def __init__(self, config: DiscriminatorConfig | None = None, *, device=None):
        self.config = config or DiscriminatorConfig()
        if not 0.0 <= self.config.weight_realism <= 1.0:
            raise ConfigError(f"weight_realism {self.config.weight_realism} must be within [0, 1]")
        self.device = resolve_device(device)
        torch.manual_seed(self.config.seed)
        self.net = RealismNet(self.config.channels).to(self.device)
        self.metrics: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------ training
    def fit(self, real: np.ndarray, fake: np.ndarray, *, real_masks: np.ndarray | None = None,
            fake_masks: np.ndarray | None = None, should_stop: Callable[[], bool] | None = None,
            progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
        """Train real-vs-generated on the frames given; returns loss and held-out accuracy / AUC."""
        c = self.config
        if len(real) < 2 or len(fake) < 2:
            raise InputError(None, f"training the discriminator needs at least 2 real and 2 generated frames "
                                   f"(got {len(real)} and {len(fake)})")
        x = torch.cat([prepare(real, real_masks, c), prepare(fake, fake_masks, c)])
        y = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
        g = torch.Generator().manual_seed(c.seed)
        perm = torch.randperm(len(x), generator=g)
        n_val = int(round(c.val_fraction * len(x)))
        val, train = perm[:n_val], perm[n_val:]
        # Weigh the rarer class up so an unbalanced set cannot be solved by always saying one thing.
        pos = float(y[train].sum())
        pos_weight = torch.tensor((len(train) - pos) / max(pos, 1.0), device=self.device)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        history = []
        for epoch in range(c.epochs):
            if should_stop and should_stop():
                raise JobCancelled(f"discriminator training stopped after {epoch} of {c.epochs} epochs")
            self.net.train()
            order = train[torch.randperm(len(train), generator=g)]
            total, seen = 0.0, 0
            for s in range(0, len(order), c.batch_size):
                idx = order[s:s + c.batch_size]
                if len(idx) < 2:   # batch norm cannot train on one sample
                    continue
                xb, yb = x[idx].to(self.device), y[idx].to(self.device)
                flip = (torch.rand(len(idx), generator=g) < 0.5).to(self.device)   # walkers go both ways
                xb[flip] = xb[flip].flip(-1)
                loss = loss_fn(self.net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            history.append(total / max(seen, 1))
            if progress:
                progress(epoch + 1, c.epochs, history[-1])
        self.metrics = {"epochs": c.epochs, "loss": history, "n_real": int(len(real)), "n_fake": int(len(fake)),
                        "n_val": int(n_val)}
        if n_val:
            p = self._probs(x[val])
            yv = y[val].numpy()
            self.metrics["val_accuracy"] = float(((p > 0.5) == (yv > 0.5)).mean())
            self.metrics["val_auc"] = _auc(p[yv > 0.5], p[yv < 0.5])
        return self.metrics

    # ------------------------------------------------------------------------------------- scoring
    @torch.inference_mode()
    def _probs(self, x: torch.Tensor) -> np.ndarray:
        self.net.eval()
        out = [torch.sigmoid(self.net(x[s:s + 256].to(self.device))).float().cpu()
               for s in range(0, len(x), 256)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def realism(self, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Per-frame probability of being a real frame."""
        return self._probs(prepare(frames, masks, self.config))

    def score_variant(self, variant_frames: np.ndarray, *, masks: np.ndarray | None = None,
                      embed_fn: Callable[[Any], np.ndarray] | None = None, variant_input: Any = None,
                      source_input: Any = None, source_embedding: np.ndarray | None = None,
                      reference_embeddings: Sequence[np.ndarray] | None = None) -> VariantScore:
        """Score one variant. Identity needs ``embed_fn`` and ``variant_input`` (what the gait model
        reads, e.g. the variant's silhouettes) plus ``source_input`` or a precomputed ``source_embedding``;
        without them the combined score is the realism alone."""
        frames_p = self.realism(variant_frames, masks)
        realism = float(frames_p.mean()) if len(frames_p) else 0.0
        ident = dist = None
        if embed_fn is not None and variant_input is not None:
            if source_embedding is None:
                if source_input is None:
                    raise ConfigError("identity scoring needs the source's input or its embedding")
                source_embedding = np.asarray(embed_fn(source_input))
            ident, dist = identity_score(source_embedding, np.asarray(embed_fn(variant_input)),
                                         reference_embeddings)
        w = self.config.weight_realism
        combined = realism if ident is None else w * realism + (1.0 - w) * ident
        return VariantScore(realism=realism, identity=ident, combined=float(np.clip(combined, 0.0, 1.0)),
                            distance=dist, realism_frames=[float(p) for p in frames_p])

    # --------------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        blob = {"format": FORMAT, "version": 1, "config": asdict(self.config), "metrics": self.metrics,
                "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}}
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(blob, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, *, device=None) -> "VariantDiscriminator":
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "discriminator file does not exist")
        try:
            # weights_only: a checkpoint from elsewhere must not be able to run code when read.
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(path, f"unreadable discriminator file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise InputError(path, f"not a {FORMAT} file")
        d = cls(DiscriminatorConfig.from_dict(blob.get("config") or {}), device=device)
        try:
            d.net.load_state_dict(blob["state_dict"])
        except (KeyError, RuntimeError) as exc:
            raise InputError(path, f"weights do not fit the saved configuration ({exc})") from exc
        d.metrics = dict(blob.get("metrics") or {})
        return d
