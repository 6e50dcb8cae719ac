"""`docpipe console`: the web console on this machine (see README, "The web console")."""

from __future__ import annotations

import argparse
import sys

from docpipe_local.console.server import DEFAULT_HOST, DEFAULT_PORT, is_loopback, serve
from docpipe_local.runtime import OfflineRuntime


def add_parser(commands) -> None:
    parser = commands.add_parser("console", help="the web console: upload, watch each execution, read, listen, "
                                                 "ask and see the cost in a browser")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080)")
    parser.add_argument("--open", action="store_true", help="open it in the default browser")
    parser.set_defaults(faults=None)


def run(runtime: OfflineRuntime, args: argparse.Namespace) -> int:
    if not is_loopback(args.host):
        print(f"docpipe console: warning: listening on {args.host}: anyone who can reach this address can upload and "
              "delete documents (the console has no login)", file=sys.stderr)
    try:
        serve(runtime, args.host, args.port, args.open,
              announce=lambda url: print(f"docpipe console on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True))
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has stopped: the normal way out
        pass
    print("docpipe console stopped; the offline state is saved", file=sys.stderr)
    return 0
