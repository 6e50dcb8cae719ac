"""Printing never costs saved state: `docpipe ... | head`, a closed stdout or stderr, a full disk under a
redirected output.

A write that fails (EPIPE once the reader is gone, ENOSPC, EBADF) stops that stream's output for the rest of
the command: its file descriptor is pointed at /dev/null, so nothing raises mid-work, nothing is left in a
buffer for the interpreter's exit to fail on, and the command finishes its work and saves the offline state
as it would have. Descriptors 0-2 closed at start are opened on /dev/null first: otherwise the next file the
command opens (the state, the lock) would take descriptor 1 and receive what is printed.
"""

from __future__ import annotations

import io
import os
import sys


class _QuietOnError(io.TextIOBase):
    """A text stream that forwards to ``stream`` until a write or flush fails, then discards."""

    def __init__(self, stream: io.TextIOBase):
        self._stream = stream
        self.failed = False

    def _give_up(self) -> None:
        self.failed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())  # what the stream still buffers goes nowhere, quietly
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if not self.failed:
            try:
                self._stream.write(text)
                if getattr(self._stream, "line_buffering", False) and "\n" in text:
                    self._stream.flush()
            except OSError:
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.failed:
            try:
                self._stream.flush()
            except OSError:
                self._give_up()

    def isatty(self) -> bool:
        return not self.failed and self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # rich and print() read it
        return self._stream.encoding

    def writable(self) -> bool:
        return True


def guard_standard_streams() -> None:
    """sys.stdout and sys.stderr quiet on error from now on (a command's process; once is enough)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:  # closed by the caller (`docpipe run x >&-`): /dev/null takes its place
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name) or open(os.devnull, "w", encoding="utf-8")  # None: closed at start
        if not isinstance(stream, _QuietOnError):
            setattr(sys, name, _QuietOnError(stream))
