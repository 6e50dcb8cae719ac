"""The `docpipe` command as a user runs it: separate processes, a fresh data directory each."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import SAMPLES

pytestmark = pytest.mark.offline_only("the docpipe command line is the offline runtime's own face")

NOTE = "Harbor Bridge notice. The Pier 2 bearings will be replaced from March to June 2026.\n"


def docpipe(*args: str, home, extra_env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "DOCPIPE_HOME": str(home), **(extra_env or {})}
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "docpipe_local.cli", *args], stdout=subprocess.PIPE,
                            text=True, env=env, **kwargs)


def test_run_json_contract_and_exit_code(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    out = tmp_path / "out"
    process = docpipe("run", str(note), str(SAMPLES / "bad" / "empty.pdf"), "--json", "--out", str(out),
                      "--languages", "es", home=tmp_path / "home")
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-2000:]
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert {line["status"] for line in lines} == {"SUCCEEDED", "QUARANTINED"}
    for line in lines:
        assert set(line) == {"doc_id", "source", "name", "status", "reason", "outputs", "manifest", "cached"}
        assert line["name"] == os.path.basename(line["source"]) and line["cached"] is False
        assert json.loads(open(line["manifest"]).read())["status"] == line["status"]
        assert all(os.path.exists(path) for path in line["outputs"])
    succeeded = next(line for line in lines if line["status"] == "SUCCEEDED")
    assert {"summary.es.md", "audio.es.mp3"} <= {os.path.basename(p) for p in succeeded["outputs"]}
    # a second run of the unchanged file is answered from its manifest, in a new process
    again = docpipe("run", str(note), "--json", "--out", str(out), "--languages", "es", home=tmp_path / "home")
    stdout, _ = again.communicate(timeout=300)
    cached = json.loads(stdout.splitlines()[0])
    assert again.returncode == 0 and cached["doc_id"] == succeeded["doc_id"] and cached["cached"] is True


def test_a_missing_file_is_a_usage_error(tmp_path):
    process = docpipe("run", str(tmp_path / "nope.pdf"), home=tmp_path / "home")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2 and "no such file" in stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_watch_processes_files_dropped_into_the_folder_until_interrupted(tmp_path, stop):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # stderr goes to a file, not an unread pipe that could fill and block the process; on a hang, faulthandler
    # writes every thread's stack there (SIGABRT) for the failure message. Ctrl-C must reach the process
    # even where the tests themselves run with SIGINT ignored (started with `&` from a script: Python then
    # installs no KeyboardInterrupt handler, in the tests or in their children)
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        process = docpipe("watch", str(inbox), "--json", "--interval", "0.2", "--languages", "es",
                          "--out", str(tmp_path / "out"), home=tmp_path / "home", stderr=stderr,
                          extra_env={"PYTHONFAULTHANDLER": "1"},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(1)
        shutil.copy(SAMPLES / "bad" / "truncated.pdf", inbox / "late.pdf")
        (inbox / "note.txt").write_text(NOTE)
        seen, deadline = {}, time.monotonic() + 600
        while len(seen) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("{"):
                report = json.loads(line)
                seen[os.path.basename(report["source"])] = report["status"]
        assert seen == {"late.pdf": "QUARANTINED", "note.txt": "SUCCEEDED"}
    finally:
        process.send_signal(stop)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=30)
            raise AssertionError(f"watch did not stop within 60 s of {stop.name}; its threads:\n"
                                 + stderr_path.read_text()[-6000:]) from None
    assert process.returncode == 0, stderr_path.read_text()[-2000:]
    assert "stopped; 0 document(s) were still running" in stderr_path.read_text()  # a clean stop, not a kill
