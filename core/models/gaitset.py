"""GaitSet (OpenGait): per-frame CNN, set pooling at three depths feeding a second "global"
branch, horizontal pyramid (bins 16/8/4/2/1) on both branches, separate FC per part.

OpenGait's GaitSet has no classifier and trains on the triplet loss alone, so by default
``logits`` and ``bn_embeddings`` are None; ``classifier=True`` adds a BNNeck (not in OpenGait)
for trainers that always apply cross-entropy.

With the CASIA-B reference arguments (channels 32/64/128, bins 16/8/4/2/1 -> 62 parts,
256-d parts, no classifier) the model has exactly 2,594,592 parameters, OpenGait's count
for its CASIA-B GaitSet configs (in_channels [1, 32, 64, 128], SeparateFCs 62 x 128 -> 256).
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
from torch import Tensor, nn

from core.models.temporal import check_lengths, frames_5d, opengait_init
from core.models.heads import BNNeck, SeparateFCs
from core.models.opengait_cfg import Keys, Translated, separate_fcs
from core.models.pooling import horizontal_pyramid_pool, set_max_pool
from core.models.registry import register_model


def _conv_block(cin: int, cout: int, pool: bool, first_kernel: int = 3) -> nn.Sequential:
    # Bias-free convs with LeakyReLU and no BatchNorm, as in GaitSet; indices 0 and 2 are the convs.
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, first_kernel, padding=first_kernel // 2, bias=False), nn.LeakyReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.LeakyReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def _frames(block: nn.Module, x: Tensor) -> Tensor:
    """Apply a 2-D block to every frame of (N, T, C, H, W)."""
    n, t = x.shape[:2]
    y = block(x.reshape(n * t, *x.shape[2:]))
    return y.reshape(n, t, *y.shape[1:])


@register_model("gaitset")
class GaitSet(nn.Module):
    """``forward((N, T, H, W) in [0, 1], lengths=None)`` -> dict(embeddings (N, embed_dim, 2*sum(bins)),
    bn_embeddings, logits); the last two are None unless ``classifier=True``."""

    OPENGAIT_CLASSES = ("GaitSet",)

    @classmethod
    def from_opengait(cls, m: Keys, data: Keys) -> Translated:
        """OpenGait's GaitSet: in_channels [input, set block 1-3 widths], bin_num, SeparateFCs."""
        in_c = m.ints("in_channels", 4)
        m.equal("in_channels", in_c[0], 1, "only 1-channel silhouettes have a data path here")
        bins = m.ints("bin_num")
        parts, cin, cout = separate_fcs(m)
        m.equal("SeparateFCs", (parts, cin), (2 * sum(bins), in_c[3]),
                f"SeparateFCs (parts_num, in_channels) must be ({2 * sum(bins)}, {in_c[3]}) for these bins and "
                "widths (OpenGait would fail on the mismatch)")
        return Translated({"channels": in_c[1:], "bins": bins, "embed_dim": cout}, None, losses=("triplet",))

    def __init__(self, num_classes: int = 0, channels: Seq[int] = (32, 64, 128), bins: Seq[int] = (16, 8, 4, 2, 1),
                 embed_dim: int = 256, in_channels: int = 1, classifier: bool = False):
        super().__init__()
        if len(channels) != 3:
            raise ValueError(f"channels needs 3 entries (set blocks 1-3), got {channels}")
        if not bins or min(bins) < 1 or embed_dim < 1:
            raise ValueError("bins must be positive integers and embed_dim positive")
        if classifier and num_classes < 1:
            raise ValueError("classifier=True needs num_classes >= 1")
        c1, c2, c3 = (int(c) for c in channels)
        self.in_channels, self.bins = int(in_channels), tuple(int(b) for b in bins)
        self.parts = 2 * sum(self.bins)
        self.set_block1 = _conv_block(in_channels, c1, pool=True, first_kernel=5)
        self.set_block2 = _conv_block(c1, c2, pool=True)
        self.set_block3 = _conv_block(c2, c3, pool=False)
        # The global branch works on set-pooled maps, so it sees the whole sequence at each depth.
        self.gl_block2 = _conv_block(c1, c2, pool=True)
        self.gl_block3 = _conv_block(c2, c3, pool=False)
        self.head = SeparateFCs(self.parts, c3, embed_dim)
        self.neck = BNNeck(self.parts, embed_dim, num_classes) if classifier else None
        opengait_init(self)

    def _pyramid(self, x: Tensor) -> Tensor:
        return torch.cat([horizontal_pyramid_pool(x, b) for b in self.bins], dim=-1)

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor | None]:
        x = frames_5d(sils, self.in_channels)
        if check_lengths(lengths, x.shape[0], x.shape[1]) is None:
            lengths = None   # no padding: skip the masking
        # Every conv is per frame and there is no BatchNorm, so masking padded frames in the
        # set max is exact for any padding.
        f1 = _frames(self.set_block1, x)
        gl = self.gl_block2(set_max_pool(f1, lengths))
        f2 = _frames(self.set_block2, f1)
        gl = self.gl_block3(gl + set_max_pool(f2, lengths))
        f3 = set_max_pool(_frames(self.set_block3, f2), lengths)
        gl = gl + f3
        embed = self.head(torch.cat([self._pyramid(f3), self._pyramid(gl)], dim=-1))
        if self.neck is None:
            return {"embeddings": embed, "bn_embeddings": None, "logits": None}
        bn_embed, logits = self.neck(embed)
        return {"embeddings": embed, "bn_embeddings": bn_embed, "logits": logits}
