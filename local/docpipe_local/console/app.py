"""The web console: a Starlette app over a running OfflineRuntime (see README, "The web console").

``create_app(runtime)`` returns the ASGI app, so `docpipe console` and `docpipe serve` can share one process
and one runtime. Pages are rendered on the server (Jinja); htmx (vendored) posts forms and swaps fragments;
a small script follows server-sent events to update the documents table and colour the state machine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from docpipe_local.console import safety
from docpipe_local.console.catalog import PIPELINE, Catalog, Row
from docpipe_local.console.live import Broker, Watcher
from docpipe_local.documents import DocumentSession, Source
from docpipe_local.runtime import OfflineRuntime

UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024  # per request; Textract's asynchronous API takes up to 500 MB
STATIC = Path(__file__).parent / "static"


@dataclass
class Settings:
    upload_limit: int = UPLOAD_LIMIT_BYTES
    token: str = ""


class Console:
    """What the routes share: the runtime, its documents, the live feed and the token."""

    def __init__(self, runtime: OfflineRuntime, settings: Settings):
        self.runtime = runtime
        self.settings = settings
        self.token = settings.token or safety.new_token()
        self.uploads = Path(tempfile.mkdtemp(prefix="docpipe-console-", dir=runtime.home))
        self.session = DocumentSession(runtime, self.uploads / "out")
        self.catalog = Catalog(runtime)
        self.broker = Broker()
        self.templates = Environment(loader=PackageLoader("docpipe_local.console", "templates"),
                                     autoescape=select_autoescape(["html"]))
        self.templates.globals.update(token=self.token, money=_money, seconds=_seconds, row_html=self.render_row)
        self.definition = json.loads(runtime.definition(PIPELINE))
        self.watcher = Watcher(self.catalog, self.broker, self.render_row, runtime.save)
        self._submit_lock = threading.Lock()
        self._rows_html: dict[tuple, str] = {}

    def render(self, name: str, **context) -> HTMLResponse:
        return HTMLResponse(self.templates.get_template(name).render(**context))

    def render_row(self, row: Row) -> str:
        """A row's HTML, drawn once per content (the page and every stream share it)."""
        key = tuple(row.as_json().values())
        html = self._rows_html.get(key)
        if html is None:
            if len(self._rows_html) > 10_000:
                self._rows_html.clear()
            html = self._rows_html[key] = self.templates.get_template("_row.html").render(row=row)
        return html

    def history(self, execution: str) -> list[dict]:
        return self.runtime.history(execution)

    def submit(self, files: list[tuple[str, bytes]]) -> list[str]:
        """Each file into the inbox as `docpipe run` puts it (its trigger starts the execution)."""
        names = []
        with self._submit_lock:
            for raw_name, data in files:
                folder = Path(tempfile.mkdtemp(dir=self.uploads))
                path = folder / safety.safe_name(raw_name)
                path.write_bytes(data)
                try:
                    self.session.submit(Source(path, path.name))
                finally:
                    shutil.rmtree(folder)  # the inbox holds it now
                names.append(path.name)
        self.watcher.ring()
        return names


def create_app(runtime: OfflineRuntime, *, upload_limit: int = UPLOAD_LIMIT_BYTES, token: str = "") -> Starlette:
    console = Console(runtime, Settings(upload_limit, token))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        import asyncio

        console.broker.loop = asyncio.get_running_loop()
        console.watcher.start()
        try:
            yield
        finally:
            console.broker.close()
            console.watcher.stop()
            shutil.rmtree(console.uploads, ignore_errors=True)

    from docpipe_local.console import routes

    app = Starlette(routes=routes.build(console) + [Mount("/static", StaticFiles(directory=STATIC), name="static")],
                    middleware=[Middleware(safety.SameOriginToken, token=console.token)], lifespan=lifespan)
    app.state.console = console
    return app


def _money(value: float | None) -> str:
    return "" if value is None else f"${value:.6f}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"
