"""Atomic file writes: a temporary file in the target folder, then a rename.

A reader never sees a half-written file, and a crash leaves the old file (or
none) in place, never a truncated one.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "sub" / "a.json"
>>> atomic_write_text('{"ok": true}', p)
>>> p.read_text()
'{"ok": true}'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "temp_path_beside", "publish"]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask is process-wide and not thread-safe


def temp_path_beside(dest: str | os.PathLike[str]) -> Path:
    """A new empty temporary file in ``dest``'s folder (created), ordinary permissions."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


def publish(tmp: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Rename a finished temporary file over ``dest`` (atomic on one filesystem)."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, dest)


def atomic_write_bytes(data: bytes, dest: str | os.PathLike[str]) -> None:
    """Write bytes to ``dest`` through a temporary file and an atomic rename."""
    tmp = temp_path_beside(dest)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(text: str, dest: str | os.PathLike[str]) -> None:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(text.encode("utf-8"), dest)
