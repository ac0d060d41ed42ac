"""The layer catalog: one declaration per layer type.

Palette, inspector, validation, shape inference, file loading and the compiler all read the
:class:`LayerType` declared here. Shapes never include the batch dimension: a Conv2d output is
``(channels, height, width)``.

Rules are pure functions of params and input shapes (as in Keras' ``compute_output_shape``):

* ``shape(p, ins) -> out`` raises :class:`ShapeError` with a plain message when inputs do not fit
  (a layer with several output ports returns one shape per port, in port order);
* ``count_params(p, ins) -> int`` counts trainable parameters;
* ``macs(p, ins, out) -> int`` counts multiply-accumulates for one sample under the one MAC
  convention of :data:`MAC_CONVENTION` (composite layers count their parts by the same rules),
  and ``matmul_macs(p, ins, out)`` the part of them spent in convolutions, linear layers and
  matrix products (attention, recurrences) — the figure fvcore, ptflops and
  ``torch.utils.flop_counter`` report (FLOPs = 2 × MACs);
* ``torch_kwargs(p, ins) -> dict`` gives the constructor arguments of ``torch_class`` (looked up
  in ``runtime.modules`` first, then ``torch.nn``), so sizes such as ``in_features`` are inferred
  from the incoming tensor and never asked of the user. ``torch_class_for(p, ins)``, when set,
  picks the class per use (a convolution with uneven padding needs a padding one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

Shape = tuple[int, ...]
Params = Mapping[str, Any]


class ShapeError(ValueError):
    """Inputs or params that a layer cannot accept; ``fix`` suggests a remedy when obvious."""

    def __init__(self, message: str, fix: str | None = None, port: str | None = None):
        super().__init__(message)
        self.fix = fix
        self.port = port


MAC_CONVENTION = """\
One multiply-accumulate (MAC) per product summed in a convolution, linear layer or matrix
product (attention's projections, scores and weighted sums; recurrent gates). Every other
operation counts per element of one sample: 1 per output element for activations, Scale,
layer scale and position embeddings, 3 for Softmax/LogSoftmax (exp, sum, divide) and L2
normalization (square, sum, divide); 2 per element for other normalization (scale and
shift); 1 per output element and extra input for Add, Subtract and Multiply; a pooling
window's size per output element, 1 per input element for
adaptive and global pooling and for Mean/Sum/Max; 4 per output element for bilinear
upsampling; 0 for moving data (reshaping, slicing, padding, dropout, embeddings). Composite
layers (Transformer layers) add up their parts by the same rules: projections, scores,
softmax over every head's scores, feed-forward, its activation, LayerNorms and residual adds.
"""

PARAM_KINDS = ("int", "float", "bool", "choice", "size", "ints", "str", "path", "args")


@dataclass(frozen=True)
class Param:
    """A typed, documented layer parameter.

    Kinds: ``int``, ``float``, ``bool``, ``choice`` (one of ``choices``), ``str``, ``path``
    (text naming a file or folder, relative to the design's folder or absolute),
    ``size`` (an int or a list of ``length`` ints, as torch accepts for kernel sizes) and
    ``ints`` (a list of ints; ``length`` fixes its length when set) and ``args`` (a mapping of
    names to whole numbers: a block instance's arguments for its first copy).
    """

    name: str
    kind: str
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()  # a choice's values; an ``args`` param's argument names
    length: int | None = None
    allow_minus_one: bool = False  # for ``ints`` params such as Reshape's target shape
    short: str = ""  # on a node's face: a format such as "k{}" (a bool shows it when true)
    label: str = ""  # what a form calls it; empty: the name, spaced and capitalized
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # applies only while these siblings hold
    # What a form shows for a choice (stored values stay as they are); a choice without one
    # reads as its value with spaces for underscores.
    choice_labels: tuple[tuple[Any, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"unknown param kind {self.kind!r}")
        problem = self.check(self.default)
        if problem:
            raise ValueError(f"default of {self.name}: {problem}")
        stray = [c for c, _label in self.choice_labels if c not in self.choices]
        if stray:
            raise ValueError(f"{self.name}: labels for values that are no choice: {stray}")

    @property
    def title(self) -> str:
        """The name a person reads in a form (``lr`` → "Learning rate")."""
        return self.label or self.name.replace("_", " ").capitalize()

    def choice_label(self, value: Any) -> str:
        """What a person reads for the choice ``value`` (``cross_entropy`` → "Cross-entropy")."""
        return next((label for choice, label in self.choice_labels if choice == value),
                    str(value).replace("_", " "))

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether this param matters given its siblings' ``values`` (momentum only for SGD and
        RMSprop, step size only for the step schedule …); a missing sibling counts as matching."""
        return all(other not in values or values[other] in allowed for other, allowed in self.when)

    def check(self, value: Any) -> str | None:
        """Return a plain description of what is wrong with ``value``, or ``None``."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
        if self.kind == "choice":
            if value in self.choices:
                return None
            return f"must be one of {', '.join(map(str, self.choices))}, not {value!r}"
        if self.kind in ("str", "path"):
            return None if isinstance(value, str) else f"must be text, not {value!r}"
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"must be a number, not {value!r}"
            if not math.isfinite(value):
                return f"must be a finite number, not {value!r}"
            return self._check_range(value)
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"must be a whole number, not {value!r}"
            return self._check_range(value)
        if self.kind == "size":
            if isinstance(value, int) and not isinstance(value, bool):
                return self._check_range(value)
            return self._check_list(value, self.length)
        if self.kind == "ints":
            return self._check_list(value, self.length)
        if self.kind == "args":
            if not isinstance(value, dict):
                return f"must map argument names to whole numbers, not {value!r}"
            bad = next((k for k, v in value.items()
                        if isinstance(v, bool) or not isinstance(v, int)), None)
            return None if bad is None else f"{bad} must be a whole number, not {value[bad]!r}"
        return None  # pragma: no cover - kinds are checked in __post_init__

    def face(self, value: Any) -> str:
        """``value`` in a few characters for a node's face (``k3``, ``4 heads``, ``seq``)."""
        if self.kind == "bool":
            return (self.short or self.name) if value else ""
        if isinstance(value, (list, tuple)):
            text = "×".join(str(v) for v in value)
        else:
            text = f"{value:g}" if isinstance(value, float) else str(value)
        return (self.short or self.name + "={}").format(text)

    def _check_range(self, value: float) -> str | None:
        if self.min is not None and value < self.min:
            return f"must be at least {self.min}, not {value}"
        if self.max is not None and value > self.max:
            return f"must be at most {self.max}, not {value}"
        return None

    def _check_list(self, value: Any, length: int | None) -> str | None:
        if not isinstance(value, (list, tuple)):
            return f"must be a list of whole numbers, not {value!r}"
        if length is not None and len(value) != length:
            return f"must have {length} values, not {len(value)}"
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int):
                return f"must hold whole numbers only, not {item!r}"
            if self.allow_minus_one and item == -1:
                continue
            problem = self._check_range(item)
            if problem:
                return problem
        return None


@dataclass(frozen=True)
class Port:
    """An input or output port. ``variadic`` input ports accept ``min_links..max_links`` links."""

    name: str
    doc: str = ""
    variadic: bool = False
    min_links: int = 1
    max_links: int = 1


@dataclass(frozen=True)
class InputSpec:
    """The input ranks a layer accepts (as Keras' ``InputSpec``), checked before its shape rule.

    ``what`` names the expected layout in the message (``channels×height×width``); ``fix``
    suggests a remedy.
    """

    ranks: tuple[int, ...]
    what: str
    fix: str | None = None

    def check(self, ins: Sequence[Shape]) -> None:
        """Every input must have one of the ranks."""
        for i in range(len(ins)):
            expect_rank(ins[i:], self.ranks, self.what, self.fix)


def _NO_WEIGHTS(_params: Params, _ins: Sequence[Shape]) -> int:  # noqa: N802 (a constant)
    """The parameter count of a layer type that declares none."""
    return 0


@dataclass(frozen=True)
class LayerType:
    """Everything Netwright knows about one kind of layer.

    Behaviour flags read by the rest of the app: ``pass_through`` layers only move values
    (integer token ids survive them), ``reads_token_ids`` layers need integer ids (Embedding),
    and ``dead_units`` layers output exactly 0 with no gradient below a threshold, so the
    training probe reports the share of their units that never fire (ReLU).
    """

    type_id: str
    category: str
    doc: str
    params: tuple[Param, ...]
    shape: Callable[[Params, Sequence[Shape]], Shape]
    inputs: tuple[Port, ...] = (Port("in"),)
    outputs: tuple[Port, ...] = (Port("out"),)
    count_params: Callable[[Params, Sequence[Shape]], int] = _NO_WEIGHTS
    macs: Callable[[Params, Sequence[Shape], Shape], int] = lambda p, ins, out: 0
    matmul_macs: Callable[[Params, Sequence[Shape], Shape], int] = lambda p, ins, out: 0
    torch_class: str = ""
    torch_class_for: Callable[[Params, Sequence[Shape]], str] | None = None
    torch_kwargs: Callable[[Params, Sequence[Shape]], dict[str, Any]] = lambda p, ins: {}
    version: int = 1
    legacy_ids: tuple[str, ...] = ()
    migrations: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = field(
        default_factory=dict
    )  # from-version → function upgrading the params dict by one version
    summary_keys: tuple[str, ...] = ()  # params shown on the node's face on the canvas
    display_name: str = ""
    is_placeholder: bool = False  # stands for an imported operator: never runs, not in the palette
    input_spec: InputSpec | None = None  # checked once before ``shape`` runs
    pass_through: bool = False
    reads_token_ids: bool = False
    dead_units: bool = False

    def __post_init__(self) -> None:
        if self.input_spec is not None:  # every caller of ``shape`` gets the rank check
            object.__setattr__(self, "shape", _checked_rule(self.input_spec, self.shape))

    @property
    def label(self) -> str:
        return self.display_name or self.type_id

    @property
    def has_weights(self) -> bool:
        """Whether layers of this type can hold parameters (or statistics such as BatchNorm's,
        whatever their params): the declaration counts them. Activations, Dropout, pooling and
        reshaping declare no count."""
        return self.count_params is not _NO_WEIGHTS

    def module_class(self, params: Params, ins: Sequence[Shape]) -> str:
        """The name of the torch module class built for ``params`` on inputs ``ins``."""
        return self.torch_class_for(params, ins) if self.torch_class_for else self.torch_class

    def face_text(self, params: Mapping[str, Any]) -> str:
        """The key params in a few characters for the node's face: ``32 · k3 · s1``."""
        parts = (self.param(key).face(params.get(key)) for key in self.summary_keys)
        return " · ".join(part for part in parts if part)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: _copy_value(p.default) for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``params`` (unknown keys are dropped)."""
        out = self.defaults()
        out.update({k: _copy_value(v) for k, v in params.items() if k in out})
        return out

    def check_params(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``(param name, problem)`` for every invalid or unknown param."""
        problems = []
        known = {p.name for p in self.params}
        for name in params:
            if name not in known:
                problems.append((name, f"is not a parameter of {self.type_id}"))
        for p in self.params:
            if p.name in params:
                msg = p.check(params[p.name])
                if msg:
                    problems.append((p.name, msg))
        return problems

    @property
    def is_source(self) -> bool:
        return not self.inputs

    @property
    def is_sink(self) -> bool:
        return not self.outputs

    def shape_problem(self, params: Mapping[str, Any], ins: Sequence[Shape] = ()) -> str | None:
        """The message of the ShapeError the shape rule raises for ``params``/``ins``, or None."""
        try:
            self.shape(self.resolve(params), ins)
        except ShapeError as exc:
            return str(exc)
        return None


    def input_port(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output_port(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)


def _checked_rule(spec: InputSpec, rule: Callable[[Params, Sequence[Shape]], Shape]):
    def shape(p: Params, ins: Sequence[Shape]) -> Shape:
        spec.check(ins)
        return rule(p, ins)

    shape.__doc__ = rule.__doc__
    return shape


def _copy_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return list(value)
    return dict(value) if isinstance(value, dict) else value


class Catalog:
    """All layer types by id, with legacy ids remapped to their current type."""

    def __init__(self) -> None:
        self._types: dict[str, LayerType] = {}
        self._legacy: dict[str, str] = {}

    def register(self, layer: LayerType) -> LayerType:
        if layer.type_id in self._types or layer.type_id in self._legacy:
            raise ValueError(f"layer type {layer.type_id!r} declared twice")
        for old in layer.legacy_ids:
            if old in self._types or old in self._legacy or old == layer.type_id:
                raise ValueError(f"legacy id {old!r} of {layer.type_id} is already taken")
        self._types[layer.type_id] = layer
        for old in layer.legacy_ids:
            self._legacy[old] = layer.type_id
        return layer

    def get(self, type_id: str) -> LayerType | None:
        return self._types.get(type_id) or self._types.get(self._legacy.get(type_id, ""))

    def __getitem__(self, type_id: str) -> LayerType:
        layer = self.get(type_id)
        if layer is None:
            raise KeyError(type_id)
        return layer

    def __contains__(self, type_id: object) -> bool:
        return isinstance(type_id, str) and self.get(type_id) is not None

    def __iter__(self):
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def current_id(self, type_id: str) -> str | None:
        """The current id for ``type_id`` (itself, or the type that replaced a legacy id)."""
        if type_id in self._types:
            return type_id
        return self._legacy.get(type_id)

    def categories(self) -> dict[str, list[LayerType]]:
        out: dict[str, list[LayerType]] = {}
        for layer in self._types.values():
            out.setdefault(layer.category, []).append(layer)
        return out

    def search(self, text: str) -> list[LayerType]:
        """Types whose id, label, category or doc contain every word of ``text`` (placeholders
        for imported operators are never offered)."""
        words = text.lower().split()
        hits = []
        for layer in self._types.values():
            if layer.is_placeholder:
                continue
            hay = " ".join((layer.type_id, layer.label, layer.category, layer.doc)).lower()
            if all(w in hay for w in words):
                hits.append(layer)
        # Name matches first, then the rest in catalog order.
        return sorted(hits, key=lambda t: 0 if text.lower() in t.type_id.lower() else 1)


# ---- helpers shared by the declarations -------------------------------------------------------


def pair(value: Any, n: int = 2) -> tuple[int, ...]:
    """An int or list param as an ``n``-tuple, as torch's ``_pair`` does."""
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


def prod(values: Iterable[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def fmt_shape(shape: Sequence[int] | None) -> str:
    """``(1, 8, 8)`` as ``1×8×8``; the batch dimension is never shown."""
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape) if shape else "scalar"


def expect_rank(ins: Sequence[Shape], ranks: Iterable[int], what: str, fix: str | None = None) -> Shape:
    """The single input shape, or a ShapeError when its rank is not one of ``ranks``."""
    shape = ins[0]
    ranks = tuple(ranks)
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(
            f"expects {what} (rank {want} without the batch), got {fmt_shape(shape)}", fix=fix
        )
    return shape


CATALOG = Catalog()


def layer_table(catalog: Catalog | None = None) -> str:
    """The README's table of every layer type by category (``benchmarks/layer_table.py``
    writes it; a test checks the README holds exactly this)."""
    catalog = catalog or CATALOG
    convention = " ".join(MAC_CONVENTION.split())
    lines = [f"**Counting MACs.** {convention}", "",
             f"{len(catalog)} layer types:", "",
             "| category | type | what it does |", "| --- | --- | --- |"]
    for category, layers in catalog.categories().items():
        for layer in layers:
            name, label = f"`{layer.type_id}`", layer.display_name
            if label.startswith(layer.type_id):  # "Linear (Dense)"
                name += label[len(layer.type_id):]
            elif label:
                name += f" ({label})"
            lines.append(f"| {category} | {name} | {layer.doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
