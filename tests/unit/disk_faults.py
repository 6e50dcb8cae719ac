"""A full disk or a read-only folder, as the kernel reports them, for tests that run anywhere (as root too, where
permission bits do not stop a write, and without mounting anything)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def read_only(monkeypatch, folder: Path) -> None:
    """Creating, writing, renaming or removing anything under ``folder`` fails with EROFS; reading works."""
    folder = str(folder)

    def inside(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)).startswith(folder)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    def guard(real, *paths_of):
        def guarded(*args, **kwargs):
            for index in paths_of:
                if len(args) > index and inside(args[index]):
                    refuse(args[index])
            return real(*args, **kwargs)
        return guarded

    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if flags & _WRITING and inside(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    real_mkdir = os.mkdir

    def mkdir(path, *args, **kwargs):
        if inside(path) and os.path.exists(path):  # the kernel says EEXIST before EROFS
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(path))
        return guard(real_mkdir, 0)(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)
    for name in ("unlink", "remove", "rmdir"):
        monkeypatch.setattr(os, name, guard(getattr(os, name), 0))
    for name in ("rename", "replace"):
        monkeypatch.setattr(os, name, guard(getattr(os, name), 0, 1))


def full_disk(monkeypatch) -> None:
    """Flushing a written file fails with ENOSPC: where a full disk shows once the data leaves the page cache
    (delayed allocation), after the file was created and partly written."""

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
