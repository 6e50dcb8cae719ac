"""A `docpipe serve` in a subprocess, with its own data directory: what tests/edge and the flow suite's edge
target talk to over HTTP."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180  # the runtime imports its engines and loads the template first


class ServedRuntime:
    """Start with `with ServedRuntime(home) as served:`; `served.url`, `served.client_env`."""

    def __init__(self, home: Path, env: dict[str, str] | None = None):
        self.home = Path(home)
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.log = self.home.parent / f"{self.home.name}-serve.log"

    @property
    def client_env(self) -> dict[str, str]:
        """What a client process needs, and nothing of this one's offline setup: endpoint, keys, region."""
        keep = {key: value for key, value in os.environ.items()
                if not key.startswith(("AWS_", "DOCPIPE_", "LOCALSTACK_"))}
        return {**keep, "AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def __enter__(self) -> "ServedRuntime":
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DOCPIPE_HOME": str(self.home), **self.extra_env}
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "docpipe_local.cli", "serve", "--port", "0"],
                                        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self._log_file)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if ready:
                self.url = self.process.stdout.readline().decode().strip()
                break
            if self.process.poll() is not None:
                break
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"docpipe serve did not start: {self.log.read_text(errors='replace')[-2000:]}")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Stop it as Ctrl-C or a service manager would; returns its exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self._log_file.close()
        status, self.process = self.process.returncode, None
        return status

    def __exit__(self, *exc: object) -> None:
        self.stop()
