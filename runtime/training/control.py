"""How a run is steered from outside: stop/pause/resume requests, the error that ends a run,
and a process's part in a distributed run."""
from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn


class TrainingError(Exception):
    """A problem that ends a run before or during training; becomes an ``error`` event."""

    def __init__(self, kind: str, message: str, **extra: Any):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.extra = extra


class Control:
    """Stop, pause and resume requests, safe to call from any thread.

    The trainer honours them between two steps. For a trainer in a child process, build the
    control with :meth:`for_processes` and pass it to the child: the events are shared.
    """

    def __init__(self, stop_event: Any = None, run_event: Any = None):
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._run = run_event if run_event is not None else threading.Event()
        self._run.set()

    @classmethod
    def for_processes(cls, context: Any = None) -> "Control":
        ctx = context or multiprocessing.get_context()
        return cls(ctx.Event(), ctx.Event())

    def request_stop(self) -> None:
        self._stop.set()
        self._run.set()  # wake a paused trainer so it can stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._run.clear()

    def resume(self) -> None:
        self._run.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._run.is_set()

    @property
    def hot_checks(self) -> tuple[Callable[[], bool], Callable[[], bool]]:
        """For a loop that asks every step: (is it running — not paused —, is a stop requested),
        as two calls that skip the properties' overhead."""
        return self._run.is_set, self._stop.is_set

    def wait_while_paused(self) -> None:
        while not self._run.wait(0.5):
            pass


@dataclass
class Parallel:
    """How this process takes part in a distributed run (defaults: a single process).

    ``wrap_model`` receives the compiled module on its device and returns the module to train
    (e.g. ``DistributedDataParallel``); checkpoints always save the unwrapped module.
    ``all_reduce_mean`` averages a tensor over all ranks (the reported training loss);
    ``all_reduce_sum`` adds one up (each rank evaluates its own validation shard, and the
    metrics' counts are summed); ``sync_buffers`` copies rank 0's buffers (BatchNorm statistics)
    to every rank before that evaluation.
    """

    rank: int = 0
    world_size: int = 1
    wrap_model: Callable[[nn.Module], nn.Module] | None = None
    all_reduce_mean: Callable[[torch.Tensor], torch.Tensor] | None = None
    all_reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None
    sync_buffers: Callable[[nn.Module], None] | None = None

    def shard(self, n: int, what: str) -> tuple[int, int]:
        """``(start, stop)`` of this rank's contiguous part of ``n`` samples; a TrainingError
        when some rank would get none."""
        if n < self.world_size:
            raise TrainingError("data", f"the {what} split has {n} sample{'s' * (n != 1)} for "
                                f"{self.world_size} processes, so some get none: use at most "
                                f"{max(n, 1)} processes, or "
                                + ("a larger val_fraction" if what == "validation" else "more data"))
        return n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size

    @property
    def is_main(self) -> bool:
        return self.rank == 0
