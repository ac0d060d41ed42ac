"""How long the Diagnostics table takes to lay out its rows when the panel is resized.

    python benchmarks/diagnostics_resize_bench.py [--rows 1200] [--resizes 20]

Fills the panel with ``--rows`` long diagnostics (a problem and a fix that wrap), shows it
offscreen with the app's style sheet, then resizes it between two widths ``--resizes`` times,
letting the events settle after each; prints the time of one layout of the rows, the median
time of one resize and how many times the rows were laid out per resize. Run it with ``PYTHONPATH`` at another checkout to compare
(the script itself only needs the ``ui`` package it finds first).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH's checkout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--resizes", type=int, default=20)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from graph.validate import Diagnostic, Report
    from ui.app import stylesheet
    from ui.document import Document
    from ui.panels import DiagnosticsPanel

    app = QApplication([])
    app.setStyleSheet(stylesheet())
    document = Document()
    panel = DiagnosticsPanel(document)
    layouts = [0]
    resize_rows = panel.table.resizeRowsToContents
    panel.table.resizeRowsToContents = lambda: (layouts.__setitem__(0, layouts[0] + 1),
                                                resize_rows())
    panel.resize(1100, 300)
    panel.show()
    diagnostics = [Diagnostic("warning", "bench", f"problem {i}: the layer's output is never used "
                              "by a later layer, so its weights are trained for nothing",
                              fix="drag a link from its output to a later layer's input, or "
                              "delete it") for i in range(args.rows)]
    panel.update_report(Report(diagnostics, document.report.inference))
    app.processEvents()
    times, counts = [], []
    for i in range(args.resizes):
        layouts[0] = 0
        start = time.perf_counter()
        panel.resize(900 if i % 2 else 1100, 300)
        app.processEvents()
        times.append(time.perf_counter() - start)
        counts.append(layouts[0])
    start = time.perf_counter()
    resize_rows()
    layout = time.perf_counter() - start
    print(f"{args.rows} rows: one layout of the rows {layout * 1000:.0f} ms; one resize {statistics.median(times) * 1000:.0f} ms (median of "
          f"{args.resizes}), rows laid out {statistics.median(counts):g}× per resize")


if __name__ == "__main__":
    main()
