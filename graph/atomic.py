"""Files replaced whole or not at all: the one atomic-write helper of the project.

A file is written to a temporary name beside its target (``.<name>.<random>.tmp``), flushed and
fsynced, renamed over the target, and the folder is fsynced so the rename itself survives a
power cut. A crash at any point leaves either the old file or the new one, plus at worst a
temporary file that :func:`remove_stale_temps` clears on the next start. Design saves, autosaves
and every file of a run folder go through here. (Pure Python: graph/ imports neither Qt nor
torch.)
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Iterator

TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # what temp_path names look like


def temp_path(path: Path, is_dir: bool = False) -> Path:
    """A fresh temporary name beside ``path`` (created empty, so no one else takes it)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            if is_dir:
                tmp.mkdir()
            else:  # 0666 less the umask, like any new file (mkstemp would be owner-only)
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:  # pragma: no cover - a 32-bit random name collided
            continue


def new_file_mode() -> int:
    """The permissions a new file gets here: 0666 less the umask (some writers, such as
    safetensors, create owner-only files)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where folders cannot be
    opened, as on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to (for writers that want a
    path, such as safetensors); on success it is fsynced and renamed over ``path``, keeping
    the permissions of the file it replaces. On any error the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = stat.S_IMODE(tmp.stat().st_mode)
    try:
        yield tmp
        os.chmod(tmp, mode)  # some writers replace the file with an owner-only one
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders an interrupted write left in ``folder`` (call
    it only where no other writer is at work); returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed
