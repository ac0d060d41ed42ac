"""Small ``nn.Module``s for layer types torch has no single module for.

Each is plain, traceable and exportable (TorchScript trace, ONNX, torch.export). The Python
exporter copies this file's classes into the standalone source it writes, so keep them
self-contained: they may use only ``torch``, ``nn`` and the standard library.
"""
from __future__ import annotations

import torch
from torch import nn


class GlobalAvgPool(nn.Module):
    """Mean of every channel over all its positions: (N, C, …) → (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(dim=2)


class Reshape(nn.Module):
    """View each sample with ``shape`` (the batch dimension is kept)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape((x.shape[0],) + self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Reorder the sample dimensions (the batch stays first)."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(int(d) + 1 for d in dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute((0,) + self.dims)

    def extra_repr(self) -> str:
        return f"dims={tuple(d - 1 for d in self.dims)}"


class Add(nn.Module):
    """Element-wise sum of all inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """Element-wise product of all inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """Concatenate the inputs along ``dim`` (a torch dim: the batch is 0)."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Recurrent(nn.Module):
    """An RNN, LSTM or GRU over (N, steps, features) returning one tensor.

    With ``return_sequence`` every step's output; otherwise the final state of the last layer
    (both directions joined when bidirectional).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, return_sequence: bool = False,
                 nonlinearity: str = "tanh"):
        super().__init__()
        kwargs = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                      bidirectional=bidirectional, dropout=dropout, batch_first=True)
        if cell == "RNN":
            self.rnn = nn.RNN(nonlinearity=nonlinearity, **kwargs)
        else:
            self.rnn = {"LSTM": nn.LSTM, "GRU": nn.GRU}[cell](**kwargs)
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.return_sequence = return_sequence

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]
        if self.return_sequence:
            return out
        if self.bidirectional:
            h = self.hidden_size
            return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=1)
        return out[:, -1]


class SelfAttention(nn.Module):
    """Multi-head self-attention over (N, steps, features); returns the attended sequence."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, bias=bias,
                                          batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]
