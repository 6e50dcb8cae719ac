"""`docpipe serve`: the offline runtime on the wire, until Ctrl-C or SIGTERM (state is saved either way)."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from typing import Any

DEFAULT_PORT = 4566  # LocalStack's edge port, so tools written for LocalStack find it
SAVE_EVERY_SECONDS = 10.0


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="answer AWS API calls over HTTP (LocalStack-compatible endpoint)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--faults", default=None, help="inject faults, as for `docpipe run` (also $DOCPIPE_FAULTS)")
    serve.add_argument("--lambda-mode", choices=("process", "in-process"), default="process",
                       help="process (default): each invocation in a worker process with only its function's "
                            "environment, as Lambda runs it; in-process: handlers called in the server's process")


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped(signal.Signals(signum).name)


def listening_socket(host: str, port: int) -> socket.socket:
    """The edge's socket, bound and listening (port 0: a free one); the tests' in-process edges use it too."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # inherited by each accepted connection: without it a response written in two pieces (headers, body)
        # waits for the client's delayed ACK, 40 ms a request (measured: 44 ms against 4.7 ms for a health GET)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def run(runtime: Any, args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    try:
        sock = listening_socket(args.host, args.port)
    except OSError as err:
        print(f"docpipe serve: cannot listen on {args.host}:{args.port}: {err.strerror}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    if runtime.lambda_mode == "process":
        runtime.set_lambda_endpoint(url.replace("0.0.0.0", "127.0.0.1"))  # workers reach AWS through this edge
    app = create_app(runtime)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5, timeout_keep_alive=30)
    server = uvicorn.Server(config)
    saver = _PeriodicSaver(runtime, app.state.bridge)
    # uvicorn stops on SIGINT/SIGTERM, then raises the signal again: make that an exception we end on
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(url, flush=True)
    print(f"docpipe serve: answering AWS calls for {runtime.home} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        saver.start()
        server.run(sockets=[sock])
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        saver.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    runtime.save()  # a failure here is reported by the command (the last saved state stays as it was)
    print("docpipe serve: stopped; state saved", file=sys.stderr)
    return 0


class _PeriodicSaver:
    """Commits the offline state every few seconds after writes through the edge, so `docpipe run` or a
    crash later loses nothing that clients were told had succeeded long ago."""

    def __init__(self, runtime: Any, bridge: Any):
        self.runtime, self.bridge = runtime, bridge
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edge-saver", daemon=True)
        self._saved_at = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._done.wait(SAVE_EVERY_SECONDS):
            writes = self.bridge.writes
            if writes != self._saved_at:
                self._saved_at = writes
                try:
                    self.runtime.save()
                except Exception as err:  # noqa: BLE001 -- a full disk must not stop the server; exit saves again
                    print(f"docpipe serve: could not save state now: {err}", file=sys.stderr)
