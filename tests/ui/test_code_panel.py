"""The Code panel shows the code of any design at once: it never allocates real weights."""
from __future__ import annotations

import torch

from ui.document import Document
from ui.panels import CodePanel
from tests.graph.util import Build


def test_code_panel_builds_the_module_on_the_meta_device(qtbot, monkeypatch):
    b = Build(data="sine")
    b.add("Input", "x", shape=[1])
    b.add("Linear", "wide", "x", out_features=20_000)
    b.add("Linear", "huge", "wide", out_features=20_000)  # 1.6 GB of real weights
    b.add("Linear", "y", "huge", out_features=1)
    b.add("Output", "out", "y")
    b.design.set_training(dict(b.design.training, loss="mse"))
    devices = []
    original = torch.nn.Linear.reset_parameters

    def spy(self):
        devices.append(self.weight.device.type)
        return original(self)

    monkeypatch.setattr(torch.nn.Linear, "reset_parameters", spy)
    document = Document(b.design)
    panel = CodePanel(document)
    qtbot.addWidget(panel)
    panel.refresh()
    assert panel.ok, panel.text()
    assert "20000" in panel.text()
    assert devices and set(devices) == {"meta"}
