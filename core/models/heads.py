"""Part-wise heads: separate FC per part, and the BNNeck with a cosine classifier per part."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SeparateFCs(nn.Module):
    """An independent bias-free linear map per part: (N, Cin, P) -> (N, Cout, P)."""

    def __init__(self, parts: int, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(parts, cin, cout))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        # einsum keeps parts as a batch dimension, one matmul for all parts.
        return torch.einsum("ncp,pco->nop", x, self.weight.to(x.dtype))


class BNNeck(nn.Module):
    """BatchNorm over all part features jointly, then a per-part cosine classifier.

    Returns (bn_features (N, C, P), logits (N, classes, P)); logits are cosine similarities in
    [-1, 1], the loss multiplies them by its scale.
    """

    def __init__(self, parts: int, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(channels * parts)
        self.weight = nn.Parameter(torch.empty(parts, channels, num_classes))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n, c, p = x.shape
        feat = self.bn(x.reshape(n, c * p)).reshape(n, c, p)
        # Normalised features and weights: the classifier compares directions, which matches the
        # metric used at test time and keeps the CE from fighting the triplet loss over magnitudes.
        # Outside autocast: cosines in half precision would lose ~3 digits before being scaled up.
        with torch.autocast(device_type=x.device.type, enabled=False):
            f = F.normalize(feat.float(), dim=1)
            w = F.normalize(self.weight.float(), dim=1)
            logits = torch.einsum("ncp,pck->nkp", f, w)
        return feat, logits


def retrieval_features(embed: Tensor, bn_embed: Tensor, use_bn: bool, training: bool) -> Tensor:
    """What a model returns as ``embeddings``: the FC's output, or in eval mode with ``use_bn``
    OpenGait's ``use_emb2`` features, the BNNeck's output normalised per part (as its
    SeparateBNNecks returns them)."""
    return F.normalize(bn_embed, dim=1) if use_bn and not training else embed
