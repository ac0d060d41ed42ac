"""Distributed data-parallel training under ``torchrun``.

``torchrun --nproc_per_node=N main.py train FILE --distributed`` starts N processes; each calls
:func:`setup`, which reads the rendezvous from torchrun's environment variables, picks the
device (``cuda:LOCAL_RANK`` on CUDA, else the CPU) and the backend (NCCL on CUDA, Gloo on the
CPU) and joins the process group. :func:`trainer_parallel` plugs the rank into
:class:`runtime.training.Trainer`: each rank trains on its own equal-length shard of the training
split (:class:`runtime.data.IndexSampler`, so every rank takes the same number of steps),
gradients are averaged by :class:`~torch.nn.parallel.DistributedDataParallel`
(:func:`wrap_model`), the epoch's training loss is averaged over ranks (:func:`all_reduce_mean`)
and each rank evaluates its own part of the validation split with the same weights and rank 0's
BatchNorm statistics (:func:`sync_buffers`); the metrics' counts are summed over ranks
(:func:`all_reduce_sum`), so all ranks see the same numbers and take the same decisions (best
checkpoint, early stopping). A split too small to give every rank a sample is refused with a
message saying so. Only
rank 0 writes the run directory and prints. :func:`shutdown` leaves the process group cleanly.
"""
from __future__ import annotations

import contextlib
import datetime
import gc
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import torch
import torch.distributed as dist
from torch import nn

from graph.summary import counted

from .devices import resolve_device

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)
LATER_NODES_WAIT_S = 120.0  # the longest rank 0 waits for the later machines to be done
AGENT_NOTICE_S = 1.0  # then this long, for their torchrun agents to reach the exit barrier's wait
# torchrun's static rendezvous: the key its rank-0 agent writes in the store it hosts (under the
# run id), present only where the agents' store has that layout.
AGENT_RANKS_KEY = "torchelastic/assigned_ranks/0"
LAUNCH_HINT = "start it with: torchrun --nproc_per_node=N main.py train FILE --distributed"


class DistributedError(RuntimeError):
    """Distributed training cannot start (not under torchrun, no such device, …)."""


@dataclass(frozen=True)
class LaunchEnv:
    """Where this process sits in the job, as torchrun describes it."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    node_rank: int = 0  # the machine (torchrun's GROUP_RANK): 0 is the first, HOST0


@dataclass(frozen=True)
class DistContext:
    """This process's place in an initialized process group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str
    node_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"rank {self.rank}/{self.world_size} on {self.device} ({self.backend})"


def launch_env(environ: Mapping[str, str] | None = None) -> LaunchEnv:
    """Read torchrun's variables; a clear :class:`DistributedError` when any is missing or bad."""
    environ = os.environ if environ is None else environ
    missing = [v for v in TORCHRUN_VARS if not environ.get(v)]
    if missing:
        raise DistributedError(f"--distributed must run under torchrun (missing environment "
                               f"variable{'s' * (len(missing) > 1)} {', '.join(missing)}); "
                               f"{LAUNCH_HINT}")
    values = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        try:
            values[name] = int(environ[name])
        except ValueError:
            raise DistributedError(f"environment variable {name}={environ[name]!r} is not a "
                                   f"whole number") from None
    rank, world, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if world < 1 or not 0 <= rank < world or local < 0:
        raise DistributedError(f"inconsistent torchrun environment: RANK={rank}, "
                               f"WORLD_SIZE={world}, LOCAL_RANK={local}")
    try:
        node = int(environ.get("GROUP_RANK") or 0)
    except ValueError:
        raise DistributedError(f"environment variable GROUP_RANK={environ['GROUP_RANK']!r} is "
                               f"not a whole number") from None
    return LaunchEnv(rank, world, local, environ["MASTER_ADDR"], values["MASTER_PORT"], node)


def device_for(setting: str, local_rank: int) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` when the setting resolves to CUDA (each rank
    drives its own GPU), the CPU when it resolves to the CPU."""
    try:
        device = resolve_device(setting)
    except ValueError as exc:
        raise DistributedError(str(exc)) from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise DistributedError(f"distributed training runs on CUDA GPUs or the CPU, not "
                               f"{device.type}; set the device to cpu or cuda")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise DistributedError(f"local rank {local_rank} has no GPU: this machine has "
                               f"{counted(count, 'CUDA GPU')}; use --nproc_per_node={count} or the cpu device")
    return torch.device("cuda", local_rank)


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA devices (when built in), Gloo otherwise."""
    if device.type == "cuda" and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def setup(device_setting: str = "auto", environ: Mapping[str, str] | None = None,
          timeout: datetime.timedelta = DEFAULT_TIMEOUT) -> DistContext:
    """Join the torchrun job: check the environment, pick device and backend, init the group."""
    env = launch_env(environ)
    if not dist.is_available():
        raise DistributedError("this PyTorch build has no torch.distributed support")
    device = device_for(device_setting, env.local_rank)
    backend = backend_for(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"device_id": device} if backend == "nccl" else {}
        try:
            dist.init_process_group(backend, init_method="env://", rank=env.rank,
                                    world_size=env.world_size, timeout=timeout, **kwargs)
        except (RuntimeError, ValueError) as exc:
            raise DistributedError(f"cannot join the process group at {env.master_addr}:"
                                   f"{env.master_port} as rank {env.rank} of {env.world_size}: "
                                   f"{exc}") from None
    return DistContext(env.rank, env.world_size, env.local_rank, device, backend, env.node_rank)


def shutdown(ctx: DistContext | None = None, wait: bool = True) -> None:
    """Leave the process group; with ``wait``, first wait for every rank to get here, and
    on a job of several machines let rank 0 end last (see :func:`_outlive_later_machines`)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    watch = None
    if wait:
        with contextlib.suppress(RuntimeError):
            barrier(ctx)
            watch = _watch_later_machines(ctx)
    # A DDP wrapper no longer used but left in a reference cycle still holds the group; freed
    # only at interpreter exit, its Gloo threads are never joined and the process aborts.
    gc.collect()
    dist.destroy_process_group()
    if watch:
        _outlive_later_machines(watch)


# Each rank on a later machine keeps its connection to rank 0 open until its process ends.
_HELD: list[socket.socket] = []


def _watch_later_machines(ctx: DistContext | None) -> list[socket.socket]:
    """Every rank on a later machine connects to a socket rank 0 opens (through the group,
    before it is left) and holds the connection until its process ends; rank 0 gets the
    connections (none on a single machine)."""
    if ctx is None:
        return []
    everyone: list[list[bool]] = [[False]] * ctx.world_size
    dist.all_gather_object(everyone, [ctx.node_rank > 0])
    later = sum(flag for flags in everyone for flag in flags)
    if not later:
        return []  # one machine: nothing to wait for
    server = socket.create_server(("", 0)) if ctx.is_main else None
    port = [server.getsockname()[1] if server else 0]
    dist.broadcast_object_list(port, src=0)
    if ctx.node_rank > 0:
        _HELD.append(socket.create_connection((os.environ["MASTER_ADDR"], port[0]), timeout=30))
    barrier(ctx)  # every connection is made (queued at rank 0's socket) before anyone leaves
    if server is None:
        return []
    with server:
        server.settimeout(30)
        return [server.accept()[0] for _ in range(later)]


def _outlive_later_machines(connections: list[socket.socket]) -> None:
    """Rank 0 waits until every process on the later machines has ended (each end closes its
    connection) and their agents have checked in at the agents' exit barrier, then a little
    more, so that its machine's torchrun agent is the last to reach that barrier. That agent hosts the store the barrier runs on; arriving
    last, it releases the others, who already wait there, before it leaves. Arriving first,
    it would leave as soon as the last one checks in, racing that agent's own wait (which
    then loses the store and prints a traceback, though every process succeeded; torchrun
    has no option for this: pytorch/pytorch#69520)."""
    deadline = time.monotonic() + LATER_NODES_WAIT_S
    for conn in connections:
        conn.settimeout(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            while conn.recv(1):
                pass
        conn.close()
    _await_later_agents(deadline)
    time.sleep(AGENT_NOTICE_S)


def _await_later_agents(deadline: float) -> None:
    """Wait (until ``deadline``) for every later machine's torchrun agent to check in at the
    agents' exit barrier, read from the store this machine's agent hosts: an agent notices its
    processes' end only when it next polls them (``--monitor-interval``), later on a busy
    machine. Returns at once where that store is not torchrun's static rendezvous store or
    torch names the barrier's keys otherwise; :data:`AGENT_NOTICE_S` alone covers it there."""
    env = os.environ
    agents = int(env.get("GROUP_WORLD_SIZE", "1"))
    if agents < 2 or env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return
    try:
        from torch.distributed.elastic.agent.server.api import _TERMINAL_STATE_SYNC_ID
        from torch.distributed.elastic.utils.store import _NUM_MEMBERS
    except ImportError:
        return
    try:
        store = dist.PrefixStore(env.get("TORCHELASTIC_RUN_ID", "none"), dist.TCPStore(
            env["MASTER_ADDR"], int(env["MASTER_PORT"]), is_master=False,
            timeout=datetime.timedelta(seconds=10)))
        if not store.check([AGENT_RANKS_KEY]):
            return
        while store.add(_TERMINAL_STATE_SYNC_ID + _NUM_MEMBERS, 0) < agents - 1 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    except (RuntimeError, ValueError, KeyError):  # the store is gone: nothing left to protect
        return


@contextlib.contextmanager
def session(device_setting: str = "auto") -> Iterator[DistContext]:
    """:func:`setup` … :func:`shutdown`; on an error the group is left without waiting for the
    other ranks (torchrun then stops them)."""
    ctx = setup(device_setting)
    ok = False
    try:
        yield ctx
        ok = True
    finally:
        shutdown(ctx, wait=ok)


def barrier(ctx: DistContext | None = None) -> None:
    if ctx is not None and ctx.device.type == "cuda":
        dist.barrier(device_ids=[ctx.device.index])
    else:
        dist.barrier()


# ---- model -------------------------------------------------------------------------------------


def wrap_model(module: nn.Module, ctx: DistContext) -> nn.Module:
    """``module`` (already on ``ctx.device``) wrapped for data-parallel training; a module
    without trainable parameters has nothing to synchronize and is returned as it is."""
    from torch.nn.parallel import DistributedDataParallel

    if not any(p.requires_grad for p in module.parameters()):
        return module
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


# ---- reductions --------------------------------------------------------------------------------


def all_reduce_mean(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The mean of ``t`` over all ranks (a new tensor; every rank gets the same value)."""
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ctx.world_size


def all_reduce_sum(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The sum of ``t`` over all ranks (a new tensor; every rank gets the same value)."""
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def sync_buffers(module: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def count_finished(ctx: DistContext) -> int:
    """How many ranks got here: each adds 1 (a collective, so it also waits for all of them)."""
    t = torch.ones((), dtype=torch.long, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return int(t.item())


def trainer_parallel(ctx: DistContext):
    """The :class:`runtime.training.Parallel` of this rank: DDP-wrapped model, loss averaged
    over ranks, files written by rank 0 only."""
    from .training import Parallel

    return Parallel(rank=ctx.rank, world_size=ctx.world_size,
                    wrap_model=lambda module: wrap_model(module, ctx),
                    all_reduce_mean=lambda t: all_reduce_mean(t, ctx),
                    all_reduce_sum=lambda t: all_reduce_sum(t, ctx),
                    sync_buffers=lambda module: sync_buffers(module, ctx))
