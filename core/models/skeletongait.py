"""SkeletonGait++ (OpenGait): a silhouette branch and a pose-heatmap branch (2 channels), each a
per-frame stem + residual stage, merged by attention fusion, then DeepGaitV2's pseudo-3-D stages
and heads (16 parts, separate FC, BNNeck).

Input (choose either):
- a tensor (N, T, 3, H, W) in [0, 1]: channel 0 the silhouette, channels 1-2 the two heatmaps
  (note: OpenGait's own pickles stack heatmaps first and the silhouette last);
- a mapping ``{"sils": (N, T, H, W) or (N, T, 1, H, W), "heatmaps": (N, T, 2, H, W)}``.
Silhouette and heatmaps must share H and W (crop square heatmaps to the silhouette width first,
as OpenGait's input pretreatment does).

Parameter counts equal OpenGait's ``SkeletonGaitPP`` (C=2 -> channels 64/128/256/512):
GREW config (blocks 1/4/4/1, 20,000 classes) 95,200,608, of which 13,280,608 without the
classifier; CCPG config (blocks 1/1/1/1, 100 classes) 8,522,336 (8,112,736 without).
(The "about 14.1 M" quoted for SkeletonGait++ matches none of OpenGait's configs exactly; the
closest is the GREW model without its classifier, 13.28 M.)
"""

from __future__ import annotations

from typing import Mapping, Sequence as Seq

import torch
from torch import Tensor, nn

from core.models.blocks import conv3x3
from core.models.deepgaitv2 import make_stage
from core.models.temporal import opengait_init, pool_by_length, sil_and_heatmaps, temporal_max
from core.models.heads import BNNeck, SeparateFCs, retrieval_features
from core.models.opengait_cfg import Keys, Translated, bnneck, use_emb2
from core.models.pooling import horizontal_pyramid_pool
from core.models.registry import register_model


class AttentionFusion(nn.Module):
    """Per-pixel softmax weights over the two branches from a small bottleneck conv stack
    (squeeze ``ratio``); output = w_sil * sil + w_map * map. Works per frame on (M, C, H, W)."""

    def __init__(self, channels: int, ratio: int = 16):
        super().__init__()
        hidden = max(1, channels // ratio)  # OpenGait: int(channels / 16); floor of 1 for tiny demo widths
        self.conv = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            conv3x3(hidden, hidden), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 2 * channels, 1, bias=False))

    def forward(self, sil: Tensor, pose: Tensor) -> Tensor:
        m, c = sil.shape[:2]
        score = self.conv(torch.cat([sil, pose], dim=1))
        w = score.reshape(m, 2, c, *score.shape[2:]).softmax(dim=1)
        return sil * w[:, 0] + pose * w[:, 1]


@register_model("skeletongait++")
class SkeletonGaitPP(nn.Module):
    """``forward(x, lengths=None)`` -> dict(embeddings (N, channels[2], parts), bn_embeddings,
    logits (N, num_classes, parts)); see the module docstring for ``x``."""

    OPENGAIT_CLASSES = ("SkeletonGaitPP",)

    @classmethod
    def from_opengait(cls, m: Keys, data: Keys) -> Translated:
        """OpenGait's SkeletonGaitPP: Backbone.blocks per stage, widths 32/64/128/256 x Backbone.C."""
        b = m.sub("Backbone")
        blocks, c = b.ints("blocks", 4), b.int("C", lo=1)
        b.drop("in_channels", "OpenGait's SkeletonGaitPP reads it but builds 1 + 2 input channels regardless")
        b.rest("not read by OpenGait's SkeletonGaitPP")
        channels = [32 * c, 64 * c, 128 * c, 256 * c]
        classes = bnneck(m, 16, channels[2], all_read=False)
        args = {"channels": channels, "layers": blocks, "parts": 16}
        if use_emb2(m):
            args["eval_bn_embeddings"] = True
        return Translated(args, classes, inputs=2)

    def __init__(self, num_classes: int, channels: Seq[int] = (64, 128, 256, 512), layers: Seq[int] = (1, 4, 4, 1),
                 parts: int = 16, heatmap_channels: int = 2, fusion_ratio: int = 16, eval_bn_embeddings: bool = False):
        """``eval_bn_embeddings``: in eval mode the embeddings are the BNNeck's output (OpenGait's use_emb2)."""
        super().__init__()
        self.eval_bn_embeddings = bool(eval_bn_embeddings)
        if len(channels) != 4 or len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"channels and layers need 4 entries each (layers >= 1), got {channels}, {layers}")
        if num_classes < 1 or parts < 1 or heatmap_channels < 1:
            raise ValueError("num_classes, parts and heatmap_channels must be positive")
        c0, c1, c2, c3 = (int(c) for c in channels)
        self.parts, self.heatmap_channels = int(parts), int(heatmap_channels)
        stem = lambda cin: nn.Sequential(conv3x3(cin, c0), nn.BatchNorm2d(c0), nn.ReLU(inplace=True))  # noqa: E731
        self.sil_layer0, self.map_layer0 = stem(1), stem(heatmap_channels)
        self.sil_layer1 = make_stage("2d", c0, c0, 1, layers[0])
        self.map_layer1 = make_stage("2d", c0, c0, 1, layers[0])
        self.fusion = AttentionFusion(c0, fusion_ratio)
        self.layer2 = make_stage("p3d", c0, c1, 2, layers[1])
        self.layer3 = make_stage("p3d", c1, c2, 2, layers[2])
        self.layer4 = make_stage("p3d", c2, c3, 1, layers[3])
        self.fcs = SeparateFCs(self.parts, c3, c2)
        self.neck = BNNeck(self.parts, c2, num_classes)
        opengait_init(self)

    def _pooled(self, x: Tensor) -> Tensor:
        """(n, T, 3, H, W) -> temporally max-pooled (n, C, H', W')."""
        n, t = x.shape[:2]
        flat = x.reshape(n * t, *x.shape[2:])
        sil = self.sil_layer1(self.sil_layer0(flat[:, :1]))
        pose = self.map_layer1(self.map_layer0(flat[:, 1:]))
        f = self.fusion(sil, pose)
        f = f.reshape(n, t, *f.shape[1:]).transpose(1, 2)
        return temporal_max(self.layer4(self.layer3(self.layer2(f))))

    def forward(self, x: Tensor | Mapping[str, Tensor], lengths: Tensor | None = None) -> dict[str, Tensor]:
        x = sil_and_heatmaps(x, self.heatmap_channels)
        fmap = pool_by_length(self._pooled, x, lengths)
        embed = self.fcs(horizontal_pyramid_pool(fmap, self.parts))
        bn_embed, logits = self.neck(embed)
        test = retrieval_features(embed, bn_embed, self.eval_bn_embeddings, self.training)
        return {"embeddings": test, "bn_embeddings": bn_embed, "logits": logits}
