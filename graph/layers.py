"""Declarations of every layer type. Importing this module fills :data:`graph.catalog.CATALOG`.

``dim`` params count sample dimensions (the batch is never counted): ``dim=0`` of a Concat on
``(16, 8, 8)`` feature maps joins channels.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from .catalog import (
    CATALOG,
    LayerType,
    Param,
    Params,
    Port,
    Shape,
    ShapeError,
    InputSpec,
    fmt_shape,
    pair,
    prod,
)

IO, CORE, CONV, POOL, NORM, REG, ACT, SHAPE, MERGE, MATH, SEQ, ATTN = (
    "Input / Output",
    "Core",
    "Convolution",
    "Pooling",
    "Normalization",
    "Regularization",
    "Activation",
    "Reshaping",
    "Merge",
    "Math",
    "Recurrent & Embedding",
    "Attention",
)

FLATTEN_FIX = "insert a Flatten before this layer"


def _register(**kwargs: Any) -> LayerType:
    return CATALOG.register(LayerType(**kwargs))


def _dim_param(default: int, doc: str) -> Param:
    return Param("dim", "int", default, doc, min=-8, max=8, short="dim {}")


def _sample_dim(dim: int, rank: int, what: str = "dim") -> int:
    """A sample-relative dim (negative counts from the end) as a non-negative index."""
    if not -rank <= dim < rank:
        raise ShapeError(f"{what}={dim} is outside a tensor of rank {rank}")
    return dim % rank


def _torch_dim(dim: int) -> int:
    """Sample-relative dim → torch dim (the batch is dim 0 in torch)."""
    return dim + 1 if dim >= 0 else dim


# ---- Input / Output -----------------------------------------------------------------------------


def _input_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    return tuple(int(d) for d in p["shape"])


_register(
    type_id="Input",
    category=IO,
    doc="Feeds one sample of the dataset into the network; shape excludes the batch.",
    params=(
        Param("shape", "ints", [1, 8, 8], "Sample shape without the batch, e.g. 1×28×28.", min=1,
              short="{}"),
        Param("dtype", "choice", "float32", "Element type: float32, or int64 for token ids.",
              choices=("float32", "int64")),
    ),
    inputs=(),
    shape=_input_shape,
    summary_keys=("shape",),
)

_register(
    type_id="Output",
    category=IO,
    pass_through=True,
    doc="Marks a tensor the network returns; losses and metrics read the first Output.",
    params=(),
    outputs=(),
    shape=lambda p, ins: ins[0],
)

# ---- Core ---------------------------------------------------------------------------------------


def _linear_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    shape = ins[0]
    if len(shape) == 0:
        raise ShapeError("expects at least one feature dimension, got a scalar")
    if len(shape) > 2:
        raise ShapeError(
            f"expects features (or a sequence of them), got {fmt_shape(shape)}", fix=FLATTEN_FIX
        )
    return shape[:-1] + (p["out_features"],)


_register(
    type_id="Linear",
    category=CORE,
    doc="Fully connected layer y = xWᵀ + b over the last dimension.",
    display_name="Linear (Dense)",
    params=(
        Param("out_features", "int", 64, "Number of output features.", min=1, max=1_000_000,
              short="{}"),
        Param("bias", "bool", True, "Learn an additive bias."),
    ),
    shape=_linear_shape,
    count_params=lambda p, ins: ins[0][-1] * p["out_features"] + (p["out_features"] if p["bias"] else 0),
    macs=lambda p, ins, out: prod(out) * ins[0][-1],
    matmul_macs=lambda p, ins, out: prod(out) * ins[0][-1],
    torch_class="Linear",
    torch_kwargs=lambda p, ins: {
        "in_features": ins[0][-1], "out_features": p["out_features"], "bias": p["bias"]},
    summary_keys=("out_features",),
)

_register(
    type_id="Identity",
    category=CORE,
    pass_through=True,
    doc="Passes its input through unchanged; useful as a named junction.",
    params=(),
    shape=lambda p, ins: ins[0],
    torch_class="Identity",
)

# ---- Convolution --------------------------------------------------------------------------------

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _conv_params(n: int, transposed: bool = False) -> tuple[Param, ...]:
    axes = {1: "left, right", 2: "top, bottom, left, right",
            3: "front, back, top, bottom, left, right"}[n]
    params = (
        Param("out_channels", "int", 16, "Number of filters (output channels).", min=1, max=65536,
              short="{}"),
        Param("kernel_size", "size", 2 if transposed else 3,
              "Filter size: one number or one per spatial axis.", min=1, max=64, length=n,
              short="k{}"),
        Param("stride", "size", 2 if transposed else 1, "Step between filter positions" + (
              " (Netwright's default 2 doubles the size; torch's is 1)." if transposed else "."),
              min=1, max=64, length=n, short="s{}"),
    )
    if transposed:
        params += (Param("padding", "size", 0,
                         "Removes this many rows/columns from each side of the output.",
                         min=0, max=64, length=n),)
    else:
        params += (
            Param("padding", "size", 1, "Padding on both sides of every spatial axis "
                  "(Netwright's default 1 keeps a 3×3 output the input's size; torch's is 0).",
                  min=0, max=64, length=n, when=(("same_padding", (False,)),)),
            Param("padding_sides", "ints", [], f"Uneven padding, one value per side ({axes}); "
                  "replaces padding when given.", min=0, max=64,
                  when=(("same_padding", (False,)),)),
            Param("same_padding", "bool", False, "Pad so the output size is the input size ÷ "
                  "stride, rounded up ('same'; extra padding goes after); replaces padding."),
            Param("padding_mode", "choice", "zeros", "What the padding holds: zeros, a mirror "
                  "of the edge (reflect), the edge repeated (replicate) or the far side (circular).",
                  choices=_PADDING_MODES),
        )
    params += (
        Param("dilation", "size", 1, "Spacing between filter taps.", min=1, max=64, length=n),
        Param("groups", "int", 1, "Split channels into groups convolved separately.",
              min=1, max=65536),
        Param("bias", "bool", True, "Learn an additive bias per filter."),
    )
    if transposed:
        params += (Param("output_padding", "size", 0, "Extra size added to one side of the output.",
                         min=0, max=63, length=n),)
    return params


def _check_groups(p: Params, in_ch: int) -> None:
    g = p["groups"]
    if in_ch % g or p["out_channels"] % g:
        raise ShapeError(
            f"groups={g} must divide both input channels ({in_ch}) and out_channels "
            f"({p['out_channels']})"
        )


def _spatial_spec(n: int) -> InputSpec:
    """Channels followed by ``n`` spatial axes."""
    axes = {1: "length", 2: "height×width", 3: "depth×height×width"}[n]
    return InputSpec((n + 1,), f"channels×{axes}")


def _conv_pads(p: Params, spatial: Shape, n: int) -> list[tuple[int, int]]:
    """(before, after) padding of every spatial axis."""
    k, s, d = (pair(p[key], n) for key in ("kernel_size", "stride", "dilation"))
    if p["same_padding"]:
        totals = [max((-(-spatial[i] // s[i]) - 1) * s[i] + d[i] * (k[i] - 1) + 1 - spatial[i], 0)
                  for i in range(n)]
        return [(t // 2, t - t // 2) for t in totals]
    sides = p["padding_sides"]
    if sides:
        if len(sides) != 2 * n:
            raise ShapeError(f"padding_sides needs {2 * n} values (two per spatial axis), "
                             f"not {len(sides)}")
        return [(sides[2 * i], sides[2 * i + 1]) for i in range(n)]
    return [(pad, pad) for pad in pair(p["padding"], n)]


def _check_pad_mode(mode: str, pads: Sequence[tuple[int, int]], spatial: Shape) -> None:
    """torch refuses reflect padding of an edge as wide as the axis, circular wider than it."""
    for (before, after), size in zip(pads, spatial):
        if (mode == "reflect" and max(before, after) >= size) or (
                mode == "circular" and max(before, after) > size):
            raise ShapeError(f"{mode} padding of {max(before, after)} needs an axis longer than "
                             f"{size}", fix="use less padding or padding_mode 'zeros'")


def _conv_shape(n: int, transposed: bool = False):
    def rule(p: Params, ins: Sequence[Shape]) -> Shape:
        shape = ins[0]
        c, spatial = shape[0], shape[1:]
        _check_groups(p, c)
        k, s, d = (pair(p[key], n) for key in ("kernel_size", "stride", "dilation"))
        if transposed:
            pad, op = pair(p["padding"], n), pair(p["output_padding"], n)
            for i in range(n):
                if op[i] >= max(s[i], d[i]):
                    raise ShapeError("output_padding must be smaller than stride or dilation")
            out = tuple((spatial[i] - 1) * s[i] - 2 * pad[i] + d[i] * (k[i] - 1) + op[i] + 1
                        for i in range(n))
        else:
            pads = _conv_pads(p, spatial, n)
            _check_pad_mode(p["padding_mode"], pads, spatial)
            out = tuple((spatial[i] + sum(pads[i]) - d[i] * (k[i] - 1) - 1) // s[i] + 1
                        for i in range(n))
        if min(out) < 1:
            raise ShapeError(
                f"input {fmt_shape(shape)} is too small for kernel {fmt_shape(k)}"
                f" (output would be {fmt_shape(out)})",
                fix="use a smaller kernel or stride, more padding, or remove a pooling layer before it",
            )
        return (p["out_channels"],) + out

    return rule


def _conv_count(n: int, transposed: bool = False):
    def count(p: Params, ins: Sequence[Shape]) -> int:
        k = prod(pair(p["kernel_size"], n))
        weights = ins[0][0] * p["out_channels"] // p["groups"] * k
        return weights + (p["out_channels"] if p["bias"] else 0)

    return count


def _conv_macs(n: int, transposed: bool = False):
    def macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
        k = prod(pair(p["kernel_size"], n))
        if transposed:  # every input element is scattered through the kernel
            return prod(ins[0]) * (p["out_channels"] // p["groups"]) * k
        return prod(out) * (ins[0][0] // p["groups"]) * k

    return macs


def _conv_class(n: int):
    def name(p: Params, ins: Sequence[Shape]) -> str:
        even = all(a == b for a, b in _conv_pads(p, ins[0][1:], n))
        return f"Conv{n}d" if even else f"PaddedConv{n}d"

    return name


def _conv_kwargs(n: int, transposed: bool = False):
    def kwargs(p: Params, ins: Sequence[Shape]) -> dict[str, Any]:
        out: dict[str, Any] = {"in_channels": ins[0][0], "out_channels": p["out_channels"]}
        for key in ("kernel_size", "stride", "dilation"):
            out[key] = pair(p[key], n)
        if transposed:
            out["padding"] = pair(p["padding"], n)
            out["output_padding"] = pair(p["output_padding"], n)
        else:
            pads = _conv_pads(p, ins[0][1:], n)
            if all(a == b for a, b in pads):
                out["padding"] = tuple(a for a, _ in pads)
                if p["padding_mode"] != "zeros":
                    out["padding_mode"] = p["padding_mode"]
            else:  # torch's convolutions pad evenly: PaddedConvNd pads first (last axis first)
                out["sides"] = tuple(v for pad in reversed(pads) for v in pad)
                out["pad_mode"] = "constant" if p["padding_mode"] == "zeros" else p["padding_mode"]
        out["groups"] = p["groups"]
        out["bias"] = p["bias"]
        return out

    return kwargs


def _conv(n: int, doc: str, summary: tuple[str, ...], transposed: bool = False) -> None:
    macs = _conv_macs(n, transposed)
    _register(
        type_id=f"ConvTranspose{n}d" if transposed else f"Conv{n}d",
        category=CONV,
        doc=doc,
        params=_conv_params(n, transposed),
        input_spec=_spatial_spec(n),
        shape=_conv_shape(n, transposed),
        count_params=_conv_count(n, transposed),
        macs=macs,
        matmul_macs=macs,
        torch_class=f"ConvTranspose{n}d" if transposed else f"Conv{n}d",
        torch_class_for=None if transposed else _conv_class(n),
        torch_kwargs=_conv_kwargs(n, transposed),
        summary_keys=summary,
    )


_conv(1, "1-D convolution over channels×length signals.", ("out_channels", "kernel_size"))
_conv(2, "2-D convolution over channels×height×width images.",
      ("out_channels", "kernel_size", "stride"))
_conv(2, "Transposed 2-D convolution: learned upsampling of feature maps.",
      ("out_channels", "kernel_size", "stride"), transposed=True)
_conv(3, "3-D convolution over channels×depth×height×width volumes (video, scans).",
      ("out_channels", "kernel_size", "stride"))


# ---- Pooling ------------------------------------------------------------------------------------


def _pool_out(size: int, k: int, s: int, pad: int, ceil_mode: bool, d: int = 1) -> int:
    span = size + 2 * pad - d * (k - 1) - 1
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + pad:  # the last window must start inside the input
            out -= 1
    else:
        out = span // s + 1
    return out


def _pool_params(n: int, kernel: int = 2, avg: bool = False) -> tuple[Param, ...]:
    params = (
        Param("kernel_size", "size", kernel, f"Window size (Netwright's default {kernel}; "
              "torch has no default).", min=1, max=64, length=n, short="k{}"),
        Param("stride", "size", kernel, f"Step between windows (default {kernel}; torch's "
              "default is the window size, whatever it is).", min=1, max=64, length=n, short="s{}"),
        Param("padding", "size", 0, "Padding on each side; at most half the window.",
              min=0, max=32, length=n),
        Param("ceil_mode", "bool", False, "Round the output size up instead of down."),
    )
    if avg:
        params += (Param("count_include_pad", "bool", True, "Count padded zeros in the average."),)
    return params


def _pool_shape(n: int, avg: bool = False):
    def rule(p: Params, ins: Sequence[Shape]) -> Shape:
        shape = ins[0]
        k, s, pad = (pair(p[key], n) for key in ("kernel_size", "stride", "padding"))
        for i in range(n):
            if pad[i] * 2 > k[i]:
                raise ShapeError(f"padding {pad[i]} must be at most half the window {k[i]}")
        out = tuple(_pool_out(shape[1 + i], k[i], s[i], pad[i], p["ceil_mode"]) for i in range(n))
        # torch's 3-D average pooling wants the window inside the unpadded input.
        if min(out) < 1 or (avg and n == 3 and any(shape[1 + i] < k[i] for i in range(n))):
            raise ShapeError(
                f"input {fmt_shape(shape)} is smaller than the pooling window {fmt_shape(k)}",
                fix="remove this pooling layer or use a smaller window",
            )
        return (shape[0],) + out

    return rule


def _pool_kwargs(n: int, avg: bool = False):
    def kwargs(p: Params, ins: Sequence[Shape]) -> dict[str, Any]:
        out = {key: pair(p[key], n) for key in ("kernel_size", "stride", "padding")}
        out["ceil_mode"] = p["ceil_mode"]
        if avg:
            out["count_include_pad"] = p["count_include_pad"]
        return out

    return kwargs


def _pool_macs(n: int):
    return lambda p, ins, out: prod(out) * prod(pair(p["kernel_size"], n))


def _pool(type_id: str, n: int, doc: str) -> None:
    avg = type_id.startswith("Avg")
    _register(
        type_id=type_id,
        category=POOL,
        doc=doc,
        params=_pool_params(n, avg=avg),
        input_spec=_spatial_spec(n),
        shape=_pool_shape(n, avg),
        macs=_pool_macs(n),
        torch_class=type_id,
        torch_kwargs=_pool_kwargs(n, avg=avg),
        summary_keys=("kernel_size",),
    )


_pool("MaxPool1d", 1, "Maximum over sliding windows along the length.")
_pool("MaxPool2d", 2, "Maximum over sliding 2-D windows; halves height and width by default.")
_pool("AvgPool2d", 2, "Average over sliding 2-D windows.")
_pool("AvgPool1d", 1, "Average over sliding windows along the length.")
_pool("MaxPool3d", 3, "Maximum over sliding 3-D windows of volumes.")
_pool("AvgPool3d", 3, "Average over sliding 3-D windows of volumes.")


def _adaptive_pool(type_id: str, n: int, doc: str) -> None:
    _register(
        type_id=type_id,
        category=POOL,
        doc=doc,
        params=(Param("output_size", "size", 1, "Output size of every spatial axis.", min=1,
                      max=1024, length=n, short="out {}"),),
        input_spec=_spatial_spec(n),
        shape=lambda p, ins: (ins[0][0],) + pair(p["output_size"], n),
        macs=lambda p, ins, out: prod(ins[0]),
        torch_class=type_id,
        torch_kwargs=lambda p, ins: {"output_size": pair(p["output_size"], n)},
        summary_keys=("output_size",),
    )


_adaptive_pool("AdaptiveAvgPool2d", 2,
               "Averages each channel down to a fixed output size, whatever the input size.")
_adaptive_pool("AdaptiveAvgPool1d", 1,
               "Averages each channel down to a fixed length, whatever the input length.")
_adaptive_pool("AdaptiveMaxPool1d", 1,
               "Maximum of each channel over windows that give a fixed output length.")
_adaptive_pool("AdaptiveMaxPool2d", 2,
               "Maximum of each channel over windows that give a fixed output size.")

_register(
    type_id="GlobalAvgPool",
    category=POOL,
    doc="Averages every channel over all its positions: C×H×W (or C×L) → C.",
    display_name="Global Average Pool",
    params=(),
    input_spec=InputSpec((2, 3, 4), "channels×positions"),
    shape=lambda p, ins: (ins[0][0],),
    macs=lambda p, ins, out: prod(ins[0]),
    torch_class="GlobalAvgPool",
)

# ---- Normalization ------------------------------------------------------------------------------

_EPS = Param("eps", "float", 1e-5, "Added to the variance for numerical stability.", min=1e-12, max=1.0)
_MOMENTUM = Param("momentum", "float", 0.1, "Weight of the newest batch in the running statistics.",
                  min=0.0, max=1.0)
_AFFINE = Param("affine", "bool", True, "Learn a per-channel scale and shift.")


def _bn(type_id: str, ranks: tuple[int, ...], what: str, doc: str) -> None:
    _register(
        type_id=type_id,
        category=NORM,
        doc=doc,
        params=(_EPS, _MOMENTUM, _AFFINE),
        input_spec=InputSpec(ranks, what),
        shape=lambda p, ins: ins[0],
        count_params=lambda p, ins: 2 * ins[0][0] if p["affine"] else 0,
        macs=lambda p, ins, out: 2 * prod(ins[0]),
        torch_class=type_id,
        torch_kwargs=lambda p, ins: {"num_features": ins[0][0], "eps": p["eps"],
                                     "momentum": p["momentum"], "affine": p["affine"]},
    )


_bn("BatchNorm1d", (1, 2), "features or channels×length",
    "Normalizes each feature over the batch (for Linear or Conv1d outputs).")
_bn("BatchNorm2d", (3,), "channels×height×width",
    "Normalizes each channel over the batch and positions (for Conv2d outputs).")
_bn("BatchNorm3d", (4,), "channels×depth×height×width",
    "Normalizes each channel over the batch and positions (for Conv3d outputs).")


def _layernorm_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    if p["normalized_dims"] > len(ins[0]):
        raise ShapeError(
            f"cannot normalize the last {p['normalized_dims']} dims of {fmt_shape(ins[0])}")
    return ins[0]


_register(
    type_id="LayerNorm",
    category=NORM,
    doc="Normalizes each sample over its last dimension(s).",
    params=(
        Param("normalized_dims", "int", 1, "How many trailing dimensions to normalize over.",
              min=1, max=4),
        _EPS,
        Param("elementwise_affine", "bool", True, "Learn a scale and shift per element."),
    ),
    shape=_layernorm_shape,
    count_params=lambda p, ins: (2 * prod(ins[0][-p["normalized_dims"]:])
                                 if p["elementwise_affine"] else 0),
    macs=lambda p, ins, out: 2 * prod(ins[0]),
    torch_class="LayerNorm",
    torch_kwargs=lambda p, ins: {"normalized_shape": tuple(ins[0][-p["normalized_dims"]:]),
                                 "eps": p["eps"], "elementwise_affine": p["elementwise_affine"]},
)


def _groupnorm_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    shape = ins[0]
    if shape[0] % p["num_groups"]:
        raise ShapeError(f"num_groups={p['num_groups']} must divide the {shape[0]} channels",
                         fix="pick a num_groups that divides the channel count")
    return shape


_register(
    type_id="GroupNorm",
    category=NORM,
    doc="Normalizes groups of channels within each sample; works with any batch size.",
    params=(
        Param("num_groups", "int", 4, "Number of channel groups; must divide the channels.",
              min=1, max=4096, short="{} groups"),
        _EPS,
        _AFFINE,
    ),
    input_spec=InputSpec((1, 2, 3, 4), "channels first"),
    shape=_groupnorm_shape,
    count_params=lambda p, ins: 2 * ins[0][0] if p["affine"] else 0,
    macs=lambda p, ins, out: 2 * prod(ins[0]),
    torch_class="GroupNorm",
    torch_kwargs=lambda p, ins: {"num_groups": p["num_groups"], "num_channels": ins[0][0],
                                 "eps": p["eps"], "affine": p["affine"]},
    summary_keys=("num_groups",),
)

def _l2_normalize_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    _sample_dim(p["dim"], len(ins[0]))
    return ins[0]


_register(
    type_id="L2Normalize",
    category=NORM,
    display_name="L2 Normalize",
    doc="Divides the vectors along one dimension by their length (L2 norm), as F.normalize: "
        "unit-length embeddings, cosine similarity.",
    params=(_dim_param(0, "Sample dimension whose vectors get length 1 (0: a vector's "
                          "features, or the channels at every position of maps)."),
            Param("eps", "float", 1e-12, "Lengths below this are divided by it instead "
                  "(no division by zero).", min=0.0, max=1.0)),
    shape=_l2_normalize_shape,
    macs=lambda p, ins, out: 3 * prod(out),
    torch_class="L2Normalize",
    torch_kwargs=lambda p, ins: {"dim": _torch_dim(p["dim"]), "eps": p["eps"]},
    summary_keys=("dim",),
)

_register(
    type_id="LocalResponseNorm",
    category=NORM,
    doc="Divides each value by the sum of squares across neighbouring channels (AlexNet's LRN).",
    params=(
        Param("size", "int", 5, "How many neighbouring channels the sum covers.", min=1,
              max=1024, short="size {}"),
        Param("alpha", "float", 1e-4, "Multiplies the mean of the squares.", min=0.0, max=1e3),
        Param("beta", "float", 0.75, "The exponent of the divisor.", min=0.0, max=10.0),
        Param("k", "float", 1.0, "Added to the divisor before the exponent.", min=0.0, max=1e3),
    ),
    input_spec=InputSpec((2, 3, 4), "channels first"),
    shape=lambda p, ins: ins[0],
    macs=lambda p, ins, out: prod(ins[0]) * (p["size"] + 2),
    torch_class="LocalResponseNorm",
    torch_kwargs=lambda p, ins: {"size": p["size"], "alpha": p["alpha"], "beta": p["beta"],
                                 "k": p["k"]},
    summary_keys=("size",),
)

# ---- Regularization -----------------------------------------------------------------------------

_P = Param("p", "float", 0.5, "Probability of zeroing an element while training.", min=0.0, max=0.99)

_register(
    type_id="Dropout",
    category=REG,
    doc="Randomly zeroes elements while training; does nothing in evaluation.",
    params=(_P,),
    shape=lambda p, ins: ins[0],
    torch_class="Dropout",
    torch_kwargs=lambda p, ins: {"p": p["p"]},
    summary_keys=("p",),
)

_register(
    type_id="Dropout2d",
    category=REG,
    doc="Randomly zeroes whole channels of feature maps while training.",
    params=(_P,),
    input_spec=_spatial_spec(2),
    shape=lambda p, ins: ins[0],
    torch_class="Dropout2d",
    torch_kwargs=lambda p, ins: {"p": p["p"]},
    summary_keys=("p",),
)

_register(
    type_id="LayerNorm2d",
    category=NORM,
    doc="LayerNorm over the channels at every position of a C×H×W map (ConvNeXt's LayerNorm2d).",
    params=(Param("eps", "float", 1e-6, "Added to the variance (ConvNeXt's 1e-6; torch's "
                  "LayerNorm defaults to 1e-5).",
                  min=1e-12, max=1.0),
            Param("elementwise_affine", "bool", True, "Learn a scale and shift per channel.")),
    input_spec=InputSpec((2, 3, 4), "channels first"),
    shape=lambda p, ins: ins[0],
    count_params=lambda p, ins: 2 * ins[0][0] if p["elementwise_affine"] else 0,
    macs=lambda p, ins, out: 2 * prod(ins[0]),
    torch_class="LayerNorm2d",
    torch_kwargs=lambda p, ins: {"num_channels": ins[0][0], "eps": p["eps"],
                                 "elementwise_affine": p["elementwise_affine"]},
)

_register(
    type_id="DropPath",
    category=REG,
    doc="Stochastic depth: while training, drops a whole residual branch for random samples "
        "(scaling the rest); does nothing in evaluation.",
    params=(Param("p", "float", 0.1, "Probability of dropping the branch.", min=0.0, max=0.99),
            Param("mode", "choice", "row", "'row' drops per sample, 'batch' the whole batch.",
                  choices=("row", "batch"))),
    shape=lambda p, ins: ins[0],
    torch_class="DropPath",
    torch_kwargs=lambda p, ins: {"p": p["p"], "mode": p["mode"]},
    summary_keys=("p",),
)


# ---- Activations --------------------------------------------------------------------------------


def _activation(type_id: str, doc: str, params: tuple[Param, ...] = (), kwargs=None,
                macs_per_element: int = 1, dim: bool = False, dead_units: bool = False) -> None:
    def shape(p: Params, ins: Sequence[Shape]) -> Shape:
        if dim:
            _sample_dim(p["dim"], len(ins[0]))
        return ins[0]

    _register(
        type_id=type_id,
        category=ACT,
        doc=doc,
        params=params,
        shape=shape,
        macs=lambda p, ins, out: macs_per_element * prod(out),
        torch_class=type_id,
        torch_kwargs=kwargs or (lambda p, ins: {}),
        summary_keys=tuple(q.name for q in params),
        dead_units=dead_units,
    )


_activation("ReLU", "max(0, x): the default non-linearity.", dead_units=True)
_activation("LeakyReLU", "x for x > 0, slope·x otherwise; keeps a small gradient for negatives.",
            (Param("negative_slope", "float", 0.01, "Slope for negative inputs.", min=0.0, max=1.0,
                   short="slope {}"),),
            lambda p, ins: {"negative_slope": p["negative_slope"]})
_activation("ELU", "x for x > 0, α(eˣ − 1) otherwise.",
            (Param("alpha", "float", 1.0, "Saturation value for negative inputs.", min=0.0, max=10.0,
                   short="α={}"),),
            lambda p, ins: {"alpha": p["alpha"]})
_activation("GELU", "Gaussian error linear unit, as used in transformers.",
            (Param("approximate", "choice", "none", "Exact ('none') or the faster tanh formula.",
                   choices=("none", "tanh"), short="approx {}"),),
            lambda p, ins: {"approximate": p["approximate"]})
_activation("SiLU", "x·sigmoid(x) (also called Swish).")
_activation("Sigmoid", "1 / (1 + e⁻ˣ): squashes to (0, 1).")
_activation("Tanh", "Hyperbolic tangent: squashes to (−1, 1).")
_activation("Softmax", "Turns scores into probabilities along one dimension.",
            (_dim_param(-1, "Sample dimension that sums to 1 (−1: the last)."),),
            lambda p, ins: {"dim": _torch_dim(p["dim"])}, macs_per_element=3, dim=True)
_activation("LogSoftmax", "Log of Softmax, numerically stable; pair with an NLL-style loss.",
            (_dim_param(-1, "Sample dimension to normalize (−1: the last)."),),
            lambda p, ins: {"dim": _torch_dim(p["dim"])}, macs_per_element=3, dim=True)

_activation("ReLU6", "min(max(0, x), 6): ReLU capped at 6, as in MobileNet.", dead_units=True)


def _hardtanh_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    if p["min_val"] >= p["max_val"]:
        raise ShapeError(f"min_val ({p['min_val']:g}) must be below max_val ({p['max_val']:g})")
    return ins[0]


_register(
    type_id="Hardtanh",
    category=ACT,
    doc="Clamps every value to [min_val, max_val] (a clamp layer).",
    params=(Param("min_val", "float", -1.0, "Lowest output value.", min=-1e6, max=1e6,
                  short="min {}"),
            Param("max_val", "float", 1.0, "Highest output value.", min=-1e6, max=1e6,
                  short="max {}")),
    shape=_hardtanh_shape,
    macs=lambda p, ins, out: prod(out),
    torch_class="Hardtanh",
    torch_kwargs=lambda p, ins: {"min_val": p["min_val"], "max_val": p["max_val"]},
    summary_keys=("min_val", "max_val"),
)
_activation("Hardswish", "x·ReLU6(x + 3)/6: a cheap Swish, as in MobileNetV3.")
_activation("Hardsigmoid", "ReLU6(x + 3)/6: a cheap sigmoid, as in MobileNetV3's squeeze-excite.")
_activation("Mish", "x·tanh(softplus(x)).")
_activation("Softplus", "log(1 + e^(βx))/β: a smooth ReLU.",
            (Param("beta", "float", 1.0, "Sharpness β.", min=1e-3, max=100.0, short="β={}"),
             Param("threshold", "float", 20.0, "Above this βx the output is x (for stability).",
                   min=0.0, max=100.0)),
            lambda p, ins: {"beta": p["beta"], "threshold": p["threshold"]})
_activation("Softsign", "x / (1 + |x|): squashes to (−1, 1).")
_activation("Abs", "|x|: each value without its sign (a Siamese network's distance |a − b|).")


def _prelu_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    if p["per_channel"] and not ins[0]:
        raise ShapeError("per-channel slopes need a channel dimension, got a scalar",
                         fix="switch per_channel off")
    return ins[0]


_register(
    type_id="PReLU",
    category=ACT,
    doc="x for x > 0, a·x otherwise, with the slope a learned (one, or one per channel).",
    params=(Param("per_channel", "bool", False, "Learn one slope per channel (the first "
                  "sample dimension) instead of one in all.", short="per channel"),
            Param("init", "float", 0.25, "Initial slope.", min=-10.0, max=10.0)),
    shape=_prelu_shape,
    count_params=lambda p, ins: ins[0][0] if p["per_channel"] else 1,
    macs=lambda p, ins, out: prod(out),
    torch_class="PReLU",
    torch_kwargs=lambda p, ins: {"num_parameters": ins[0][0] if p["per_channel"] else 1,
                                 "init": p["init"]},
    summary_keys=("per_channel",),
)


# ---- Reshaping ----------------------------------------------------------------------------------


def _flatten_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    shape = ins[0]
    if not shape:
        raise ShapeError("a scalar has no dimensions to flatten",
                         fix="use a Reshape with shape [1] instead")
    start = _sample_dim(p["start_dim"], len(shape), "start_dim")
    end = _sample_dim(p["end_dim"], len(shape), "end_dim")
    if start > end:
        raise ShapeError(f"start_dim ({p['start_dim']}) comes after end_dim ({p['end_dim']})")
    return shape[:start] + (prod(shape[start:end + 1]),) + shape[end + 1:]


_register(
    type_id="Flatten",
    pass_through=True,
    category=SHAPE,
    doc="Joins dimensions into one, e.g. channels×height×width → features for a Linear layer.",
    params=(
        Param("start_dim", "int", 0, "First sample dimension to join.", min=-8, max=8),
        Param("end_dim", "int", -1, "Last sample dimension to join (−1: the last).", min=-8, max=8),
    ),
    shape=_flatten_shape,
    torch_class="Flatten",
    torch_kwargs=lambda p, ins: {"start_dim": _torch_dim(p["start_dim"]),
                                 "end_dim": _torch_dim(p["end_dim"])},
)


def _reshape_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    target = [int(d) for d in p["shape"]]
    total = prod(ins[0])
    if target.count(-1) > 1:
        raise ShapeError("at most one dimension may be −1 (inferred)")
    known = prod(d for d in target if d != -1)
    if -1 in target:
        if known == 0 or total % known:
            raise ShapeError(f"cannot reshape {fmt_shape(ins[0])} ({total} values) to {target}")
        target[target.index(-1)] = total // known
    elif known != total:
        raise ShapeError(
            f"cannot reshape {fmt_shape(ins[0])} ({total} values) into "
            f"{fmt_shape(target)} ({known} values)",
            fix="use −1 for one dimension to infer it")
    return tuple(target)


_register(
    type_id="Reshape",
    pass_through=True,
    category=SHAPE,
    doc="Views the sample with a new shape holding the same number of values.",
    params=(Param("shape", "ints", [-1], "Target sample shape; one entry may be −1 (inferred).",
                  min=1, allow_minus_one=True, short="{}"),),
    shape=_reshape_shape,
    torch_class="Reshape",
    torch_kwargs=lambda p, ins: {"shape": tuple(_reshape_shape(p, ins))},
    summary_keys=("shape",),
)


def _permute_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    dims = list(p["dims"])
    if sorted(dims) != list(range(len(ins[0]))):
        raise ShapeError(
            f"dims {dims} must list each of 0…{len(ins[0]) - 1} once for input {fmt_shape(ins[0])}")
    return tuple(ins[0][d] for d in dims)


_register(
    type_id="Permute",
    pass_through=True,
    category=SHAPE,
    doc="Reorders the sample dimensions, e.g. [1, 0] swaps channels and length.",
    params=(Param("dims", "ints", [1, 0], "New order of the sample dimensions.", min=0, max=8,
                  short="dims {}"),),
    shape=_permute_shape,
    torch_class="Permute",
    torch_kwargs=lambda p, ins: {"dims": tuple(p["dims"])},
    summary_keys=("dims",),
)


def _upsample_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    shape = ins[0]
    if p["mode"] == "bilinear" and len(shape) != 3:
        raise ShapeError("bilinear mode needs channels×height×width", fix="use mode 'nearest'")
    return (shape[0],) + tuple(int(math.floor(d * p["scale_factor"])) for d in shape[1:])


_register(
    type_id="Upsample",
    category=SHAPE,
    doc="Enlarges feature maps by a whole factor (nearest or bilinear).",
    params=(
        Param("scale_factor", "int", 2, "How many times larger each spatial axis becomes.",
              min=1, max=16, short="×{}"),
        Param("mode", "choice", "nearest", "Interpolation.", choices=("nearest", "bilinear")),
        Param("align_corners", "bool", False, "The corner pixels of the input and the output "
              "line up (torch's align_corners=True); off: pixel centres scale (half-pixel).",
              when=(("mode", ("bilinear",)),), short="corners"),
    ),
    input_spec=InputSpec((2, 3), "channels×length or channels×height×width"),
    shape=_upsample_shape,
    macs=lambda p, ins, out: prod(out) * (4 if p["mode"] == "bilinear" else 0),
    torch_class="Upsample",
    torch_kwargs=lambda p, ins: {"scale_factor": float(p["scale_factor"]), "mode": p["mode"],
                                 **({"align_corners": True} if p["mode"] == "bilinear"
                                    and p["align_corners"] else {})},
    summary_keys=("scale_factor", "align_corners"),
)

# ---- Merge --------------------------------------------------------------------------------------

MAX_MERGE_INPUTS = 64  # DenseNet-201's last dense block concatenates 49 tensors
_MERGE_IN = (Port("in", "Tensors to merge, in link order.", variadic=True, min_links=2,
                  max_links=MAX_MERGE_INPUTS),)


def _broadcast(ins: Sequence[Shape]) -> Shape:
    """Same-rank broadcasting: size-1 axes stretch. Ranks must match because torch would align
    a lower-rank input against the batch dimension and mix samples."""
    ranks = {len(s) for s in ins}
    if len(ranks) > 1:
        raise ShapeError("inputs have different ranks: " + ", ".join(fmt_shape(s) for s in ins),
                         fix="insert a Reshape so every input has the same number of dimensions")
    rank = ranks.pop()
    out = []
    for axis in range(rank):
        sizes = {s[axis] for s in ins} - {1}
        if len(sizes) > 1:
            shapes = ", ".join(fmt_shape(s) for s in ins)
            raise ShapeError(f"inputs have shapes that do not match: {shapes}",
                             fix=_mismatch_fix(rank, axis, sizes))
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _mismatch_fix(rank: int, axis: int, sizes: set[int]) -> str:
    """How to make merged branches agree: in width (channels, features), or — along a spatial
    axis of a feature map, where one branch strides or pools and the other does not — in size."""
    if rank < 3 or axis == 0:
        return "make the branches produce the same shape (e.g. a Linear or 1×1 Conv2d to match widths)"
    small, large = min(sizes), max(sizes)
    if len(sizes) == 2 and large % small == 0:
        step = large // small
        return (f"one branch is {step}× smaller here (a stride or pooling): give the other the "
                f"same, e.g. a 1×1 Conv2d with stride {step} on the shortcut")
    return "give every branch the same strides and pooling, so their sizes match"


for _type_id, _doc in (("Add", "Adds its inputs element-wise (residual connections)."),
                       ("Multiply", "Multiplies its inputs element-wise (gating).")):
    _register(
        type_id=_type_id,
        category=MERGE,
        doc=_doc,
        params=(),
        inputs=_MERGE_IN,
        shape=lambda p, ins: _broadcast(ins),
        macs=lambda p, ins, out: prod(out) * (len(ins) - 1),
        torch_class=_type_id,
    )


def _concat_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    ranks = {len(s) for s in ins}
    if len(ranks) > 1:
        raise ShapeError("inputs have different ranks: " + ", ".join(fmt_shape(s) for s in ins))
    rank = ranks.pop()
    dim = _sample_dim(p["dim"], rank)
    for s in ins[1:]:
        if s[:dim] + s[dim + 1:] != ins[0][:dim] + ins[0][dim + 1:]:
            raise ShapeError(
                f"inputs must match except along dim {p['dim']}: "
                + ", ".join(fmt_shape(s) for s in ins))
    return ins[0][:dim] + (sum(s[dim] for s in ins),) + ins[0][dim + 1:]


_register(
    type_id="Concat",
    pass_through=True,
    category=MERGE,
    doc="Joins its inputs along one dimension (channels by default), in link order.",
    params=(_dim_param(0, "Sample dimension to join along (0: channels/features)."),),
    inputs=_MERGE_IN,
    shape=_concat_shape,
    torch_class="Concat",
    torch_kwargs=lambda p, ins: {"dim": _torch_dim(p["dim"])},
    summary_keys=("dim",),
)

# ---- Padding, slicing, arithmetic and reductions ------------------------------------------------


def _pad_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    pads, shape, mode = list(p["padding"]), list(ins[0]), p["mode"]
    axes = len(pads) // 2
    if len(pads) % 2 or not pads:
        raise ShapeError(f"padding needs two values per padded axis, not {len(pads)}")
    if axes > len(shape):
        raise ShapeError(f"padding {axes} axes of a rank-{len(shape)} sample")
    if mode != "constant" and len(shape) > axes + 1:
        raise ShapeError(f"{mode} padding of {axes} axes works on at most channels plus "
                         f"{axes} axes, got {fmt_shape(ins[0])}",
                         fix="give padding for every axis after the channels")
    for i in range(axes):
        axis = len(shape) - 1 - i
        before, after = pads[2 * i], pads[2 * i + 1]
        if (mode == "reflect" and max(before, after) >= shape[axis]) or (
                mode == "circular" and max(before, after) > shape[axis]):
            raise ShapeError(f"{mode} padding of {max(before, after)} needs an axis longer than "
                             f"{shape[axis]}", fix="use less padding or mode 'constant'")
        shape[axis] += before + after
    return tuple(shape)


_register(
    type_id="Pad",
    category=SHAPE,
    doc="Pads the last axes, each side its own amount, with a constant, a mirror of the edge "
        "(reflect), the edge repeated (replicate) or the far side (circular).",
    params=(Param("padding", "ints", [1, 1, 1, 1], "Per side, last axis first, as torch's "
                  "F.pad: left, right[, top, bottom[, front, back]].", min=0, max=1024,
                  short="{}"),
            Param("mode", "choice", "constant", "What the padding holds.",
                  choices=("constant", "reflect", "replicate", "circular")),
            Param("value", "float", 0.0, "The constant.", min=-1e9, max=1e9,
                  when=(("mode", ("constant",)),))),
    shape=_pad_shape,
    torch_class="Pad",
    torch_kwargs=lambda p, ins: {"padding": tuple(p["padding"]), "mode": p["mode"],
                                 "value": p["value"]},
    summary_keys=("padding", "mode"),
)


def _slice_range(p: Params, shape: Shape) -> tuple[int, range]:
    dim = _sample_dim(p["dim"], len(shape))
    stop = p["stop"] if p["stop"] != 0 else None
    kept = range(*slice(p["start"], stop, p["step"]).indices(shape[dim]))
    if not kept:
        raise ShapeError(f"start {p['start']}, stop {p['stop']} keep nothing of the "
                         f"{shape[dim]} entries of dim {p['dim']}")
    return dim, kept


def _slice_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    dim, kept = _slice_range(p, ins[0])
    return ins[0][:dim] + (len(kept),) + ins[0][dim + 1:]


def _slice_kwargs(p: Params, ins: Sequence[Shape]) -> dict[str, Any]:
    dim, kept = _slice_range(p, ins[0])
    return {"dim": dim + 1, "start": kept.start, "stop": kept.stop, "step": kept.step}


_register(
    type_id="Slice",
    category=SHAPE,
    pass_through=True,
    doc="Keeps entries start, start+step, … before stop along one dimension (Python's "
        "x[start:stop:step]); e.g. the class token of a sequence, or every second pixel.",
    params=(_dim_param(0, "Sample dimension to slice (0: channels/steps)."),
            Param("start", "int", 0, "First index kept; negative counts from the end.",
                  min=-1_000_000, max=1_000_000),
            Param("stop", "int", 0, "Index after the last one kept; negative counts from the "
                  "end; 0 means to the end.", min=-1_000_000, max=1_000_000),
            Param("step", "int", 1, "Keep every step-th entry.", min=1, max=1_000_000)),
    input_spec=InputSpec((1, 2, 3, 4, 5), "at least one dimension"),
    shape=_slice_shape,
    torch_class="Slice",
    torch_kwargs=_slice_kwargs,
    summary_keys=("dim", "start", "stop", "step"),
)

_TWO_PARTS = (Port("first", "The first part."), Port("second", "The rest."))


def _split_shapes(p: Params, ins: Sequence[Shape]) -> tuple[Shape, Shape]:
    """Two parts along ``dim``: ``size`` entries (negative: all but that many) and the rest;
    Chunk's size is half, rounded up, as torch.chunk(x, 2)."""
    shape = ins[0]
    dim = _sample_dim(p["dim"], len(shape))
    n = shape[dim]
    first = -(-n // 2) if "size" not in p else (p["size"] if p["size"] > 0 else n + p["size"])
    if not 0 < first < n:
        raise ShapeError(f"cannot split the {n} entries of dim {p['dim']} into two non-empty "
                         f"parts" + (f" at {p['size']}" if "size" in p else ""))
    return (shape[:dim] + (first,) + shape[dim + 1:], shape[:dim] + (n - first,) + shape[dim + 1:])


for _type_id, _doc, _extra in (
        ("Split", "Cuts the tensor in two along one dimension: the first size entries and the "
         "rest (two outputs).", (Param("size", "int", 1, "Entries in the first part; negative: "
                                       "all but that many.", min=-1_000_000, max=1_000_000),)),
        ("Chunk", "Cuts the tensor into two halves along one dimension (the first gets the odd "
         "one), as torch.chunk(x, 2); e.g. value and gate of a GLU.", ())):
    _register(
        type_id=_type_id,
        category=SHAPE,
        pass_through=True,
        doc=_doc,
        params=(_dim_param(0, "Sample dimension to cut (0: channels/steps)."),) + _extra,
        outputs=_TWO_PARTS,
        input_spec=InputSpec((1, 2, 3, 4, 5), "at least one dimension"),
        shape=_split_shapes,
        torch_class="Split",
        torch_kwargs=lambda p, ins: {"dim": _sample_dim(p["dim"], len(ins[0])) + 1,
                                     "first": _split_shapes(p, ins)[0][
                                         _sample_dim(p["dim"], len(ins[0]))]},
        summary_keys=("dim",) + tuple(q.name for q in _extra),
    )

_register(
    type_id="Subtract",
    category=MERGE,
    doc="a − b element-wise (size-1 axes broadcast).",
    params=(),
    inputs=(Port("a", "The tensor subtracted from."), Port("b", "The tensor subtracted.")),
    shape=lambda p, ins: _broadcast(ins),
    macs=lambda p, ins, out: prod(out),
    torch_class="Subtract",
)


def _matmul_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    a, b = ins
    if len(a) != len(b) or a[:-2] != b[:-2]:
        raise ShapeError(f"a {fmt_shape(a)} and b {fmt_shape(b)} must have the same leading "
                         "dimensions")
    if a[-1] != b[-2]:
        raise ShapeError(f"a's last size ({a[-1]}) must equal b's second-to-last ({b[-2]}): "
                         f"{fmt_shape(a)} @ {fmt_shape(b)}", port="b")
    return a[:-1] + (b[-1],)


_register(
    type_id="MatMul",
    category=MATH,
    doc="Matrix product a @ b of the last two dimensions (…×n×k @ …×k×m → …×n×m).",
    params=(),
    inputs=(Port("a", "Left matrix (…×n×k)."), Port("b", "Right matrix (…×k×m).")),
    input_spec=InputSpec((2, 3), "matrices (rank 2, or 3 with a leading dimension)"),
    shape=_matmul_shape,
    macs=lambda p, ins, out: prod(out) * ins[0][-1],
    matmul_macs=lambda p, ins, out: prod(out) * ins[0][-1],
    torch_class="MatMul",
)

_register(
    type_id="Scale",
    category=MATH,
    doc="Multiplies every value by a constant, then adds a constant (x·factor + offset).",
    params=(Param("factor", "float", 1.0, "The constant every value is multiplied by.",
                  min=-1e9, max=1e9, short="×{}"),
            Param("offset", "float", 0.0, "The constant added after the multiplication.",
                  min=-1e9, max=1e9, short="+{}")),
    shape=lambda p, ins: ins[0],
    macs=lambda p, ins, out: prod(out),
    torch_class="Scale",
    torch_kwargs=lambda p, ins: {"factor": p["factor"], "offset": p["offset"]},
    summary_keys=("factor", "offset"),
)


def _reduce_dims(p: Params, shape: Shape) -> list[int]:
    dims = [_sample_dim(d, len(shape), "dims entry") for d in p["dims"]]
    if not dims or len(set(dims)) != len(dims):
        raise ShapeError(f"dims {list(p['dims'])} must name each dimension at most once "
                         "(and at least one)")
    return sorted(dims)


def _reduce_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    dims = _reduce_dims(p, ins[0])
    if p["keepdim"]:
        return tuple(1 if i in dims else d for i, d in enumerate(ins[0]))
    return tuple(d for i, d in enumerate(ins[0]) if i not in dims)


for _type_id, _doc in (("Mean", "Average over one or more dimensions."),
                       ("Sum", "Sum over one or more dimensions."),
                       ("Max", "Maximum over one or more dimensions.")):
    _register(
        type_id=_type_id,
        category=MATH,
        doc=_doc,
        params=(Param("dims", "ints", [-1], "Sample dimensions to reduce (negative count from "
                      "the end).", min=-8, max=8, short="dims {}"),
                Param("keepdim", "bool", False, "Keep reduced dimensions with size 1.",
                      short="keepdim")),
        input_spec=InputSpec((1, 2, 3, 4, 5), "at least one dimension"),
        shape=_reduce_shape,
        macs=lambda p, ins, out: prod(ins[0]),
        torch_class="Reduce",
        torch_kwargs=lambda p, ins, op=_type_id.lower(): {
            "op": op, "dims": tuple(d + 1 for d in _reduce_dims(p, ins[0])),
            "keepdim": p["keepdim"]},
        summary_keys=("dims",),
    )

# ---- Learned tensors ------------------------------------------------------------------------------

_register(
    type_id="Parameter",
    category=CORE,
    doc="A learned tensor of a given shape, the same for every sample (a class token, a "
        "position embedding, a query); its input only sets the batch size.",
    params=(Param("shape", "ints", [1, 64], "Shape of the tensor, without the batch.", min=1,
                  short="{}"),
            Param("init", "choice", "normal", "Initial values: normal (std 0.02), zeros or ones.",
                  choices=("normal", "zeros", "ones"))),
    inputs=(Port("in", "Any tensor; only its batch size is read."),),
    shape=lambda p, ins: tuple(int(d) for d in p["shape"]),
    count_params=lambda p, ins: prod(p["shape"]),
    torch_class="Parameter",
    torch_kwargs=lambda p, ins: {"shape": tuple(p["shape"]), "init": p["init"]},
    summary_keys=("shape",),
)


def _layer_scale_shape(p: Params, ins: Sequence[Shape]) -> tuple[int, ...]:
    """(C, 1, …) for channels first, (E,) for features last."""
    shape = ins[0]
    return (shape[0],) + (1,) * (len(shape) - 1) if p["channels_first"] else (shape[-1],)


_register(
    type_id="LayerScale",
    category=CORE,
    doc="Multiplies each channel by a learned factor that starts tiny (ConvNeXt, CaiT), so a "
        "deep residual branch starts close to off.",
    params=(Param("init_value", "float", 1e-6, "Initial factor.", min=0.0, max=10.0),
            Param("channels_first", "bool", True, "Scale the first sample dimension (C×H×W "
                  "maps); off: the last (sequence×features).")),
    input_spec=InputSpec((1, 2, 3, 4), "channels first or features last"),
    shape=lambda p, ins: ins[0],
    count_params=lambda p, ins: prod(_layer_scale_shape(p, ins)),
    macs=lambda p, ins, out: prod(out),
    torch_class="LayerScale",
    torch_kwargs=lambda p, ins: {"shape": _layer_scale_shape(p, ins),
                                 "init_value": p["init_value"]},
)

# ---- Recurrent & embedding ----------------------------------------------------------------------


def _embedding_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    if p["padding_idx"] >= p["num_embeddings"]:
        raise ShapeError(f"padding_idx {p['padding_idx']} is not an id of the vocabulary of "
                         f"{p['num_embeddings']}", fix="use an id below the vocabulary size, or -1")
    return ins[0] + (p["embedding_dim"],)


_register(
    type_id="Embedding",
    reads_token_ids=True,
    category=SEQ,
    doc="Looks up a learned vector for every integer token id.",
    params=(
        Param("num_embeddings", "int", 1000, "Vocabulary size (ids are 0…size−1).", min=1,
              max=10_000_000, short="vocab {}"),
        Param("embedding_dim", "int", 64, "Length of each vector.", min=1, max=65536, short="d{}"),
        Param("padding_idx", "int", -1, "A padding token id: its vector gets no gradient "
              "(stays as it is) and starts at zero; −1: none.", min=-1, max=10_000_000),
    ),
    input_spec=InputSpec((1,), "a sequence of token ids"),
    shape=_embedding_shape,
    count_params=lambda p, ins: p["num_embeddings"] * p["embedding_dim"],
    torch_class="Embedding",
    torch_kwargs=lambda p, ins: {"num_embeddings": p["num_embeddings"],
                                 "embedding_dim": p["embedding_dim"],
                                 **({"padding_idx": p["padding_idx"]} if p["padding_idx"] >= 0 else {})},
    summary_keys=("num_embeddings", "embedding_dim"),
)

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _recurrent(type_id: str, doc: str) -> None:
    gates = _GATES[type_id]
    params = (
        Param("hidden_size", "int", 64, "Features in the hidden state.", min=1, max=65536,
              short="h{}"),
        Param("num_layers", "int", 1, "Stacked recurrent layers.", min=1, max=16),
        Param("bidirectional", "bool", False, "Also read the sequence backwards."),
        Param("dropout", "float", 0.0, "Dropout between stacked layers.", min=0.0, max=0.99),
        Param("return_sequence", "bool", False,
              "Return every step (sequence×features) instead of the last step only.", short="seq"),
    )
    if type_id == "RNN":
        params += (Param("nonlinearity", "choice", "tanh", "Activation of the cell.",
                         choices=("tanh", "relu")),)

    def shape(p: Params, ins: Sequence[Shape]) -> Shape:
        seq = ins[0]
        width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
        return (seq[0], width) if p["return_sequence"] else (width,)

    def layer_inputs(p: Params, ins: Sequence[Shape]) -> list[int]:
        dirs = 2 if p["bidirectional"] else 1
        return [ins[0][1]] + [p["hidden_size"] * dirs] * (p["num_layers"] - 1)

    def count(p: Params, ins: Sequence[Shape]) -> int:
        h, dirs = p["hidden_size"], 2 if p["bidirectional"] else 1
        return sum(dirs * gates * (h * i + h * h + 2 * h) for i in layer_inputs(p, ins))

    def macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
        h, dirs = p["hidden_size"], 2 if p["bidirectional"] else 1
        return ins[0][0] * sum(dirs * gates * (h * i + h * h) for i in layer_inputs(p, ins))

    def kwargs(p: Params, ins: Sequence[Shape]) -> dict[str, Any]:
        out = {"input_size": ins[0][1], "hidden_size": p["hidden_size"],
               "num_layers": p["num_layers"], "bidirectional": p["bidirectional"],
               "dropout": p["dropout"] if p["num_layers"] > 1 else 0.0,
               "return_sequence": p["return_sequence"]}
        if type_id == "RNN":
            out["nonlinearity"] = p["nonlinearity"]
        return out

    _register(type_id=type_id, category=SEQ, doc=doc, params=params, shape=shape,
              input_spec=InputSpec((2,), "sequence×features",
                                   "insert a Reshape to steps×features (e.g. image rows as steps)"),
              count_params=count, macs=macs, matmul_macs=macs, torch_class=f"Recurrent{type_id}",
              torch_kwargs=kwargs,
              summary_keys=("hidden_size", "return_sequence"))


_recurrent("RNN", "Elman recurrent layer over sequence×features input.")
_recurrent("LSTM", "Long short-term memory layer over sequence×features input.")
_recurrent("GRU", "Gated recurrent unit layer over sequence×features input.")

# ---- Attention ----------------------------------------------------------------------------------

_SEQUENCE = InputSpec((2,), "sequence×features", "insert a Reshape to steps×features")
_HEADS = Param("num_heads", "int", 4, "Attention heads; must divide the feature width.",
               min=1, max=256, short="{} heads")
_BIAS = Param("bias", "bool", True, "Learn biases in the projections (and LayerNorms).")


def _check_heads(p: Params, width: int) -> None:
    if width % p["num_heads"]:
        raise ShapeError(f"num_heads={p['num_heads']} must divide the {width} features",
                         fix="pick a number of heads that divides the feature width")


def _attention_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    _check_heads(p, ins[0][1])
    return ins[0]


def _attn_matmul(sq: int, sk: int, e: int, kd: int) -> int:
    """Projections of queries (sq×e), keys and values (sk×kd) and the output, then the scores
    and the weighted sum."""
    return 2 * sq * e * e + 2 * sk * e * kd + 2 * sq * sk * e


def _attn_count(e: int, kd: int, bias: bool) -> int:
    return 2 * e * e + 2 * e * kd + (4 * e if bias else 0)


def _self_attention_macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
    s, e = ins[0]
    return _attn_matmul(s, s, e, e) + 3 * p["num_heads"] * s * s  # softmax over every head


_register(
    type_id="MultiheadSelfAttention",
    category=ATTN,
    doc="Every step attends to every other step (multi-head scaled dot-product attention).",
    display_name="Self-Attention",
    params=(
        _HEADS,
        Param("dropout", "float", 0.0, "Dropout on the attention weights.", min=0.0, max=0.99),
        Param("bias", "bool", True, "Learn biases in the projections."),
    ),
    input_spec=_SEQUENCE,
    shape=_attention_shape,
    count_params=lambda p, ins: _attn_count(ins[0][1], ins[0][1], p["bias"]),
    macs=_self_attention_macs,
    matmul_macs=lambda p, ins, out: _attn_matmul(ins[0][0], ins[0][0], ins[0][1], ins[0][1]),
    torch_class="SelfAttention",
    torch_kwargs=lambda p, ins: {"embed_dim": ins[0][1], "num_heads": p["num_heads"],
                                 "dropout": p["dropout"], "bias": p["bias"]},
    summary_keys=("num_heads",),
)


def _cross_attention_macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
    (sq, e), (sk, kd) = ins
    return _attn_matmul(sq, sk, e, kd) + 3 * p["num_heads"] * sq * sk


_register(
    type_id="MultiheadAttention",
    category=ATTN,
    doc="Each query step attends to every step of a second sequence (cross-attention); the "
        "key/value sequence may have another length and width.",
    display_name="Cross-Attention",
    params=(
        _HEADS,
        Param("dropout", "float", 0.0, "Dropout on the attention weights.", min=0.0, max=0.99),
        Param("bias", "bool", True, "Learn biases in the projections."),
    ),
    inputs=(Port("query", "The sequence that asks (steps×features); the output has its shape."),
            Port("key_value", "The sequence attended to (steps×features).")),
    input_spec=_SEQUENCE,
    shape=_attention_shape,
    count_params=lambda p, ins: _attn_count(ins[0][1], ins[1][1], p["bias"]),
    macs=_cross_attention_macs,
    matmul_macs=lambda p, ins, out: _attn_matmul(ins[0][0], ins[1][0], ins[0][1], ins[1][1]),
    torch_class="CrossAttention",
    torch_kwargs=lambda p, ins: {"embed_dim": ins[0][1], "kv_dim": ins[1][1],
                                 "num_heads": p["num_heads"], "dropout": p["dropout"],
                                 "bias": p["bias"]},
    summary_keys=("num_heads",),
)


def _transformer_params(stack: bool = False) -> tuple[Param, ...]:
    params = (
        _HEADS,
        Param("dim_feedforward", "int", 128, "Width of the feed-forward block (torch's default "
              "is 2048).", min=1, max=1_000_000, short="ff{}"),
        Param("dropout", "float", 0.1, "Dropout inside the layer.", min=0.0, max=0.99),
        Param("activation", "choice", "relu", "Feed-forward activation.", choices=("relu", "gelu")),
        Param("norm_first", "bool", False, "LayerNorm before (pre-norm, as in ViT) instead of "
              "after."),
        Param("layer_norm_eps", "float", 1e-5, "Added to the variance in the LayerNorms "
              "(ViT uses 1e-6).", min=1e-12, max=1.0),
        _BIAS,
    )
    if stack:
        params += (Param("num_layers", "int", 6, "How many identical layers are stacked.",
                         min=1, max=256, short="×{}"),)
    return params


def _transformer_kwargs(p: Params, ins: Sequence[Shape]) -> dict[str, Any]:
    out = {"d_model": ins[0][1], "nhead": p["num_heads"], "dim_feedforward": p["dim_feedforward"],
           "dropout": p["dropout"], "activation": p["activation"],
           "layer_norm_eps": p["layer_norm_eps"], "batch_first": True,
           "norm_first": p["norm_first"], "bias": p["bias"]}
    if "num_layers" in p:
        out["num_layers"] = p["num_layers"]
    return out


def _ff_count(e: int, f: int, bias: bool) -> int:
    return 2 * e * f + (f + e if bias else 0)


def _norms_count(e: int, norms: int, bias: bool) -> int:
    return norms * (2 * e if bias else e)


def _encoder_count(p: Params, ins: Sequence[Shape]) -> int:
    e, f, bias = ins[0][1], p["dim_feedforward"], p["bias"]
    return _attn_count(e, e, bias) + _ff_count(e, f, bias) + _norms_count(e, 2, bias)


def _encoder_matmul(p: Params, ins: Sequence[Shape], out: Shape) -> int:
    s, e = ins[0]
    return _attn_matmul(s, s, e, e) + 2 * s * e * p["dim_feedforward"]


def _encoder_macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
    """Matmuls + softmax of every head + the FF activation + 2 LayerNorms + 2 residual adds."""
    s, e = ins[0]
    rest = 3 * p["num_heads"] * s * s + s * p["dim_feedforward"] + 2 * 2 * s * e + 2 * s * e
    return _encoder_matmul(p, ins, out) + rest


def _layers(p: Params) -> int:
    return p.get("num_layers", 1)


for _type_id, _label, _doc, _stack in (
        ("TransformerEncoderLayer", "Transformer Encoder",
         "Self-attention followed by a feed-forward block, each with residual and LayerNorm.",
         False),
        ("TransformerEncoder", "Transformer Encoder Stack",
         "num_layers Transformer encoder layers in a row (as in BERT or ViT).", True)):
    _register(
        type_id=_type_id,
        category=ATTN,
        doc=_doc,
        display_name=_label,
        params=_transformer_params(stack=_stack),
        input_spec=_SEQUENCE,
        shape=_attention_shape,
        count_params=lambda p, ins: _layers(p) * _encoder_count(p, ins),
        macs=lambda p, ins, out: _layers(p) * _encoder_macs(p, ins, out),
        matmul_macs=lambda p, ins, out: _layers(p) * _encoder_matmul(p, ins, out),
        torch_class="TransformerEncoderStack" if _stack else "TransformerEncoderLayer",
        torch_kwargs=_transformer_kwargs,
        summary_keys=("num_heads", "dim_feedforward") + (("num_layers",) if _stack else ()),
    )


def _decoder_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    (sq, e), (sk, em) = ins
    if em != e:
        raise ShapeError(f"the memory has {em} features but the target {e}; they must match",
                         fix="insert a Linear on the memory to match the widths", port="memory")
    _check_heads(p, e)
    return ins[0]


def _decoder_matmul(p: Params, ins: Sequence[Shape], out: Shape) -> int:
    (sq, e), (sk, _) = ins
    return _attn_matmul(sq, sq, e, e) + _attn_matmul(sq, sk, e, e) + 2 * sq * e * p["dim_feedforward"]


def _decoder_macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
    """Matmuls + both softmaxes + the FF activation + 3 LayerNorms + 3 residual adds."""
    (sq, e), (sk, _) = ins
    rest = (3 * p["num_heads"] * (sq * sq + sq * sk) + sq * p["dim_feedforward"]
            + 3 * 2 * sq * e + 3 * sq * e)
    return _decoder_matmul(p, ins, out) + rest


_register(
    type_id="TransformerDecoderLayer",
    category=ATTN,
    doc="Self-attention over the target, cross-attention to the memory (an encoder's output), "
        "then a feed-forward block; each with residual and LayerNorm. No causal mask.",
    display_name="Transformer Decoder",
    params=_transformer_params(),
    inputs=(Port("in", "The target sequence (steps×features)."),
            Port("memory", "The sequence attended to, e.g. an encoder's output.")),
    input_spec=_SEQUENCE,
    shape=_decoder_shape,
    count_params=lambda p, ins: (2 * _attn_count(ins[0][1], ins[0][1], p["bias"])
                                 + _ff_count(ins[0][1], p["dim_feedforward"], p["bias"])
                                 + _norms_count(ins[0][1], 3, p["bias"])),
    macs=_decoder_macs,
    matmul_macs=_decoder_matmul,
    torch_class="TransformerDecoderLayer",
    torch_kwargs=_transformer_kwargs,
    summary_keys=("num_heads", "dim_feedforward"),
)


def _token_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    return (ins[0][0] + 1, ins[0][1])


_register(
    type_id="ClassToken",
    category=ATTN,
    doc="Puts a learned token before the sequence (ViT's class token): steps×features → "
        "(steps+1)×features.",
    display_name="Prepend Class Token",
    params=(),
    input_spec=_SEQUENCE,
    shape=_token_shape,
    count_params=lambda p, ins: ins[0][1],
    torch_class="ClassToken",
    torch_kwargs=lambda p, ins: {"embed_dim": ins[0][1]},
)

_register(
    type_id="PositionEmbedding",
    category=ATTN,
    doc="Adds a learned vector to every step, so attention can tell positions apart.",
    display_name="Add Position Embedding",
    params=(Param("std", "float", 0.02, "Standard deviation of the initial values.",
                  min=0.0, max=10.0),),
    input_spec=_SEQUENCE,
    shape=lambda p, ins: ins[0],
    count_params=lambda p, ins: prod(ins[0]),
    macs=lambda p, ins, out: prod(out),
    torch_class="PositionEmbedding",
    torch_kwargs=lambda p, ins: {"length": ins[0][0], "embed_dim": ins[0][1], "std": p["std"]},
)

# ---- Imported operators without a layer ---------------------------------------------------------


def _unsupported_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    raise ShapeError(f"the imported operator {p['operator']} has no Netwright layer"
                     + (f" ({p['reason']})" if p["reason"] else ""),
                     fix="replace this placeholder with layers that compute the same")


_register(
    type_id="Unsupported",
    category=IO,
    doc="Placeholder for an imported operator Netwright cannot map; an error until replaced.",
    display_name="Unsupported (imported)",
    params=(
        Param("operator", "str", "", "The source operator this node stands for."),
        Param("reason", "str", "", "Why it could not be mapped."),
    ),
    inputs=(Port("in", "The operator's tensor inputs.", variadic=True, min_links=0,
                  max_links=MAX_MERGE_INPUTS),),
    shape=_unsupported_shape,
    summary_keys=("operator",),
    is_placeholder=True,
)
