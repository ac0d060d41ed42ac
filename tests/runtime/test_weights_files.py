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
