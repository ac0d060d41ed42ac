"""Names on disk that are safe for any design name. Pure Python (no torch), so the app can ask
before the heavy libraries have loaded."""
from __future__ import annotations

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
