"""Part-wise metric-learning losses: batch-all triplet and scaled cross-entropy with smoothing.

Both take part-major features (N, C, P) and average over parts, so every horizontal strip is
trained as its own embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def part_euclidean(x: Tensor) -> Tensor:
    """(N, C, P) -> (P, N, N) Euclidean distances between all pairs, per part."""
    xp = x.permute(2, 0, 1).float()
    sq = (xp * xp).sum(-1)
    d2 = sq[:, :, None] + sq[:, None, :] - 2 * xp @ xp.transpose(1, 2)
    # Clamp before sqrt: round-off makes some self-distances slightly negative, and sqrt(0)
    # has an infinite gradient, so a tiny floor keeps backward finite.
    return d2.clamp_min(1e-12).sqrt()


def _padded_members(mask: Tensor) -> tuple[Tensor, Tensor]:
    """For each row of a boolean (N, N) mask: column indices of its True entries, left-packed and
    padded to the longest row, plus a validity mask. Lets unbalanced batches use one gather."""
    width = max(int(mask.sum(1).max().item()), 1)
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :width]
    return order, torch.gather(mask, 1, order)


def triplet_loss(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> tuple[Tensor, dict[str, float]]:
    """Batch-all triplet loss per part, averaged over the triplets that violate the margin.

    Averaging over the non-zero triplets (rather than all) keeps the gradient from vanishing as
    most triplets become easy. Returns (loss, {'nonzero': fraction of violating triplets, a 0-d tensor}).
    A sample is never its own positive.
    """
    dist = part_euclidean(embeddings)                       # (P, N, N)
    n = labels.shape[0]
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    pos_idx, pos_ok = _padded_members(same & ~eye)
    neg_idx, neg_ok = _padded_members(~same)
    p = dist.shape[0]
    ap = torch.gather(dist, 2, pos_idx.expand(p, -1, -1))     # (P, N, Kpos)
    an = torch.gather(dist, 2, neg_idx.expand(p, -1, -1))     # (P, N, Kneg)
    valid = (pos_ok[:, :, None] & neg_ok[:, None, :])[None]   # (1, N, Kpos, Kneg)
    hinge = F.relu(ap[..., :, None] - an[..., None, :] + margin) * valid
    nonzero = (hinge > 0).flatten(1).sum(1)                   # per part
    per_part = hinge.flatten(1).sum(1) / nonzero.clamp_min(1)
    # Stats stay tensors so the training loop syncs with the GPU only when it logs.
    frac = nonzero.sum() / (valid.sum() * p).clamp_min(1)
    return per_part.mean(), {"nonzero": frac.detach()}


def scaled_cross_entropy(logits: Tensor, labels: Tensor, scale: float = 16.0,
                         label_smoothing: float = 0.1) -> tuple[Tensor, dict[str, float]]:
    """Cross-entropy of ``scale * logits`` (N, classes, P) per part, mean over samples and parts.

    The scale matters because cosine logits live in [-1, 1]: unscaled, softmax could never get
    confident. Returns (loss, {'acc': per-part top-1 accuracy averaged over parts}).
    """
    logits = logits.float()
    target = labels[:, None].expand(-1, logits.shape[2])
    loss = F.cross_entropy(scale * logits, target, label_smoothing=label_smoothing)
    acc = (logits.argmax(1) == target).float().mean()
    return loss, {"acc": acc.detach()}
