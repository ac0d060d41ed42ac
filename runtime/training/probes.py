"""Per-layer probes: activation and gradient statistics for the diagnostics events, and the
search for the first layer whose output stops being finite."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from graph.catalog import CATALOG
from graph.design import Design

from .. import devices
from ..compiler import Compiled
from .control import TrainingError
from .losses import first_output


@dataclass
class LayerRef:
    ident: str
    node: str
    name: str
    type: str
    module: nn.Module


def layer_refs(compiled: Compiled, design: Design) -> list[LayerRef]:
    """The network's layers in forward order, each with its node id and name."""
    children = dict(compiled.module.named_children())
    out = []
    for nid, ident in compiled.idents.items():
        if ident in children:
            node = design.node(nid)
            out.append(LayerRef(ident, nid, node.name, node.type, children[ident]))
    return out


class Hooks:
    """Forward hooks on every layer for one pass, removed on exit."""

    def __init__(self, layers: list[LayerRef], hook: Callable[[LayerRef, Any], None]):
        self.layers, self.hook, self.handles = layers, hook, []

    def __enter__(self) -> "Hooks":
        for ref in self.layers:
            self.handles.append(ref.module.register_forward_hook(
                lambda mod, args, out, ref=ref: self.hook(ref, out)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def activation_stats(ref: LayerRef, out: Any, into: dict[str, torch.Tensor]) -> None:
    """Mean, standard deviation and dead fraction of one layer's output, left on the device
    (the standard deviation in two passes, faster than ``Tensor.std`` on the CPU; a unit is
    dead when its largest output over the batch is ≤ 0)."""
    out = first_output(out)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        return
    with torch.no_grad():
        o = out.detach().float()
        nan = torch.full((), float("nan"), device=o.device)
        mean = o.mean()
        std = (torch.linalg.vector_norm(o - mean) / math.sqrt(o.numel() - 1)
               if o.numel() > 1 else nan)
        dead = nan
        if ref.type in CATALOG and CATALOG[ref.type].dead_units and o.dim() > 1:
            dead = (o.reshape(o.shape[0], -1).amax(dim=0) <= 0).float().mean()
        into[ref.ident] = torch.stack([mean, std, dead])


def grad_norms(modules: list[nn.Module]) -> dict[int, torch.Tensor]:
    """The gradient norm of each of ``modules`` (by position; those without gradients are left
    out), from one ``torch._foreach_norm`` over every gradient."""
    grads, owner = [], []
    for i, module in enumerate(modules):
        for p in module.parameters():
            if p.grad is not None:
                grads.append(p.grad.detach())
                owner.append(i)
    if not grads:
        return {}
    norms = torch._foreach_norm(grads)
    out: dict[int, list[torch.Tensor]] = {}
    for i, norm in zip(owner, norms):
        out.setdefault(i, []).append(norm.float())
    return {i: ns[0] if len(ns) == 1 else torch.linalg.vector_norm(torch.stack(ns))
            for i, ns in out.items()}


def locate_nonfinite(model: nn.Module, layers: list[LayerRef], x: torch.Tensor,
                     device: torch.device, precision: str) -> LayerRef | None:
    """Run one forward pass on ``x`` and return the first layer whose output is not finite."""
    bad: list[LayerRef] = []

    def check(ref: LayerRef, out: Any) -> None:
        out = first_output(out)
        if not bad and isinstance(out, torch.Tensor) and out.is_floating_point() \
                and not bool(torch.isfinite(out).all()):
            bad.append(ref)

    with torch.no_grad(), devices.autocast(device, precision), Hooks(layers, check):
        model(x)
    return bad[0] if bad else None


def grad_stats(layers: list[LayerRef]) -> dict[str, torch.Tensor]:
    """Each layer's gradient norm (layers without gradients are left out)."""
    norms = grad_norms([ref.module for ref in layers])
    return {layers[i].ident: norm for i, norm in norms.items()}


def diagnostic_rows(layers: list[LayerRef], stats: Mapping[str, torch.Tensor],
                    grads: Mapping[str, torch.Tensor] | None,
                    device: torch.device) -> list[dict[str, Any]]:
    """The ``layers`` of a diagnostics event, read from the device with one host sync."""
    if not layers:
        return []
    nan = torch.full((), float("nan"), device=device)
    acts = torch.stack([stats.get(ref.ident, nan.expand(3)) for ref in layers])
    norms = torch.stack([(grads or {}).get(ref.ident, nan) for ref in layers])
    values = torch.cat([acts, norms[:, None]], dim=1).tolist()
    return [{"node": ref.node, "name": ref.name, "type": ref.type, "grad_norm": v[3],
             "act_mean": v[0], "act_std": v[1], "dead_fraction": v[2]}
            for ref, v in zip(layers, values)]


def nonfinite_error(model: nn.Module, layers: list[LayerRef], x: torch.Tensor,
                    loss: torch.Tensor | float, step: int, epoch: int, device: torch.device,
                    precision: str) -> TrainingError:
    """The error for a loss that stopped being finite at ``step`` (0-based ``epoch``), naming
    the first layer whose output is not finite on ``x``."""
    value = float(loss)
    culprit = locate_nonfinite(model, layers, x, device, precision)
    where = f"at step {step + 1} (epoch {epoch + 1})"
    if culprit is not None:
        params_bad = any(not bool(torch.isfinite(p).all()) for p in culprit.module.parameters())
        detail = f"the first non-finite output comes from layer {culprit.name!r} ({culprit.type})"
        if params_bad:
            detail += ("; its weights are already non-finite, so an earlier update diverged"
                       if step else "; its weights are not finite")
    else:
        detail = "every layer's output is finite, so the loss itself overflowed"
    return TrainingError(
        "nonfinite", f"the loss became {value} {where}: {detail}. Try a lower learning rate, "
        "gradient clipping (grad_clip) or normalization layers.",
        node=culprit.node if culprit else None, layer=culprit.name if culprit else None,
        step=step + 1, epoch=epoch + 1)
