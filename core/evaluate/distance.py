"""Distances between part-based embeddings (N, C, P): per-part distance averaged over parts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

METRICS = ("euc", "cos")


def part_distance(x: Tensor, y: Tensor, metric: str = "euc", chunk: int = 2048) -> Tensor:
    """(n, C, P) x (m, C, P) -> (n, m).

    'euc': mean over parts of the Euclidean distance; 'cos': 1 - mean over parts of the cosine
    similarity. Rows are processed in chunks so a large probe set never needs a (P, n, m) block
    bigger than (P, chunk, m).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if x.dim() == 2:
        x, y = x[:, :, None], y[:, :, None]
    x, y = x.float(), y.float().to(x.device)
    if metric == "cos":
        x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    yp = y.permute(2, 1, 0)                                 # (P, C, m)
    y2 = (yp * yp).sum(1)[:, None, :]                       # (P, 1, m)
    out = []
    for s in range(0, x.shape[0], chunk):
        xp = x[s:s + chunk].permute(2, 0, 1)                # (P, b, C)
        dot = xp @ yp                                       # (P, b, m)
        if metric == "cos":
            out.append(1.0 - dot.mean(0))
        else:
            d2 = (xp * xp).sum(2)[:, :, None] + y2 - 2 * dot
            out.append(d2.clamp_min(0).sqrt().mean(0))
    return torch.cat(out) if out else x.new_zeros((0, y.shape[0]))
