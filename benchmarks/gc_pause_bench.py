"""The garbage collector's pause on the GUI thread with the editor, PyTorch and scikit-learn
loaded: a full collection with the start-up heap frozen (what ui.loading does once the
background imports end) against the same heap unfrozen, in one run (prints numbers only).

    QT_QPA_PLATFORM=offscreen python benchmarks/gc_pause_bench.py
"""
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from ui.app import create_app, open_editor
from ui.loading import heavy_imports
app = create_app()
w = open_editor(ROOT / "resources/examples/digits_cnn.json")
t = time.time()
while (heavy_imports().state != "done" or w.training.data_panel.reading) and time.time() - t < 120:
    app.processEvents()
def pauses():
    out = []
    for _ in range(5):
        t0 = time.perf_counter(); gc.collect(); out.append((time.perf_counter() - t0) * 1e3)
    return out
frozen = pauses()            # the loader froze the heap already
gc.unfreeze(); unfrozen = pauses(); gc.freeze(); frozen2 = pauses()
print(f"objects tracked: {len(gc.get_objects())} + frozen {gc.get_freeze_count()}")
for label, p in (("unfrozen", unfrozen), ("frozen", frozen + frozen2)):
    print(f"full gc.collect() on the GUI thread, {label}: median {statistics.median(p):.1f} ms (range {min(p):.1f}–{max(p):.1f})")
os._exit(0)  # (the window's autosave and settings stay untouched)
