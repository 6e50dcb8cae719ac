"""A full disk or a read-only data directory: `docpipe` says so in a sentence (exit status 2), never with a
traceback, and leaves no half-written state behind. Each command runs in its own process, as a user runs it,
with the disk fault simulated there (tests/unit/disk_faults.py)."""

import os
import subprocess
import sys

from tests.conftest import ROOT

_WITH_FAULT = """
import sys
from pathlib import Path

import pytest

from docpipe_local import cli
from tests.unit.disk_faults import full_disk, read_only

fault, home, *args = sys.argv[1:]
with pytest.MonkeyPatch.context() as patch:
    if fault == "read-only":
        read_only(patch, Path(home))
    elif fault == "full-disk":
        full_disk(patch)
    code = cli.main(args)
sys.exit(code)
"""


def docpipe(fault: str, home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WITH_FAULT, fault, str(home), *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, "DOCPIPE_HOME": str(home),
                                                    "COLUMNS": "400"}, timeout=300)


def test_a_read_only_data_directory_is_named_in_one_line(home):
    result = docpipe("read-only", home, "delete", "report.pdf")
    assert result.returncode == 2
    stderr = result.stderr
    assert stderr.startswith(f"docpipe: {home}") and "read-only file system" in stderr
    assert "Traceback" not in stderr and "Error" not in stderr
    assert list(home.iterdir()) == []  # nothing written


def test_a_full_disk_while_saving_the_state_is_named_and_leaves_no_partial_file(home):
    result = docpipe("full-disk", home, "delete", "report.pdf")  # finds nothing to delete, saves on the way out
    assert result.returncode == 2
    stderr = result.stderr
    assert "docpipe: could not save the offline state: no space left on the disk holding" in stderr
    assert "Traceback" not in stderr and "Error" not in stderr
    state = home / "state"
    assert not (state / "state.sqlite").exists()
    assert not [path for path in state.rglob("*") if path.name.startswith(".tmp-")]


def test_an_old_pickle_state_is_announced_and_kept_aside_unopened(home):
    (home / "state").mkdir()
    (home / "state" / "aws-state.pickle").write_bytes(b"\x80\x05not loaded")
    result = docpipe("none", home, "delete", "report.pdf")
    assert result.returncode == 1, result.stderr  # the command itself runs, on empty state: nothing to delete
    stderr = result.stderr.replace("\n", "")  # the console wraps long lines
    assert "warning:" in stderr and "older docpipe's format" in stderr and "state.old-format-" in stderr
    [aside] = home.glob("state.old-format-*")
    assert (aside / "aws-state.pickle").read_bytes() == b"\x80\x05not loaded"
    assert (home / "state" / "state.sqlite").exists()  # the new format, saved at exit
