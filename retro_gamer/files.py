"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file the trainer writes (checkpoints, config.toml, training.log, episodes.csv,
the replay memory) goes through here: the bytes go to a temporary file in the same
folder, are flushed to disk, and the temporary file is renamed over the target.
A rename within one folder is atomic, so Ctrl-C, a kill or a full disk at any moment
leaves the previous version intact.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

TEMP_PREFIX = ".tmp-"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file + fsync + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Whatever went wrong (full disk, Ctrl-C), leave no temporary file behind.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_append_text(path: str | os.PathLike, text: str) -> None:
    """Append ``text`` to ``path`` by rewriting it atomically.

    Logs are small (one line per checkpoint), so rewriting the whole file costs little
    and means a crash can never leave a half-written line.
    """
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    atomic_write_bytes(path, old + text.encode("utf-8"))


def atomic_save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` atomically.

    Object arrays are refused so that every file we write loads with
    ``numpy.load(path, allow_pickle=False)``.
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"refusing to save object array {name!r}: it would need pickle")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def is_temporary(path: str | os.PathLike) -> bool:
    """True for a temporary file left by an interrupted atomic write."""
    return Path(path).name.startswith(TEMP_PREFIX)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform allows opening a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
