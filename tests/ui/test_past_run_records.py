"""A finished run selected on the Runs page shows its own records: the per-step loss, the
learning rate and the layer stats are read from its metrics.jsonl (they were empty, or showed
the previous design's rows), and Results' Evaluate evaluates it."""
from __future__ import annotations

import json

from graph.design import Design
from ui.document import Document
from ui.training.workspace import TrainingWorkspace


def past_run(folder, name="20260101-120000"):
    run = folder / name
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": "completed", "epochs_completed": 2,
                                                 "epochs": 2}))
    layers = [{"node": "n2", "name": "linear_1", "type": "Linear", "grad_norm": 0.5,
               "act_mean": 0.1, "act_std": 1.0, "dead_fraction": 0.0}]
    events = [{"event": "start"}]
    for step in range(1, 9):
        events.append({"event": "step", "step": step, "epoch": 1 + (step > 4),
                       "loss": 1.0 / step, "lr": 0.01})
        if step % 2 == 0:
            events.append({"event": "diagnostics", "step": step, "layers": layers})
    events += [{"event": "epoch", "epoch": e, "step": 4 * e, "train_loss": 0.5 / e,
                "val_loss": 0.6 / e, "lr": 0.01} for e in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run


def test_a_selected_past_run_shows_its_step_curves_and_layer_stats(qtbot, tmp_path):
    document = Document(Design("mine"))
    document.set_path(tmp_path / "mine.json")
    workspace = TrainingWorkspace(document, runs_root=tmp_path / "runs")
    history, plots, diagnostics = workspace.history, workspace.plots, workspace.diagnostics
    for widget in (workspace.tabs, workspace.panel, workspace.data_panel):  # every top level
        qtbot.addWidget(widget)
    past_run(tmp_path / "runs" / "mine")
    history.refresh()
    qtbot.waitUntil(lambda: len(history.runs) == 1, timeout=20_000)
    diagnostics.layers = [{"node": "x", "name": "previous design's layer", "type": "Conv2d"}]

    history.select(["20260101-120000"])
    qtbot.waitUntil(lambda: plots.points("step/raw") == 8, timeout=10_000)
    assert plots.points("lr") == 8
    assert plots.points("epoch/val_loss") == 2
    assert plots.overlay_count == 0  # shown as the curves, not again as an overlay
    assert diagnostics.count == 4
    assert [layer["name"] for layer in diagnostics.layers] == ["linear_1"]
    assert diagnostics.table.item(0, 0).text() == "linear_1"
    assert diagnostics.info.isHidden()

    workspace.results.refresh_button.click()  # Results' Evaluate takes the Runs selection
    assert workspace.results.run_dir == str(history.runs[0].dir)
    qtbot.waitUntil(lambda: workspace.results.title.text().startswith(
        "No results for 20260101-120000"), timeout=20_000)  # this fake run has no weights

    document.replace(Design("another"))  # New / Open: the past run's rows go
    assert diagnostics.layers == [] and diagnostics.table.rowCount() == 0
    assert diagnostics.plot.getAxis("left")._tickLevels is None
    assert not diagnostics.info.isHidden()
