"""Checkpoints written whole and verified; damaged run files refused with one message; runs
whose process died read as interrupted; temporary files of interrupted writes cleared."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

import main
from graph.atomic import atomic_write_text
from graph.fileformat import load
from runtime.analysis import run_summary
from runtime.runs import RunError, RunFolder
from runtime.training import evaluate_run, train
from tests.conftest import EXAMPLES

ROOT = EXAMPLES.parents[1]


def _design(epochs=3):
    design = load(EXAMPLES / "iris_mlp.json")
    design.set_training(dict(design.training, epochs=epochs, device="cpu", diagnostics_every=0))
    return design


@pytest.fixture
def run_dir(tmp_path):
    """A finished 3-epoch run with a checkpoint after every epoch (so a previous one exists)."""
    run = tmp_path / "run"
    events = list(train(_design(), run_dir=run, checkpoint_interval=0.0))
    assert events[-1]["status"] == "completed", events[-2]
    return run


def _reseal(folder):
    """Recompute a checkpoint's manifest, as a deliberate edit that passes the checksums."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_checkpoint_is_a_verified_whole(run_dir):
    folder = RunFolder(run_dir)
    last = folder.checkpoint("last")
    assert last.note is None and last.step == last.manifest["step"] > 0
    assert set(last.manifest["files"]) == {"model.safetensors", "optimizer.safetensors",
                                           "state.json"}
    previous = run_dir / "checkpoints" / "last.previous"
    assert json.loads((previous / "manifest.json").read_text())["step"] < last.step
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["truncate", "no manifest", "fifo"])
def test_a_damaged_newest_checkpoint_is_set_aside_for_the_previous(run_dir, damage):
    last = run_dir / "checkpoints" / "last"
    weights = last / "model.safetensors"
    if damage == "truncate":  # a write cut short
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "no manifest":  # killed before the manifest was written
        (last / "manifest.json").unlink()
    else:  # a FIFO must not block the reader
        weights.unlink()
        os.mkfifo(weights)
    found = RunFolder(run_dir).checkpoint("last")
    assert found.dir.name == "last.previous"
    assert "refused" in found.note and f"step {found.step}" in found.note
    result = evaluate_run(run_dir, checkpoint="last", split="val")
    assert result["note"] == found.note and 0 <= result["accuracy"] <= 1
    events = list(train(resume=run_dir, overrides={"epochs": 4}, checkpoint_interval=0.0))
    start = next(e for e in events if e.EVENT == "start")
    assert start["start_epoch"] == 3 and any("refused" in w for w in start["warnings"])
    assert events[-1]["status"] == "completed"


def test_no_usable_checkpoint_is_one_message(run_dir, capsys):
    for name in ("best", "best.previous"):
        (run_dir / "checkpoints" / name / "manifest.json").unlink(missing_ok=True)
    with pytest.raises(RunError, match="'best' checkpoint cannot be used .* no earlier one"):
        RunFolder(run_dir).checkpoint("best")
    assert main.main(["evaluate", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "manifest.json: missing" in err


def test_a_tampered_optimizer_state_is_refused_not_a_crash(run_dir):
    """Adam state of the wrong shape used to reach the fused kernel: exit 139. Now the state is
    checked tensor by tensor against the model before it is loaded."""
    last = run_dir / "checkpoints" / "last"
    tensors = load_file(last / "optimizer.safetensors")
    key = next(k for k in tensors if k.endswith("exp_avg"))
    tensors[key] = torch.zeros(3, 1)
    save_file(tensors, last / "optimizer.safetensors")
    _reseal(last)
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", "--resume",
                           str(run_dir), "--epochs", "5"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "cannot resume" in done.stderr and "exp_avg" in done.stderr
    assert "shape (3, 1)" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name, content, field", [
    ("config.json", "[1, 2]", "must be a JSON object"),
    ("config.json", '{"training": {"epochs": "many"}, "data": {"name": "iris"}}', "epochs"),
    ("status.json", '{"status": "running", "step": "x"}', "step"),
    ("config.json", "{", "unreadable"),
])
def test_a_tampered_run_file_is_one_message_naming_it(run_dir, capsys, name, content, field):
    (run_dir / name).write_text(content)
    assert main.main(["evaluate", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err and field in err
    assert main.main(["train", "--resume", str(run_dir), "--epochs", "5"]) == 1
    assert name in capsys.readouterr().err
    assert run_summary(run_dir).message.startswith(str(run_dir / name))


def test_a_fifo_named_like_the_weights_does_not_hang_evaluate(tmp_path):
    run = tmp_path / "run"
    list(train(_design(epochs=1), run_dir=run))
    for folder in (run / "checkpoints").iterdir():
        (folder / "model.safetensors").unlink()
        os.mkfifo(folder / "model.safetensors")
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "evaluate", str(run)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1 and "model.safetensors: missing or not a file" in done.stderr


def test_a_run_whose_process_died_reads_as_interrupted(tmp_path):
    run = tmp_path / "run"
    design = tmp_path / "iris.json"
    from graph.fileformat import save

    save(_design(epochs=100_000), design)
    child = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", str(design),
                              "--json", "--run-dir", str(run)], stdout=subprocess.PIPE,
                             text=True, cwd=ROOT)
    for line in child.stdout:  # wait until it trains
        if json.loads(line)["event"] == "epoch":
            break
    assert run_summary(run).status == "running"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()
    summary = run_summary(run)
    assert summary.status == "interrupted" and "killed or crashed" in summary.message


def test_stale_temporary_files_are_removed_on_the_next_start(run_dir):
    atomic_write_text(run_dir / "note.txt", "kept")  # an ordinary write leaves no temp file
    stale = [run_dir / ".config.json.0123abcd.tmp",
             run_dir / "checkpoints" / ".last.89abcdef.tmp"]
    stale[0].write_text("{")
    stale[1].mkdir()
    (stale[1] / "model.safetensors").write_bytes(b"half")
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write('{"event": "ste')  # a line cut short by a kill
    events = list(train(resume=run_dir, overrides={"epochs": 4}))
    assert events[-1]["status"] == "completed"
    assert not any(p.exists() for p in stale)
    assert "removed .config.json.0123abcd.tmp" in (run_dir / "log.txt").read_text()
    logged = RunFolder(run_dir).events()
    assert logged[-1] == events[-1].to_dict()  # the next event after the cut line survives
    assert sum(e["event"] == "start" for e in logged) == 2
