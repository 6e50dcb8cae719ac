"""`docpipe` that kills itself with SIGKILL at a chosen point, for the kill-and-restart tests.

    python -m tests.flows.crash_runner POINT:N run FILES... (the docpipe command line after POINT:N)

Points (N counts from 1):
  emit:N      the Nth event delivery: the object is in the inbox, no execution started (during upload)
  vectors:N   right after the Nth PutVectors batch: vectors written, nothing saved (mid-execution)
  saved:N     right after the Nth save of the offline state (the first outcome committed, its OUT not copied)
  saving:N    during the Nth save: a thread kills the process as the save begins (where it lands in the save
              varies; the tests' checks hold wherever it does)
The process dies as `kill -9` kills it: no exit handler, no final save.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from functools import wraps


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(owner: object, name: str, number: int, during: bool = False) -> None:
    """Wrap owner.name so that its Nth call kills the process: after it returns (the Nth that returned), or
    while it runs (the Nth started)."""
    original, calls = getattr(owner, name), [0]

    @wraps(original)
    def wrapped(*args, **kwargs):
        if during:
            calls[0] += 1
            if calls[0] == number:
                threading.Timer(0.01, _die).start()  # lands while the save runs
        try:
            result = original(*args, **kwargs)
        except BaseException as err:  # not counted after the fact: "after the Nth call" means one that worked
            print(f"crash_runner: a call of {name} raised {err!r}", file=sys.stderr, flush=True)
            raise
        if not during:
            calls[0] += 1
            if calls[0] == number:
                _die()
        return result

    setattr(owner, name, wrapped)


def install(point: str) -> None:
    from docpipe import vectors
    from docpipe_local.runtime import OfflineRuntime

    name, _, count = point.partition(":")
    number = int(count or 1)
    if name == "emit":
        original, calls = OfflineRuntime.emit, [0]

        def emit(self, event):
            calls[0] += 1
            if calls[0] == number:
                _die()
            return original(self, event)
        OfflineRuntime.emit = emit
    elif name == "vectors":
        _after(vectors, "put", number)
    elif name in ("saved", "saving"):
        _after(OfflineRuntime, "save", number, during=name == "saving")
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    from docpipe_local.cli import main

    sys.exit(main(sys.argv[2:]))
