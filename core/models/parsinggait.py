"""ParsingGait (OpenGait): GaitBase's ResNet-9 on human-parsing maps, plus a graph branch: the
feature map is weighted part by part (a learnt weight inside each parsing part's mask, one minus
it outside), each part pooled to a vector, two graph convolutions over the part graph (coarse: 5
parts, fine: 11, or both), temporal max; the part vectors join the 16 horizontal strips before
the separate FCs and the BNNeck.

Input: (N, T, H, W) parsing maps whose pixel values are the class labels (0 background, 1 head,
2 torso, ... 11 dress), fed to the CNN as they are, as in OpenGait. The studio's converted
layout holds silhouettes, not parsing maps, so this model has no training data path yet.
"""

from __future__ import annotations

from typing import Sequence as Seq

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.blocks import FrameResNet
from core.models.heads import BNNeck, SeparateFCs
from core.models.pooling import horizontal_pyramid_pool, set_max_pool
from core.models import opengait_families
from core.models.opengait_cfg import stands_for
from core.models.registry import register_model
from core.models.temporal import check_lengths, frames_5d

_FINE_EDGES = ((1, 2), (1, 11), (2, 3), (2, 4), (2, 7), (2, 8), (3, 5), (3, 11), (4, 6), (4, 11), (7, 9), (7, 11),
               (8, 10), (8, 11))
_COARSE = ((1, 2, 11), (3, 5), (4, 6), (7, 9), (8, 10))     # groups of fine labels
GRAPHS = ("coarse", "fine", "both")


def _normalised(edges: Seq[tuple[int, int]], n: int) -> np.ndarray:
    """D^-1/2 (A + I) D^-1/2 of the part graph (1-based part numbers)."""
    a = np.eye(n)
    for i, j in edges:
        a[i - 1, j - 1] = a[j - 1, i - 1] = 1
    d = np.diag(a.sum(1) ** -0.5)
    return (d @ a @ d).astype(np.float32)


class GraphConv(nn.Module):
    """x @ W, mixed over the graph, plus bias, then BatchNorm over all (part, channel) pairs."""

    def __init__(self, cin: int, cout: int, parts: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cin, cout))
        self.bias = nn.Parameter(torch.empty(cout))
        self.bn = nn.BatchNorm1d(cout * parts)
        if not self.weight.is_meta:
            bound = cout ** -0.5
            nn.init.uniform_(self.weight, -bound, bound)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        y = adj @ (x @ self.weight) + self.bias
        return self.bn(y.reshape(y.shape[0], -1)).reshape(y.shape)


class PartGCN(nn.Module):
    def __init__(self, parts: int, channels: int):
        super().__init__()
        self.gc1, self.gc2 = GraphConv(channels, channels, parts), GraphConv(channels, channels, parts)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        x = F.relu(self.gc1(F.dropout(x, 0.5, self.training), adj))
        return F.relu(self.gc2(F.dropout(x, 0.5, self.training), adj))


@register_model("parsinggait")
@stands_for("ParsingGait", opengait_families.parsinggait)
class ParsingGait(nn.Module):
    def __init__(self, num_classes: int, channels: Seq[int] = (64, 128, 256, 512), strides: Seq[int] = (1, 2, 2, 1),
                 parts: int = 16, embed_dim: int = 256, graph: str = "coarse", in_channels: int = 1):
        super().__init__()
        if graph not in GRAPHS:
            raise ValueError(f"graph {graph!r}: one of {GRAPHS}")
        self.graph, self.parts, self.in_channels = graph, int(parts), int(in_channels)
        self.backbone = FrameResNet(in_channels, tuple(channels), tuple(strides))
        c = self.backbone.out_channels
        extra = 0
        if graph in ("fine", "both"):
            self.gcn_fine = PartGCN(11, c)
            self.gammas_fine = nn.Parameter(torch.full((11,), 0.75))
            self.register_buffer("fine_adj", torch.from_numpy(_normalised(_FINE_EDGES, 11)), persistent=False)
            extra += 11
        if graph in ("coarse", "both"):
            self.gcn_coarse = PartGCN(5, c)
            self.gammas_coarse = nn.Parameter(torch.full((5,), 0.75))
            self.register_buffer("coarse_adj", torch.from_numpy(_normalised([(1, k) for k in range(2, 6)], 5)),
                                 persistent=False)
            extra += 5
        self.fcs = SeparateFCs(self.parts + extra, c, embed_dim)
        self.neck = BNNeck(self.parts + extra, embed_dim, num_classes)
        for m in self.modules():   # OpenGait's init_parameters (the graph convs keep their own)
            if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                nn.init.xavier_uniform_(m.weight)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and not m.weight.is_meta:
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def _parts(self, z: Tensor, labels: Tensor, groups: Seq[Seq[int]], gammas: Tensor, gcn: PartGCN,
               adj: Tensor, n: int, lengths: Tensor | None) -> Tensor:
        """(n*s, C, h, w) maps and (n*s, h, w) labels -> (n, C, parts) graph features."""
        pooled = []
        for g, members in zip(gammas, groups):
            inside = torch.zeros_like(labels, dtype=torch.bool)
            for k in members:
                inside |= labels == k
            m = inside.unsqueeze(1).float()
            f = (m * z * g + (1 - m) * z * (1 - g)).flatten(2)
            pooled.append(f.mean(-1) + f.amax(-1))
        x = gcn(torch.stack(pooled, dim=1), adj)                    # (n*s, parts, C)
        x = x.reshape(n, -1, *x.shape[1:])                          # (n, s, parts, C)
        return set_max_pool(x.unsqueeze(-1), lengths)[..., 0].transpose(1, 2)

    def forward(self, pars: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        x = frames_5d(pars, self.in_channels)
        n, t = x.shape[:2]
        if check_lengths(lengths, n, t) is None:
            lengths = None
        z = self.backbone(x.reshape(n * t, *x.shape[2:]))          # (n*t, C, h, w)
        labels = F.interpolate(x[:, :, 0], size=z.shape[-2:], mode="nearest").reshape(n * t, *z.shape[-2:]).long()
        feats = [horizontal_pyramid_pool(set_max_pool(z.reshape(n, t, *z.shape[1:]), lengths), self.parts)]
        if self.graph in ("fine", "both"):
            feats.append(self._parts(z, labels, [(k,) for k in range(1, 12)], self.gammas_fine, self.gcn_fine,
                                     self.fine_adj, n, lengths))
        if self.graph in ("coarse", "both"):
            feats.append(self._parts(z, labels, _COARSE, self.gammas_coarse, self.gcn_coarse, self.coarse_adj, n,
                                     lengths))
        embed = self.fcs(torch.cat(feats, dim=-1))
        bn_embed, logits = self.neck(embed)
        return {"embeddings": embed, "bn_embeddings": bn_embed, "logits": logits}
