"""GLN, the Gait Lateral Network (OpenGait): GaitSet-like silhouette and set branches at three
depths, lateral 1x1 connections merged top-down (upsample + add) as in a feature pyramid, 3x3
smoothing, a horizontal pyramid on each level and a separate FC per part.

``lateral_pretraining=True`` is GLN's first phase (triplet loss on these features, no classifier).
``False`` is its second phase: the compact block (BatchNorm, dropout, ReLU, a linear reduction to
``hidden_dim``, BatchNorm, linear classifier) is added and gives ``logits`` (N, classes, 1);
the embedding used for retrieval stays the part features in both phases, as in OpenGait.
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.heads import SeparateFCs
from core.models.pooling import horizontal_pyramid_pool, set_max_pool
from core.models import opengait_families
from core.models.opengait_cfg import stands_for
from core.models.registry import register_model
from core.models.temporal import check_lengths, frames_5d, opengait_init, per_frame


def _stage(cin: int, cout: int, first_kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, first_kernel, padding=first_kernel // 2, bias=False),
                         nn.LeakyReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                         nn.LeakyReLU(inplace=True))


@register_model("gln")
@stands_for("GLN", opengait_families.gln)
class GLN(nn.Module):
    def __init__(self, num_classes: int = 0, channels: Seq[int] = (32, 64, 128), lateral_dim: int = 256,
                 embed_dim: int = 256, hidden_dim: int = 256, bins: Seq[int] = (16, 8, 4, 2, 1),
                 dropout: float = 0.9, lateral_pretraining: bool = True, in_channels: int = 1):
        super().__init__()
        if len(channels) != 3:
            raise ValueError(f"channels needs 3 entries, got {channels}")
        if not lateral_pretraining and num_classes < 1:
            raise ValueError("the second phase (lateral_pretraining=False) needs num_classes >= 1")
        c1, c2, c3 = (int(c) for c in channels)
        self.in_channels, self.bins = int(in_channels), tuple(int(b) for b in bins)
        self.pretrain = bool(lateral_pretraining)
        self.sil_stage_0 = _stage(in_channels, c1, 5)
        self.sil_stage_1 = _stage(c1, c2)
        self.sil_stage_2 = _stage(c2, c3)
        self.set_stage_1 = _stage(c1, c2)
        self.set_stage_2 = _stage(c2, c3)
        for i, c in enumerate((c1, c2, c3), 1):
            setattr(self, f"lateral_layer{i}", nn.Conv2d(2 * c, lateral_dim, 1, bias=False))
            setattr(self, f"smooth_layer{i}", nn.Conv2d(lateral_dim, lateral_dim, 3, padding=1, bias=False))
        parts = 3 * sum(self.bins)
        self.head = SeparateFCs(parts, lateral_dim, embed_dim)
        if not self.pretrain:
            self.encoder_bn = nn.BatchNorm1d(parts * embed_dim)
            self.reduce_dp = nn.Dropout(dropout)
            self.reduce_fc = nn.Linear(parts * embed_dim, hidden_dim, bias=False)
            self.reduce_bn = nn.BatchNorm1d(hidden_dim)
            self.reduce_cls = nn.Linear(hidden_dim, num_classes, bias=False)
        opengait_init(self)
        if not self.pretrain:
            # OpenGait freezes these shifts (BNNeck practice); they stay at zero.
            self.encoder_bn.bias.requires_grad_(False)
            self.reduce_bn.bias.requires_grad_(False)

    def _pyramid(self, x: Tensor) -> Tensor:
        return torch.cat([horizontal_pyramid_pool(x, b) for b in self.bins], dim=-1)

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor | None]:
        x = frames_5d(sils, self.in_channels).transpose(1, 2)          # (N, C, T, H, W)
        if check_lengths(lengths, x.shape[0], x.shape[2]) is None:
            lengths = None

        def pool(f: Tensor) -> Tensor:   # set max over real frames (every op before it is per frame)
            return set_max_pool(f.transpose(1, 2), lengths)

        sil0 = per_frame(self.sil_stage_0, x)
        in1 = _halve(sil0)
        sil1 = per_frame(self.sil_stage_1, in1)
        sil2 = per_frame(self.sil_stage_2, _halve(sil1))
        set0, set1_sil, set2_sil = pool(sil0), pool(sil1), pool(sil2)
        set1 = self.set_stage_1(pool(in1)) + set1_sil
        set2 = self.set_stage_2(F.max_pool2d(set1, 2, 2)) + set2_sil
        top3 = self.lateral_layer3(torch.cat((set2_sil, set2), 1))
        top2 = _up_add(top3, self.lateral_layer2(torch.cat((set1_sil, set1), 1)))
        top1 = _up_add(top2, self.lateral_layer1(torch.cat((set0, set0), 1)))
        feature = torch.cat([self._pyramid(self.smooth_layer1(top1)), self._pyramid(self.smooth_layer2(top2)),
                             self._pyramid(self.smooth_layer3(top3))], dim=-1)
        embed = self.head(feature)
        if self.pretrain:
            return {"embeddings": embed, "bn_embeddings": None, "logits": None}
        n = embed.shape[0]
        bn = self.encoder_bn(embed.reshape(n, -1))
        reduced = self.reduce_fc(F.relu(self.reduce_dp(bn)))
        bn_reduced = self.reduce_bn(reduced)
        logits = self.reduce_cls(bn_reduced).unsqueeze(-1)
        return {"embeddings": embed, "bn_embeddings": bn_reduced.unsqueeze(-1), "logits": logits}


def _halve(x: Tensor) -> Tensor:
    """2x2 max-pool of every frame of (N, C, T, H, W)."""
    return per_frame(lambda f: F.max_pool2d(f, 2, 2), x)


def _up_add(top: Tensor, lateral: Tensor) -> Tensor:
    """Nearest upsampling to the lateral map's size, plus it. Where the size is twice the top's
    (every even input) this is OpenGait's scale-2 upsampling; an odd width (the CPU demo's 22
    columns) would not build there and is stretched to fit here."""
    return F.interpolate(top, size=lateral.shape[-2:], mode="nearest") + lateral
