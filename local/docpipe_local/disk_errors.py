"""What a failed file operation means for a person: a full disk, a read-only folder, no permission."""

from __future__ import annotations

import errno


def describe(err: OSError) -> str:
    """A short phrase naming the file and what is wrong with it or with its disk."""
    where = err.filename or "a file in the data directory"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the disk holding {where}"
    if err.errno == errno.EROFS:
        return f"{where} is on a read-only file system"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write or read {where}"
    return f"{where}: {err.strerror or 'input/output error'}"
