"""GaitPart (OpenGait): a Plain CNN with focal convs per frame, horizontal strips per frame, then
a micro-motion template per strip (two temporal conv attentions over neighbouring frames) and
temporal max, and a separate FC per strip.

OpenGait's GaitPart has no classifier (triplet loss only): ``logits`` and ``bn_embeddings`` are None.
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.heads import SeparateFCs
from core.models.plain import Plain
from core.models.pooling import horizontal_pyramid_pool
from core.models import opengait_families
from core.models.opengait_cfg import stands_for
from core.models.registry import register_model
from core.models.temporal import frames_5d, opengait_init, per_frame, pool_by_length

GAITPART_CASIA_B = ("BC-32", "BC-32", "M", "FC-64-2", "FC-64-2", "M", "FC-128-3", "FC-128-3")


def _part_convs(parts: int, channels: int, hidden: int, second_kernel: int) -> nn.ModuleList:
    # One small conv net per strip (OpenGait clones one per part); the forward runs them all
    # as one grouped convolution.
    return nn.ModuleList(nn.Sequential(nn.Conv1d(channels, hidden, 3, padding=1, bias=False), nn.LeakyReLU(),
                                       nn.Conv1d(hidden, channels, second_kernel, padding=second_kernel // 2,
                                                 bias=False))
                         for _ in range(parts))


def _grouped(convs: nn.ModuleList, x: Tensor) -> Tensor:
    """(N, P*C, S) through every part's conv net at once -> (N, P*C, S)."""
    p = len(convs)
    first = convs[0]
    w1 = torch.cat([m[0].weight for m in convs]).to(x.dtype)
    w2 = torch.cat([m[2].weight for m in convs]).to(x.dtype)
    h = F.leaky_relu(F.conv1d(x, w1, padding=first[0].padding[0], groups=p), first[1].negative_slope)
    return F.conv1d(h, w2, padding=first[2].padding[0], groups=p)


class TemporalAggregator(nn.Module):
    """(N, S, C, P) frame features -> (N, C, P): two attention-weighted templates (3- and 5-frame
    windows), summed, then max over frames."""

    def __init__(self, channels: int, parts: int, squeeze: int = 4):
        super().__init__()
        hidden = channels // squeeze
        self.short = _part_convs(parts, channels, hidden, 1)
        self.long = _part_convs(parts, channels, hidden, 3)

    def forward(self, x: Tensor) -> Tensor:
        n, s, c, p = x.shape
        seq = x.permute(0, 3, 2, 1).reshape(n, p * c, s)         # parts as channel groups
        out = 0
        for convs, k in ((self.short, 3), (self.long, 5)):
            template = F.avg_pool1d(seq, k, 1, k // 2) + F.max_pool1d(seq, k, 1, k // 2)
            out = out + template * torch.sigmoid(_grouped(convs, seq))
        return out.amax(dim=-1).reshape(n, p, c).transpose(1, 2)


@register_model("gaitpart")
@stands_for("GaitPart", opengait_families.gaitpart)
class GaitPart(nn.Module):
    """``forward((N, T, H, W) in [0, 1], lengths=None)`` -> dict(embeddings (N, embed_dim, parts), None, None)."""

    def __init__(self, num_classes: int = 0, layers: Seq[str] = GAITPART_CASIA_B, parts: int = 16,
                 embed_dim: int = 128, in_channels: int = 1):
        super().__init__()
        if parts < 1 or embed_dim < 1:
            raise ValueError("parts and embed_dim must be positive")
        self.in_channels, self.parts = int(in_channels), int(parts)
        self.backbone = Plain(layers, in_channels)
        c = self.backbone.out_channels
        self.tfa = TemporalAggregator(c, self.parts)
        self.head = SeparateFCs(self.parts, c, embed_dim)
        opengait_init(self)

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor | None]:
        x = frames_5d(sils, self.in_channels)
        n, t = x.shape[:2]
        fmap = per_frame(self.backbone, x.transpose(1, 2)).transpose(1, 2)     # (N, T, C, H, W)
        strips = horizontal_pyramid_pool(fmap.reshape(n * t, *fmap.shape[2:]), self.parts)
        strips = strips.reshape(n, t, *strips.shape[1:])                        # (N, T, C, P)
        # The templates look at neighbouring frames: each length runs unpadded.
        embed = self.head(pool_by_length(self.tfa, strips, lengths))
        return {"embeddings": embed, "bn_embeddings": None, "logits": None}
