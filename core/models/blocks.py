"""Per-frame 2-D convolutional building blocks (ResNet-style) shared by frame-level gait models."""

from __future__ import annotations

from torch import Tensor, nn


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    # No bias: every conv is followed by BatchNorm, whose shift makes a bias redundant.
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU (the two-conv residual block)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class FrameResNet(nn.Module):
    """Stem conv3x3 + BN + ReLU, then one stage per entry of ``channels`` of ``blocks`` BasicBlocks."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], strides: tuple[int, ...], blocks: int = 1):
        super().__init__()
        if len(channels) != len(strides):
            raise ValueError(f"channels {channels} and strides {strides} must have the same length")
        self.stem = nn.Sequential(conv3x3(in_channels, channels[0]), nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True))
        stages, cin = [], channels[0]
        for cout, stride in zip(channels, strides):
            layers = [BasicBlock(cin, cout, stride)] + [BasicBlock(cout, cout) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin
        for m in self.modules():
            # Shape-only models (parameter counting on the meta device) have no values to set.
            if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))
