"""Assorted user code: a Siamese network with two inputs, an MLP whose constructor takes
arguments, and a CNN with the modern layer zoo, buffers and a Python loop over blocks."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SiameseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(16, 1)

    def forward_once(self, x):
        return self.encoder(x)

    def forward(self, input1, input2):
        out1 = self.forward_once(input1)
        out2 = self.forward_once(input2)
        diff = torch.abs(out1 - out2)
        return torch.sigmoid(self.fc(diff))


class MLP(nn.Module):
    """Needs its arguments: --args '{"in_features": 20, "hidden": [32, 16], "num_classes": 3}'"""

    def __init__(self, in_features, hidden, num_classes, dropout=0.1, norm=True):
        super().__init__()
        layers = []
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.LayerNorm(h) if norm else nn.Identity(),
                       nn.GELU(), nn.Dropout(dropout)]
            prev = h
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(prev, num_classes)

    def forward(self, x):
        return self.out(self.net(x))


class ConvBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding="same")
        self.norm = nn.GroupNorm(4, channels)
        self.act = nn.SiLU()
        self.drop = nn.Dropout2d(0.1)

    def forward(self, x):
        return x + self.drop(self.act(self.norm(self.conv(x))))


class ModernCNN(nn.Module):
    def __init__(self, channels=8, depth=3, num_classes=4):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.act = nn.PReLU()
        self.blocks = nn.ModuleList([ConvBlock(channels) for _ in range(depth)])
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.skip = nn.Identity()
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.act(self.stem(x))
        for block in self.blocks:
            x = block(x)
        x = self.skip(self.up(x))
        x = x.mean(dim=(2, 3)) + F.adaptive_max_pool2d(x, 1).squeeze(-1).squeeze(-1)
        return self.head(self.norm(x))


class NormalizedCNN(ModernCNN):
    """Normalizes its input with buffers: no layer computes that (the design's data settings do)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1))

    def forward(self, x):
        return super().forward((x - self.mean) / self.std)
