"""What keeps the console safe by default: a same-origin token on every state-changing request, upload names
made harmless, a size cap, and names that may only point inside what a document published."""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse

TOKEN_HEADER = "X-Docpipe-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def safe_name(raw: str, limit: int = 120) -> str:
    """A file name that is only a name: no folders, no control or shell characters, no leading dot, bounded;
    the extension kept (the pipeline's Validate compares it with the content)."""
    name = unicodedata.normalize("NFKC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip("._") or "upload"
    if len(name) > limit:
        stem, dot, extension = name.rpartition(".")
        name = (stem[: limit - len(extension) - 1] + dot + extension) if dot and len(extension) <= 10 else name[:limit]
    return name


class SameOriginToken(BaseHTTPMiddleware):
    """A request that changes something must carry the page's token (a header the page's script and htmx
    set: a plain cross-site form cannot set headers) and, when the browser says where it comes from, come from this origin: another site's
    page can make the browser send a POST here, but cannot read the token."""

    def __init__(self, app, token: str):
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next):
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
                return PlainTextResponse("refused: this request came from another site", status_code=403)
            given = request.headers.get(TOKEN_HEADER) or ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return PlainTextResponse("refused: the request carries no valid console token (reload the page)",
                                         status_code=403)
        return await call_next(request)
