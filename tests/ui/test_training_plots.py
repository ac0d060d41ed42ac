"""Live plots and their buffers: points arrive, NaN is shown, 100k points stay cheap."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest

from ui.training.buffers import Series, SmoothedSeries
from ui.training.plots import LivePlots, epoch_values


def test_series_grows_and_returns_views():
    s = Series(capacity=2)
    for i in range(10):
        s.append(i, i * i)
    x, y = s.arrays()
    assert len(s) == 10
    assert x.tolist() == list(range(10))
    assert y[-1] == 81
    assert s.all_finite


def test_series_remembers_first_nonfinite():
    s = Series()
    s.extend([0, 1, 2, 3], [1.0, None, "Infinity", 2.0])
    assert s.first_nonfinite == 1.0
    assert math.isnan(s.arrays()[1][1])


def test_smoothed_series_is_centred_and_skips_nan():
    s = SmoothedSeries(half_width=2)
    s.append(0, 4.0)
    assert s.last() == pytest.approx(4.0)  # the first point is itself: no ramp from zero
    s.append(1, float("nan"))
    assert math.isnan(s.last())
    s.append(2, 4.0)
    assert s.last() == pytest.approx(4.0)
    s.clear()
    s.extend(range(6), [5.0, 1.0, 3.0, 8.0, 2.0, 6.0])
    assert s.arrays()[1].tolist() == pytest.approx([5.0, 3.0, 3.8, 4.0, 16 / 3, 6.0])


def test_smoothed_loss_does_not_lag_a_falling_loss(qtbot):
    """On a steadily falling loss with noise, the drawn smoothed curve runs through the raw
    trend (an exponential average sat well above it all the way down), and starts at the first
    points without a ramp."""
    rng = np.random.default_rng(0)
    steps = np.arange(1.0, 201.0)
    trend = 2.0 - 0.008 * steps
    plots = LivePlots()
    qtbot.addWidget(plots)
    for step, loss in zip(steps, trend + rng.normal(0, 0.1, len(steps))):
        plots.add_event({"event": "step", "step": step, "epoch": 1, "loss": float(loss)})
    plots.redraw()
    x, smoothed = plots.curves["step/smooth"].item.getData()
    assert x.tolist() == steps.tolist()
    assert np.abs(smoothed - trend).mean() < 0.03  # on the trend, not a lag of 9 × 0.008 above
    assert np.abs(smoothed - trend).max() < 0.25
    assert abs(smoothed[0] - trend[0]) < 0.25 and abs(smoothed[1:6] - trend[1:6]).max() < 0.15


def _feed(plots, steps, epochs=0, nan_at=None):
    for i in range(steps):
        loss = float("nan") if i == nan_at else 1.0 / (i + 1)
        plots.add_event({"event": "step", "step": i + 1, "epoch": 1, "loss": loss, "lr": 1e-3})
    for e in range(1, epochs + 1):
        plots.add_event({"event": "epoch", "epoch": e, "train_loss": 1.0 / e,
                         "val_loss": 1.2 / e, "val_accuracy": 0.5 + e / 100, "lr": 1e-3})


def test_events_become_curves(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    _feed(plots, 20, epochs=3)
    plots.redraw()
    assert plots.points("step/raw") == 20
    assert plots.points("step/smooth") == 20
    assert plots.points("lr") == 20
    assert plots.points("epoch/train_loss") == 3
    assert plots.points("epoch/val_accuracy") == 3
    x, y = plots.curves["epoch/val_loss"].item.getData()
    assert x.tolist() == [1.0, 2.0, 3.0]
    assert plots.curves["epoch/val_accuracy"].plot == "metrics"


def test_epoch_bookkeeping_is_not_plotted_as_a_metric():
    # An epoch event as the trainer prints it: the run's epoch count is not a curve.
    record = {"event": "epoch", "time": 6.2, "epoch": 1, "epochs": 2, "step": 22,
              "train_loss": 0.34, "val_loss": 0.29, "val_accuracy": 0.87, "lr": 0.01,
              "duration_s": 0.6, "samples_per_s": 1250.0, "improved": True,
              "best": {"metric": "val_loss", "value": 0.29, "epoch": 1}}
    assert epoch_values(record) == {"train_loss": 0.34, "val_loss": 0.29, "val_accuracy": 0.87}


def test_nan_is_marked_not_crashing(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.show()
    _feed(plots, 50, nan_at=30)
    plots.add_event({"event": "epoch", "epoch": 1, "train_loss": None, "val_loss": "NaN"})
    plots.set_log_scale(True)
    plots.redraw()
    plots.grab()  # a paint with NaN and log scale, now
    assert "NaN" in plots.status.text()
    assert "step 31" in plots.status.text()
    assert plots.nan_marked("step") and plots.nan_marked("loss")
    assert not plots.nan_marked("lr")
    plots.clear()
    assert plots.points("step/raw") == 0 and not plots.nan_marked("step")


def test_hundred_thousand_points_redraw_downsampled(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(800, 600)
    plots.show()
    curve = plots._curve("step/raw", "step", "loss", faint=True)
    xs = np.arange(100_000, dtype=float)
    curve.series.extend(xs, np.exp(-xs / 2e4))
    plots.redraw()
    plots.grab()  # a paint: the view range is settled and clipping applies to it
    item = curve.item
    assert item.opts["autoDownsample"] and item.opts["clipToView"]
    assert item.opts["downsampleMethod"] == "peak"
    shown_x, _ = item.getData()  # what is really drawn: far fewer points than stored
    assert len(shown_x) < 10_000
    assert plots.points("step/raw") == 100_000


def test_overlays_added_and_replaced(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    records = [{"event": "epoch", "epoch": e, "train_loss": 1 / e, "val_loss": 1 / e}
               for e in (1, 2, 3)]
    plots.set_overlays({"run a": records, "run b": records[:2]})
    assert plots.overlay_count == 4
    plots.set_overlays({})
    assert plots.overlay_count == 0


def test_a_short_run_still_draws_loss_per_step(qtbot):
    """Two epochs of 3 steps that logged no step event: a line from the epochs' training
    losses at their steps, on an axis that does not reach below 0."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    for e in (1, 2):
        plots.add_event({"event": "epoch", "epoch": e, "step": 3 * e, "train_loss": 1.0 / e,
                         "val_loss": 1.1 / e, "lr": 1e-3})
    plots.redraw()
    x, y = plots.curves["step/raw"].item.getData()
    assert x.tolist() == [3.0, 6.0] and y.tolist() == [1.0, 0.5]
    assert plots.curves["step/raw"].item.opts["symbol"] == "o"  # few points: dots
    assert plots.plots["step"].vb.state["limits"]["xLimits"][0] == 0


def test_an_epoch_whose_steps_were_plotted_adds_no_jump_to_loss_per_step(qtbot):
    """Step events every 4 steps of a 10-step epoch: the epoch's mean loss (higher than its
    last steps') is not added at step 10, where it would jump up."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    for step, loss in ((4, 0.8), (8, 0.4)):
        plots.add_event({"event": "step", "epoch": 1, "step": step, "loss": loss, "lr": 1e-3})
    plots.add_event({"event": "epoch", "epoch": 1, "step": 10, "train_loss": 0.9, "lr": 1e-3})
    plots.add_event({"event": "epoch", "epoch": 2, "step": 20, "train_loss": 0.3, "lr": 1e-3})
    plots.redraw()
    x, y = plots.curves["step/raw"].item.getData()
    assert x.tolist() == [4.0, 8.0, 20.0] and y.tolist() == [0.8, 0.4, 0.3]  # epoch 2 had none


def test_legends_sit_in_the_title_row_not_on_the_curves(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1200, 300)  # wide enough for both entries (a narrow legend counts the rest)
    plots.show()
    qtbot.waitExposed(plots)
    _feed(plots, 5, epochs=2)
    plots.redraw()
    # No legend box anywhere in the scene (none can sit on the curves) ...
    assert not any(isinstance(i, pg.LegendItem) for i in plots.graphics.scene().items())
    for plot in plots.plots.values():  # ... the titles carry the legends
        assert plot.layout.itemAt(0, 1) is plot.titleLabel
    loss = plots.plots["loss"]
    assert loss.legend.names == ["train loss", "val loss"]  # people's labels, not keys
    assert "val loss" in loss.titleLabel.text
    plots.set_overlays({"run 1": [{"epoch": 1, "val_loss": 0.5}]})
    assert "run 1 val loss" in loss.legend.names  # the short name; the tooltip: "run 1: val loss"
    assert "run 1: val loss" in loss.titleLabel.toolTip()
    plots.set_overlays({})
    assert loss.legend.names == ["train loss", "val loss"]


def test_a_new_run_starts_on_fresh_axes(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    _feed(plots, 400, epochs=50)
    plots.redraw()
    plots.plots["step"].setXRange(0, 400)  # the old run's range, auto-range off
    assert not plots.plots["step"].vb.autoRangeEnabled()[0]
    plots.clear()
    assert all(plot.vb.autoRangeEnabled()[0] for plot in plots.plots.values())
    plots.redraw()
    assert all(plot.vb.viewRange()[0][1] <= 1.0 for plot in plots.plots.values())  # not 0–400


def test_the_x_axis_follows_the_run_in_round_steps_until_the_user_pans(qtbot):
    """The axis changes a few times per decade, not at every point (a frame then repaints no
    axis text); a user's pan or zoom is left alone."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    for step in range(1, 29):
        plots.add_event({"event": "step", "step": step, "loss": 1.0 / step, "lr": 1e-3})
    plots.redraw()
    assert plots.plots["step"].vb.viewRange()[0] == [0.0, 30.0]
    for step in range(29, 40):
        plots.add_event({"event": "step", "step": step, "loss": 1.0 / step, "lr": 1e-3})
    plots.redraw()
    assert plots.plots["step"].vb.viewRange()[0] == [0.0, 50.0]
    plots.plots["step"].vb.sigRangeChangedManually.emit([True, False])  # the user zooms
    plots.plots["step"].setXRange(5, 10, padding=0)
    for step in range(40, 90):
        plots.add_event({"event": "step", "step": step, "loss": 1.0 / step, "lr": 1e-3})
    plots.redraw()
    assert plots.plots["step"].vb.viewRange()[0] == [5.0, 10.0]


def test_the_y_axis_is_refitted_only_when_the_data_leaves_it_or_shrinks_in_it(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plot = plots.plots["loss"]

    def epoch(e, loss):
        plots.add_event({"event": "epoch", "epoch": e, "step": 10 * e, "train_loss": loss,
                         "lr": 1e-3})
        plots.redraw()
        return plot.vb.viewRange()[1]

    epoch(1, 2.0)
    first = epoch(2, 1.0)
    assert first[0] < 1.0 and first[1] > 2.0 and not plot.vb.autoRangeEnabled()[1]
    assert epoch(3, 1.5) == first  # inside: the axis (and its labels) stay as they are
    lower = epoch(4, 0.5)  # below: refitted around every point
    assert lower[0] < 0.5 < 2.0 < lower[1] and lower != first
    plots.set_log_scale(True)
    assert plot.vb.autoRangeEnabled()[1]  # a log axis fits itself
    plots.set_log_scale(False)
    assert not plot.vb.autoRangeEnabled()[1] and plot.vb.viewRange()[1][0] < 0.5


def test_an_edit_goes_before_the_next_frame_of_the_curves(qtbot, monkeypatch, tmp_path):
    """After an edit (an undo-stack step) the curves wait a frame's time: the edit and its
    revalidation never share a pass of the event loop with a frame of the plots."""
    from graph.fileformat import load
    from tests.conftest import EXAMPLES
    from ui.commands import SetParamCommand
    from ui.document import Document
    from ui.training import plots as plots_module
    from ui.training.workspace import TrainingWorkspace

    now = [1000.0]
    monkeypatch.setattr(plots_module.time, "perf_counter", lambda: now[0])
    document = Document(load(EXAMPLES / "digits_mlp.json"))
    ws = TrainingWorkspace(document, runs_root=tmp_path / "runs")
    for widget in (ws.panel, ws.tabs, ws.data_panel):
        qtbot.addWidget(widget)
    plots = ws.plots
    monkeypatch.setattr(plots, "isVisible", lambda: True)
    plots.add_event({"event": "step", "step": 1, "loss": 1.0})
    fc = next(n for n in document.design.nodes if n.type == "Linear")
    document.push(SetParamCommand(document.design, fc.id, "out_features", 17))
    plots.redraw(force=False)
    raw = plots.curves["step/raw"]
    assert raw.drawn != raw.series.version  # not in the edit's pass
    now[0] += plots_module.FRAME_MS / 1000
    plots.redraw(force=False)
    assert plots.curves["step/raw"].drawn == plots.curves["step/raw"].series.version


def test_the_usual_curves_are_made_before_a_run_and_listed_once_they_have_points(qtbot):
    """Making plot items takes milliseconds: the curves every run draws exist before it starts
    (its first events then only add points), and a legend lists a curve once it has points."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    assert {"step/raw", "step/smooth", "lr", "epoch/train_loss", "epoch/val_loss"} <= set(plots.curves)
    assert plots.plots["loss"].legend.names == [] and plots.plots["step"].legend.names == []
    plots.add_event({"event": "epoch", "epoch": 1, "step": 10, "train_loss": 0.5})
    plots.redraw()
    assert plots.plots["loss"].legend.names == ["train loss"]  # no validation: no "val loss"
    plots.clear()
    assert plots.plots["loss"].legend.names == []


def test_the_plots_keep_their_place_while_tick_labels_change_width(qtbot):
    """A y axis starts as wide as "0.0000" and never narrows: labels of another width no longer
    move every plot of the row (a relayout repaints all four)."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1200, 300)
    plots.show()
    qtbot.waitExposed(plots)
    from PySide6.QtWidgets import QApplication

    def widths() -> list[float]:
        for _ in range(3):  # the layout follows from posted events
            plots.graphics.grab()
            QApplication.processEvents()
        return [p.vb.width() for p in plots.plots.values()]

    start = widths()
    for epoch, loss in enumerate((2.0, 0.5, 0.25, 0.125, 0.0625, 5.0, 15.0), start=1):
        plots.add_event({"event": "epoch", "epoch": epoch, "step": 10 * epoch, "train_loss": loss,
                         "val_loss": loss, "val_accuracy": 1 - loss / 4, "lr": 1e-3})
        plots.redraw()
        assert widths() == start


def _twenty_runs() -> dict[str, list[dict]]:
    records = [{"event": "epoch", "epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e,
                "val_accuracy": 0.1 * e} for e in (1, 2, 3)]
    return {f"digits_cnn/20261130-0757{i:02d}": records for i in range(20)}


def test_overlaying_many_runs_draws_each_legend_once(qtbot, monkeypatch):
    """Twenty runs overlaid (and replaced): each plot's legend is drawn once per call, with
    every curve and its run's whole name in the tooltip."""
    from ui.training.plots import _ClippedTitle

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(900, 300)
    plots.show()
    qtbot.waitExposed(plots)
    drawn: dict[int, int] = {}  # per legend (its title label)
    set_text = _ClippedTitle.setText

    def counted(label, *args, **kwargs):
        drawn[id(label)] = drawn.get(id(label), 0) + 1
        set_text(label, *args, **kwargs)
    monkeypatch.setattr(_ClippedTitle, "setText", counted)
    for _ in range(2):  # adding, then replacing
        drawn.clear()
        plots.set_overlays(_twenty_runs())
        assert drawn and max(drawn.values()) == 1
    legend = plots.plots["loss"].legend
    assert len(legend.names) == 40  # each run's train and validation loss
    tooltip = plots.plots["loss"].titleLabel.toolTip()
    assert "digits_cnn/20261130-075719: val loss" in tooltip.splitlines()


class _CountingMetrics:
    """Font metrics that count the texts they measure."""

    def __init__(self, metrics):
        self.metrics, self.measured = metrics, 0

    def horizontalAdvance(self, text: str) -> int:  # noqa: N802 (Qt API)
        self.measured += 1
        return self.metrics.horizontalAdvance(text)


@pytest.mark.parametrize("width", [120, 400, 50_000])
def test_what_fits_the_legend_takes_a_measurement_per_entry(qtbot, width):
    """Fitting a line of n entries measures O(n) texts (not one line per candidate), and
    still shows the most whole entries that fit, then "+N more"."""
    from ui.training.plots import _Entry

    plots = LivePlots()
    qtbot.addWidget(plots)
    legend = plots.plots["loss"].legend
    metrics = legend._metrics
    legend._metrics = _CountingMetrics(metrics)
    legend._width = float(width)
    parts = [_Entry(f"run {i} val loss", "#ff0000", "━") for i in range(60)]
    line = legend._fitting(parts)
    assert legend._metrics.measured <= 3 * len(parts) + 3
    gap = metrics.horizontalAdvance("   ")
    shown = sum(metrics.horizontalAdvance(p.plain) for p in line) + gap * (len(line) - 1)
    assert shown <= width or len(line) == 1
    whole = [p for p in line if p in parts]
    assert whole == parts[:len(whole)]
    if width == 50_000:
        assert line == parts
    elif len(whole) < len(parts):
        rest = line[-1].text
        assert rest.startswith(f"+{len(parts) - len(whole)}")
        one_more = parts[:len(whole) + 1] + [_Entry(rest.replace(
            str(len(parts) - len(whole)), str(len(parts) - len(whole) - 1)))]
        assert sum(metrics.horizontalAdvance(p.plain) for p in one_more) \
            + gap * (len(one_more) - 1) > width  # one entry more would not have fitted
