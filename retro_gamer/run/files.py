"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file the trainer writes (checkpoints, config.toml, training.log, episodes.csv,
the replay memory) goes through here: the bytes go to a temporary file in the same
folder, are flushed to disk, and the temporary file is renamed over the target.
A rename within one folder is atomic, so Ctrl-C, a kill or a full disk at any moment
leaves the previous version intact.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import numpy as np

TEMP_PREFIX = ".tmp-"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file + fsync + rename)."""
    _atomic_write(path, lambda f: f.write(data))


def _atomic_write(path: str | os.PathLike, write) -> None:
    """Replace ``path`` atomically with what write(binary file) writes."""
    path = Path(path)
    mode = _permissions_for(path)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions an ordinary
        # write would, so that a shared run folder stays readable by the others.
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
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


def atomic_save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` atomically.

    Object arrays are refused so that every file we write loads with
    ``numpy.load(path, allow_pickle=False)``.
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"refusing to save object array {name!r}: it would need pickle")
    # Straight into the temporary file: no copy of the replay memory's megabytes in between.
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def is_temporary(path: str | os.PathLike) -> bool:
    """True for a temporary file left by an interrupted atomic write."""
    return Path(path).name.startswith(TEMP_PREFIX)


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writes left in ``folder``; return them.

    An atomic write removes its temporary file on any error or Ctrl-C, but a process
    killed outright (SIGKILL, a power cut) cannot: the half-written file stays, under a
    name no reader ever opens. Links are removed as links, never followed.
    """
    try:
        entries = list(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for path in entries:
        if is_temporary(path) and (path.is_symlink() or path.is_file()):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def describe_write_error(error: OSError) -> str:
    """What went wrong when a file could not be written, and what to do about it."""
    where = f" {error.filename}" if error.filename else " to the disk"
    reason = error.strerror or str(error) or type(error).__name__
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        advice = "The disk is full: free some space (or move the run to another disk)."
    elif error.errno in (errno.EACCES, errno.EPERM):
        advice = "You may not write there: check the permissions of the folder and its files."
    elif error.errno == errno.EROFS:
        advice = "The disk is read-only: copy the run to a folder you can write to."
    else:
        advice = "Check the disk and the path."
    return f"Could not write{where} ({reason}). {advice}"


def _permissions_for(path: Path) -> int:
    """The permission bits of the file being replaced, or the umask's default for a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # The umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
