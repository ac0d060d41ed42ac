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

IO, CORE, CONV, POOL, NORM, REG, ACT, SHAPE, MERGE, SEQ, ATTN = (
    "Input / Output",
    "Core",
    "Convolution",
    "Pooling",
    "Normalization",
    "Regularization",
    "Activation",
    "Reshaping",
    "Merge",
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


def _conv_out(size: int, k: int, s: int, pad: int, d: int) -> int:
    return (size + 2 * pad - d * (k - 1) - 1) // s + 1


def _conv_params(n: int) -> tuple[Param, ...]:
    return (
        Param("out_channels", "int", 16, "Number of filters (output channels).", min=1, max=65536,
              short="{}"),
        Param("kernel_size", "size", 3, "Filter size: one number or one per spatial axis.",
              min=1, max=64, length=n, short="k{}"),
        Param("stride", "size", 1, "Step between filter positions.", min=1, max=64, length=n,
              short="s{}"),
        Param("padding", "size", 1, "Zeros added on each side of every spatial axis.",
              min=0, max=64, length=n),
        Param("dilation", "size", 1, "Spacing between filter taps.", min=1, max=64, length=n),
        Param("groups", "int", 1, "Split channels into groups convolved separately.",
              min=1, max=65536),
        Param("bias", "bool", True, "Learn an additive bias per filter."),
    )


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


def _conv_shape(n: int, transposed: bool = False):
    def rule(p: Params, ins: Sequence[Shape]) -> Shape:
        shape = ins[0]
        c, spatial = shape[0], shape[1:]
        _check_groups(p, c)
        k, s, pad, d = (pair(p[key], n) for key in ("kernel_size", "stride", "padding", "dilation"))
        if transposed:
            op = pair(p["output_padding"], n)
            for i in range(n):
                if op[i] >= max(s[i], d[i]):
                    raise ShapeError("output_padding must be smaller than stride or dilation")
            out = tuple((spatial[i] - 1) * s[i] - 2 * pad[i] + d[i] * (k[i] - 1) + op[i] + 1
                        for i in range(n))
        else:
            out = tuple(_conv_out(spatial[i], k[i], s[i], pad[i], d[i]) for i in range(n))
        if min(out) < 1:
            raise ShapeError(
                f"input {fmt_shape(shape)} is too small for kernel {fmt_shape(k)}"
                f" (output would be {fmt_shape(out)})",
                fix="use a smaller kernel or stride, more padding, or remove a pooling layer before it",
            )
        return (p["out_channels"],) + out

    return rule


def _conv_count(n: int):
    def count(p: Params, ins: Sequence[Shape]) -> int:
        k = prod(pair(p["kernel_size"], n))
        return ins[0][0] // p["groups"] * p["out_channels"] * k + (p["out_channels"] if p["bias"] else 0)

    return count


def _conv_macs(n: int, transposed: bool = False):
    def macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
        k = prod(pair(p["kernel_size"], n))
        if transposed:  # every input element is scattered through the kernel
            return prod(ins[0]) * (p["out_channels"] // p["groups"]) * k
        return prod(out) * (ins[0][0] // p["groups"]) * k

    return macs


def _conv_kwargs(n: int, transposed: bool = False):
    def kwargs(p: Params, ins: Sequence[Shape]) -> dict[str, Any]:
        out = {"in_channels": ins[0][0], "out_channels": p["out_channels"]}
        for key in ("kernel_size", "stride", "padding", "dilation"):
            out[key] = pair(p[key], n)
        if transposed:
            out["output_padding"] = pair(p["output_padding"], n)
        out["groups"] = p["groups"]
        out["bias"] = p["bias"]
        return out

    return kwargs


_register(
    type_id="Conv1d",
    category=CONV,
    doc="1-D convolution over channels×length signals.",
    params=_conv_params(1),
    input_spec=_spatial_spec(1),
    shape=_conv_shape(1),
    count_params=_conv_count(1),
    macs=_conv_macs(1),
    torch_class="Conv1d",
    torch_kwargs=_conv_kwargs(1),
    summary_keys=("out_channels", "kernel_size"),
)

_register(
    type_id="Conv2d",
    category=CONV,
    doc="2-D convolution over channels×height×width images.",
    params=_conv_params(2),
    input_spec=_spatial_spec(2),
    shape=_conv_shape(2),
    count_params=_conv_count(2),
    macs=_conv_macs(2),
    torch_class="Conv2d",
    torch_kwargs=_conv_kwargs(2),
    summary_keys=("out_channels", "kernel_size", "stride"),
)

_register(
    type_id="ConvTranspose2d",
    category=CONV,
    doc="Transposed 2-D convolution: learned upsampling of feature maps.",
    params=tuple(
        Param("padding", "size", 0, "Removes this many rows/columns from each side of the output.",
              min=0, max=64, length=2) if p.name == "padding" else
        Param("kernel_size", "size", 2, p.doc, min=1, max=64, length=2,
              short="k{}") if p.name == "kernel_size" else
        Param("stride", "size", 2, p.doc, min=1, max=64, length=2,
              short="s{}") if p.name == "stride" else p
        for p in _conv_params(2)
    ) + (Param("output_padding", "size", 0, "Extra size added to one side of the output.",
               min=0, max=63, length=2),),
    input_spec=_spatial_spec(2),
    shape=_conv_shape(2, transposed=True),
    count_params=lambda p, ins: (ins[0][0] * (p["out_channels"] // p["groups"]) * prod(pair(p["kernel_size"]))
                                 + (p["out_channels"] if p["bias"] else 0)),
    macs=_conv_macs(2, transposed=True),
    torch_class="ConvTranspose2d",
    torch_kwargs=_conv_kwargs(2, transposed=True),
    summary_keys=("out_channels", "kernel_size", "stride"),
)

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
        Param("kernel_size", "size", kernel, "Window size.", min=1, max=64, length=n, short="k{}"),
        Param("stride", "size", kernel, "Step between windows (usually the window size).",
              min=1, max=64, length=n, short="s{}"),
        Param("padding", "size", 0, "Padding on each side; at most half the window.",
              min=0, max=32, length=n),
        Param("ceil_mode", "bool", False, "Round the output size up instead of down."),
    )
    if avg:
        params += (Param("count_include_pad", "bool", True, "Count padded zeros in the average."),)
    return params


def _pool_shape(n: int):
    def rule(p: Params, ins: Sequence[Shape]) -> Shape:
        shape = ins[0]
        k, s, pad = (pair(p[key], n) for key in ("kernel_size", "stride", "padding"))
        for i in range(n):
            if pad[i] * 2 > k[i]:
                raise ShapeError(f"padding {pad[i]} must be at most half the window {k[i]}")
        out = tuple(_pool_out(shape[1 + i], k[i], s[i], pad[i], p["ceil_mode"]) for i in range(n))
        if min(out) < 1:
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


_register(
    type_id="MaxPool1d",
    category=POOL,
    doc="Maximum over sliding windows along the length.",
    params=_pool_params(1),
    input_spec=_spatial_spec(1),
    shape=_pool_shape(1),
    macs=_pool_macs(1),
    torch_class="MaxPool1d",
    torch_kwargs=_pool_kwargs(1),
    summary_keys=("kernel_size",),
)

_register(
    type_id="MaxPool2d",
    category=POOL,
    doc="Maximum over sliding 2-D windows; halves height and width by default.",
    params=_pool_params(2),
    input_spec=_spatial_spec(2),
    shape=_pool_shape(2),
    macs=_pool_macs(2),
    torch_class="MaxPool2d",
    torch_kwargs=_pool_kwargs(2),
    summary_keys=("kernel_size",),
)

_register(
    type_id="AvgPool2d",
    category=POOL,
    doc="Average over sliding 2-D windows.",
    params=_pool_params(2, avg=True),
    input_spec=_spatial_spec(2),
    shape=_pool_shape(2),
    macs=_pool_macs(2),
    torch_class="AvgPool2d",
    torch_kwargs=_pool_kwargs(2, avg=True),
    summary_keys=("kernel_size",),
)

_register(
    type_id="AdaptiveAvgPool2d",
    category=POOL,
    doc="Averages each channel down to a fixed output size, whatever the input size.",
    params=(Param("output_size", "size", 1, "Output height and width.", min=1, max=1024, length=2,
                  short="out {}"),),
    input_spec=_spatial_spec(2),
    shape=lambda p, ins: (ins[0][0],) + pair(p["output_size"]),
    macs=lambda p, ins, out: prod(ins[0]),
    torch_class="AdaptiveAvgPool2d",
    torch_kwargs=lambda p, ins: {"output_size": pair(p["output_size"])},
    summary_keys=("output_size",),
)

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
    ),
    input_spec=InputSpec((2, 3), "channels×length or channels×height×width"),
    shape=_upsample_shape,
    macs=lambda p, ins, out: prod(out) * (4 if p["mode"] == "bilinear" else 0),
    torch_class="Upsample",
    torch_kwargs=lambda p, ins: {"scale_factor": float(p["scale_factor"]), "mode": p["mode"]},
    summary_keys=("scale_factor",),
)

# ---- Merge --------------------------------------------------------------------------------------

_MERGE_IN = (Port("in", "Tensors to merge, in link order.", variadic=True, min_links=2, max_links=16),)


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
                             fix="make the branches produce the same shape (e.g. a Linear or "
                                 "1×1 Conv2d to match widths)")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


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

# ---- Recurrent & embedding ----------------------------------------------------------------------


def _embedding_shape(p: Params, ins: Sequence[Shape]) -> Shape:
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
    ),
    input_spec=InputSpec((1,), "a sequence of token ids"),
    shape=_embedding_shape,
    count_params=lambda p, ins: p["num_embeddings"] * p["embedding_dim"],
    torch_class="Embedding",
    torch_kwargs=lambda p, ins: {"num_embeddings": p["num_embeddings"],
                                 "embedding_dim": p["embedding_dim"]},
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
        out = {"cell": type_id, "input_size": ins[0][1], "hidden_size": p["hidden_size"],
               "num_layers": p["num_layers"], "bidirectional": p["bidirectional"],
               "dropout": p["dropout"] if p["num_layers"] > 1 else 0.0,
               "return_sequence": p["return_sequence"]}
        if type_id == "RNN":
            out["nonlinearity"] = p["nonlinearity"]
        return out

    _register(type_id=type_id, category=SEQ, doc=doc, params=params, shape=shape,
              input_spec=InputSpec((2,), "sequence×features",
                                   "insert a Reshape to steps×features (e.g. image rows as steps)"),
              count_params=count, macs=macs, torch_class="Recurrent", torch_kwargs=kwargs,
              summary_keys=("hidden_size", "return_sequence"))


_recurrent("RNN", "Elman recurrent layer over sequence×features input.")
_recurrent("LSTM", "Long short-term memory layer over sequence×features input.")
_recurrent("GRU", "Gated recurrent unit layer over sequence×features input.")

# ---- Attention ----------------------------------------------------------------------------------


_SEQUENCE = InputSpec((2,), "sequence×features", "insert a Reshape to steps×features")


def _attention_shape(p: Params, ins: Sequence[Shape]) -> Shape:
    shape = ins[0]
    if shape[1] % p["num_heads"]:
        raise ShapeError(f"num_heads={p['num_heads']} must divide the {shape[1]} features",
                         fix="pick a number of heads that divides the feature width")
    return shape


def _attention_macs(p: Params, ins: Sequence[Shape], out: Shape) -> int:
    seq, e = ins[0]
    return 4 * seq * e * e + 2 * seq * seq * e


_register(
    type_id="MultiheadSelfAttention",
    category=ATTN,
    doc="Every step attends to every other step (multi-head scaled dot-product attention).",
    display_name="Self-Attention",
    params=(
        Param("num_heads", "int", 4, "Attention heads; must divide the feature width.",
              min=1, max=256, short="{} heads"),
        Param("dropout", "float", 0.0, "Dropout on the attention weights.", min=0.0, max=0.99),
        Param("bias", "bool", True, "Learn biases in the projections."),
    ),
    input_spec=_SEQUENCE,
    shape=_attention_shape,
    count_params=lambda p, ins: 4 * ins[0][1] ** 2 + (4 * ins[0][1] if p["bias"] else 0),
    macs=_attention_macs,
    torch_class="SelfAttention",
    torch_kwargs=lambda p, ins: {"embed_dim": ins[0][1], "num_heads": p["num_heads"],
                                 "dropout": p["dropout"], "bias": p["bias"]},
    summary_keys=("num_heads",),
)


def _encoder_count(p: Params, ins: Sequence[Shape]) -> int:
    e, f = ins[0][1], p["dim_feedforward"]
    return (4 * e * e + 4 * e) + (e * f + f) + (f * e + e) + 4 * e


_register(
    type_id="TransformerEncoderLayer",
    category=ATTN,
    doc="Self-attention followed by a feed-forward block, each with residual and LayerNorm.",
    display_name="Transformer Encoder",
    params=(
        Param("num_heads", "int", 4, "Attention heads; must divide the feature width.",
              min=1, max=256, short="{} heads"),
        Param("dim_feedforward", "int", 128, "Width of the feed-forward block.", min=1,
              max=1_000_000, short="ff{}"),
        Param("dropout", "float", 0.1, "Dropout inside the layer.", min=0.0, max=0.99),
        Param("activation", "choice", "relu", "Feed-forward activation.", choices=("relu", "gelu")),
        Param("norm_first", "bool", False, "LayerNorm before (pre-norm) instead of after."),
    ),
    input_spec=_SEQUENCE,
    shape=_attention_shape,
    count_params=_encoder_count,
    macs=lambda p, ins, out: _attention_macs(p, ins, out) + 2 * ins[0][0] * ins[0][1] * p["dim_feedforward"],
    torch_class="TransformerEncoderLayer",
    torch_kwargs=lambda p, ins: {"d_model": ins[0][1], "nhead": p["num_heads"],
                                 "dim_feedforward": p["dim_feedforward"], "dropout": p["dropout"],
                                 "activation": p["activation"], "norm_first": p["norm_first"],
                                 "batch_first": True},
    summary_keys=("num_heads", "dim_feedforward"),
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
    inputs=(Port("in", "The operator's tensor inputs.", variadic=True, min_links=0, max_links=16),),
    shape=_unsupported_shape,
    summary_keys=("operator",),
    is_placeholder=True,
)
