"""Atomic file writes: a reader (a browser, a web server, rsync) never sees half a report."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

FILE_MODE = 0o644  # mkstemp creates 0600; reports are meant to be read (and served)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to a temporary file in `path`'s directory, fsync it, then rename it over `path`."""
    write_all_atomic({path: data})


def write_all_atomic(files: Mapping[Path, str | bytes]) -> None:
    """`write_atomic` for several files at once: every file is written in full before any of them
    replaces its old version, so a failed write (a full disk) leaves all the old files as they were."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            staged.append((_stage(path, data), path))
        for temp, path in staged:
            os.replace(temp, path)
    except BaseException:
        for temp, _path in staged:
            temp.unlink(missing_ok=True)
        raise


def _stage(path: Path, data: str | bytes) -> Path:
    """`data` in a fsynced temporary file next to `path` (removed again if writing it fails)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, FILE_MODE)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Path(temp)
