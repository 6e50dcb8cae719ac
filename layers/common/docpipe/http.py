"""Lambda function URL events around a JSON handler: body in, status code and JSON body out."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

from pydantic import ValidationError


def function_url(handler: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
    """Serve `handler` both to direct invocations (event = the request) and to its function URL."""

    def serve(event: dict, context: Any) -> dict:
        if "requestContext" not in event:
            return handler(event, context)
        try:
            body = event.get("body") or "{}"
            request = json.loads(base64.b64decode(body) if event.get("isBase64Encoded") else body)
            return _response(200, handler(request, context))
        except (ValueError, ValidationError) as err:  # ValidationError is a ValueError; keep both explicit
            return _response(400, {"error": "bad request", "detail": str(err)[:2000]})

    return serve


def _response(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
