"""Operations people write that map onto layers: unit-length embeddings (F.normalize), a
segmentation head upsampled with align_corners=True, attention written with torch.einsum."""
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = [3, 8, 8]


class EmbeddingNet(nn.Module):
    """A metric-learning encoder: its embeddings have length 1 (cosine similarity)."""

    def __init__(self, dim=16):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Linear(8, dim)

    def forward(self, x):
        return F.normalize(self.embed(self.features(x)), p=2, dim=1)


class AlignedSegNet(nn.Module):
    """Scores per pixel upsampled as DeepLab does: bilinear, corners aligned."""

    def __init__(self, classes=3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
                                     nn.ReLU())
        self.classifier = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        scores = self.classifier(self.encoder(x))
        return F.interpolate(scores, scale_factor=2, mode="bilinear", align_corners=True)


class EinsumAttention(nn.Module):
    """Multi-head self-attention as lucidrains-style code writes it: einsum for the scores and
    the weighted sum (input: 10 tokens of 16 features)."""

    def __init__(self, dim=16, heads=2, num_classes=4):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2)
                   for t in (self.to_q(x), self.to_k(x), self.to_v(x)))
        dots = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale
        attn = dots.softmax(dim=-1)
        out = torch.einsum("bhij,bhjd->bhid", attn, v)
        out = out.transpose(1, 2).reshape(b, n, -1)
        return self.head(self.to_out(out).mean(dim=1))
