"""Part-wise metric-learning losses: triplet (batch-all or batch-hard) and scaled cross-entropy.

Both take part-major features (N, C, P) and average over parts, so every horizontal strip is
trained as its own embedding.

The batch-all triplet loss is OpenGait's TripletLoss: every (anchor, positive, negative) with
the anchor counted among its own positives, hinge ``d(a,p) - d(a,n) + margin``, per part the sum
divided by the number of non-zero terms (+1e-9), then the mean over parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def part_euclidean(x: Tensor) -> Tensor:
    """(N, C, P) -> (P, N, N) Euclidean distances between all pairs, per part; the diagonal is exactly 0."""
    xp = x.permute(2, 0, 1).float()
    sq = (xp * xp).sum(-1)
    d2 = sq[:, :, None] + sq[:, None, :] - 2 * xp @ xp.transpose(1, 2)
    # Clamp before sqrt: round-off makes some distances slightly negative, and sqrt(0) has an
    # infinite gradient. A sample's distance to itself is 0 with a zero gradient by definition,
    # so it is set rather than computed (the expansion above leaves round-off there).
    eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return d2.clamp_min(1e-12).sqrt().masked_fill(eye, 0.0)


@dataclass
class TripletIndex:
    """For each anchor: its positives and negatives as column indices, left-packed and padded to
    the longest row, with validity masks. Built on the host from labels, so the loss itself never
    waits on the device (no data-dependent shapes)."""

    pos: Tensor      # (N, Kp) int64
    pos_ok: Tensor   # (N, Kp) bool
    neg: Tensor      # (N, Kn) int64
    neg_ok: Tensor   # (N, Kn) bool

    def to(self, device: torch.device, non_blocking: bool = False) -> "TripletIndex":
        parts = (self.pos, self.pos_ok, self.neg, self.neg_ok)
        return TripletIndex(*(t.to(device, non_blocking=non_blocking) for t in parts))

    def pin_memory(self) -> "TripletIndex":
        return TripletIndex(*(t.pin_memory() for t in (self.pos, self.pos_ok, self.neg, self.neg_ok)))


def _packed(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    width = max(int(mask.sum(1).max()) if mask.size else 0, 1)
    order = np.argsort(~mask, axis=1, kind="stable")[:, :width]
    return order.astype(np.int64), np.take_along_axis(mask, order, 1)


def triplet_index(labels: np.ndarray | Tensor) -> TripletIndex:
    lab = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    same = lab[:, None] == lab[None, :]
    (pos, pos_ok), (neg, neg_ok) = _packed(same), _packed(~same)
    return TripletIndex(*(torch.from_numpy(a) for a in (pos, pos_ok, neg, neg_ok)))


def triplet_loss(embeddings: Tensor, labels: Tensor, margin: float = 0.2, mining: str = "all",
                 index: TripletIndex | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Triplet loss over parts. ``mining='all'``: OpenGait's batch-all (see module docstring);
    ``'hard'``: per anchor the farthest positive and the nearest negative, averaged over anchors.

    Returns (loss, {'nonzero': fraction of active terms}); stats stay tensors so the training loop
    syncs with the GPU only when it logs. ``index`` (from ``triplet_index``) saves a device sync.
    """
    dist = part_euclidean(embeddings)                                   # (P, N, N)
    ix = (index or triplet_index(labels)).to(dist.device)
    p = dist.shape[0]
    ap = torch.gather(dist, 2, ix.pos.expand(p, -1, -1))                # (P, N, Kp)
    an = torch.gather(dist, 2, ix.neg.expand(p, -1, -1))                # (P, N, Kn)
    if mining == "hard":
        hardest_pos = ap.masked_fill(~ix.pos_ok, float("-inf")).amax(-1)
        hardest_neg = an.masked_fill(~ix.neg_ok, float("inf")).amin(-1)
        per_anchor = F.relu(hardest_pos - hardest_neg + margin)         # (P, N)
        return per_anchor.mean(), {"nonzero": (per_anchor > 0).float().mean().detach()}
    if mining != "all":
        raise ValueError(f"triplet mining must be 'all' or 'hard', got {mining!r}")
    valid = (ix.pos_ok[:, :, None] & ix.neg_ok[:, None, :])[None]       # (1, N, Kp, Kn)
    hinge = F.relu(ap[..., :, None] - an[..., None, :] + margin) * valid
    nonzero = (hinge > 0).flatten(1).sum(1)                             # per part
    per_part = hinge.flatten(1).sum(1) / (nonzero + 1e-9)
    frac = nonzero.sum() / (valid.sum() * p).clamp_min(1)
    return per_part.mean(), {"nonzero": frac.detach()}


def scaled_cross_entropy(logits: Tensor, labels: Tensor, scale: float = 16.0,
                         label_smoothing: float = 0.1) -> tuple[Tensor, dict[str, Tensor]]:
    """Cross-entropy of ``scale * logits`` (N, classes, P) per part, mean over samples and parts.

    The scale matters because cosine logits live in [-1, 1]: unscaled, softmax could never get
    confident. Returns (loss, {'acc': per-part top-1 accuracy averaged over parts}).
    """
    logits = logits.float()
    target = labels[:, None].expand(-1, logits.shape[2])
    loss = F.cross_entropy(scale * logits, target, label_smoothing=label_smoothing)
    acc = (logits.argmax(1) == target).float().mean()
    return loss, {"acc": acc.detach()}


def supcon_lp_loss(features: Tensor, labels: Tensor, temperature: float = 0.01) -> Tensor:
    """OpenGait's SupConLoss_Lp: a supervised contrastive loss whose similarity is the negative L2
    distance between L2-normalised features (N, C), divided by ``temperature``.

    Each anchor's loss is minus the mean log-softmax (over all other samples) of its positives
    (same label, itself excluded); anchors whose loss is not above 0 are left out of the mean, as
    there. Its temperature ratio is 1, so no further scale applies.
    """
    f = F.normalize(features.float().flatten(1), p=2, dim=1)
    sim = -torch.cdist(f, f, p=2) / temperature
    # Subtracting each row's (detached) maximum changes no log-softmax, only its round-off.
    sim = sim - sim.max(dim=1, keepdim=True).values.detach()
    n = f.shape[0]
    others = ~torch.eye(n, dtype=torch.bool, device=f.device)
    pos = (labels[:, None] == labels[None, :]) & others
    log_prob = sim - torch.log((torch.exp(sim) * others).sum(1, keepdim=True))
    per_anchor = -(log_prob * pos).sum(1) / (pos.sum(1) + torch.finfo(sim.dtype).tiny)
    return per_anchor[per_anchor > 0].mean()
