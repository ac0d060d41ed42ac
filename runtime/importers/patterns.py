"""Mappings both importers share onto catalog layers: numbers (Scale), per-channel constants
(LayerScale), a token repeated over the batch (ClassToken), a LayerNorm between permutes
(LayerNorm2d), one entry picked along a dim (Slice), an einsum that is a matrix product
(Permute, MatMul), x divided by its L2 norm (L2Normalize)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .builder import ConversionError, DesignBuilder, Tensor


def scale_factor(value: float, divide: bool) -> float:
    """The Scale factor of ``x * value`` (or ``x / value``): division only by a power of two,
    whose inverse multiplies exactly."""
    if not divide:
        return value
    mantissa, _ = math.frexp(value)
    if value == 0 or abs(mantissa) != 0.5:
        raise ConversionError(f"division by {value} is not exactly a multiplication")
    return 1.0 / value


def shifted(builder: DesignBuilder, name: str, x: Tensor, offset: float, alone: bool,
            negate: bool = False) -> Tensor:
    """``x + offset`` (``offset - x`` when ``negate``, exactly ``-x + offset``), a number →
    Scale with that offset; folded into the Scale without offset that computed ``x`` (x·a + b
    as one layer) when ``alone`` (nothing else reads x)."""
    node = builder.node_of(x)
    if alone and not negate and node.type == "Scale" and not node.params.get("offset") \
            and builder.reads_nothing_yet(x):
        return builder.update(x, {"offset": offset})
    return builder.layer("Scale", name, {"factor": -1.0 if negate else 1.0, "offset": offset}, [x])


@dataclass(frozen=True)
class VectorNorm:
    """``x``'s L2 norm along sample dim ``dim`` (kept), at least ``eps``: ``F.normalize``'s
    divisor, which only dividing ``x`` by it maps (:func:`normalized`)."""

    x: Tensor
    dim: int
    eps: float = 0.0

    def at_least(self, eps: float) -> "VectorNorm":
        if self.eps:
            raise ConversionError("a norm bounded twice has no layer")
        return VectorNorm(self.x, self.dim, eps)


def normalized(builder: DesignBuilder, name: str, x: object, norm: VectorNorm) -> Tensor:
    """``x / norm`` with the norm of ``x`` itself → L2Normalize."""
    if x != norm.x:
        raise ConversionError("dividing by another tensor's norm has no layer")
    return builder.layer("L2Normalize", name, {"dim": norm.dim, "eps": norm.eps}, [norm.x])


def einsum_matmul(builder: DesignBuilder, name: str, equation: str, a: Tensor, b: Tensor
                  ) -> Tensor:
    """``torch.einsum(equation, a, b)`` that is a batched matrix product (attention's
    ``bhid,bhjd->bhij`` and ``bhij,bhjd->bhid``): ``a`` and ``b`` permuted to (shared…, i, k) and
    (shared…, k, j), MatMul, the result permuted to the equation's order. The batch is the
    first letter of all three; one letter is summed over, one kept from each side."""
    spec = equation.replace(" ", "")
    left, _, out = spec.partition("->")
    terms = left.split(",")
    if "." in spec or len(terms) != 2 or not out:
        raise ConversionError(f"einsum {equation!r}: only two operands and an explicit output "
                              "(without ...) map")
    ta, tb = terms
    summed = [c for c in ta if c in tb and c not in out]
    rows, cols = [c for c in ta if c not in tb], [c for c in tb if c not in ta]
    shared = [c for c in out if c in ta and c in tb]
    if not (len(set(ta)) == len(ta) and len(set(tb)) == len(tb) and len(set(out)) == len(out)
            and len(summed) == 1 and len(rows) == 1 and len(cols) == 1 and shared
            and ta[0] == tb[0] == out[0] and sorted(out) == sorted(shared + rows + cols)):
        raise ConversionError(f"einsum {equation!r} is not a matrix product keeping the batch "
                              "first (such as bhid,bhjd->bhij)")
    a = _permuted(builder, f"{name}_a", a, ta, shared + rows + summed)
    b = _permuted(builder, f"{name}_b", b, tb, shared + summed + cols)
    product = "".join(shared + rows + cols)
    if product == out:
        return builder.layer("MatMul", name, {}, [a, b])
    return _permuted(builder, name, builder.layer("MatMul", f"{name}_product", {}, [a, b]),
                     product, list(out))


def _permuted(builder: DesignBuilder, name: str, x: Tensor, letters: str, order: list[str]
              ) -> Tensor:
    """``x`` (axes named by ``letters``, the batch first) with its axes in ``order``."""
    dims = [letters.index(c) - 1 for c in order[1:]]
    if dims == sorted(dims):
        return x
    return builder.layer("Permute", name, {"dims": dims}, [x])


def channels_layer_norm(builder: DesignBuilder, x: Tensor, dims: list[int],
                        alone: bool) -> Tensor | None:
    """Permute (channels last) → LayerNorm over the channels → this Permute by ``dims``
    (channels first again): one LayerNorm2d, as ConvNeXt's, named after the LayerNorm.
    ``alone``: nothing else reads the first Permute's or the LayerNorm's value. None when the
    layers before are not that."""
    rank = len(x.shape or ())
    if not alone or rank < 2 or dims != [rank - 1] + list(range(rank - 1)):
        return None
    norm = builder.node_of(x)
    if norm.type != "LayerNorm" or norm.resolved_params()["normalized_dims"] != 1 \
            or not builder.reads_nothing_yet(x):
        return None
    before = builder.design.node(builder.design.in_edges(norm.id)[0].src)
    if before.type != "Permute" or len(builder.design.out_edges(before.id)) != 1 \
            or list(before.resolved_params()["dims"]) != list(range(1, rank)) + [0]:
        return None
    weights, eps = builder.weights[norm.id], norm.resolved_params()["eps"]
    name, _ = builder.remove(norm.id)
    _, source = builder.remove(before.id)
    return builder.layer("LayerNorm2d", name, {"eps": eps}, [source], weights)


def layer_scale(builder: DesignBuilder, name: str, x: Tensor, factors: torch.Tensor) -> Tensor:
    """``x * factors`` with one learned factor per channel (C×1×…) or per feature (E) →
    LayerScale holding them."""
    if x.shape is None:
        raise ConversionError("its input comes from an unsupported operator")
    shape = tuple(factors.shape)
    while len(shape) > len(x.shape) and shape[0] == 1:
        shape = shape[1:]
    channels = (x.shape[0],) + (1,) * (len(x.shape) - 1)
    if len(x.shape) > 1 and shape == channels:
        return builder.layer("LayerScale", name, {"channels_first": True}, [x],
                             {"scale": factors.reshape(channels)})
    if shape in ((x.shape[-1],), (1,) * (len(x.shape) - 1) + (x.shape[-1],)):
        return builder.layer("LayerScale", name, {"channels_first": False}, [x],
                             {"scale": factors.reshape(x.shape[-1])})
    raise ConversionError(f"multiplying by a constant of shape {tuple(factors.shape)} has no "
                          "layer (LayerScale takes one factor per channel or feature)")


def select(builder: DesignBuilder, name: str, x: Tensor, dim: int, index: int) -> Tensor:
    """``x[:, …, index]`` along sample dim ``dim`` (the dim dropped, as ViT reads its class
    token) → Slice of that one entry, then Reshape (Flatten when one dim is left)."""
    size = x.shape[dim]
    if not -size <= index < size:
        raise ConversionError(f"index {index} of a dim of {size}")
    index %= size
    part = builder.layer("Slice", name, {"dim": dim, "start": index,
                                         "stop": index + 1 if index + 1 < size else 0}, [x])
    rest = list(x.shape[:dim] + x.shape[dim + 1:])
    if len(rest) == 1:
        return builder.layer("Flatten", f"{name}_select", {}, [part])
    return builder.layer("Reshape", f"{name}_select", {"shape": rest}, [part])


@dataclass(frozen=True)
class Expanded:
    """A constant repeated over the batch (``token.expand(n, -1, -1)``): ViT's class token
    (``name``: the source's tensor, when known)."""

    value: torch.Tensor
    name: str = ""


def class_token(builder: DesignBuilder, name: str, values: list, dim: int) -> Tensor | None:
    """``cat([token repeated over the batch, x], dim=1)`` of a 1×1×E token and an N×S×E
    sequence → ClassToken holding the token; None for any other concatenation."""
    if len(values) != 2 or not isinstance(values[0], Expanded) or not isinstance(values[1], Tensor):
        return None
    x, token = values[1], values[0].value
    if dim != 1 or x.shape is None or len(x.shape) != 2 or tuple(token.shape) != (1, 1, x.shape[-1]):
        return None
    return builder.layer("ClassToken", values[0].name or name, {}, [x], {"token": token})
