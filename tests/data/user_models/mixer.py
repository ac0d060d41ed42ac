"""An MLP-Mixer: patches by a strided convolution, token mixing over transposed tokens."""
import torch
import torch.nn as nn

INPUT_SHAPE = (3, 16, 16)


class MlpBlock(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MixerBlock(nn.Module):
    def __init__(self, num_patches, dim, token_hidden=8, channel_hidden=32):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mix = MlpBlock(num_patches, token_hidden)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mix = MlpBlock(dim, channel_hidden)

    def forward(self, x):
        y = self.norm1(x).transpose(1, 2)
        y = self.token_mix(y).transpose(1, 2)
        x = x + y
        x = x + self.channel_mix(self.norm2(x))
        return x


class MLPMixer(nn.Module):
    def __init__(self, patch=4, dim=16, depth=2, num_classes=5, image=16):
        super().__init__()
        num_patches = (image // patch) ** 2
        self.stem = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.blocks = nn.Sequential(*[MixerBlock(num_patches, dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.stem(x)                      # B, C, H, W
        x = x.flatten(2).transpose(1, 2)      # B, N, C
        x = self.blocks(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(x)
