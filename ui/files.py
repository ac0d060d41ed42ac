"""Recent files, autosave and crash recovery.

Settings live in an INI file under Qt's user scope (``app_settings()``); tests isolate them with
``QSettings.setPath``. Autosaves live in the user's app-data folder, or in ``$NETWRIGHT_DATA_DIR``
when set:

* ``autosave-<session>.json`` — the design, written atomically every 30 s while modified;
* ``autosave-<session>.meta.json`` — a small sidecar: original path, design name, time;
* ``autosave-<session>.lock`` — a :class:`QLockFile` held while the session runs.

A clean exit deletes all three. After a crash or a kill the lock is stale (its process is gone),
so the next start finds the autosave with :func:`find_recoverable` and offers it.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QSettings, QStandardPaths, QTimer, Signal

from graph.atomic import atomic_write_text
from runtime.paths import folder_name
from ui.document import Document

ORGANIZATION = APPLICATION = "Netwright"
DATA_DIR_ENV = "NETWRIGHT_DATA_DIR"
AUTOSAVE_INTERVAL_MS = 30_000
SIDECAR_FORMAT = "netwright-autosave"


def app_settings() -> QSettings:
    """The app's settings (an INI file in Qt's user scope, so ``QSettings.setPath`` moves it)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def data_dir() -> Path:
    """Where autosaves and the runs of unsaved designs go: ``$NETWRIGHT_DATA_DIR``, else
    ``Netwright`` in the platform's user data folder (``~/.local/share/Netwright``)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    return _user_data() / APPLICATION


def legacy_data_dirs() -> list[Path]:
    """Earlier versions' app-data folders that still exist, read for their autosaves and runs:
    Qt's per-application folder ``<organization>/<application>`` (``Netwright/Netwright``)."""
    if os.environ.get(DATA_DIR_ENV):
        return []
    folder = _user_data() / ORGANIZATION / APPLICATION
    return [folder] if folder.is_dir() else []


def _user_data() -> Path:
    generic = QStandardPaths.StandardLocation.GenericDataLocation
    return Path(QStandardPaths.writableLocation(generic))


# ---- recent files -------------------------------------------------------------------------------------


class RecentFiles:
    """The most recently opened or saved designs, newest first."""

    KEY = "recent_files"
    LIMIT = 10

    def __init__(self, settings: QSettings | None = None):
        self.settings = settings or app_settings()

    def paths(self) -> list[Path]:
        """Remembered files that still exist."""
        raw = self.settings.value(self.KEY, [])
        if isinstance(raw, str):  # QSettings returns a lone string for a one-item list
            raw = [raw]
        return [Path(p) for p in raw or [] if isinstance(p, str) and Path(p).is_file()]

    def last(self) -> Path | None:
        """The design opened or saved last, whether or not it is still there (None when no
        file was ever remembered)."""
        raw = self.settings.value(self.KEY, [])
        raw = [raw] if isinstance(raw, str) else raw or []
        return Path(raw[0]) if raw and isinstance(raw[0], str) else None

    def add(self, path: str | os.PathLike) -> None:
        path = Path(path).resolve()
        paths = [p for p in self.paths() if p != path]
        self._store([path, *paths][: self.LIMIT])

    def remove(self, path: str | os.PathLike) -> None:
        path = Path(path).resolve()
        self._store([p for p in self.paths() if p != path])

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[Path]) -> None:
        self.settings.setValue(self.KEY, [str(p) for p in paths])
        self.settings.sync()


def distinct_labels(paths: list[Path]) -> list[str]:
    """A menu label per path: its file name, and where names repeat, as few of its last folders
    as tell them apart (``model.json — resnet/runs``), as VS Code's recent list does."""
    depth = {p: 0 for p in paths}

    def label(p: Path) -> str:
        folders = p.parent.parts[-depth[p]:] if depth[p] else ()
        return f"{p.name} — {Path(*folders).as_posix()}" if folders else p.name

    while True:
        seen: dict[str, list[Path]] = {}
        for p in paths:
            seen.setdefault(label(p), []).append(p)
        clashing = [p for group in seen.values() if len(group) > 1 for p in group
                    if depth[p] < len(p.parent.parts)]
        if not clashing:
            return [label(p) for p in paths]
        for p in clashing:
            depth[p] += 1


# ---- autosave -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutosaveEntry:
    """An autosave left behind by a session that did not exit cleanly."""

    snapshot: Path
    name: str
    original: Path | None
    saved_at: datetime | None
    runs_key: str | None = None  # an unsaved design's runs folder (Document.runs_key)

    @property
    def sidecar(self) -> Path:
        return _sidecar(self.snapshot)

    @property
    def lock(self) -> Path:
        return _lock(self.snapshot)

    def describe(self) -> str:
        """Two lines: the design's name, then where it lives and when it was autosaved."""
        when = self.saved_at.strftime("%Y-%m-%d %H:%M") if self.saved_at else "unknown time"
        where = str(self.original) if self.original else "never saved"
        return f"{self.name}\nautosaved {when} · {where}"

    def read(self) -> str:
        return self.snapshot.read_text(encoding="utf-8")

    def delete(self) -> None:
        for path in (self.snapshot, self.sidecar, self.lock):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def _sidecar(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name[: -len(".json")] + ".meta.json")


def _lock(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name[: -len(".json")] + ".lock")


def _is_snapshot(path: Path) -> bool:
    return path.name.startswith("autosave-") and path.name.endswith(".json") \
        and not path.name.endswith(".meta.json")


def _read_sidecar(snapshot: Path) -> dict:
    try:
        meta = json.loads(_sidecar(snapshot).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) and meta.get("format") == SIDECAR_FORMAT else {}


def find_recoverable(directory: Path | None = None) -> list[AutosaveEntry]:
    """Autosaves whose session is gone (its lock is free or stale), newest first; without a
    ``directory``, those in the app-data folder and in earlier versions' (:func:`legacy_data_dirs`)."""
    folders = [Path(directory)] if directory is not None else [data_dir(), *legacy_data_dirs()]
    entries = [entry for folder in folders if folder.is_dir() for entry in _recoverable_in(folder)]
    entries.sort(key=lambda e: e.saved_at or datetime.min, reverse=True)
    return entries


def _recoverable_in(directory: Path) -> list[AutosaveEntry]:
    entries = []
    for snapshot in directory.glob("autosave-*.json"):
        if not _is_snapshot(snapshot):
            continue
        lock = QLockFile(str(_lock(snapshot)))
        lock.setStaleLockTime(0)  # stale only when the owning process is gone
        if not lock.tryLock(0):
            continue  # a running session owns it
        lock.unlock()
        meta = _read_sidecar(snapshot)
        try:
            saved_at = datetime.fromisoformat(meta["saved_at"])
        except (KeyError, TypeError, ValueError):
            saved_at = None
        original = meta.get("original")
        name = meta.get("name")
        key = meta.get("runs_key")
        entries.append(AutosaveEntry(
            snapshot, name if isinstance(name, str) and name else snapshot.stem,
            Path(original) if isinstance(original, str) and original else None, saved_at,
            key if isinstance(key, str) and key and folder_name(key) == key else None))
    return entries


class Autosaver(QObject):
    """Writes the document's snapshot every ``interval_ms`` while it has unsaved changes.

    The snapshot is removed when the document becomes clean (saved) and by :meth:`close` (a clean
    exit). A lock file marks the autosave as owned by this running session.
    """

    saved = Signal(object)  # Path of the snapshot
    failed = Signal(str)  # why writing failed (disk full, no permission)

    def __init__(self, document: Document, directory: Path | None = None,
                 interval_ms: int = AUTOSAVE_INTERVAL_MS, parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self.directory = Path(directory) if directory is not None else data_dir()
        token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.snapshot = self.directory / f"autosave-{token}.json"
        self.sidecar = _sidecar(self.snapshot)
        self._lock: QLockFile | None = None
        self._written: str | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.save_now)
        document.modified_changed.connect(self._modified_changed)

    def start(self) -> None:
        self.timer.start()

    def save_now(self) -> bool:
        """Write the snapshot if the document has unsaved changes; True when written."""
        if not self.document.modified:
            return False
        text = self.document.snapshot()
        if text == self._written and self.snapshot.exists():
            return False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            atomic_write_text(self.snapshot, text)
            path = self.document.path
            meta = {"format": SIDECAR_FORMAT, "original": str(path) if path else None,
                    "name": self.document.design.name, "runs_key": self.document.runs_key,
                    "saved_at": datetime.now().isoformat(),
                    "pid": os.getpid()}
            atomic_write_text(self.sidecar, json.dumps(meta, indent=2) + "\n")
        except OSError as exc:
            self.failed.emit(f"Autosave to {self.directory} failed: {exc.strerror or exc}")
            return False
        self._written = text
        self.saved.emit(self.snapshot)
        return True

    def _take_lock(self) -> None:
        if self._lock is None:
            lock = QLockFile(str(_lock(self.snapshot)))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                raise OSError(f"cannot lock {lock.fileName()}")
            self._lock = lock

    def remove(self) -> None:
        """Delete the snapshot and its sidecar (keeps the session's lock)."""
        for path in (self.snapshot, self.sidecar):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self._written = None

    def close(self) -> None:
        """A clean exit: stop, delete the autosave and release the lock."""
        self.timer.stop()
        self.remove()
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def _modified_changed(self, modified: bool) -> None:
        if not modified:
            self.remove()
