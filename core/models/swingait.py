"""SwinGait (OpenGait's SwinGait, the 3-D variant of its configs): DeepGaitV2's per-frame stem and
first stage, one pseudo-3-D stage, the feature maps resized to a fixed grid (bilinear, corners
aligned), then a two-stage video Swin transformer (core.models.swin3d) over frames x rows x
columns, temporal max, horizontal strips, separate FCs and a BNNeck.

As in OpenGait, the last strip is fed twice to the separate FCs (once cut from the gradient) and
the extra part dropped again after the BNNeck: the head then has ``strips + 1`` parts, which is
what its checkpoints hold.
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.blocks import conv3x3
from core.models.deepgaitv2 import make_stage
from core.models.heads import BNNeck, SeparateFCs
from core.models.pooling import horizontal_pyramid_pool
from core.models import opengait_families
from core.models.opengait_cfg import stands_for
from core.models.registry import register_model
from core.models.swin3d import Swin3D
from core.models.temporal import frames_5d, per_frame, pool_by_length, temporal_max


@register_model("swingait")
@stands_for("SwinGait", opengait_families.swingait)
class SwinGait(nn.Module):
    def __init__(self, num_classes: int, channels: Seq[int] = (64, 128), layers: Seq[int] = (1, 1, 2, 2),
                 strips: int = 15, embed_dim: int = 256, swin_dim: int = 256, heads: Seq[int] = (16, 32),
                 window: Seq[int] = (3, 3, 5), grid: Seq[int] = (30, 20), drop_path: float = 0.1,
                 in_channels: int = 1):
        super().__init__()
        if len(channels) != 2 or len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"channels needs 2 entries and layers 4 (>= 1), got {channels}, {layers}")
        c0, c1 = (int(c) for c in channels)
        self.in_channels, self.strips, self.grid = int(in_channels), int(strips), tuple(int(g) for g in grid)
        self.layer0 = nn.Sequential(conv3x3(in_channels, c0), nn.BatchNorm2d(c0), nn.ReLU(inplace=True))
        self.layer1 = make_stage("2d", c0, c0, 1, layers[0])
        self.layer2 = make_stage("p3d", c0, c1, 2, layers[1])
        self.transformer = Swin3D(c1, swin_dim, layers[2:], heads, window, ("expand", "none"),
                                  drop_path=drop_path, out_dim=2 * swin_dim)
        self.fcs = SeparateFCs(self.strips + 1, 2 * swin_dim, embed_dim)
        self.neck = BNNeck(self.strips + 1, embed_dim, num_classes)
        self._init()

    def _init(self) -> None:
        # OpenGait's SwinGait.init_parameters: truncated-normal linears, unit LayerNorms, Xavier convs.
        for m in self.modules():
            if getattr(getattr(m, "weight", None), "is_meta", False):
                continue
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine:
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def _pooled(self, x: Tensor) -> Tensor:
        """(n, T, C, H, W) -> (n, C', rows, cols), max over frames."""
        f = per_frame(nn.Sequential(self.layer0, self.layer1), x.transpose(1, 2))
        f = self.layer2(f)
        f = per_frame(lambda m: F.interpolate(m, size=self.grid, mode="bilinear", align_corners=True), f)
        return temporal_max(self.transformer(f))

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        x = frames_5d(sils, self.in_channels)
        # Windows span frames: each length runs unpadded.
        feat = horizontal_pyramid_pool(pool_by_length(self._pooled, x, lengths), self.strips)
        feat = torch.cat([feat, feat[:, :, -1:].detach()], dim=-1)
        embed = self.fcs(feat)
        bn_embed, logits = self.neck(embed)
        return {"embeddings": embed[..., :-1], "bn_embeddings": bn_embed[..., :-1], "logits": logits[..., :-1]}
