"""The ASGI application: every request is recognised, authenticated, parsed, answered by the runtime through
the bridge, and serialized back (protocol.py); LocalStack's health endpoint answers in LocalStack's shape.

Nothing a client sends can produce a traceback or a hang: each failure has the error AWS would answer
(see README, "docpipe serve").
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from docpipe_local.template import REGION

from . import auth
from .bridge import Bridge
from .protocol import (SERVED, EdgeError, Malformed, NotServed, UnknownOperation, Wire, plain_error,
                       request_from_scope)

log = logging.getLogger("docpipe.edge")

MAX_BODY_ENV = "DOCPIPE_EDGE_MAX_BODY_BYTES"
DEFAULT_MAX_BODY = 512 * 1024 * 1024  # an upload larger than this is refused (413) before it is read

# malformed input, by protocol family: the code and status AWS answers
_MALFORMED = {"s3": ("MalformedXML", 400), "query": ("MalformedQueryString", 400),
              "json": ("SerializationException", 400)}
_DRAIN_BYTES = 16 * 1024 * 1024  # how much of an oversized streamed body is read past the limit and dropped
_VERSION = "docpipe-0.1.0"
_INTERNAL = "The request processing has failed because of an unknown error, exception or failure."


def create_app(runtime: Any, *, max_body: int | None = None) -> Starlette:
    """The edge for one OfflineRuntime (already entered); mount other apps (the console) beside it."""
    bridge = Bridge(runtime)
    limit = max_body if max_body is not None else int(os.environ.get(MAX_BODY_ENV, DEFAULT_MAX_BODY))

    async def health(request: HttpRequest) -> Response:
        return JSONResponse({"services": {name: "running" for name in SERVED}, "edition": "community",
                             "version": _VERSION})

    async def aws(request: HttpRequest) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return await _aws(request, request_id)
        except Exception:  # a fault of the edge itself: logged here, never sent to the client
            log.exception("docpipe serve: %s %s failed", request.method, request.url.path)
            return _starlette(plain_error(EdgeError("InternalFailure", _INTERNAL, 500), request_id))

    async def _aws(request: HttpRequest, request_id: str) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return _too_large(request_id, int(declared), limit)
        body, size = bytearray(), 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + _DRAIN_BYTES:
                break
            if size <= limit:
                body += chunk
        if size > limit:  # the rest was read and dropped (up to a bound), so the client can read the answer
            return _too_large(request_id, size, limit)
        # everything after the body, in one trip to a worker thread: each hop between the event loop and a
        # thread costs a scheduling delay, more than the edge's own work (~1.3 ms) on a busy machine
        response = await run_in_threadpool(_handle, request, bytes(body), request_id)
        if response.is_streamed:
            return _streaming(response)
        return _starlette(response, head=request.method == "HEAD")

    def _handle(request: HttpRequest, body: bytes, request_id: str):
        wire_request = request_from_scope(request.method, request.url.path, request.scope.get("query_string", b""),
                                          request.headers.items(), body, request.scope.get("raw_path"))
        try:
            wire = Wire.recognise(wire_request)
        except NotServed as err:
            message = (f"docpipe serve does not answer the service {err}; it serves "
                       f"{', '.join(SERVED)}" if str(err) else
                       "The request names no AWS service (no SigV4 credential scope, X-Amz-Target or known path)")
            return plain_error(EdgeError("InternalFailure", message, 501), request_id)
        except Malformed as err:  # a service that speaks several protocols, and a request in none of them
            return plain_error(EdgeError("SerializationException", _plain(err), 400), request_id)
        family = auth.family_of(wire.name, wire.protocol)
        operation = None
        try:
            scope = auth.verify(request.method, _url(request), request.headers, body, family)
            try:
                operation, params = wire.parse(wire_request)
            except UnknownOperation as err:
                status = 400 if wire.protocol in ("json", "query", "smithy-rpc-v2-cbor") else 404
                raise EdgeError("UnknownOperationException", _plain(err) or "Unknown operation", status) from None
            except Malformed as err:
                code, status = _MALFORMED[family]
                raise EdgeError(code, f"The request body could not be read: {_plain(err)}", status) from None
            if operation.has_event_stream_output:
                result = bridge.stream(wire.name, operation.name, params, operation)
                response = wire.respond(operation, result, wire_request, request_id)
                response.headers["Content-Type"] = "application/vnd.amazon.eventstream"
                return response
            result = bridge.call(wire.name, operation.name, params, scope.region or REGION,
                                 wire_request.headers.get("X-Amz-Security-Token"))
            return wire.respond(operation, result, wire_request, request_id)
        except EdgeError as err:
            return wire.error(err, wire_request, request_id, operation)
        except Exception:  # a fault of the edge or the runtime: logged here, never sent to the client
            log.exception("docpipe serve: %s %s failed", request.method, request.url.path)
            return wire.error(EdgeError("InternalFailure", _INTERNAL, 500), wire_request, request_id, operation)

    routes = [Route("/_localstack/health", health, methods=["GET", "HEAD"]),
              Route("/{path:path}", aws, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])]
    app = Starlette(routes=routes)
    app.state.bridge = bridge
    app.state.runtime = runtime
    return app


def _url(request: HttpRequest) -> str:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    host = request.headers.get("host", "localhost")
    url = f"{request.url.scheme}://{host}{raw_path.decode('latin-1')}"
    return f"{url}?{query.decode('latin-1')}" if query else url


def _plain(err: Exception) -> str:
    return str(err).strip().rstrip(".")


def _too_large(request_id: str, size: int, limit: int) -> Response:
    message = f"The request body is over {limit} bytes ({size} read), the most this endpoint accepts ({MAX_BODY_ENV})."
    error = EdgeError("RequestEntityTooLarge", message, 413)
    # the rest of the body is not read: the connection closes after the answer
    response = plain_error(error, request_id)
    return Response(response.get_data(), status_code=413, headers={**dict(response.headers), "Connection": "close"})


def _starlette(response, head: bool = False) -> Response:
    """A LocalStack (werkzeug) response as a Starlette one (HEAD keeps the length of what GET would send)."""
    body = b"" if head else response.get_data()
    headers = [(key, value) for key, value in response.headers.items()
               if head or key.lower() != "content-length"]
    result = Response(body, status_code=response.status_code)
    result.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if not head:
        result.raw_headers.append((b"content-length", str(len(body)).encode()))
    return result


def _streaming(response) -> Response:
    """Event streams go out frame by frame, as the emulator produces them."""
    headers = {key: value for key, value in response.headers.items() if key.lower() != "content-length"}
    return StreamingResponse(iterate_in_threadpool(iter(response.response)), status_code=response.status_code,
                             headers=headers)
