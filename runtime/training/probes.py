"""Per-layer probes: activation and gradient statistics for the diagnostics events, and the
search for the first layer whose output stops being finite."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
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
    params: tuple[nn.Parameter, ...] = field(init=False, repr=False)  # the module's, once
    dead_units: bool = field(init=False)  # whether its catalog entry counts dead units

    def __post_init__(self) -> None:
        self.params = tuple(self.module.parameters())
        self.dead_units = self.type in CATALOG and CATALOG[self.type].dead_units


def layer_refs(compiled: Compiled, design: Design) -> list[LayerRef]:
    """The network's layers in forward order, each with its node id and name."""
    out = []
    for nid, module in compiled.modules_by_node().items():
        node = design.node(nid)
        out.append(LayerRef(compiled.idents[nid], nid, node.name, node.type, module))
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


@dataclass
class Activation:
    """One layer's output statistics, left on the device until :func:`diagnostic_rows` reads
    every layer's at once: the mean, the norm of the deviations from it (the standard
    deviation in two passes, faster than ``Tensor.std`` on the CPU), the dead fraction (None
    where the layer type counts no dead units) and the number of values."""

    mean: torch.Tensor
    spread: torch.Tensor
    dead: torch.Tensor | None
    count: int


def activation_stats(ref: LayerRef, out: Any, into: dict[str, Activation]) -> None:
    """Mean, standard deviation and dead fraction of one layer's output (a unit is dead when
    its largest output over the batch is ≤ 0); three or four kernels, no host sync."""
    out = first_output(out)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        return
    o = out.detach().float()
    mean = o.mean()
    dead = None
    if ref.dead_units and o.dim() > 1:
        dead = (o.reshape(o.shape[0], -1).amax(dim=0) <= 0).float().mean()
    into[ref.ident] = Activation(mean, torch.linalg.vector_norm(o - mean), dead, o.numel())


def grad_stats(layers: list[LayerRef]) -> list[tuple[int, torch.Tensor]]:
    """The norm of every parameter's gradient with its layer's position in ``layers``, from one
    ``torch._foreach_norm`` (parameters without gradients are left out); a layer's norm over
    all its parameters is taken on the host by :func:`diagnostic_rows`."""
    grads, owner = [], []
    for i, ref in enumerate(layers):
        for p in ref.params:
            if p.grad is not None:
                grads.append(p.grad.detach())
                owner.append(i)
    return list(zip(owner, torch._foreach_norm(grads))) if grads else []


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


def diagnostic_rows(layers: list[LayerRef], stats: Mapping[str, Activation],
                    grads: list[tuple[int, torch.Tensor]] | None,
                    device: torch.device) -> list[dict[str, Any]]:
    """The ``layers`` of a diagnostics event, read from the device with one host sync (NaN
    where a layer has no such statistic)."""
    acts = [stats.get(ref.ident) for ref in layers]
    grads = grads or []
    scalars = [t for a in acts if a is not None
               for t in ((a.mean, a.spread) if a.dead is None else (a.mean, a.spread, a.dead))]
    scalars += [norm for _, norm in grads]
    values = iter(torch.stack([t.float() for t in scalars]).tolist() if scalars else ())
    nan = math.nan
    act_values = []
    for a in acts:
        if a is None:
            act_values.append((nan, nan, nan))
            continue
        mean, spread = next(values), next(values)
        dead = next(values) if a.dead is not None else nan
        act_values.append((mean, spread / math.sqrt(a.count - 1) if a.count > 1 else nan, dead))
    norms: dict[int, list[float]] = {}
    for i, _ in grads:
        norms.setdefault(i, []).append(next(values))
    rows = []
    for i, (ref, (mean, std, dead)) in enumerate(zip(layers, act_values)):
        layer_norms = norms.get(i)
        grad_norm = nan if layer_norms is None else (
            layer_norms[0] if len(layer_norms) == 1 else math.sqrt(sum(n * n for n in layer_norms)))
        rows.append({"node": ref.node, "name": ref.name, "type": ref.type, "grad_norm": grad_norm,
                     "act_mean": mean, "act_std": std, "dead_fraction": dead})
    return rows


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
