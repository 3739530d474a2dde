"""Durable file writes, shared by every layer that keeps state on disk.

A file written with ``atomic_write`` / ``atomic_file`` appears whole or not
at all (temporary file, fsync, rename) and survives a crash once the call
returns (the directory is fsynced too). POSIX only, like the rest of Tripline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path, *, private: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write that replaces ``path`` when the block ends
    without an exception. ``private``: readable by the owner only (0600),
    for evidence, review media and reports; otherwise the umask decides."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name: concurrent writers of one path never share a temporary file.
    tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, *, private: bool = False) -> None:
    with atomic_file(path, private=private) as f:
        f.write(data)
