"""The app's process ends cleanly: no segfault at exit (issue 9)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

COPY_THEN_EXIT = textwrap.dedent("""
    from graph.templates import build
    from ui.app import create_app
    from ui.canvas.clipboard import fragment_text, to_mime

    app = create_app()
    design = build("mlp", {}, small=True)
    app.clipboard().setMimeData(to_mime(fragment_text(design, [n.id for n in design.nodes])))
""")


def test_layers_left_on_the_offscreen_clipboard_do_not_crash_the_exit():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", COPY_THEN_EXIT], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
