"""Atomic file writes: a reader sees the old file or the new one, never half of either."""
import contextlib
import errno
import os
import tempfile
from pathlib import Path

import numpy as np

TEMP_PREFIX = ".tmp-"


def atomic_write(path, data: bytes | None = None, write=None) -> None:
    """Replace ``path`` with ``data`` (or what ``write(binary file)`` writes) via a temporary file renamed
    over it: a rename within one folder is atomic, so Ctrl-C, a kill or a full disk keeps the old version."""
    path, write = Path(path), write or (lambda f: f.write(data))
    try:        # the permissions of the file replaced, or those an ordinary write would give
        mode = path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0o022)          # the umask can only be read by setting it: set it back
        os.umask(mask)
        mode = 0o666 & ~mask
    fd, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        os.chmod(temporary, mode)       # mkstemp's 0600 would hide a shared run from the others
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:               # a full disk, Ctrl-C: no temporary file is left behind
        Path(temporary).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # makes the rename itself durable, where folders can be opened
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def atomic_write_text(path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"))


def atomic_save_npz(path, arrays: dict) -> None:
    """Uncompressed; object arrays are refused, so that every file written loads with allow_pickle=False."""
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"refusing to save object array {name!r}: it would need pickle")
    atomic_write(path, write=lambda f: np.savez(f, **arrays))


def is_temporary(path) -> bool:
    """True for a temporary file left by an interrupted atomic write."""
    return Path(path).name.startswith(TEMP_PREFIX)


def remove_temporaries(folder) -> None:
    """Delete the temporaries of killed writes (SIGKILL, a power cut); links are removed, never followed."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in list(Path(folder).iterdir()):
            if is_temporary(path) and (path.is_symlink() or path.is_file()):
                path.unlink(missing_ok=True)


def describe_write_error(error: OSError) -> str:
    """What went wrong when a file could not be written, and what to do about it."""
    full = "The disk is full: free some space (or move the run to another disk)."
    denied = "You may not write there: check the permissions of the folder and its files."
    read_only = "The disk is read-only: copy the run to a folder you can write to."
    advice = {errno.ENOSPC: full, getattr(errno, "EDQUOT", errno.ENOSPC): full, errno.EACCES: denied,
              errno.EPERM: denied, errno.EROFS: read_only}
    where = f" {error.filename}" if error.filename else " to the disk"
    reason = error.strerror or str(error) or type(error).__name__
    return f"Could not write{where} ({reason}). {advice.get(error.errno, 'Check the disk and the path.')}"
