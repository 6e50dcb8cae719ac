"""One docpipe process at a time per data directory: a second command waits for the first (saying so), up to
a bound, then says which process holds it. Nothing is read or written before the lock is held, so a command
that gives up loses nothing.

The lock is an OS file lock (filelock): a process killed with SIGKILL releases it with its last descriptor,
so a crashed run never leaves the directory locked. Who holds it is written beside it for the messages.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout


class DataDirLock:
    def __init__(self, home: Path, wait_seconds: float, on_wait: Callable[[str], None] | None = None):
        self.home = home
        self.wait_seconds = wait_seconds
        self.on_wait = on_wait
        self._lock = FileLock(str(home / "runtime.lock"), thread_local=False)  # held by the process
        self._holder = home / "runtime.lock.holder"

    def __enter__(self) -> "DataDirLock":
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if self.on_wait:
                self.on_wait(f"{self.holder()} is using {self.home}; waiting up to {self.wait_seconds:.0f} s for it "
                             "to finish (Ctrl-C to stop waiting; nothing has been changed)")
            started = time.monotonic()
            try:
                self._lock.acquire(timeout=self.wait_seconds)
            except Timeout:
                raise RuntimeError(
                    f"{self.holder()} is still using {self.home} after {time.monotonic() - started:.0f} s; nothing "
                    "was changed. Run this again when it has finished, or give this command its own data directory "
                    "with DOCPIPE_HOME") from None
        self._holder.write_text(json.dumps({"pid": os.getpid(), "command": _command(), "since": time.time()}))
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def holder(self) -> str:
        """'another docpipe process (pid 123: docpipe run samples/)', as far as the holder wrote it."""
        try:
            found = json.loads(self._holder.read_text())
            return f"another docpipe process (pid {found['pid']}: {found['command']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another docpipe process"


def _command() -> str:
    words = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]
    return " ".join(words)[:200]
