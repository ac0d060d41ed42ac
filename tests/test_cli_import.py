"""``python main.py import`` and ``python main.py weights``: what a person is told."""
from __future__ import annotations

import shutil

import torch

from tests.conftest import EXAMPLES, cli


def test_weights_refuses_a_whole_pickled_model_in_plain_words(tmp_path, capsys):
    design = tmp_path / "cnn.json"
    shutil.copy(EXAMPLES / "digits_cnn.json", design)
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 3)), tmp_path / "whole.pt")
    status, out, err = cli(capsys, "weights", design, tmp_path / "whole.pt")
    assert status != 0
    assert "whole.pt holds a whole pickled model" in err and "model.state_dict()" in err
    assert "\x1b" not in err and "two options" not in err
