"""The layering rule, checked by import-linter: ui → runtime → graph, graph without torch/Qt."""
from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import ROOT


def test_import_contracts_hold():
    lint = shutil.which("lint-imports") or str(sys.executable).replace("python", "lint-imports")
    result = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout
