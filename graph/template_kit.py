"""What every template is made of: its declaration (:class:`Template`, :class:`TemplateArg`),
the arguments most share, and a small helper that writes networks node after node.

:mod:`graph.templates` (MLP, LeNet, VGG, ResNet) and :mod:`graph.templates_modern` (MobileNet,
EfficientNet, ConvNeXt, ViT, sequence classifiers) both build on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .design import BlockDef, Design, Edge
from .settings import DATASETS, default_data


class TemplateError(ValueError):
    """An unknown template or argument, or a value it does not take."""


@dataclass(frozen=True)
class TemplateArg:
    name: str
    default: int | bool
    doc: str
    choices: tuple[int, ...] = ()
    min: int = 1
    max: int = 1_000_000

    def check(self, value: Any) -> int | bool:
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise TemplateError(f"{self.name} must be true or false, not {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TemplateError(f"{self.name} must be a whole number, not {value!r}")
        if self.choices and value not in self.choices:
            raise TemplateError(f"{self.name} must be one of "
                                f"{', '.join(map(str, self.choices))}, not {value}")
        if not self.min <= value <= self.max:
            raise TemplateError(f"{self.name} must be between {self.min} and {self.max}, "
                                f"not {value}")
        return value

    def parse(self, text: str) -> int | bool:
        """A value typed on the command line (``--set depth=34``)."""
        if isinstance(self.default, bool):
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise TemplateError(f"{self.name} must be true or false, not {text!r}")
            return lowered in ("true", "1", "yes")
        try:
            value = int(text.strip())
        except ValueError:
            raise TemplateError(f"{self.name} must be a whole number, not {text!r}") from None
        return self.check(value)


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    doc: str
    args: tuple[TemplateArg, ...]
    builder: Callable[[dict[str, Any]], Design]
    aliases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    small: Mapping[str, Any] = field(default_factory=dict)  # trains on digits in seconds

    def arg(self, name: str) -> TemplateArg:
        for a in self.args:
            if a.name == name:
                return a
        raise TemplateError(f"{self.name} has no argument {name!r} "
                            f"(it has {', '.join(a.name for a in self.args)})")

    def resolve(self, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``args``, each checked."""
        out = {a.name: a.default for a in self.args}
        for name, value in (args or {}).items():
            out[name] = self.arg(name).check(value)
        return out


# ---- a small helper to write networks ---------------------------------------------------------


class _Net:
    """Adds nodes to ``design`` one after another, linking each from the previous one."""

    def __init__(self, design: Design) -> None:
        self.design = design
        self.last: str | None = None
        self.y = 0.0

    def add(self, type_id: str, name: str, after: str | list[str] | None = "", when: str | None
            = None, **params: Any) -> str:
        d = self.design
        node = d.make_node(type_id, name=name, params=params, position=(0.0, self.y))
        node.when = when
        d.add_node(node)
        self.y += 80.0
        sources = [self.last] if after == "" else ([after] if isinstance(after, str) else after or [])
        for src in sources:
            if src is not None:
                d.add_edge(Edge(src, node.id, d.layer_of(d.node(src)).outputs[0].name,
                                d.layer_of(node).inputs[0].name))
        self.last = node.id
        return node.id


def _block(design: Design, name: str, args: dict[str, int], description: str) -> tuple[BlockDef, _Net]:
    block = design.new_block(name, args, description)
    return block, _Net(block.body)


def _image_data(args: Mapping[str, Any]) -> dict[str, Any]:
    """Digits for 1×8×8 inputs; else an image folder of the template's size (path to choose)."""
    data = default_data()
    if (args.get("in_channels"), args.get("size")) == (1, 8):
        return data
    color = "grayscale" if args.get("in_channels") == 1 else "rgb"
    data.update(name="images", options=DATASETS["images"].resolve(
        {"size": [args["size"], args["size"]], "color": color}))
    return data


def _input(net: _Net, args: Mapping[str, Any]) -> str:
    return net.add("Input", "x", None, shape=[args["in_channels"], args["size"], args["size"]])


# ---- arguments most templates take --------------------------------------------------------------

_CLASSES = TemplateArg("classes", 1000, "Number of classes (the last layer's outputs).")
_CHANNELS = TemplateArg("in_channels", 3, "Channels of the input images (1 grey, 3 colour).")
_SIZE = TemplateArg("size", 224, "Height and width of the input images.", min=8, max=4096)
_DIGITS = {"in_channels": 1, "size": 8, "classes": 10}

