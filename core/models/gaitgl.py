"""GaitGL (OpenGait): 3-D convolutions with global + local (horizontal strip) branches, local
temporal aggregation, generalised-mean horizontal pooling into 64 parts.

Two layouts, chosen by the number of ``channels`` as in OpenGait:
- 3 channels (CASIA-B, ``configs/gaitgl/gaitgl.yaml``: 32/64/128): one 3-D conv, GLConv blocks
  with the local branch on 8 strips (``halving`` 3);
- 4 channels (GREW / OU-MVLP: 32/64/128/256): two 3-D convs, pairs of GLConv blocks, 2 strips.

Heads: ``head='gaitgl'`` is the original one — BatchNorm1d, then a plain per-part linear
classifier; retrieval ``embeddings`` are the BN features and ``logits`` are *not* cosines, so
train with ``ce_scale=1`` and ``label_smoothing=0`` like OpenGait (which also uses Adam, lr 1e-4).
``head='bnneck'`` is OpenGait's GaitGL-BNNeck variant: pre-BN embeddings, cosine logits.

Parameter counts equal OpenGait's: CASIA-B reference (32/64/128, 74 classes, 64 parts)
3,096,673; GREW with BNNeck (32/64/128/256, 20,000 classes) 338,905,953.
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.temporal import frames_5d, opengait_init, pool_by_length, temporal_max
from core.models.heads import BNNeck, SeparateFCs
from core.models.opengait_cfg import Keys, Translated, bnneck
from core.models.registry import register_model

HEADS = ("gaitgl", "bnneck")


def _conv3d(cin: int, cout: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, 3, padding=1, bias=False)


class GLConv(nn.Module):
    """Global 3-D conv on the whole map plus a local one applied to each of 2**halving horizontal
    strips separately (shared weights), so local features cannot borrow context across strips.
    ``concat`` stacks the two outputs along height instead of adding them."""

    def __init__(self, cin: int, cout: int, halving: int, concat: bool = False):
        super().__init__()
        self.halving, self.concat = int(halving), bool(concat)
        self.global_conv = _conv3d(cin, cout)
        self.local_conv = _conv3d(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        g = self.global_conv(x)
        if self.halving == 0:
            loc = self.local_conv(x)
        else:
            strip = max(1, x.shape[3] // 2 ** self.halving)
            loc = torch.cat([self.local_conv(s) for s in x.split(strip, dim=3)], dim=3)
        if self.concat:
            return F.leaky_relu(torch.cat([g, loc], dim=3))
        return F.leaky_relu(g) + F.leaky_relu(loc)


class GeMHPP(nn.Module):
    """Generalised-mean pooling over each horizontal strip with a learnt exponent p (init 6.5)."""

    def __init__(self, parts: int = 64, p: float = 6.5, eps: float = 1e-6):
        super().__init__()
        self.parts, self.eps = int(parts), eps
        self.p = nn.Parameter(torch.full((1,), float(p)))

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, parts); exact strips when H is a multiple of parts."""
        # Outside autocast: x ** 6.5 overflows half precision for activations above ~5.
        with torch.autocast(device_type=x.device.type, enabled=False):
            z = x.float().clamp(min=self.eps).pow(self.p.float())
            z = F.adaptive_avg_pool2d(z, (self.parts, 1)).pow(1.0 / self.p.float())
        return z.squeeze(-1).to(x.dtype)


@register_model("gaitgl")
class GaitGL(nn.Module):
    """``forward((N, T, H, W) in [0, 1], lengths=None)`` -> dict(embeddings (N, C, parts),
    bn_embeddings, logits (N, num_classes, parts)), C = channels[-1]."""

    OPENGAIT_CLASSES = ("GaitGL",)
    # OpenGait picks the large layout by the dataset's name, not by the channel list.
    LARGE_DATASETS = ("OUMVLP", "GREW")

    @classmethod
    def from_opengait(cls, m: Keys, data: Keys) -> Translated:
        name = data.str("dataset_name")
        large = name in cls.LARGE_DATASETS
        channels = m.ints("channels")
        want = 4 if large else 3
        if len(channels) != want:
            layout = "OUMVLP/GREW" if large else "CASIA-B (any dataset but OUMVLP and GREW)"
            raise m.refuse("channels", f"{channels}: OpenGait's {layout} layout of GaitGL (data_cfg.dataset_name "
                                       f"{name!r}) needs {want} entries (it would fail otherwise)")
        if m.has("SeparateBNNecks"):
            classes = bnneck(m, 64, channels[-1])
            m.drop("class_num", "OpenGait's GaitGL reads SeparateBNNecks.class_num when a BNNeck is given")
            head = "bnneck"
        else:
            classes, head = m.int("class_num", lo=1), "gaitgl"
        return Translated({"channels": channels, "parts": 64, "head": head}, classes)

    def __init__(self, num_classes: int, channels: Seq[int] = (32, 64, 128), parts: int = 64,
                 head: str = "gaitgl", halving: int | None = None, in_channels: int = 1):
        super().__init__()
        if len(channels) not in (3, 4):
            raise ValueError(f"channels needs 3 (CASIA-B layout) or 4 (GREW/OU-MVLP layout) entries, got {channels}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if num_classes < 1 or parts < 1:
            raise ValueError("num_classes and parts must be positive")
        c = [int(v) for v in channels]
        self.in_channels, self.head_kind = int(in_channels), head
        large = len(c) == 4
        h = (1 if large else 3) if halving is None else int(halving)
        act = lambda: nn.LeakyReLU(inplace=True)  # noqa: E731
        if large:
            self.conv3d = nn.Sequential(_conv3d(in_channels, c[0]), act(), _conv3d(c[0], c[0]), act())
        else:
            self.conv3d = nn.Sequential(_conv3d(in_channels, c[0]), act())
        # Local temporal aggregation: every 3 frames become one (stride 3, no padding).
        self.lta = nn.Sequential(nn.Conv3d(c[0], c[0], (3, 1, 1), stride=(3, 1, 1), bias=False), act())
        if large:
            self.gl_a0 = nn.Sequential(GLConv(c[0], c[1], h), GLConv(c[1], c[1], h))
            self.gl_a1 = nn.Sequential(GLConv(c[1], c[2], h), GLConv(c[2], c[2], h))
            self.gl_b2 = nn.Sequential(GLConv(c[2], c[3], h), GLConv(c[3], c[3], h, concat=True))
        else:
            self.gl_a0 = GLConv(c[0], c[1], h)
            self.gl_a1 = GLConv(c[1], c[2], h)
            self.gl_b2 = GLConv(c[2], c[2], h, concat=True)
        self.pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.hpp = GeMHPP(parts)
        self.head0 = SeparateFCs(parts, c[-1], c[-1])
        if head == "gaitgl":
            self.bn = nn.BatchNorm1d(c[-1])
            self.head1 = SeparateFCs(parts, c[-1], num_classes)
        else:
            self.neck = BNNeck(parts, c[-1], num_classes)
        opengait_init(self)

    def _pooled(self, x: Tensor) -> Tensor:
        """(n, T, C, H, W) -> temporally max-pooled (n, C', H', W')."""
        x = x.transpose(1, 2)  # (n, C, T, H, W)
        t = x.shape[2]
        if t < 3:
            # The stride-3 temporal aggregation needs 3 frames: repeat short clips as OpenGait does.
            x = x.repeat(1, 1, 3 if t == 1 else 2, 1, 1)
        x = self.lta(self.conv3d(x))
        x = self.gl_b2(self.gl_a1(self.pool(self.gl_a0(x))))
        return temporal_max(x)

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        x = frames_5d(sils, self.in_channels)
        gait = self.head0(self.hpp(pool_by_length(self._pooled, x, lengths)))
        if self.head_kind == "gaitgl":
            bn = self.bn(gait)
            return {"embeddings": bn, "bn_embeddings": bn, "logits": self.head1(bn)}
        bn, logits = self.neck(gait)
        return {"embeddings": gait, "bn_embeddings": bn, "logits": logits}
