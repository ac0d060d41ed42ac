"""Fine-tuning edits: find a network's classifier head, replace it, freeze the rest.

A design's *head* is the last layer with weights on the path to its first Output, looking back
through layers that only pass values on (activations, Dropout, Identity, reshaping). Replacing
it changes its output width to the dataset's classes; its weights then no longer match any
pretrained tensor, so they start fresh while every other layer keeps its initial weights.
"""
from __future__ import annotations

from .catalog import CATALOG
from .design import Design, Node

HEAD_TYPES = ("Linear", "Conv2d", "Conv1d")
WIDTH_PARAM = {"Linear": "out_features", "Conv2d": "out_channels", "Conv1d": "out_channels"}


def head_layer(design: Design) -> Node | None:
    """The classifier layer feeding the first Output, or None when there is none."""
    outputs = design.outputs()
    if not outputs:
        return None
    node = outputs[0]
    seen: set[str] = set()
    while node.id not in seen:
        seen.add(node.id)
        edges = design.in_edges(node.id)
        if len(edges) != 1:
            return None
        node = design.node(edges[0].src)
        if node.type in HEAD_TYPES:
            return node
        layer = CATALOG.get(node.type)
        if node.is_block or layer is None or layer.has_weights:  # look past weightless ones only
            return None
    return None


def replace_head(design: Design, classes: int) -> Node:
    """Set the head's width to ``classes`` and make it trainable; raises ValueError when the
    design has no head to replace."""
    head = head_layer(design)
    if head is None:
        raise ValueError("no classifier layer found before the Output (a Linear or Conv)")
    design.set_param(head.id, WIDTH_PARAM[head.type], int(classes))
    design.set_training_flags(head.id, trainable=True)
    return head


def freeze_all_but(design: Design, keep: set[str]) -> list[str]:
    """Switch every node but ``keep`` (ids) to not trainable; returns the ids changed."""
    changed = []
    for node in design.nodes:
        trainable = node.id in keep
        if node.trainable != trainable and node.type not in ("Input", "Output"):
            design.set_training_flags(node.id, trainable=trainable)
            changed.append(node.id)
    return changed
