"""OpenGait's ``Plain`` backbone (a VGG-like stack described by strings) and GaitBase on it.

A layer spec is ``BC-<c>`` (bias-free conv), ``FC-<c>-<k>`` (a focal conv: the same conv run
separately on 2**k horizontal strips, as GaitPart does) or ``M`` (2x2 max-pool). The first conv
is 5x5, the others 3x3; every conv is followed by a LeakyReLU. Module indices follow the spec
one-to-one (a conv and its activation take two), which is what lets OpenGait's keys map by name.

``gaitbase-plain`` is OpenGait's Baseline with ``backbone_cfg.type: Plain`` (gaitbase_hid.yaml):
per-frame Plain CNN, set max over frames, horizontal pyramid, separate FCs and a BNNeck.
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.heads import BNNeck, SeparateFCs
from core.models.plain_layers import parse_layers
from core.models.pooling import horizontal_pyramid_pool, set_max_pool
from core.models import opengait_families
from core.models.opengait_cfg import stands_for
from core.models.registry import register_model
from core.models.temporal import check_lengths, frames_5d, opengait_init, per_frame


class FocalConv(nn.Module):
    """One conv applied to each of 2**halving horizontal strips on its own (no mixing across strips)."""

    def __init__(self, cin: int, cout: int, kernel: int, padding: int, halving: int):
        super().__init__()
        self.halving, self.padding = int(halving), int(padding)
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        if not self.weight.is_meta:
            nn.init.xavier_uniform_(self.weight)   # as OpenGait initialises every conv

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.to(x.dtype)
        if self.halving == 0:
            return F.conv2d(x, w, padding=self.padding)
        strip = x.shape[2] // 2 ** self.halving
        if strip < 1:
            raise ValueError(f"focal conv with halving {self.halving} needs at least {2 ** self.halving} rows, "
                             f"got {x.shape[2]}")
        return torch.cat([F.conv2d(z, w, padding=self.padding) for z in x.split(strip, dim=2)], dim=2)


class Plain(nn.Sequential):
    def __init__(self, layers: Seq[str], in_channels: int = 1):
        mods: list[nn.Module] = []
        cin = int(in_channels)
        for i, (kind, cout, halving) in enumerate(parse_layers(layers)):
            if kind == "M":
                mods.append(nn.MaxPool2d(2, 2))
                continue
            k, pad = (5, 2) if i == 0 else (3, 1)
            mods.append(nn.Conv2d(cin, cout, k, padding=pad, bias=False) if kind == "BC"
                        else FocalConv(cin, cout, k, pad, halving))
            mods.append(nn.LeakyReLU(inplace=True))
            cin = cout
        super().__init__(*mods)
        self.out_channels = cin


PLAIN_HID = ("BC-64", "BC-64", "M", "BC-128", "BC-128", "M", "BC-256", "BC-256", "M", "BC-512", "BC-512")


@register_model("gaitbase-plain")
@stands_for("Baseline", opengait_families.plain_baseline)
class GaitBasePlain(nn.Module):
    """``forward((N, T, H, W) in [0, 1], lengths=None)`` -> dict(embeddings (N, embed_dim, sum(bins)),
    bn_embeddings, logits (N, classes, sum(bins)))."""

    def __init__(self, num_classes: int, layers: Seq[str] = PLAIN_HID, bins: Seq[int] = (16, 8, 4, 2, 1),
                 embed_dim: int = 256, in_channels: int = 1):
        super().__init__()
        if num_classes < 1 or embed_dim < 1 or not bins or min(bins) < 1:
            raise ValueError("num_classes, embed_dim and bins must be positive")
        self.in_channels, self.bins = int(in_channels), tuple(int(b) for b in bins)
        self.backbone = Plain(layers, in_channels)
        parts = sum(self.bins)
        self.fcs = SeparateFCs(parts, self.backbone.out_channels, embed_dim)
        self.neck = BNNeck(parts, embed_dim, num_classes)
        opengait_init(self)

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        x = frames_5d(sils, self.in_channels)
        if check_lengths(lengths, x.shape[0], x.shape[1]) is None:
            lengths = None
        # No BatchNorm and per-frame convs: masking padded frames in the set max is exact.
        fmap = per_frame(self.backbone, x.transpose(1, 2))          # (N, C, T, H, W)
        fmap = set_max_pool(fmap.transpose(1, 2), lengths)          # (N, C, H, W)
        feats = torch.cat([horizontal_pyramid_pool(fmap, b) for b in self.bins], dim=-1)
        embed = self.fcs(feats)
        bn_embed, logits = self.neck(embed)
        return {"embeddings": embed, "bn_embeddings": bn_embed, "logits": logits}
