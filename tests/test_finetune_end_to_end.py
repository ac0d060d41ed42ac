"""The fine-tuning journey: a trained digits CNN exported to ONNX, imported, its head replaced
and the rest frozen, then trained on another built-in dataset."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from graph.fileformat import load, save
from graph.finetune import freeze_all_but, head_layer, replace_head
from graph.settings import DATASETS
from graph.summary import summarize
from runtime.compiler import compile_design
from runtime.export import export_path
from runtime.importers import import_model, save_imported
from runtime.training import evaluate_run, train
from runtime.training.evaluation import evaluate_split
from runtime.training.losses import LossFn
from runtime.training.setup import load_training_data
from runtime.weights import apply_training_flags, load_initial_weights

EXAMPLE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "digits_cnn.json"


def _run(design, run_dir: Path, design_file: Path | None = None, epochs: int = 6) -> list[dict]:
    events = list(train(design, run_dir=run_dir, design_path=design_file,
                        overrides={"epochs": epochs, "device": "cpu"}, checkpoint_interval=0))
    assert events[-1]["status"] == "completed", events[-1]
    return events


def _accuracy_from_initial_weights(design, base_dir: Path) -> float:
    """Test accuracy of a design that has not been trained here, from its initial weights."""
    compiled = compile_design(design)
    assert load_initial_weights(compiled, design, base_dir).missing == []
    data = load_training_data(design, "float32", str(base_dir), None)
    loss = LossFn("cross_entropy", data.info, (10,))
    result = evaluate_split(compiled.module, data.test, loss, data.info, torch.device("cpu"))
    return result["accuracy"]


@pytest.mark.slow
def test_import_freeze_replace_head_and_fine_tune(tmp_path):
    original = load(EXAMPLE)
    _run(original, tmp_path / "digits")
    digits_accuracy = evaluate_run(tmp_path / "digits")["accuracy"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_path(tmp_path / "digits", "onnx", tmp_path / "cnn.onnx")

    imported = import_model(tmp_path / "cnn.onnx")
    imported.design.set_data(original.data)  # the same split, so the same test samples
    design_file = tmp_path / "finetune.json"
    save_imported(imported, design_file)
    design = load(design_file)
    assert design.initial_weights == "finetune.safetensors"
    assert _accuracy_from_initial_weights(design, tmp_path) == pytest.approx(digits_accuracy, abs=1e-9)

    head = replace_head(design, DATASETS["digits_parity"].classes({}))
    assert head is head_layer(design) and head.params["out_features"] == 2
    freeze_all_but(design, {head.id})
    design.set_data(dict(design.data, name="digits_parity"))
    save(design, design_file)
    summary = summarize(design)
    assert summary.trainable_params == 64 * 2 + 2 and summary.frozen_params > 10_000

    events = _run(load(design_file), tmp_path / "parity", design_file, epochs=8)
    start = next(e for e in events if e["event"] == "start")
    assert any("started from finetune.safetensors" in n for n in start["notes"])
    assert evaluate_run(tmp_path / "parity")["accuracy"] > 0.8  # chance is 0.5

    before = load_file(str(tmp_path / "finetune.safetensors"))
    after = load_file(str(tmp_path / "parity" / "checkpoints" / "last" / "model.safetensors"))
    frozen = [k for k in before if not k.startswith(head.name + ".")]
    for key in frozen:  # weights and BatchNorm statistics of the frozen layers never moved
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0, msg=key)
    assert after[f"{head.name}.weight"].shape == (2, 64)


def test_frozen_layers_get_no_gradients_and_keep_batchnorm_in_eval_mode():
    from runtime.weights import param_groups, set_train_mode

    design = load(EXAMPLE)
    head = head_layer(design)
    freeze_all_but(design, {head.id})
    design.set_training_flags(head.id, lr_mult=0.5)
    compiled = compile_design(design)
    norms = apply_training_flags(compiled, design)
    trainable = {n for n, p in compiled.module.named_parameters() if p.requires_grad}
    assert trainable == {f"{head.name}.weight", f"{head.name}.bias"}
    assert [g["lr"] for g in param_groups(compiled, design, 0.01)] == [0.005]
    set_train_mode(compiled.module, norms)
    assert len(norms) == 2 and not any(m.training for m in norms)
    assert compiled.module.fc1.training


def test_weights_match_by_name_then_by_shape_in_numeric_order(tmp_path):
    from safetensors.torch import save_file

    from runtime.weights import match_weights, read_weights

    design = load(EXAMPLE)
    own = compile_design(design).module.state_dict()
    renamed = {f"features.{i}.{k.split('.', 1)[1]}": v.clone() for i, (k, v) in enumerate(own.items())}
    renamed["head.weight"] = torch.zeros(1000, 64)
    save_file({k: v.contiguous() for k, v in renamed.items()}, str(tmp_path / "w.safetensors"))
    matching = match_weights(own, read_weights(tmp_path / "w.safetensors"))
    pairs = {mine: theirs for mine, theirs, how in matching.matched}
    assert pairs["conv2.bias"] == "features.8.bias" and pairs["bn2.bias"] == "features.10.bias"
    assert all(how == "shape" for *_, how in matching.matched)
    assert "head.weight" in matching.unexpected
    named = match_weights(own, {**own, "fc2.weight": torch.zeros(3, 64)})
    assert named.mismatched == [("fc2.weight", (10, 64), (3, 64))]
    assert len(named.matched) == len(own) - 1
