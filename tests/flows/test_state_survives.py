"""The offline state survives between `docpipe` commands, as a user runs them: separate processes, one data
directory."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

NOTE = "Harbor Bridge notice. The Pier 2 bearings will be replaced from March to June 2026.\n"

pytestmark = pytest.mark.offline_only("restarts the offline runtime between commands: a deployed stack keeps its "
                                      "own state")


def docpipe(*args: str, home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "docpipe_local.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "DOCPIPE_HOME": str(home)}, timeout=600)


def test_a_second_run_of_the_same_file_is_a_cached_hit_in_a_new_process(tmp_path):
    note, home, out = tmp_path / "note.txt", tmp_path / "home", tmp_path / "out"
    note.write_text(NOTE)
    first = docpipe("run", str(note), "--json", "--out", str(out), "--languages", "es", home=home)
    assert first.returncode == 0, first.stderr[-2000:]
    [done] = [json.loads(line) for line in first.stdout.splitlines()]
    assert done["status"] == "SUCCEEDED"
    with sqlite3.connect(home / "state" / "state.sqlite") as db:  # what was saved, in the new format
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 1
        assert db.execute("SELECT count(*) FROM objects WHERE key LIKE 'out/%'").fetchone()[0] > 0
    handler_log = (home / "logs" / "functions.jsonl").read_bytes()

    again = docpipe("run", str(note), "--json", "--out", str(out), "--languages", "es", home=home)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "warning" not in again.stderr  # the state loaded as saved, nothing set aside
    [cached] = [json.loads(line) for line in again.stdout.splitlines()]
    assert (cached["doc_id"], cached["status"]) == (done["doc_id"], "SUCCEEDED")  # the same S3 version id
    assert (home / "logs" / "functions.jsonl").read_bytes() == handler_log  # no handler ran: answered from the state
    assert sorted(path.name for path in home.iterdir() if path.name.startswith("state")) == ["state"]
