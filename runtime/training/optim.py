"""Optimizers and learning-rate schedules as a design's training settings ask for them."""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from .control import TrainingError


class LRSchedule:
    """Warm-up plus one of none/step/cosine/onecycle (stepped per batch) or plateau (per epoch).

    Step decay counts epochs; cosine anneals to zero over the steps after warm-up; onecycle uses
    ``torch.optim.lr_scheduler.OneCycleLR`` (its warm-up share follows ``warmup_epochs``);
    plateau multiplies the rate by ``gamma`` when the monitored metric stalls for half the
    early-stopping patience.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, settings: Mapping[str, Any],
                 steps_per_epoch: int, epochs: int, monitor_mode: str = "min"):
        from torch.optim import lr_scheduler as sched

        self.kind = settings["schedule"]
        spe = steps_per_epoch
        total = max(1, spe * epochs)
        warm = min(settings["warmup_epochs"] * spe, total - 1) if settings["warmup_epochs"] else 0
        self.warmup_steps = warm
        self.steps = 0
        self.per_step: Any = None
        self.plateau: Any = None
        gamma, step_size = settings["gamma"], settings["step_size"]
        if self.kind == "onecycle":
            pct = warm / total if warm else 0.3
            self.per_step = sched.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                             total_steps=total, pct_start=min(max(pct, 1e-3), 0.999))
            return
        if self.kind == "plateau":
            self.plateau = sched.ReduceLROnPlateau(optimizer, mode=monitor_mode, factor=gamma,
                                                   patience=max(1, settings["patience"] // 2))

        def factor(step: int) -> float:
            f = min(1.0, (step + 1) / warm) if warm else 1.0
            if self.kind == "step":
                f *= gamma ** ((step // spe) // step_size)
            elif self.kind == "cosine" and step >= warm:
                progress = (step - warm) / max(1, total - warm)
                f *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
            return f

        if self.kind in ("step", "cosine") or warm:
            self.per_step = sched.LambdaLR(optimizer, factor)

    def step_batch(self) -> None:
        self.steps += 1
        if self.per_step is not None and (self.plateau is None or self.steps <= self.warmup_steps):
            self.per_step.step()

    def step_epoch(self, value: float | None) -> None:
        if self.plateau is not None and self.steps >= self.warmup_steps and value is not None \
                and math.isfinite(value):
            self.plateau.step(value)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps,
                "per_step": self.per_step.state_dict() if self.per_step is not None else None,
                "plateau": self.plateau.state_dict() if self.plateau is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.steps = int(state.get("steps", 0))
        if self.per_step is not None and state.get("per_step") is not None:
            self.per_step.load_state_dict(state["per_step"])
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(state["plateau"])


def make_optimizer(params: list[nn.Parameter], settings: Mapping[str, Any],
                   device: torch.device) -> tuple[torch.optim.Optimizer, list[str]]:
    """The optimizer a design asks for (fused kernels where torch has them for the device)."""
    warnings = []
    name, lr, wd = settings["optimizer"], settings["lr"], settings["weight_decay"]
    momentum = settings["momentum"]
    fast: dict[str, Any] = {"fused": True} if device.type in ("cpu", "cuda") else {}
    if name == "sgd":
        nesterov = settings["nesterov"]
        if nesterov and momentum == 0:
            warnings.append("Nesterov momentum needs momentum > 0; using plain SGD")
            nesterov = False
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov,
                               weight_decay=wd, **fast), warnings
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fast), warnings
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fast), warnings
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd,
                                   foreach=True), warnings
    raise TrainingError("settings", f"unknown optimizer {name!r}")


class OptimizerStep:
    """``optimizer.step()``, leaner for a fused Adam or AdamW: their kernel is called directly
    with the optimizer's own state, skipping what ``torch.optim`` does around it on every call
    (a profiler scope, step hooks, regrouping the tensors by device and dtype) — about 40 µs
    a step on the CPU, as much as the kernel itself for a small network. It is the same
    kernel on the same tensors: bit for bit ``optimizer.step()``, with the same
    ``state_dict``. The first step, and any step where a parameter has no gradient or no
    state yet, runs ``optimizer.step()`` itself (it creates the state, and LR schedulers
    check that it ran); so does every step of other optimizers and options."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.kernel = _fused_kernel(optimizer)
        self.warm = False
        self.proven = False  # the kernel has run once: its call matches this torch
        self.skips_on_device = getattr(optimizer, "_step_supports_amp_scaling", False) and all(
            group.get("fused") for group in optimizer.param_groups)  # takes found_inf

    def __call__(self, found_inf: torch.Tensor | None = None) -> None:
        """One update. ``found_inf`` (a 0-d float tensor on the device, 1 where the loss is not
        finite) makes a fused optimizer skip it without the host reading the loss, as a
        gradient scaler does; other optimizers ignore it."""
        if not self.skips_on_device:
            found_inf = None
        if self.warm and self.kernel is not None and self._fused_step(found_inf):
            return
        if found_inf is None:
            self.optimizer.step()
        else:  # how torch's GradScaler hands a fused optimizer its flag
            self.optimizer.grad_scale, self.optimizer.found_inf = None, found_inf
            try:
                self.optimizer.step()
            finally:
                del self.optimizer.grad_scale, self.optimizer.found_inf
        self.warm = True

    def _fused_step(self, found_inf: torch.Tensor | None = None) -> bool:
        """Update every group with the fused kernel; False (nothing changed) when one cannot."""
        state, updates = self.optimizer.state, []
        for group in self.optimizer.param_groups:
            params = group["params"]
            grads = [p.grad for p in params]
            entries = [state.get(p) for p in params]
            if any(g is None for g in grads) or any(not e or "exp_avg" not in e for e in entries):
                return False
            updates.append((group, params, grads, entries))
        for group, params, grads, entries in updates:
            steps = [e["step"] for e in entries]
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            try:
                self.kernel(params, grads, [e["exp_avg"] for e in entries],
                            [e["exp_avg_sq"] for e in entries], [], steps, lr=float(group["lr"]),
                            beta1=float(beta1), beta2=float(beta2),
                            weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                            amsgrad=False, maximize=False, found_inf=found_inf)
            except (TypeError, RuntimeError):
                if self.proven:  # it ran before with these tensors: a real error
                    raise
                torch._foreach_sub_(steps, 1)  # a torch whose private kernel is called otherwise:
                self.kernel = None  # torch's own step from now on (nothing was updated yet)
                return False
            self.proven = True
            if found_inf is not None:  # a skipped update counts no step (as torch's own)
                torch._foreach_sub_(steps, [found_inf] * len(steps))
        return True


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Lay each parameter's loaded state out as the parameter (``channels_last`` on CUDA): a
    saved state comes back contiguous, which a fused kernel refuses on CUDA and, on the CPU,
    pairs with the wrong elements of a parameter laid out otherwise."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            entry = optimizer.state.get(p) or {}
            for key, value in entry.items():
                if key in _PARAM_SHAPED and isinstance(value, torch.Tensor) \
                        and value.shape == p.shape and value.stride() != p.stride():
                    entry[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _fused_kernel(optimizer: torch.optim.Optimizer) -> Any:
    """The fused kernel ``optimizer.step()`` runs, when it is a fused Adam or AdamW whose
    options the kernel call of :class:`OptimizerStep` covers (else None: the plain step)."""
    kind = type(optimizer)
    if kind not in (torch.optim.Adam, torch.optim.AdamW):
        return None
    decoupled = kind is torch.optim.AdamW
    placements = set()
    for group in optimizer.param_groups:
        if not group.get("fused") or any(group.get(k) for k in (
                "amsgrad", "maximize", "capturable", "differentiable", "foreach")):
            return None
        if not all(map(_is_number, (group["lr"], group["weight_decay"], group["eps"],
                                     *group["betas"]))):
            return None
        decoupled = decoupled or bool(group.get("decoupled_weight_decay"))
        placements |= {(p.device, p.dtype) for p in group["params"]}
    if len(placements) != 1:
        return None
    return getattr(torch, "_fused_adamw_" if decoupled else "_fused_adam_", None)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Per-parameter state the optimizers above keep: tensors shaped like their parameter, or 0-d.
_PARAM_SHAPED = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg",
                 "grad_avg"}
_SCALAR = {"step"}


def check_optimizer_state(saved: Any, optimizer: torch.optim.Optimizer) -> None:
    """Refuse (ValueError) a saved optimizer state that does not fit ``optimizer``'s parameters
    tensor by tensor — count, names, shape and dtype — before torch sees it (a wrong shape can
    crash a fused kernel outright)."""
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), dict):
        raise ValueError("the optimizer state is not a state dict")
    groups, own = saved["param_groups"], optimizer.param_groups
    if len(groups) != len(own):
        raise ValueError(f"the optimizer state has {len(groups)} parameter groups, the model "
                         f"{len(own)}")
    params: dict[Any, nn.Parameter] = {}
    for i, (group, mine) in enumerate(zip(groups, own)):
        ids = group.get("params") if isinstance(group, dict) else None
        if not isinstance(ids, list) or len(ids) != len(mine["params"]):
            raise ValueError(f"parameter group {i} of the optimizer state does not list "
                             f"{len(mine['params'])} parameters")
        for key in ("lr", "weight_decay"):
            if key in group and (not isinstance(group[key], (int, float))
                                 or isinstance(group[key], bool)):
                raise ValueError(f"parameter group {i}: {key} is not a number")
        params.update(zip(ids, mine["params"]))
    if len(params) != sum(len(g["params"]) for g in own):
        raise ValueError("the optimizer state lists a parameter twice")
    for pid, entry in saved["state"].items():
        if pid not in params or not isinstance(entry, dict):
            raise ValueError(f"the optimizer state holds an entry for unknown parameter {pid!r}")
        _check_param_state(pid, entry, params[pid], type(optimizer).__name__)


def _check_param_state(pid: Any, entry: dict, param: nn.Parameter, optimizer: str) -> None:
    for name, value in entry.items():
        where = f"optimizer state of parameter {pid}, {name!r}"
        if name in _SCALAR:
            if not (isinstance(value, torch.Tensor) and value.dim() == 0
                    and value.is_floating_point()) and not isinstance(value, (int, float)):
                raise ValueError(f"{where}: expected one number")
        elif name in _PARAM_SHAPED:
            if value is None and name == "momentum_buffer":
                continue
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{where}: expected a tensor")
            if tuple(value.shape) != tuple(param.shape) or value.dtype != param.dtype:
                raise ValueError(f"{where}: a {value.dtype} tensor of shape "
                                 f"{tuple(value.shape)}, but the parameter is {param.dtype} of "
                                 f"shape {tuple(param.shape)}")
        else:
            raise ValueError(f"{where}: not part of a {optimizer} state")
