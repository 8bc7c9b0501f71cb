"""GaitTR (OpenGait): a skeleton-only spatial-transformer network. Keypoints become ten channels
per joint (position, position relative to joint 0, two velocities, bone vector; OpenGait's
GaitTRMultiInput), normalised by one BatchNorm, then blocks of a temporal conv and a multi-head
self-attention across the joints of each frame, average pooling over joints and frames, and a
1x1 conv to the embedding. Trained on the triplet loss alone (no classifier: ``logits`` is None).

Input: (N, T, V, 3) keypoints as x, y, confidence (the confidence is not used); empty joints are
left as they are, as OpenGait feeds them. Module names follow OpenGait's, so checkpoints map
one-to-one.
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models import opengait_families
from core.models.opengait_cfg import stands_for
from core.models.registry import register_model
from core.models.resgcn import SKELETONS
from core.models.temporal import opengait_init, pool_by_length


def _mish(x: Tensor) -> Tensor:
    return x * torch.tanh(F.softplus(x))


def tr_input(kp: Tensor, parents: Seq[int]) -> Tensor:
    """(N, T, V, 3) -> (N, 10, T, V): joints, relative to joint 0, velocities to +1 and +2 frames
    (zero for the last two frames), bones; x and y interleaved per stream, as there."""
    xy = kp[..., :2]
    step1, step2 = torch.zeros_like(xy), torch.zeros_like(xy)
    t = kp.shape[1]
    if t > 2:
        step1[:, :t - 2] = xy[:, 1:t - 1] - xy[:, :t - 2]
        step2[:, :t - 2] = xy[:, 2:] - xy[:, :t - 2]
    streams = [xy, xy - xy[:, :, :1], step1, step2, xy - xy[:, :, list(parents)]]
    return torch.cat(streams, dim=-1).permute(0, 3, 1, 2)


class UnitConv(nn.Module):
    """Dropout, a (k x 1) temporal conv, Mish, BatchNorm (in that order)."""

    def __init__(self, cin: int, cout: int, kernel: int = 9, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv2d(cin, cout, (kernel, 1), padding=((kernel - 1) // 2, 0))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(_mish(self.conv(self.dropout(x))))


class JointAttention(nn.Module):
    """Multi-head self-attention across the V joints of each frame ((B, C, 1, V) -> (B, out, 1, V))."""

    def __init__(self, cin: int, cout: int, heads: int = 8, key_share: float = 0.25):
        super().__init__()
        self.dk, self.dv, self.heads = int(key_share * cout), int(cout), heads
        if self.dk % heads or self.dv % heads:
            raise ValueError(f"GaitTR attention: {cout} channels do not split over {heads} heads")
        self.qkv_conv = nn.Conv2d(cin, 2 * self.dk + self.dv, 1)
        self.attn_out = nn.Conv2d(self.dv, self.dv, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, _, _, v = x.shape
        h = self.heads
        q, k, val = self.qkv_conv(x).reshape(b, -1, v).split([self.dk, self.dk, self.dv], dim=1)
        q = q.reshape(b, h, self.dk // h, v) * (self.dk // h) ** -0.5
        k = k.reshape(b, h, self.dk // h, v)
        val = val.reshape(b, h, self.dv // h, v)
        w = torch.softmax(q.transpose(2, 3) @ k, dim=-1)                     # (b, h, V, V)
        out = (w @ val.transpose(2, 3)).permute(0, 1, 3, 2).reshape(b, self.dv, 1, v)
        return self.attn_out(out)


class SpatialModule(nn.Module):
    def __init__(self, cin: int, cout: int, joints: int):
        super().__init__()
        self.data_bn = nn.BatchNorm1d(cin * joints)
        self.attention_conv = JointAttention(cin, cout)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        n, c, t, v = x.shape
        x = self.data_bn(x.permute(0, 1, 3, 2).reshape(n, c * v, t)).reshape(n, c, v, t).permute(0, 1, 3, 2)
        y = self.attention_conv(x.permute(0, 2, 1, 3).reshape(n * t, c, 1, v))
        return self.bn(_mish(y.reshape(n, t, -1, v).permute(0, 2, 1, 3)))


class TRBlock(nn.Module):
    def __init__(self, cin: int, cout: int, joints: int):
        super().__init__()
        self.tcn = UnitConv(cin, cin)
        self.st = SpatialModule(cin, cout, joints)
        if cin != cout:
            self.residual_s = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))
            self.down = UnitConv(cin, cout, kernel=1, dropout=0.0)
        else:
            self.residual_s, self.down = nn.Identity(), None

    def forward(self, x: Tensor) -> Tensor:
        x0 = self.tcn(x) + x
        y = self.st(x0) + self.residual_s(x0)
        return y + (x if self.down is None else self.down(x))


@register_model("gaittr")
@stands_for("GaitTR", opengait_families.gaittr)
class GaitTR(nn.Module):
    input_kind = "pose"            # the trainer feeds keypoint sequences, not silhouettes
    fill_empty_joints = False      # OpenGait feeds GaitTR the keypoints as detected

    def __init__(self, num_classes: int = 0, joint_format: str = "coco", channels: Seq[int] = (10, 64, 64, 128, 256),
                 embed_dim: int = 128):
        super().__init__()
        if joint_format not in SKELETONS:
            raise ValueError(f"joint_format {joint_format!r}: one of {sorted(SKELETONS)}")
        if channels[0] != 10:
            raise ValueError("GaitTR's input has 10 channels (5 streams of x, y)")
        edges = SKELETONS[joint_format][0]
        self.joints = 1 + max(max(e) for e in edges)
        self.joint_format, self.parents = joint_format, SKELETONS[joint_format][2]
        self.data_bn = nn.BatchNorm1d(channels[0] * self.joints)
        self.backbone = nn.ModuleList(TRBlock(channels[i], channels[i + 1], self.joints)
                                      for i in range(len(channels) - 1))
        self.fcn = nn.Conv1d(channels[-1], embed_dim, 1)
        opengait_init(self)

    def _features(self, kp: Tensor) -> Tensor:
        x = tr_input(kp, self.parents)                                # (n, C, T, V)
        n, c, t, v = x.shape
        # Normalised per (joint, channel), joints outermost, as OpenGait lays them out.
        x = self.data_bn(x.permute(0, 3, 1, 2).reshape(n, v * c, t)).reshape(n, v, c, t).permute(0, 2, 3, 1)
        for block in self.backbone:
            x = block(x)
        return self.fcn(x.mean(dim=(2, 3), keepdim=False).unsqueeze(-1))    # (n, embed, 1)

    def forward(self, kp: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor | None]:
        if kp.dim() != 4 or kp.shape[-1] != 3 or kp.shape[2] != self.joints:
            raise ValueError(f"expected keypoints (N, T, {self.joints}, 3), got {tuple(kp.shape)}")
        # Temporal convs would mix padding into real frames: each length runs on its own frames.
        embed = pool_by_length(self._features, kp.float(), lengths)
        return {"embeddings": embed, "bn_embeddings": None, "logits": None}
