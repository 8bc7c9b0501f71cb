"""ResGCN building blocks (the backbone of GaitGraph2, as OpenGait builds it) and the skeleton
graphs they convolve over.

A skeleton sequence is a (N, C, T, V) tensor: channels, frames, joints. A spatial graph conv mixes
joints through the hop-partitioned adjacency (one 1x1 conv per hop distance, then a sum over
neighbours); a temporal conv is a (9 x 1) conv over frames. Modules and attributes carry OpenGait's
names (scn, tcn, edge, conv_down, ...) so checkpoints map by prefix.

Quirks of OpenGait's blocks kept on purpose (a checkpoint only fits if they are): every conv has
a bias; the temporal bottleneck of the first main-stream module strides by 2 in time, and its
residual branch is a strided 1x1 conv, whatever the stride argument says; the module-level
residual is used only by the 'Basic' block, the block-level ones only by 'Bottleneck'.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

#: joint format -> (edges between joints, centre joint, parent joint of each joint, left/right swap)
SKELETONS = {
    "coco": (((0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11),
              (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16)), 0,
             (5, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
             (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)),
    "alphapose": (((0, 1), (0, 14), (0, 15), (14, 16), (15, 17), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7),
                   (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13)), 1,
                  (1, 1, 1, 2, 3, 1, 5, 6, 2, 8, 9, 5, 11, 12, 0, 0, 14, 15),
                  (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)),
}
SKELETONS["openpose"] = SKELETONS["alphapose"]


def hop_adjacency(joint_format: str, max_hop: int) -> np.ndarray:
    """(max_hop + 1, V, V) float32: column-normalised adjacency split by hop distance (hop 0 = self)."""
    edges = SKELETONS[joint_format][0]
    v = 1 + max(max(e) for e in edges)
    link = np.eye(v)
    for i, j in edges:
        link[i, j] = link[j, i] = 1
    hops = np.full((v, v), np.inf)
    reach = np.eye(v)
    for d in range(max_hop + 1):
        hops[(reach > 0) & np.isinf(hops)] = d
        reach = reach @ link
    near = np.isfinite(hops).astype(np.float64)
    norm = near / np.where(near.sum(0) > 0, near.sum(0), 1)[None, :]
    return np.stack([np.where(hops == d, norm, 0.0) for d in range(max_hop + 1)]).astype(np.float32)


class _Zero(nn.Module):
    def forward(self, x: Tensor) -> Tensor | int:
        return 0


def _residual(cin: int, cout: int, use: bool, stride: int, same: bool) -> nn.Module:
    if not use:
        return _Zero()
    if same:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, (stride, 1)), nn.BatchNorm2d(cout))


class GraphConv(nn.Module):
    """One 1x1 conv per hop distance (``hops`` of them), then each joint sums its neighbours."""

    def __init__(self, cin: int, cout: int, hops: int):
        super().__init__()
        self.hops = hops
        self.gcn = nn.Conv2d(cin, cout * hops, 1)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        y = self.gcn(x)
        n, kc, t, v = y.shape
        return torch.einsum("nkctv,kvw->nctw", y.reshape(n, self.hops, kc // self.hops, t, v), a[:self.hops])


class SpatialBlock(nn.Module):
    def __init__(self, cin: int, cout: int, hops: int, residual: bool, reduction: int, bottleneck: bool):
        super().__init__()
        self.bottleneck = bottleneck
        self.residual = _residual(cin, cout, residual, 1, cin == cout)
        if bottleneck:
            mid = cout // reduction
            self.conv_down, self.bn_down = nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid)
            self.conv, self.bn = GraphConv(mid, mid, hops), nn.BatchNorm2d(mid)
            self.conv_up, self.bn_up = nn.Conv2d(mid, cout, 1), nn.BatchNorm2d(cout)
        else:
            self.conv, self.bn = GraphConv(cin, cout, hops), nn.BatchNorm2d(cout)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        res = self.residual(x)
        if not self.bottleneck:
            return torch.relu(self.bn(self.conv(x, a)) + res)
        y = torch.relu(self.bn_down(self.conv_down(x)))
        y = torch.relu(self.bn(self.conv(y, a)))
        return torch.relu(self.bn_up(self.conv_up(y)) + res)


class TemporalBlock(nn.Module):
    def __init__(self, channels: int, window: int, stride: int, residual: bool, reduction: int, bottleneck: bool,
                 first_main: bool):
        super().__init__()
        self.bottleneck = bottleneck
        pad = ((window - 1) // 2, 0)
        if not bottleneck:
            self.residual = _residual(channels, channels, residual, stride, stride == 1)
            self.conv = nn.Conv2d(channels, channels, (window, 1), (stride, 1), pad)
            self.bn = nn.BatchNorm2d(channels)
            return
        # OpenGait's bottleneck halves time whenever its residual is a conv, and always in the
        # first main-stream module.
        conv_res = first_main or (residual and stride != 1)
        self.residual = (nn.Sequential(nn.Conv2d(channels, channels, 1, (2, 1)), nn.BatchNorm2d(channels)) if conv_res
                         else _residual(channels, channels, residual, 1, True))
        t_stride = 2 if conv_res else stride
        mid = channels // reduction
        self.conv_down, self.bn_down = nn.Conv2d(channels, mid, 1), nn.BatchNorm2d(mid)
        self.conv, self.bn = nn.Conv2d(mid, mid, (window, 1), (t_stride, 1), pad), nn.BatchNorm2d(mid)
        self.conv_up, self.bn_up = nn.Conv2d(mid, channels, 1), nn.BatchNorm2d(channels)

    def forward(self, x: Tensor, res_module: Tensor | int) -> Tensor:
        res = self.residual(x)
        if not self.bottleneck:
            return torch.relu(self.bn(self.conv(x)) + res + res_module)
        y = torch.relu(self.bn_down(self.conv_down(x)))
        y = torch.relu(self.bn(self.conv(y)))
        return torch.relu(self.bn_up(self.conv_up(y)) + res + res_module)


class ResGCNModule(nn.Module):
    """Spatial then temporal block, a learnt mask ``edge`` on the adjacency. ``block`` is
    'initial' (no residuals), 'Basic' (module residual) or 'Bottleneck' (block residuals)."""

    def __init__(self, cin: int, cout: int, block: str, hops_total: int, joints: int, stride: int = 1,
                 reduction: int = 4, first_main: bool = False, window: int = 9, graph_hops: int = 3):
        super().__init__()
        module_res, block_res = {"initial": (False, False), "Basic": (True, False), "Bottleneck": (False, True)}[block]
        bottleneck = block == "Bottleneck"
        self.residual = _residual(cin, cout, module_res, stride, stride == 1 and cin == cout)
        self.scn = SpatialBlock(cin, cout, graph_hops, block_res, reduction, bottleneck)
        self.tcn = TemporalBlock(cout, window, stride, block_res, reduction, bottleneck, first_main)
        self.edge = nn.Parameter(torch.ones(hops_total, joints, joints))

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        return self.tcn(self.scn(x, a * self.edge), self.residual(x))


class InputBranch(nn.Module):
    """BatchNorm on the raw features, then ResGCN modules (the first without residuals)."""

    def __init__(self, widths: list[int], block: str, adjacency: Tensor, reduction: int):
        super().__init__()
        self.register_buffer("A", adjacency.clone())     # part of OpenGait's state dict too
        k, v = adjacency.shape[0], adjacency.shape[1]
        self.bn = nn.BatchNorm2d(widths[0])
        self.layers = nn.ModuleList(
            ResGCNModule(widths[i], widths[i + 1], "initial" if i == 0 else block, k, v, reduction=reduction)
            for i in range(len(widths) - 1))

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(x)
        for layer in self.layers:
            x = layer(x, self.A)
        return x
