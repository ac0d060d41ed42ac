"""A DenseNet-style network: each dense layer reads the concatenation of all before it."""
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = [3, 16, 16]


class DenseLayer(nn.Module):
    def __init__(self, in_channels, growth_rate):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.conv = nn.Conv2d(in_channels, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(F.relu(self.bn(x)))


class DenseBlock(nn.Module):
    def __init__(self, num_layers, in_channels, growth_rate):
        super().__init__()
        self.layers = nn.ModuleList(
            [DenseLayer(in_channels + i * growth_rate, growth_rate) for i in range(num_layers)])

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            new_features = layer(torch.cat(features, 1))
            features.append(new_features)
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2))


class DenseNet(nn.Module):
    def __init__(self, growth_rate=4, block_layers=(3, 3), num_classes=5):
        super().__init__()
        channels = 2 * growth_rate
        self.conv0 = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        blocks = []
        for i, n in enumerate(block_layers):
            blocks.append(DenseBlock(n, channels, growth_rate))
            channels += n * growth_rate
            if i != len(block_layers) - 1:
                blocks.append(Transition(channels, channels // 2))
                channels //= 2
        self.features = nn.Sequential(*blocks)
        self.norm = nn.BatchNorm2d(channels)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        out = self.features(self.conv0(x))
        out = F.relu(self.norm(out), inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = torch.flatten(out, 1)
        return self.classifier(out)
