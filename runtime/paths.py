"""Names on disk that are safe for any design name. Pure Python (no torch), so the app can ask
before the heavy libraries have loaded."""
from __future__ import annotations

import os
import re
import secrets
from datetime import datetime
from pathlib import Path

MAX_FOLDER_NAME_BYTES = 96  # leaves room for "-<time>-N" within any file system's 255


def folder_name(text: str, default: str = "run") -> str:
    """A design name or file stem made safe as one folder name on any system: letters, digits,
    ``-`` and ``_`` only (so never ``..``, a slash or a drive), at most
    :data:`MAX_FOLDER_NAME_BYTES` bytes; ``default`` when nothing is left."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text)).strip("_")
    while len(name.encode("utf-8", "surrogatepass")) > MAX_FOLDER_NAME_BYTES:
        name = name[:-1]
    name = name.rstrip("_") or default
    return name + "_" if name.upper() in _WINDOWS_RESERVED else name


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
                     *(f"LPT{i}" for i in range(10))}


# ---- run folders (their contents: runtime.runs.RunFolder) -----------------------------------

CHECKPOINT_KINDS = ("best", "last")  # the checkpoints a run keeps, by name
RUN_STAMP = "%Y%m%d-%H%M%S"  # when a run started, at the end of its folder's name
# A run folder's name: an optional prefix, RUN_STAMP's layout, an optional "-N" (unique_dir);
# changing RUN_STAMP changes this (tests/runtime/test_runs.py checks both agree).
_STAMPED = re.compile(r"(?:.*-)?\d{8}-(\d\d)(\d\d)(\d\d)(-\d+)?")


def short_run_name(name: str) -> str:
    """A run folder's name as a short label: the time of day it started (``20261130-080022``
    and ``digits-20261130-080022`` → ``08:00:22``, a ``-2`` suffix kept); any other name as
    it is. For places too narrow for the whole name, which then says it in a tooltip."""
    match = _STAMPED.fullmatch(name)
    if match is None:
        return name
    hours, minutes, seconds, suffix = match.groups()
    return f"{hours}:{minutes}:{seconds}{suffix or ''}"


def unique_dir(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3`` … whichever does not exist yet."""
    candidate, i = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}-{i}")
        i += 1
    return candidate


def default_run_dir(design_stem: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<design-stem>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3`` … if taken): the CLI's."""
    stamp = datetime.now().strftime(RUN_STAMP)
    return unique_dir(Path(root) / f"{cli_run_prefix(design_stem)}{stamp}")


def cli_run_prefix(design_stem: str) -> str:
    """How the names of the command line's runs of a design begin."""
    return f"{folder_name(design_stem)}-"


def app_runs_root(data_folder: str | os.PathLike) -> Path:
    """Where the app keeps the runs of designs never saved: ``<app-data folder>/runs``."""
    return Path(data_folder) / "runs"


def design_runs_dir(root: str | os.PathLike, design_stem: str) -> Path:
    """The app's folder for one design's runs: ``<root>/<design-stem>/``."""
    return Path(root) / folder_name(design_stem, "untitled")


def unsaved_design_key(design_name: str) -> str:
    """The name of the app-data runs folder of one unsaved design, fixed when the design is
    made (New, Open of an example, Recover): ``<name>-<8 hex digits>``. Two unsaved designs of
    the same name never share runs, and renaming one keeps its runs (the key does not change)."""
    name = folder_name(design_name, "untitled")[:MAX_FOLDER_NAME_BYTES - 9]
    return f"{name}-{secrets.token_hex(4)}"


def new_run_dir(parent: str | os.PathLike) -> Path:
    """A fresh ``<parent>/<YYYYmmdd-HHMMSS>`` run folder name (the app's runs)."""
    return unique_dir(Path(parent) / datetime.now().strftime(RUN_STAMP))
