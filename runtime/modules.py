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
    """What Netwright's recurrent layers return, over (N, steps, features): with
    ``return_sequence`` every step's output; otherwise the final state of the last layer (both
    directions joined when bidirectional). Mixed into torch's own ``nn.RNN``/``nn.LSTM``/
    ``nn.GRU`` (below), so a layer's tensors are torch's, named as in any model
    (``lstm.weight_ih_l0``)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0,
                 return_sequence: bool = False, **cell):
        super().__init__(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
                         bidirectional=bidirectional, **cell)
        self.return_sequence = return_sequence

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)[0]
        if self.return_sequence:
            return out
        if self.bidirectional:
            h = self.hidden_size
            return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=1)
        return out[:, -1]


class RecurrentRNN(Recurrent, nn.RNN):
    """An Elman RNN layer returning one tensor (see :class:`Recurrent`)."""


class RecurrentLSTM(Recurrent, nn.LSTM):
    """An LSTM layer returning one tensor (see :class:`Recurrent`)."""


class RecurrentGRU(Recurrent, nn.GRU):
    """A GRU layer returning one tensor (see :class:`Recurrent`)."""


# Tensor names of earlier module layouts → today's (regular expressions over state_dict keys),
# so checkpoints and run folders saved before still load (runtime.weights.migrate_names):
# a recurrent layer held its torch RNN as ``rnn`` until the layer became one (``lstm.rnn.
# weight_ih_l0`` → ``lstm.weight_ih_l0``).
LEGACY_TENSOR_NAMES = (
    (r"^(.*\.)?rnn\.((?:weight|bias)_(?:ih|hh)_l\d+(?:_reverse)?)$", r"\1\2"),
)


class L2Normalize(nn.Module):
    """``x`` divided by its L2 norm along ``dim`` (at least ``eps``), as ``F.normalize``."""

    def __init__(self, dim: int = 1, eps: float = 1e-12):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(x, p=2.0, dim=self.dim, eps=self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


class SelfAttention(nn.Module):
    """Multi-head self-attention over (N, steps, features); returns the attended sequence."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, bias=bias,
                                          batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class PaddedConv1d(nn.Conv1d):
    """Conv1d after uneven padding ``sides`` (left, right), as F.pad takes them."""

    def __init__(self, *args, sides: tuple[int, ...] = (), pad_mode: str = "constant", **kwargs):
        super().__init__(*args, **kwargs)
        self.sides, self.pad_mode = tuple(sides), pad_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.nn.functional.pad(x, self.sides, mode=self.pad_mode))


class PaddedConv2d(nn.Conv2d):
    """Conv2d after uneven padding ``sides`` (left, right, top, bottom), as F.pad takes them."""

    def __init__(self, *args, sides: tuple[int, ...] = (), pad_mode: str = "constant", **kwargs):
        super().__init__(*args, **kwargs)
        self.sides, self.pad_mode = tuple(sides), pad_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.nn.functional.pad(x, self.sides, mode=self.pad_mode))


class PaddedConv3d(nn.Conv3d):
    """Conv3d after uneven padding ``sides`` (last axis first), as F.pad takes them."""

    def __init__(self, *args, sides: tuple[int, ...] = (), pad_mode: str = "constant", **kwargs):
        super().__init__(*args, **kwargs)
        self.sides, self.pad_mode = tuple(sides), pad_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.nn.functional.pad(x, self.sides, mode=self.pad_mode))


class LocalResponseNorm(nn.LocalResponseNorm):
    """nn.LocalResponseNorm that an ONNX export writes as one LRN operator, not its steps."""

    class _AsOnnx(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, size: int, alpha: float, beta: float, k: float):
            return torch.nn.functional.local_response_norm(x, size, alpha, beta, k)

        @staticmethod
        def symbolic(g, x, size: int, alpha: float, beta: float, k: float):
            return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export() and x.dim() == 4 and self.size % 2:  # ONNX's window
            return self._AsOnnx.apply(x, self.size, self.alpha, self.beta, self.k)
        return super().forward(x)


class Pad(nn.Module):
    """F.pad of each sample: ``padding`` per side, last axis first."""

    def __init__(self, padding: tuple[int, ...], mode: str = "constant", value: float = 0.0):
        super().__init__()
        self.padding, self.mode, self.value = tuple(padding), mode, float(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "constant":
            return torch.nn.functional.pad(x, self.padding, mode="constant", value=self.value)
        return torch.nn.functional.pad(x, self.padding, mode=self.mode)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, mode={self.mode!r}"


class Slice(nn.Module):
    """``x[..., start:stop:step]`` along torch dim ``dim`` (the batch is 0)."""

    def __init__(self, dim: int, start: int, stop: int, step: int = 1):
        super().__init__()
        self.dim, self.start, self.stop, self.step = dim, start, stop, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = [slice(None)] * self.dim + [slice(self.start, self.stop, self.step)]
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, start={self.start}, stop={self.stop}, step={self.step}"


class Subtract(nn.Module):
    """a − b."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b


class Abs(nn.Module):
    """|x| (torch has no module for it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.abs(x)


class MatMul(nn.Module):
    """a @ b over the last two dimensions."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Scale(nn.Module):
    """Multiply by a constant, then add one (each step only when it changes something)."""

    def __init__(self, factor: float, offset: float = 0.0):
        super().__init__()
        self.factor, self.offset = float(factor), float(offset)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.factor != 1.0 or not self.offset:
            x = x * self.factor
        return x + self.offset if self.offset else x

    def extra_repr(self) -> str:
        return f"factor={self.factor}, offset={self.offset}"


class Reduce(nn.Module):
    """Mean, sum or max over torch dims ``dims``."""

    def __init__(self, op: str, dims: tuple[int, ...], keepdim: bool = False):
        super().__init__()
        self.op, self.dims, self.keepdim = op, tuple(dims), keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op == "mean":
            return x.mean(dim=self.dims, keepdim=self.keepdim)
        if self.op == "sum":
            return x.sum(dim=self.dims, keepdim=self.keepdim)
        return x.amax(dim=self.dims, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"op={self.op!r}, dims={self.dims}, keepdim={self.keepdim}"


class Parameter(nn.Module):
    """A learned tensor of ``shape``, repeated for every sample of the input's batch."""

    def __init__(self, shape: tuple[int, ...], init: str = "normal"):
        super().__init__()
        self.value = nn.Parameter(torch.zeros((1,) + tuple(shape)))
        if init == "normal":
            nn.init.normal_(self.value, std=0.02)
        elif init == "ones":
            nn.init.ones_(self.value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand((x.shape[0],) + tuple(self.value.shape[1:]))


class LayerScale(nn.Module):
    """Multiply by a learned per-channel factor of ``shape`` (C, 1, …) or (E,)."""

    def __init__(self, shape: tuple[int, ...], init_value: float = 1e-6):
        super().__init__()
        self.scale = nn.Parameter(torch.full(tuple(shape), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels (dim 1) at every position, as torchvision's ConvNeXt."""

    def __init__(self, num_channels: int, eps: float = 1e-6, elementwise_affine: bool = True):
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = x.dim()  # explicit permutations: ONNX refuses movedim's negative axes
        x = x.permute([0] + list(range(2, rank)) + [1])
        x = torch.nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                           self.eps)
        return x.permute([0, rank - 1] + list(range(1, rank - 1)))


class DropPath(nn.Module):
    """Stochastic depth: while training, zero the input for random samples (``row``) or for the
    whole batch (``batch``) with probability ``p``, scaling what is kept by 1 / (1 − p)."""

    def __init__(self, p: float = 0.1, mode: str = "row"):
        super().__init__()
        self.p, self.mode = float(p), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0] if self.mode == "row" else 1] + [1] * (x.dim() - 1)
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * noise.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


class CrossAttention(nn.Module):
    """Multi-head attention of a query sequence (N, Sq, E) over a key/value sequence
    (N, Sk, kv_dim); returns (N, Sq, E)."""

    def __init__(self, embed_dim: int, kv_dim: int, num_heads: int, dropout: float = 0.0,
                 bias: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, bias=bias,
                                          kdim=kv_dim, vdim=kv_dim, batch_first=True)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor) -> torch.Tensor:
        return self.attn(query, key_value, key_value, need_weights=False)[0]


class TransformerEncoderStack(nn.Module):
    """``num_layers`` ``nn.TransformerEncoderLayer`` s in a row (weights ``layers.N.…``)."""

    def __init__(self, num_layers: int, **layer_kwargs):
        super().__init__()
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(**layer_kwargs)
                                    for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class ClassToken(nn.Module):
    """Prepend a learned token (zeros at first, as in ViT) to every sequence: (N, S, E) →
    (N, S + 1, E)."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """Add a learned (S, E) embedding to every sequence."""

    def __init__(self, length: int, embed_dim: int, std: float = 0.02):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(1, length, embed_dim).normal_(std=std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding


class Split(nn.Module):
    """The first ``first`` entries along torch dim ``dim``, and the rest."""

    def __init__(self, dim: int, first: int):
        super().__init__()
        self.dim, self.first = dim, first

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rest = x.shape[self.dim] - self.first
        return x.narrow(self.dim, 0, self.first), x.narrow(self.dim, self.first, rest)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, first={self.first}"
