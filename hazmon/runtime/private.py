"""hazmon's data folders and files are its own: folders 0700, files 0600, whatever the
umask it was started with (client ids, spool, dead letters, journal, embedded store).

    private_files()             # in a service's main: umask 0o077 from now on
    private_dir(path)           # a data folder, created (or tightened) to 0700
    write_private(path, text)   # a small file, 0600 from its first byte
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_files() -> int:
    """Make every file and folder the process creates from now on private to its user
    (umask 0o077): sqlite's own files included. The previous umask."""
    return os.umask(0o077)


def private_dir(path: Path) -> Path:
    """`path` (and missing parents) as a folder only its owner can enter."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # not ours: leave it to its owner
        path.chmod(DIR_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Create `path` with mode 0600 (never readable by others, even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), FILE_MODE)
        f.write(text)


def tighten(path: Path) -> None:
    """An existing file of hazmon's, from before: 0600."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if path.stat().st_mode & 0o077:
            path.chmod(FILE_MODE)
