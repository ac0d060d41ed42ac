"""Distributed training helpers: torchrun environment, devices, shards, reductions, and a real
two-process Gloo job."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

import main
from runtime import distributed as D
from runtime.data import IndexSampler
from runtime.export import export_path
from tests.conftest import EXAMPLES, ROOT

ENV = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
       "MASTER_PORT": "29500"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- environment, device, backend ------------------------------------------------------------


def test_launch_env_reads_torchrun_variables():
    env = D.launch_env(ENV)
    assert (env.rank, env.world_size, env.local_rank, env.master_port) == (1, 2, 1, 29500)
    assert env.node_rank == 0  # one machine: torchrun may leave GROUP_RANK out
    assert D.launch_env({**ENV, "GROUP_RANK": "1"}).node_rank == 1
    with pytest.raises(D.DistributedError, match="GROUP_RANK"):
        D.launch_env({**ENV, "GROUP_RANK": "one"})


def test_missing_variables_say_how_to_launch():
    with pytest.raises(D.DistributedError) as err:
        D.launch_env({"RANK": "0", "MASTER_ADDR": "x"})
    text = str(err.value)
    assert "torchrun" in text and "WORLD_SIZE, LOCAL_RANK, MASTER_PORT" in text
    assert "--nproc_per_node" in text
    with pytest.raises(D.DistributedError, match="missing environment variables"):
        D.setup("cpu", environ={})


@pytest.mark.parametrize("change, message", [
    ({"RANK": "one"}, "RANK='one' is not a whole number"),
    ({"RANK": "2"}, "inconsistent torchrun environment: RANK=2, WORLD_SIZE=2"),
    ({"WORLD_SIZE": "0"}, "inconsistent"),
])
def test_bad_variables(change, message):
    with pytest.raises(D.DistributedError, match=message):
        D.launch_env({**ENV, **change})


def test_device_and_backend():
    assert D.device_for("cpu", 3) == torch.device("cpu")
    assert D.backend_for(torch.device("cpu")) == "gloo"
    if not torch.cuda.is_available():
        assert D.device_for("auto", 1) == torch.device("cpu")
        with pytest.raises(D.DistributedError, match="no CUDA GPU"):
            D.device_for("cuda", 0)
    else:  # pragma: no cover - GPU machines
        assert D.device_for("cuda", 0) == torch.device("cuda", 0)
        assert D.backend_for(torch.device("cuda", 0)) == "nccl"


# ---- shards ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, world", [(10, 3), (12, 4), (7, 2), (5, 5)])
def test_rank_shards_cover_the_split_with_equal_lengths(n, world):
    """The trainer's sampler gives every rank as many samples (hence steps: DDP needs that)."""
    shards = [IndexSampler(n, seed=3, rank=r, world_size=world).order(epoch=1)
              for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    assert {len(IndexSampler(n, rank=r, world_size=world).order(0)) for r in range(world)} == {
        -(-n // world)}
    joined = torch.cat(shards)
    assert set(joined.tolist()) == set(range(n))
    assert len(joined) - n < world  # only the padding repeats


# ---- a real two-process job ------------------------------------------------------------------


def _worker(local_rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update({"RANK": str(local_rank), "WORLD_SIZE": str(world),
                       "LOCAL_RANK": str(local_rank), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    with D.session("cpu") as ctx:
        result = _one_step(ctx)  # as the trainer does: the model is gone before the session ends
    Path(out_dir, f"rank{result['rank']}.json").write_text(json.dumps(result))


def _one_step(ctx) -> dict:
    rank = ctx.rank
    mean = D.all_reduce_mean(torch.tensor([1.0, 10.0]) * (rank + 1), ctx)
    torch.manual_seed(rank)  # different initial weights: DDP must sync them from rank 0
    parallel = D.trainer_parallel(ctx)
    model = parallel.wrap_model(torch.nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(100 + rank))
    model(x).pow(2).mean().backward()  # different data per rank, averaged gradients
    opt.step()
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    return {"rank": rank, "describe": ctx.describe(), "mean": mean.tolist(),
            "loss_mean": parallel.all_reduce_mean(torch.tensor(float(rank))).item(),
            "weights": model.module.weight.detach().flatten().tolist(),
            "frozen_unwrapped": D.wrap_model(frozen, ctx) is frozen,
            "finished": D.count_finished(ctx), "is_main": parallel.is_main}


@pytest.mark.slow
def test_two_gloo_processes_agree(tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert r0["describe"] == "rank 0/2 on cpu (gloo)" and r1["describe"] == "rank 1/2 on cpu (gloo)"
    assert r0["mean"] == r1["mean"] == [1.5, 15.0]
    assert r0["loss_mean"] == r1["loss_mean"] == 0.5
    assert r0["weights"] == r1["weights"]  # same start (broadcast) and same averaged update
    assert r0["frozen_unwrapped"] and r1["frozen_unwrapped"]
    assert r0["finished"] == r1["finished"] == 2
    assert r0["is_main"] and not r1["is_main"]


# ---- torchrun + the train command ------------------------------------------------------------


@pytest.mark.slow
def test_torchrun_trains_one_epoch_on_two_ranks(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    # ``python -m torch.distributed.run`` is the torchrun command, independent of PATH.
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(ROOT / "main.py"), "train", str(EXAMPLES / "iris_mlp.json"), "--distributed",
         "--epochs", "1", "--run-dir", str(run)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "all 2 of 2 processes finished (gloo)" in out  # both ranks reached the end
    assert out.count("epoch 1/1") == 1 and out.count("run folder:") == 1  # rank 0 prints
    assert "4 steps" in out  # 105 training samples, 53 per rank, batches of 16

    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed" and status["epochs_completed"] == 1
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2 and config["device"] == "cpu"
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]
    for kind in ("best", "last"):
        weights = load_file(run / "checkpoints" / kind / "model.safetensors")
        assert weights and not any(k.startswith("module.") for k in weights)  # unwrapped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing from rank 1
    assert export_path(run, "onnx", tmp_path / "model.onnx").max_diff <= 1e-4


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torchrun_trains_on_cuda_gpus_with_nccl(tmp_path):
    """(Runs only on a GPU: benchmarks/gpu_check.sh.) One process per GPU (two at most), NCCL;
    the run's weights export on the CPU as verified ONNX."""
    gpus = min(2, torch.cuda.device_count())
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={gpus}", str(ROOT / "main.py"), "train",
         str(EXAMPLES / "digits_cnn.json"), "--distributed", "--device", "cuda", "--epochs", "2",
         "--run-dir", str(run)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"all {gpus} of {gpus} processes finished (nccl)" in proc.stdout
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed" and status["epochs_completed"] == 2
    assert json.loads((run / "config.json").read_text())["world_size"] == gpus
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e for e in events if e["event"] == "epoch"][-1]["val_accuracy"] > 0.8
    assert export_path(run, "onnx", tmp_path / "model.onnx").max_diff <= 1e-4


def test_distributed_outside_torchrun_is_a_clear_error(monkeypatch, capsys):
    for name in D.TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    status = main.main(["train", str(EXAMPLES / "iris_mlp.json"), "--distributed"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("error: --distributed must run under torchrun")
    assert "torchrun --nproc_per_node=N main.py train FILE --distributed" in err


# ---- several machines: two torchrun "nodes" on this one, over the loopback -------------------


def multi_node_command(node: int, port: int, design: Path, run_dir: Path) -> list[str]:
    """The command README gives for machine ``node`` of 2 (with 127.0.0.1 for the first
    machine's address), torchrun's agents stalled in their exit barrier as busy machines'
    can be (tests/runtime/torchrun_slow_exit.py)."""
    return [sys.executable, str(Path(__file__).with_name("torchrun_slow_exit.py")),
            "--nnodes=2", f"--node_rank={node}",
            "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}",
            str(ROOT / "main.py"), "train", str(design), "--distributed", "--epochs", "2",
            "--run-dir", str(run_dir)]


# What a process that crashed or lost its peers leaves in its output: a Python traceback,
# c10d's C++ backtrace of a store connection gone, a C++ terminate (SIGABRT), torchrun's report
# of a failed or signalled worker.
CRASH_SIGNS = ("Traceback", "Exception raised from", "terminate called", "exitcode",
               "Signal ", "SIGABRT", "ChildFailedError")


@pytest.mark.slow
def test_two_nodes_train_and_split_validation(tmp_path):
    """Two torchrun launches (one per "machine") meet at machine 0's address on 127.0.0.1; both
    exit 0 with nothing in their output that says a process crashed — also with each torchrun
    agent stalled in the exit barrier and the second machine's agent late to it, which the
    first machine's agent (hosting its store) survives only by arriving last; rank 0 (which prints) is on
    machine 0; each rank evaluates half of the validation split and the summed metrics are
    exactly those of the whole split evaluated in one process."""
    from runtime.training import evaluate_run

    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    port = free_port()
    late = {"NETWRIGHT_BARRIER_LATE_S": str(2 * D.AGENT_NOTICE_S + 1)}  # the second machine's
    nodes = [subprocess.Popen(multi_node_command(node, port, EXAMPLES / "iris_mlp.json", run),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path, env={**env, **(late if node else {})})
             for node in (0, 1)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    report = "\n".join(f"--- machine {i}: exit {node.returncode}\n{out}{err}"
                       for i, (node, (out, err)) in enumerate(zip(nodes, outputs)))
    assert [node.returncode for node in nodes] == [0, 0], report
    assert not [sign for out, err in outputs for sign in CRASH_SIGNS if sign in out + err], report
    assert "all 2 of 2 processes finished (gloo)" in outputs[0][0], report
    assert outputs[1][0] == "", report  # rank 1 prints nothing
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last_epoch = [e for e in events if e["event"] == "epoch"][-1]
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    whole = evaluate_run(run, "last", split="val")
    assert whole["samples"] == 24
    assert last_epoch["val_accuracy"] == whole["accuracy"]
    assert last_epoch["val_loss"] == pytest.approx(whole["loss"], rel=1e-6)
