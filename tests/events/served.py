"""An OfflineRuntime with Lambda in worker processes, behind the HTTP edge (uvicorn in a thread) on a free port:
what `docpipe serve` is, inside the test process so that tests can look at the runtime too."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from docpipe_local.edge.server import listening_socket
from docpipe_local.runtime import OfflineRuntime

START_TIMEOUT = 60  # bounds a hang only


@contextmanager
def process_mode_runtime(home: Path, **options) -> Iterator[tuple[OfflineRuntime, str]]:
    import uvicorn

    from docpipe_local.edge.app import create_app

    with listening_socket("127.0.0.1", 0) as sock:  # bound before the runtime starts: its workers need the URL
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with OfflineRuntime(home=home, persist=False, lambda_mode="process", endpoint_url=url, **options) as runtime:
            server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning", lifespan="off",
                                                   timeout_keep_alive=600))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            deadline = time.monotonic() + START_TIMEOUT
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("the edge did not start")
                time.sleep(0.05)
            try:
                yield runtime, url
            finally:
                server.should_exit = True
                thread.join(timeout=30)
