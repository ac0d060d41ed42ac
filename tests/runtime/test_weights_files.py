"""Reading weights files: what a person is told about files Netwright will not read."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from runtime.weights import WeightsError, read_weights


def _touch(path: str) -> Path:
    """Run by unpickling: proof that a file's code ran."""
    Path(path).touch()
    return Path(path)


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return _touch, (str(self.marker),)


def test_a_whole_pickled_model_is_one_clear_message_naming_the_file(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), path)
    with pytest.raises(WeightsError) as caught:
        read_weights(path)
    message = str(caught.value)
    assert message.startswith("whole.pt holds a whole pickled model")
    assert "torch.save(model.state_dict(), path)" in message and "safetensors" in message
    assert "\x1b" not in message and "two options" not in message and "\n" not in message


def test_pickled_objects_are_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "odd.pt"
    torch.save({"w": torch.zeros(2), "x": _RunsCode(marker)}, path)
    with pytest.raises(WeightsError, match=r"odd.pt holds pickled Python objects \(.*_touch\)"):
        read_weights(path)
    assert not marker.exists()


def test_a_broken_pt_file_says_so_without_torch_advice(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a pickle")
    with pytest.raises(WeightsError) as caught:
        read_weights(path)
    message = str(caught.value)
    assert message.startswith("junk.pt: not a readable PyTorch state dict")
    assert "weights_only" not in message and "\x1b" not in message


def test_scalars_such_as_num_batches_tracked_match_by_shape_in_order():
    from runtime.weights import match_weights

    own = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).state_dict()
    theirs = {f"features.{k}": v.clone() for k, v in own.items()}
    theirs = {k.replace("features.1.", "features.bn."): v for k, v in theirs.items()}
    matching = match_weights(own, theirs)
    assert matching.missing == [] and matching.unexpected == []
    assert ("1.num_batches_tracked", "features.bn.num_batches_tracked", "shape") in matching.matched


def _old_layout(state: dict) -> dict:
    """A state dict as Netwright wrote it before a recurrent layer became torch's own module:
    the RNN held one level down (``lstm.rnn.weight_ih_l0``)."""
    import re

    return {re.sub(r"(weight|bias)_(ih|hh)_l", r"rnn.\1_\2_l", k): v.clone() + 1
            for k, v in state.items()}


def test_checkpoints_and_weights_of_the_earlier_recurrent_layout_still_load(tmp_path):
    """A run folder's checkpoint and a weights file (Load Weights…, initial weights) saved
    with ``lstm.rnn.…`` load by name into today's ``lstm.…``; tensors of other names do not
    move."""
    import hashlib
    import json

    from safetensors.torch import load_file, save_file

    from graph.fileformat import load
    from runtime.runs import load_run
    from runtime.training import train
    from runtime.weights import match_weights, migrate_names
    from tests.conftest import EXAMPLES

    design = load(EXAMPLES / "digits_lstm.json")
    design.set_training(dict(design.training, epochs=1, device="cpu", diagnostics_every=0))
    run = tmp_path / "run"
    assert list(train(design, run_dir=run))[-1]["status"] == "completed"
    folder = run / "checkpoints" / "best"
    new = load_file(str(folder / "model.safetensors"))
    rnn_keys = [k for k in new if "_ih_l0" in k]
    assert rnn_keys and all(".rnn." not in k for k in new)
    old = _old_layout(new)
    assert set(old) != set(new)
    save_file(old, str(folder / "model.safetensors"))
    manifest = json.loads((folder / "manifest.json").read_text())  # resealed as if written so
    manifest["files"]["model.safetensors"] = hashlib.sha256(
        (folder / "model.safetensors").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    state = load_run(run).build_model("best").module.state_dict()
    assert all(torch.equal(state[k], new[k] + 1) for k in new)

    assert migrate_names(old, new).keys() == new.keys()
    assert migrate_names({"rnn.weight_ih_l0": new[rnn_keys[0]]}, {"rnn.weight_ih_l0": 0}) \
        .keys() == {"rnn.weight_ih_l0"}  # a layer named rnn keeps its names
    matching = match_weights(new, old)
    assert {(mine, how) for mine, _, how in matching.matched} == {(k, "name") for k in new}
    assert not (matching.missing or matching.unexpected)


def test_weights_saved_before_layers_were_registered_at_their_paths_still_load():
    """A layer named ``downs.0`` compiled to ``downs_0`` and a block's ``0`` to ``l_0`` before
    they were registered at their paths: such files load by name, where one tensor reads so."""
    from runtime.runs import load_weights_into
    from runtime.weights import current_names

    own = {"downs.0.weight": torch.zeros(2), "convs.0.bias": torch.zeros(3),
           "a.b_c.weight": torch.zeros(1), "a_b.c.weight": torch.zeros(1),
           "head.weight": torch.zeros(4)}
    old = {"downs_0.weight": torch.ones(2), "convs.l_0.bias": torch.ones(3),
           "a_b_c.weight": torch.ones(1), "head.weight": torch.ones(4)}
    assert current_names(old, own) == {"downs_0.weight": "downs.0.weight",
                                       "convs.l_0.bias": "convs.0.bias",
                                       "a_b_c.weight": "a_b_c.weight",  # two read so: neither
                                       "head.weight": "head.weight"}
    module = nn.Module()
    module.downs = nn.ModuleList([nn.Linear(3, 2, bias=False)])
    module.head = nn.Linear(3, 1, bias=False)
    load_weights_into(module, {"downs_0.weight": torch.ones(2, 3), "head.weight": torch.ones(1, 3)},
                      "old.safetensors")
    assert torch.equal(module.downs[0].weight, torch.ones(2, 3))
