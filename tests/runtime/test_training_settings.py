"""The speed and scale settings: gradient accumulation, torch.compile (with its fallback), each
rank's validation shard and the error for a rank without samples."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from graph.fileformat import load
from graph.settings import TRAINING_GROUPS, TRAINING_PARAMS, check_training
from runtime.training import Parallel, TrainingError, train
from tests.conftest import EXAMPLES


def _events(design, **options):
    return list(train(design, **options))


def _weights(run_dir):
    return load_file(run_dir / "checkpoints" / "last" / "model.safetensors")


def test_settings_are_declared_grouped_and_checked():
    names = {p.name for p in TRAINING_PARAMS}
    assert {"accumulate", "compile", "deterministic"} <= names
    grouped = [n for _title, group in TRAINING_GROUPS for n in group]
    assert sorted(grouped) == sorted(names - {"device", "metrics"})  # every setting, once
    assert check_training({"accumulate": 0}) and check_training({"compile": "yes"})
    assert check_training({"deterministic": "no"})
    assert not check_training({"accumulate": 4, "compile": True, "deterministic": False})


@pytest.mark.parametrize("deterministic", [True, False])
def test_reproducible_on_cuda_sets_cudnn_as_asked(monkeypatch, deterministic):
    """The setting reaches the run's seeding (a CPU run here), and on CUDA it keeps cuDNN to
    deterministic algorithms or lets it time them and take the fastest; CPU runs leave cuDNN
    alone. (benchmarks/gpu_check.sh runs it on a GPU.)"""
    from runtime.training import setup

    seen = []
    real = setup.seed_everything
    monkeypatch.setattr(setup, "seed_everything", lambda *a: seen.append(a) or real(*a))
    events = _events(load(EXAMPLES / "iris_mlp.json"), write_files=False, overrides={
        "epochs": 1, "device": "cpu", "diagnostics_every": 0, "deterministic": deterministic})
    assert events[-1]["status"] == "completed" and seen[0][2] is deterministic
    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "deterministic", not deterministic)
    monkeypatch.setattr(cudnn, "benchmark", deterministic)
    real(0, torch.device("cpu"), deterministic)
    assert (cudnn.deterministic, cudnn.benchmark) == (not deterministic, deterministic)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: None)  # no GPU needed here
    real(0, torch.device("cuda"), deterministic)
    assert (cudnn.deterministic, cudnn.benchmark) == (deterministic, not deterministic)


def test_accumulating_two_batches_equals_one_batch_twice_the_size(tmp_path):
    """Batches of 16 added up in pairs step exactly like batches of 32 over the same sample
    order (iris: 102 training samples, so the last step adds up a single batch of 6)."""
    design = load(EXAMPLES / "iris_mlp.json")
    common = {"epochs": 2, "device": "cpu", "diagnostics_every": 0, "optimizer": "sgd",
              "lr": 0.1, "seed": 3}
    big = _events(design, run_dir=tmp_path / "big", overrides={**common, "batch_size": 32})
    acc = _events(design, run_dir=tmp_path / "acc",
                  overrides={**common, "batch_size": 16, "accumulate": 2})
    start = next(e for e in acc if e["event"] == "start")
    assert start["steps_per_epoch"] == 4 and start["accumulate"] == 2
    assert [e["step"] for e in acc if e["event"] == "epoch"] == [4, 8]
    assert acc[-1]["status"] == "completed"
    a, b = _weights(tmp_path / "big"), _weights(tmp_path / "acc")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    plain = _events(design, run_dir=tmp_path / "plain", overrides={**common, "batch_size": 16})
    assert next(e for e in plain if e["event"] == "start")["steps_per_epoch"] == 7
    plain_weights = _weights(tmp_path / "plain")  # (so the comparison above can fail)
    assert any(not torch.allclose(plain_weights[k], a[k]) for k in a)


def test_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    """Where torch.compile cannot run, the run trains uncompiled (same numbers) and says why."""
    design = load(EXAMPLES / "iris_mlp.json")
    settings = {"epochs": 1, "device": "cpu", "diagnostics_every": 0}

    class Broken(torch.nn.Module):  # what torch.compile gives where the backend cannot build
        def __init__(self, module):
            super().__init__()
            self.inner = module

        def forward(self, *_args):
            raise RuntimeError("no C++ compiler found\nmore detail")

    def broken_compile(module, **_kwargs):
        return Broken(module)

    eager = _events(design, write_files=False, overrides=settings)
    monkeypatch.setattr(torch, "compile", broken_compile)
    compiled = _events(design, write_files=False, overrides={**settings, "compile": True})
    assert next(e for e in compiled if e["event"] == "start")["compile"] is True
    warnings = [e["message"] for e in compiled if e["event"] == "warning"]
    assert len(warnings) == 1 and "torch.compile cannot run here" in warnings[0]
    assert "no C++ compiler found" in warnings[0] and "more detail" not in warnings[0]
    epoch = lambda events: next(e for e in events if e["event"] == "epoch")  # noqa: E731
    assert epoch(compiled)["train_loss"] == pytest.approx(epoch(eager)["train_loss"], rel=1e-6)
    assert compiled[-1]["status"] == "completed"


def test_a_rank_without_samples_is_a_clear_error():
    with pytest.raises(TrainingError, match="the validation split has 3 samples for 4 "
                                            "processes, so some get none: use at most 3"):
        Parallel(rank=0, world_size=4).shard(3, "validation")
    assert [Parallel(rank=r, world_size=3).shard(10, "validation") for r in range(3)] \
        == [(0, 3), (3, 6), (6, 10)]
    design = load(EXAMPLES / "iris_mlp.json")  # 24 validation samples
    events = _events(design, write_files=False,
                     overrides={"epochs": 1, "device": "cpu"},
                     parallel=Parallel(rank=0, world_size=30, all_reduce_sum=lambda t: t))
    error = next(e for e in events if e["event"] == "error")
    assert error["kind"] == "data"
    assert "the validation split has 24 samples for 30 processes" in error["message"]
    assert "a larger val_fraction" in error["message"]


def test_each_rank_evaluates_its_own_shard(monkeypatch):
    """With a (fake) two-rank all-reduce, rank 0 evaluates only its half of the validation
    split, and the summed result is the whole split's."""
    import runtime.training.loop as loop_module

    seen = []
    real = loop_module.evaluate_split

    def spy(*args, **kwargs):
        seen.append(args[8] if len(args) > 8 else kwargs.get("shard"))
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_module, "evaluate_split", spy)
    design = load(EXAMPLES / "iris_mlp.json")
    events = _events(design, write_files=False, overrides={"epochs": 1, "device": "cpu"},
                     parallel=Parallel(rank=1, world_size=2, all_reduce_sum=lambda t: t))
    assert seen == [(12, 24)]  # rank 1's half of 24 validation samples
    assert events[-1]["status"] == "completed"


def test_images_use_channels_last_on_cuda_only():
    from runtime import devices

    assert devices.memory_format(torch.device("cuda"), (3, 224, 224)) is torch.channels_last
    assert devices.memory_format(torch.device("cuda"), (64,)) is None
    assert devices.memory_format(torch.device("cpu"), (3, 224, 224)) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_trains_images_channels_last_in_bf16(monkeypatch):
    """(Runs only on a GPU: benchmarks/gpu_check.sh.) The model's convolution weights are
    channels_last while the run trains, and it learns."""
    seen = []
    real = torch.nn.Conv2d.forward
    monkeypatch.setattr(torch.nn.Conv2d, "forward", lambda self, x: seen.append(
        (self.weight.is_contiguous(memory_format=torch.channels_last),
         x.is_contiguous(memory_format=torch.channels_last))) or real(self, x))
    design = load(EXAMPLES / "digits_cnn.json")
    events = _events(design, write_files=False,
                     overrides={"epochs": 2, "device": "cuda", "precision": "bf16"})
    assert events[-1]["status"] == "completed"
    assert seen and all(weight for weight, _x in seen)
    assert next(e for e in events if e["event"] == "epoch")["val_accuracy"] > 0.5


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
@pytest.mark.parametrize("kind, options", [
    ("Adam", {"weight_decay": 0.0}), ("Adam", {"weight_decay": 0.01}),
    ("AdamW", {"weight_decay": 0.05}), ("Adam", {"weight_decay": 0.0, "amsgrad": True})])
def test_the_lean_optimizer_step_is_bit_for_bit_torchs(kind, options, device):
    """OptimizerStep calls the fused kernel itself: the same weights and optimizer state as
    optimizer.step(), across learning-rate changes, two parameter groups and a parameter
    without a gradient (amsgrad, which the lean call does not cover, runs torch's step)."""
    from runtime.training.optim import OptimizerStep

    def setup():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(),
                                    torch.nn.Linear(5, 3)).to(device)
        groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.02}]
        return model, getattr(torch.optim, kind)(groups, lr=0.01, fused=True, **options)

    (ref, ref_opt), (lean, lean_opt) = setup(), setup()
    step = OptimizerStep(lean_opt)
    assert (step.kernel is None) == ("amsgrad" in options)
    calls, kernel = [], step.kernel
    if kernel is not None:
        step.kernel = lambda *args, **kw: (calls.append(1), kernel(*args, **kw))
    x, y = torch.randn(8, 6, device=device), torch.randint(0, 3, (8,), device=device)
    for i in range(6):
        for model, opt in ((ref, ref_opt), (lean, lean_opt)):
            for p in model.parameters():
                p.grad = None
            torch.nn.functional.cross_entropy(model(x), y).backward()
            if i == 3:
                model[2].bias.grad = None  # no gradient: Adam leaves it (and its state) alone
            opt.param_groups[0]["lr"] = 0.01 / (i + 1)
        ref_opt.step()
        step()
    # the lean call on steps 2, 3, 5 and 6 (torch's own for the first and the one without a
    # gradient), one kernel call per parameter group
    assert len(calls) == (0 if kernel is None else 8)
    for a, b in zip(ref.parameters(), lean.parameters()):
        assert torch.equal(a, b)
    ref_state, lean_state = ref_opt.state_dict(), lean_opt.state_dict()
    assert ref_state["param_groups"] == lean_state["param_groups"]
    for pid, entry in ref_state["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, lean_state["state"][pid][key]), (pid, key)


def test_the_lean_optimizer_step_falls_back_to_torchs_when_its_kernel_call_fails():
    """A torch whose private fused kernel takes other arguments: the first lean call fails
    before changing anything, and torch's own step runs from then on (same result)."""
    from runtime.training.optim import OptimizerStep

    def setup():
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        return model, torch.optim.Adam(model.parameters(), lr=0.01, fused=True)

    (ref, ref_opt), (lean, lean_opt) = setup(), setup()
    step = OptimizerStep(lean_opt)

    def other_signature(*args, **kwargs):
        raise TypeError("_fused_adam_() got an unexpected keyword argument 'beta1'")

    step.kernel = other_signature
    x = torch.randn(8, 4)
    for _ in range(3):
        for model, opt in ((ref, ref_opt), (lean, lean_opt)):
            opt.zero_grad()
            model(x).square().mean().backward()
        ref_opt.step()
        step()
    assert step.kernel is None
    for a, b in zip(ref.parameters(), lean.parameters()):
        assert torch.equal(a, b)
    for pid, entry in ref_opt.state_dict()["state"].items():
        assert torch.equal(entry["step"], lean_opt.state_dict()["state"][pid]["step"])
