"""Owner-only files: everything the assistant writes holds someone's conversations, memories or password
hashes, so folders are created 0700 and files 0600 (never through the process umask alone).

The one exception is search (x, never read) permission for the unprivileged user Postgres runs as under
root, given through that user's group where the folder is ours (see assistant/embedded/postgres.py).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

OWNER_ONLY_UMASK = 0o077


def restrict_umask() -> None:
    """Make whatever this process (and the servers and tools it starts) creates owner-only by default."""
    os.umask(OWNER_ONLY_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only, or take group and others' access away from it.

    A search (x) bit for the folder's group is kept when that group is not ours: it was given on purpose,
    to the group Postgres runs as.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    keep = stat.S_IXGRP if info.st_gid != os.getegid() else 0
    wanted = stat.S_IMODE(info.st_mode) & (0o700 | keep)
    if wanted != stat.S_IMODE(info.st_mode):
        path.chmod(wanted)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, readable and writable by its owner only (an existing one is tightened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & 0o600)
    finally:
        os.close(fd)
    return path


def tighten(folder: Path) -> None:
    """Take group and others' access away from the files directly in ``folder`` (left by older versions)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            info = entry.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
                entry.chmod(stat.S_IMODE(info.st_mode) & 0o700)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, a file only its owner may read (created so, or tightened first)."""
    private_file(path)
    with open(path, "wb") as handle:
        handle.write(data)
