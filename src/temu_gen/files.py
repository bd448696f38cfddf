"""Local file writes that can neither be half-seen nor redirected.

Invariant: a file appears under its final name only complete and flushed to disk (temp
file, fsync, rename, fsync of the folder); temp files are created with
O_EXCL|O_NOFOLLOW under unique names, so a planted file or symlink is never written
through; stale temp entries (dangling links included) are removed without following
them.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
from pathlib import Path

TMP_SUFFIX = ".tmp"
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def temp_path(folder: Path, name: str) -> Path:
    """A fresh hidden temp name for ``name`` in ``folder`` (unique per process and call)."""
    return folder / f".{name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}"


@contextlib.contextmanager
def new_file(path: Path, fsync: bool = True):
    """A file descriptor for ``path``, which must not exist and is never followed if it is a link.

    On leaving the block the file is fsynced (with ``fsync``) and closed; if the block fails, it is removed.
    """
    fd = os.open(path, _FLAGS, 0o644)
    try:
        yield fd
        if fsync:
            os.fsync(fd)
    except BaseException as e:
        os.close(fd)
        remove(path)
        if isinstance(e, OSError) and e.filename is None and e.strerror:  # a full disk: say which (its folder)
            raise OSError(e.errno, e.strerror, str(path.parent)) from e
        raise
    os.close(fd)


def write_all(fd: int, data) -> None:
    """Write every byte (os.write, so a full disk raises ENOSPC)."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


class HashingWriter(io.RawIOBase):
    """Writes to a file descriptor with :func:`write_all` (a full disk raises ENOSPC) and hashes what it writes."""

    def __init__(self, fd: int):
        self.fd, self.sha, self.size = fd, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        view = memoryview(b).cast("B")
        self.sha.update(view)
        self.size += len(view)
        write_all(self.fd, view)
        return len(view)


def write_new(path: Path, data: bytes | memoryview, fsync: bool = True) -> None:
    """Create ``path`` (which must not exist, and is never followed if it is a link) holding ``data``."""
    with new_file(path, fsync) as fd:
        write_all(fd, data)


def create_whole(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data`` (FileExistsError if it exists); no other process sees it half-written.

    The bytes go to a temp file first, which is then hard-linked to ``path``: the link is exclusive and atomic.
    Where that fails for any other reason than ``path`` existing (a file system without hard links: EPERM,
    ENOSYS on FUSE; the temp file removed by another process's clean-up), ``path`` is created exclusively and
    written just after, which reports its own errors.
    """
    tmp = temp_path(path.parent, path.name)
    write_new(tmp, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        write_new(path, data)
    finally:
        remove(tmp)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one, never a part."""
    tmp = temp_path(path.parent, path.name)
    try:
        write_new(tmp, data, fsync)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    if fsync:
        fsync_dir(path.parent)


def remove(path: Path) -> None:
    """Unlink ``path`` if it exists, without following it (a dangling link is removed too)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_stale_temps(folder: Path) -> int:
    """Remove every hidden temp entry in ``folder`` (files, links, dangling links); returns how many."""
    n = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(TMP_SUFFIX) and not e.is_dir(follow_symlinks=False):
            remove(Path(e.path))
            n += 1
    return n
