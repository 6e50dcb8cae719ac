"""`docpipe console` as a person starts it: it says where it listens (this machine only), serves the documents
page with its vendored scripts, and stops on Ctrl-C with its state saved."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_docpipe_console_serves_on_this_machine_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    environment = {**os.environ, "DOCPIPE_HOME": str(tmp_path / "home")}
    process = subprocess.Popen([sys.executable, "-m", "docpipe_local.cli", "console", "--port", str(port)],
                               cwd=tmp_path, env=environment, stderr=subprocess.PIPE, text=True)
    try:
        announced = ""
        deadline = time.monotonic() + 120
        while "docpipe console on" not in announced:
            assert process.poll() is None and time.monotonic() < deadline, announced
            announced += process.stderr.readline()
        assert re.search(rf"docpipe console on http://127\.0\.0\.1:{port}/", announced)
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "Drop files here" in page and '<script src="/static/console.js"' in page
        assert "https://" not in page  # nothing from a CDN
        script = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/htmx.min.js", timeout=10).read()
        assert len(script) > 40_000 and b"htmx" in script
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert (tmp_path / "home" / "state" / "state.sqlite").exists()  # saved on the way out
