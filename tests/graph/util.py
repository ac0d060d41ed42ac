"""Small helpers to build designs in tests."""
from __future__ import annotations

from typing import Any

import graph.layers  # noqa: F401  (fills the catalog)
from graph.design import Design, Edge


class Build:
    """``b.add("Linear", "fc1", "prev", out_features=10)`` adds a node named fc1 linked from the
    node named prev (or from several: ``["a", "b"]``; ``None`` for no link)."""

    def __init__(self, name: str = "test", data: str = "digits", **options: Any) -> None:
        self.design = Design(name)
        self.design.set_data(dict(self.design.data, name=data, options=options))

    def add(self, type_id: str, name: str, after: str | list[str] | None = None, **params: Any) -> str:
        d = self.design
        node = d.add_node(d.make_node(type_id, name=name, params=params))
        sources = [after] if isinstance(after, str) else (after or [])
        for src in sources:
            self.link(src, name)
        return node.id

    def link(self, src: str, dst: str) -> Edge:
        """Link the first output port of ``src`` to the first input port of ``dst``."""
        d = self.design
        s, t = d.node(self.id(src)), d.node(self.id(dst))
        return d.add_edge(Edge(s.id, t.id, s.layer.outputs[0].name, t.layer.inputs[0].name))

    def id(self, name: str) -> str:
        node = self.design.node_by_name(name)
        assert node is not None, name
        return node.id


def mlp(classes: int = 10, in_features: int = 64) -> Build:
    """pixels → fc1 → relu → fc2 → logits, on digits as 64 features."""
    b = Build(as_images=False)
    b.add("Input", "pixels", shape=[in_features])
    b.add("Linear", "fc1", "pixels", out_features=32)
    b.add("ReLU", "relu", "fc1")
    b.add("Linear", "fc2", "relu", out_features=classes)
    b.add("Output", "logits", "fc2")
    return b


def row_attention() -> Build:
    """pixels → rows (8 steps of 8) → attn → flat → head → out, on digits as 64 features."""
    b = Build(as_images=False)
    b.add("Input", "pixels", shape=[64])
    b.add("Reshape", "rows", "pixels", shape=[8, 8])
    b.add("MultiheadSelfAttention", "attn", "rows", num_heads=2)
    b.add("Flatten", "flat", "attn")
    b.add("Linear", "head", "flat", out_features=10)
    b.add("Output", "out", "head")
    return b


def cnn() -> Build:
    """image → conv1 → relu → pool → conv2 → flatten → fc → logits, on 1×8×8 digits."""
    b = Build(as_images=True)
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("Conv2d", "conv1", "image", out_channels=4)
    b.add("ReLU", "relu", "conv1")
    b.add("MaxPool2d", "pool", "relu")
    b.add("Conv2d", "conv2", "pool", out_channels=8)
    b.add("Flatten", "flatten", "conv2")
    b.add("Linear", "fc", "flatten", out_features=10)
    b.add("Output", "logits", "fc")
    return b


def skip_junction() -> Build:
    """x → a, b → add → after → join(after, a) → head: grouping a layer with ``a`` gives a block
    with several output ports, since ``a`` also feeds ``join`` (the iris dataset fits)."""
    b = Build("ports", data="iris")
    b.add("Input", "x", shape=[4])
    b.add("Linear", "a", "x", out_features=4)
    b.add("Linear", "b", "x", out_features=4)
    b.add("Add", "add", ["a", "b"])
    b.add("Linear", "after", "add", out_features=4)
    b.add("Add", "join", ["after", "a"])
    b.add("Linear", "head", "join", out_features=3)
    b.add("Output", "out", "head")
    return b
