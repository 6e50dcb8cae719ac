"""Serving the console: in the foreground for `docpipe console`, or in a thread beside other work (tests, bench)."""

from __future__ import annotations

import ipaddress
import threading
import time
import webbrowser

import uvicorn

from docpipe_local.console.app import create_app
from docpipe_local.runtime import OfflineRuntime

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _config(app, host: str, port: int) -> uvicorn.Config:
    # a short graceful shutdown: the event streams end when the broker closes them (lifespan), then the server
    return uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2,
                          lifespan="on")


def serve(runtime: OfflineRuntime, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, open_browser: bool = False,
          announce=print) -> None:
    """Serve until Ctrl-C (uvicorn's own signal handling), then return so the runtime saves its state."""
    server = uvicorn.Server(_config(create_app(runtime), host, port))
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    if open_browser:
        threading.Thread(target=_open_when_up, args=(server, url), daemon=True).start()
    announce(url)
    server.run()


def _open_when_up(server: uvicorn.Server, url: str) -> None:
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    webbrowser.open(url)


class BackgroundConsole:
    """The console on a free local port in a daemon thread (a context manager): for tests and benchmarks."""

    def __init__(self, runtime: OfflineRuntime, host: str = DEFAULT_HOST, port: int = 0, **app_options):
        self.app = create_app(runtime, **app_options)
        self.server = uvicorn.Server(_config(self.app, host, port))
        self.thread = threading.Thread(target=self.server.run, name="docpipe-console", daemon=True)

    def __enter__(self) -> "BackgroundConsole":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the console did not start")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc: object) -> None:
        self.app.state.console.broker.close()  # open event streams end first, or shutdown waits for them
        self.server.should_exit = True
        self.thread.join(timeout=15)
