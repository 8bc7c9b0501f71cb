"""DeepGaitV2 (OpenGait): a deeper ResNet-style backbone in 2-D, pseudo-3-D or 3-D form.

``mode`` picks the block of stages 2-4: ``'2d'`` per-frame residual blocks, ``'p3d'`` per-frame
convolutions plus a (3,1,1) temporal convolution per block, ``'3d'`` full 3x3x3 convolutions.
Stem and stage 1 are always per-frame. Heads: 16 horizontal parts, separate FC from channels[3]
to channels[2], BNNeck classifier — as in OpenGait.

Parameter counts equal OpenGait's DeepGaitV2 (counted from their layer definitions), for
in_channels 1 and channels 64/128/256/512 — total / without the BNNeck classifier weight:
- CASIA-B ``DeepGaitV2_casiab.yaml`` (layers 1/1/1/1, 74 classes), p3d: 8,339,392 / 8,036,288
- same with ``mode='2d'``: 7,305,408 / 7,002,304 (exactly GaitBase's size)
- same with ``mode='3d'``: 16,595,136 / 16,292,032
- GREW / Gait3D layers 1/4/4/1, p3d, 20,000 classes: 95,124,160 / 13,204,160

The P3D and 3-D blocks and ``make_stage`` are shared with SkeletonGait++, which is built on
this backbone.
"""

from __future__ import annotations

from typing import Sequence as Seq

from torch import Tensor, nn

from core.models.blocks import BasicBlock, conv3x3
from core.models.heads import BNNeck, SeparateFCs, retrieval_features
from core.models.opengait_cfg import Keys, Translated, bnneck, use_emb2
from core.models.pooling import horizontal_pyramid_pool, set_max_pool
from core.models.registry import register_model
from core.models.temporal import (check_lengths, frames_5d, opengait_init, per_frame, pool_by_length,
                                   sil_and_heatmaps, temporal_max)

MODES = ("2d", "p3d", "3d")


class P3DBlock(nn.Module):
    """Pseudo-3-D residual block: per-frame conv-BN-ReLU, plus a residual (3,1,1) temporal conv,
    then per-frame conv-BN, shortcut, ReLU. Works on (N, C, T, H, W)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv3x3(cout, cout), nn.BatchNorm2d(cout))
        self.temporal = nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.temporal_bn = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            # A 1x1x1 Conv3d (not a per-frame Conv2d) so weights load from OpenGait unchanged.
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=(1, stride, stride), bias=False),
                                          nn.BatchNorm3d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = per_frame(self.conv1, x)
        out = self.relu(out + self.temporal_bn(self.temporal(out)))
        out = per_frame(self.conv2, out)
        return self.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class Block3D(nn.Module):
    """3x3x3 residual block on (N, C, T, H, W); strides are spatial only."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        s = (1, stride, stride)
        self.conv1, self.bn1 = nn.Conv3d(cin, cout, 3, stride=s, padding=1, bias=False), nn.BatchNorm3d(cout)
        self.conv2, self.bn2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=s, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.shortcut is None else self.shortcut(x)))


_BLOCKS: dict[str, type[nn.Module]] = {"2d": BasicBlock, "p3d": P3DBlock, "3d": Block3D}


def make_stage(mode: str, cin: int, cout: int, stride: int, blocks: int) -> nn.Sequential:
    block = _BLOCKS[mode]
    return nn.Sequential(block(cin, cout, stride), *[block(cout, cout) for _ in range(blocks - 1)])


# -- the model -----------------------------------------------------------------------------------
@register_model("deepgaitv2")
class DeepGaitV2(nn.Module):
    """``forward((N, T, H, W) in [0, 1], lengths=None)`` -> dict(embeddings (N, C, P),
    bn_embeddings, logits (N, num_classes, P)); C = embed_dim (default channels[2])."""

    OPENGAIT_CLASSES = ("DeepGaitV2",)

    @classmethod
    def from_opengait(cls, m: Keys, data: Keys) -> Translated:
        """OpenGait's DeepGaitV2 (16 parts, FC to channels[2]); with ``in_channels: 2`` it is
        SkeletonGait, which reads only the two pose heatmaps (``data_in_use: [True, False]``)."""
        b = m.sub("Backbone")
        mode = b.str("mode")
        if mode not in MODES:
            raise b.refuse("mode", f"{mode!r}: OpenGait's DeepGaitV2 has modes {', '.join(MODES)}")
        cin = b.int("in_channels")
        if cin not in (1, 2):
            raise b.refuse("in_channels", f"{cin}: only silhouettes (1) or SkeletonGait's two heatmaps (2) have a "
                                          "data path here")
        args: dict = {"mode": mode, "layers": b.ints("layers", 4), "channels": b.ints("channels", 4), "parts": 16}
        b.rest("not read by OpenGait's DeepGaitV2")
        classes = bnneck(m, 16, args["channels"][2], all_read=False)
        if cin == 2:
            args.update(in_channels=2, heatmap_channels=2)
            m.report.notes.append("Backbone.in_channels 2: SkeletonGait, fed the dataset's two pose heatmaps "
                                  "(the silhouette is not read)")
        if use_emb2(m):
            args["eval_bn_embeddings"] = True
        return Translated(args, classes)

    def __init__(self, num_classes: int, mode: str = "p3d", channels: Seq[int] = (64, 128, 256, 512),
                 layers: Seq[int] = (1, 1, 1, 1), parts: int = 16, embed_dim: int | None = None,
                 in_channels: int = 1, heatmap_channels: int = 0, eval_bn_embeddings: bool = False):
        """``heatmap_channels`` > 0: the model is fed silhouette + heatmaps (N, T, 1 + C, H, W) like
        SkeletonGait++ and reads only the heatmaps (``in_channels`` must then equal C): OpenGait's
        SkeletonGait. ``eval_bn_embeddings``: in eval mode the embeddings are the BNNeck's output
        (OpenGait's ``use_emb2``: normalised per part); training always uses the FC's."""
        super().__init__()
        if heatmap_channels and heatmap_channels != in_channels:
            raise ValueError(f"heatmap_channels {heatmap_channels} must equal in_channels {in_channels} "
                             "(the model reads only the heatmaps)")
        self.heatmap_channels, self.eval_bn_embeddings = int(heatmap_channels), bool(eval_bn_embeddings)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if len(channels) != 4 or len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"channels and layers need 4 entries each (layers >= 1), got {channels}, {layers}")
        if num_classes < 1 or parts < 1:
            raise ValueError("num_classes and parts must be positive")
        c0, c1, c2, c3 = (int(c) for c in channels)
        self.mode, self.parts, self.in_channels = mode, int(parts), int(in_channels)
        self.layer0 = nn.Sequential(conv3x3(in_channels, c0), nn.BatchNorm2d(c0), nn.ReLU(inplace=True))
        self.layer1 = make_stage("2d", c0, c0, 1, layers[0])
        self.layer2 = make_stage(mode, c0, c1, 2, layers[1])
        self.layer3 = make_stage(mode, c1, c2, 2, layers[2])
        self.layer4 = make_stage(mode, c2, c3, 1, layers[3])
        embed = int(embed_dim or c2)
        self.fcs = SeparateFCs(self.parts, c3, embed)
        self.neck = BNNeck(self.parts, embed, num_classes)
        opengait_init(self)

    def _pooled(self, x: Tensor) -> Tensor:
        """(n, T, C, H, W) -> temporally max-pooled (n, C', H', W') for 3-D modes."""
        n, t = x.shape[:2]
        f = self.layer1(self.layer0(x.reshape(n * t, *x.shape[2:])))
        f = f.reshape(n, t, *f.shape[1:]).transpose(1, 2)
        return temporal_max(self.layer4(self.layer3(self.layer2(f))))

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        if self.heatmap_channels:
            sils = sil_and_heatmaps(sils, self.heatmap_channels)[:, :, 1:]
        x = frames_5d(sils, self.in_channels)
        if self.mode == "2d":
            # Every op is per frame: one big 2-D batch, and a masked max handles padding exactly.
            n, t = x.shape[:2]
            if check_lengths(lengths, n, t) is None:
                lengths = None
            f = x.reshape(n * t, *x.shape[2:])
            f = self.layer4(self.layer3(self.layer2(self.layer1(self.layer0(f)))))
            fmap = set_max_pool(f.reshape(n, t, *f.shape[1:]), lengths)
        else:
            fmap = pool_by_length(self._pooled, x, lengths)
        embed = self.fcs(horizontal_pyramid_pool(fmap, self.parts))
        bn_embed, logits = self.neck(embed)
        test = retrieval_features(embed, bn_embed, self.eval_bn_embeddings, self.training)
        return {"embeddings": test, "bn_embeddings": bn_embed, "logits": logits}
