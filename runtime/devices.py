"""Training devices: what is really there, how to pick one, and mixed precision.

``device`` settings are ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. :func:`resolve_device`
turns one into a :class:`torch.device` or raises :class:`DeviceError` saying what exists instead.
Mixed precision (bf16 or fp16 autocast, with a gradient scaler for fp16) runs on CUDA only.
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

import torch

from graph.summary import MemoryBudget, counted


class DeviceError(ValueError):
    """The requested device is not available here."""


@dataclass(frozen=True)
class DeviceInfo:
    id: str  # "cpu", "cuda:0", "mps": what to write in the device setting
    name: str  # human-readable model name
    memory_bytes: int | None  # total memory, when known

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        mem = f", {self.memory_bytes / 2**30:.1f} GiB" if self.memory_bytes else ""
        return f"{self.id}: {self.name}{mem}"


@functools.cache  # the processor and its memory do not change while the app runs
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


@functools.cache
def _cpu_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[DeviceInfo]:
    """Every device torch can train on here: the CPU first, then each GPU."""
    cores = os.cpu_count() or 1
    out = [DeviceInfo("cpu", f"{_cpu_name()} ({cores} cores)", _cpu_memory())]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            out.append(DeviceInfo(f"cuda:{i}", props.name, int(props.total_memory)))
    if _mps_available():
        memory = None
        with contextlib.suppress(Exception):
            memory = int(torch.mps.recommended_max_memory())
        out.append(DeviceInfo("mps", "Apple GPU (Metal)", memory))
    return out


def resolve_device(spec: str) -> torch.device:
    """The device named by a ``device`` setting; ``auto`` prefers CUDA, then MPS, then the CPU."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    have = ", ".join(d.id for d in available_devices())
    if spec == "mps":
        if not _mps_available():
            raise DeviceError(f"device mps (Apple GPU) is not available here; available: {have}")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        index = 0 if spec == "cuda" else spec[5:]
        if not str(index).isdigit():
            raise DeviceError(f"{spec!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
        index = int(index)
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec} asked for, but no CUDA GPU is available here "
                              f"(available: {have})")
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {spec} does not exist: this machine has "
                              f"{counted(torch.cuda.device_count(), 'CUDA GPU')} "
                              f"(available: {have})")
        return torch.device("cuda", index)
    raise DeviceError(f"{spec!r} is not a device; use auto, cpu, cuda, cuda:N or mps")


@functools.lru_cache(maxsize=16)
def memory_budget(setting: str = "auto") -> MemoryBudget | None:
    """How much memory the device a ``device`` setting picks has: the GPU's own memory, or the
    machine's RAM for the CPU (and for a setting that names no device here). None when unknown."""
    try:
        device = resolve_device(setting if isinstance(setting, str) else "auto")
    except DeviceError:
        device = torch.device("cpu")
    key = f"cuda:{device.index or 0}" if device.type == "cuda" else device.type
    for info in available_devices():
        if info.id == key and info.memory_bytes:
            label = "RAM" if key == "cpu" else f"memory on {key} ({info.name})"
            return MemoryBudget(label, info.memory_bytes)
    return None


def device_name(device: torch.device) -> str:
    """The model name of ``device`` as :func:`available_devices` lists it."""
    key = "cuda:0" if str(device) == "cuda" else str(device)
    for info in available_devices():
        if info.id == key:
            return info.name
    return key


_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def effective_precision(device: torch.device, precision: str) -> tuple[str, str | None]:
    """The precision that will really be used on ``device``, and a warning when it differs."""
    if precision == "fp32":
        return "fp32", None
    if precision not in _AUTOCAST_DTYPES:
        raise DeviceError(f"unknown precision {precision!r}; use fp32, bf16 or fp16")
    if device.type != "cuda":
        return "fp32", (f"{precision} mixed precision runs on CUDA only; training in fp32 on "
                        f"{device}")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        return "fp32", "this GPU does not support bf16; training in fp32"
    return precision, None


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for an *effective* precision (fp32 gives a no-op context)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def memory_format(device: torch.device, sample_shape) -> torch.memory_format | None:
    """``channels_last`` for image batches (N, C, H, W) on CUDA, where convolutions (above all
    under autocast, on tensor cores) run fastest in it; None elsewhere."""
    if device.type == "cuda" and len(tuple(sample_shape)) == 3:
        return torch.channels_last
    return None


def reads_losses_at_once(device: torch.device) -> bool:
    """Whether the trainer reads and checks each step's loss at once: on the CPU that costs
    nothing (nothing runs ahead); on accelerators losses add up on the device and are read only
    for events, so the host never waits for the device mid-epoch (a fused optimizer skips the
    update of a non-finite loss there by itself)."""
    return device.type == "cpu"


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 on CUDA, otherwise ``None`` (bf16 and fp32 need none)."""
    if precision == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (for honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
