"""GaitGraph2 (OpenGait): a skeleton-only model. Each sequence of 2-D keypoints becomes three
feature streams (joints, velocities, bones; OpenGait's GaitGraphMultiInput), each through its own
ResGCN input branch; the concatenated streams go through the ResGCN main stream, average pooling
and a linear map to the embedding.

Input: (N, T, V, 3) keypoints as x, y, confidence (V = 17 COCO or 18 AlphaPose joints), with
empty joints already replaced (:func:`core.pose.sequence.normalize_empty`). In evaluation with
``tta`` the embedding is that of the sequence, of it played backwards, and of it with left and
right joints swapped, concatenated (3 x ``embed_dim``), as OpenGait tests it.

OpenGait trains it with a supervised contrastive loss on the (N, embed_dim) features; there is no
classifier here, so ``logits`` is None.
"""

from __future__ import annotations

from typing import Sequence as Seq

import torch
from torch import Tensor, nn

from core.models import opengait_families
from core.models.opengait_cfg import stands_for
from core.models.registry import register_model
from core.models.resgcn import SKELETONS, InputBranch, ResGCNModule, hop_adjacency
from core.models.temporal import opengait_init, pool_by_length


def multi_input(kp: Tensor, center: int, parents: Seq[int]) -> Tensor:
    """(N, T, V, 3) keypoints -> (N, T, V, 3 streams, 5) in OpenGait's channel layout (including its
    overwrites: each stream's 4th channel ends up the confidence; the velocity's 3rd is 0)."""
    xy, conf = kp[..., :2], kp[..., 2:3]
    zero = torch.zeros_like(conf)
    joints = torch.cat([kp, xy - xy[:, :, center:center + 1]], dim=-1)
    step1 = torch.zeros_like(xy)
    step2 = torch.zeros_like(xy)
    t = kp.shape[1]
    if t > 2:   # the last two frames have no velocity (zeros), as there
        step1[:, :t - 2] = xy[:, 1:t - 1] - xy[:, :t - 2]
        step2[:, :t - 2] = xy[:, 2:] - xy[:, :t - 2]
    velocity = torch.cat([step1, zero, conf, step2[..., 1:2]], dim=-1)
    bone = xy - xy[:, :, list(parents)]
    length = bone.pow(2).sum(-1, keepdim=True).sqrt() + 1e-4
    bones = torch.cat([bone, zero, conf, torch.acos(bone[..., 1:2] / length)], dim=-1)
    return torch.stack([joints, velocity, bones], dim=3)


@register_model("gaitgraph2")
@stands_for("GaitGraph2", opengait_families.gaitgraph2)
class GaitGraph2(nn.Module):
    input_kind = "pose"   # the trainer feeds keypoint sequences, not silhouettes

    def __init__(self, num_classes: int = 0, joint_format: str = "coco", branch: Seq[int] = (5, 64, 32),
                 main: Seq[int] = (32, 128, 256), embed_dim: int = 128, reduction: int = 8,
                 block: str = "Bottleneck", tta: bool = True, streams: int = 3, input_center: int = 0):
        super().__init__()
        if joint_format not in SKELETONS:
            raise ValueError(f"joint_format {joint_format!r}: one of {sorted(SKELETONS)}")
        if block not in ("Basic", "Bottleneck", "initial"):
            raise ValueError(f"block {block!r}: Basic, Bottleneck or initial")
        if branch[0] != 5 or streams != 3:
            raise ValueError("GaitGraph2 has 3 input streams of 5 channels each")
        self.joint_format, self.tta = joint_format, bool(tta)
        # OpenGait computes the streams twice with different centres: its data transform (centre
        # joint ``input_center``, 0 unless configured) for the sequence itself, and the model's own
        # copy (the skeleton's centre) for the two test-time views.
        _, self.center, self.parents, self.flip = SKELETONS[joint_format]
        self.input_center = int(input_center)
        a = torch.from_numpy(hop_adjacency(joint_format, 3))
        self.register_buffer("adjacency", a, persistent=False)   # OpenGait keeps it outside its state dict
        k, v = a.shape[:2]
        self.branches = nn.ModuleList(InputBranch(list(branch), block, a, reduction) for _ in range(streams))
        mods = []
        for i in range(len(main) - 1):
            cin = main[0] * streams if i == 0 else main[i]
            stride = 1 if i == 0 or main[i] == main[i + 1] else 2
            mods.append(ResGCNModule(cin, main[i + 1], block, k, v, stride=stride, reduction=reduction,
                                     first_main=i == 0))
        self.main = nn.ModuleList(mods)
        self.fc = nn.Linear(main[-1], embed_dim)
        opengait_init(self)

    def _features(self, kp: Tensor, center: int) -> Tensor:
        """(n, T, V, 3) -> (n, embed_dim)."""
        x = multi_input(kp, center, self.parents).permute(0, 3, 4, 1, 2)   # (n, streams, C, T, V)
        x = torch.cat([b(x[:, i]) for i, b in enumerate(self.branches)], dim=1)
        for layer in self.main:
            x = layer(x, self.adjacency)
        return self.fc(x.mean(dim=(2, 3)))

    def forward(self, kp: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor | None]:
        if kp.dim() != 4 or kp.shape[-1] != 3 or kp.shape[2] != self.adjacency.shape[1]:
            raise ValueError(f"expected keypoints (N, T, {self.adjacency.shape[1]}, 3), got {tuple(kp.shape)}")
        kp = kp.float()
        # Temporal convs would mix padding into real frames: each length runs on its own frames.
        feats = pool_by_length(lambda k: self._features(k, self.input_center), kp, lengths)
        if self.tta and not self.training:
            views = [pool_by_length(lambda k: self._features(k, self.center), k, lengths)
                     for k in (_reverse(kp, lengths), kp[:, :, list(self.flip)])]
            feats = torch.cat([feats, *views], dim=1)
        return {"embeddings": feats.unsqueeze(-1), "bn_embeddings": None, "logits": None}


def _reverse(kp: Tensor, lengths: Tensor | None) -> Tensor:
    """Each sequence's real frames in reverse order (padding stays at the end)."""
    if lengths is None:
        return kp.flip(1)
    out = kp.clone()
    for i, n in enumerate(lengths.reshape(-1).tolist()):
        out[i, :int(n)] = kp[i, :int(n)].flip(0)
    return out
