"""Lambda function URL events around a JSON handler: body in, status code and JSON body out.

Errors answer the way AWS services do (JSON protocol): ``{"__type": code, "message": ..., "requestId": ...}``
with the ``x-amzn-ErrorType`` and ``x-amzn-RequestId`` headers, so any AWS SDK's error parsing reads them.

| status | __type | when |
|---|---|---|
| 400 | ValidationException | the body is not JSON, or not a valid request (the message names each field and rule) |
| 429 | ThrottlingException | a service the handler calls throttled it after the SDK's retries |
| 503 | ServiceUnavailableException | a service it calls kept failing or timing out (docpipe.errors.TRANSIENT) |
| 500 | InternalServerException | anything else: a generic message and the request id; the error and its trace go to the log only |
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from docpipe.errors import THROTTLING, TRANSIENT
from docpipe.observability import logger

MAX_FIELD_ERRORS = 5


class BadRequest(Exception):
    """The request itself is wrong; the message is written for the caller."""


def function_url(handler: Callable[[dict, Any], dict], request_model: type[BaseModel]
                 ) -> Callable[[dict, Any], dict]:
    """Serve ``handler`` both to direct invocations (event = the request) and to its function URL, where the
    body must be a valid ``request_model``."""

    def serve(event: dict, context: Any) -> dict:
        if "requestContext" not in event:
            return handler(event, context)
        request_id = getattr(context, "aws_request_id", None) or event["requestContext"].get("requestId", "")
        try:
            request = _request(event, request_model)
        except BadRequest as err:
            return _error(400, "ValidationException", str(err), request_id)
        try:
            return _response(200, handler(request, context), {})
        except Exception as err:  # noqa: BLE001 - the caller gets a code and a request id, never internals
            # an AWS error's code, or botocore's network error class
            name = (getattr(err, "response", None) or {}).get("Error", {}).get("Code") or type(err).__name__
            logger.exception("function URL request failed", extra={"error_name": name})
            if name in THROTTLING:
                return _error(429, "ThrottlingException", "The request was throttled; retry after a short wait.",
                              request_id)
            if name in TRANSIENT:
                return _error(503, "ServiceUnavailableException",
                              "A service this request needs is unavailable; retry after a short wait.", request_id)
            return _error(500, "InternalServerException",
                          f"The request could not be completed; quote request id {request_id} when reporting it.",
                          request_id)

    return serve


def _request(event: dict, model: type[BaseModel]) -> dict:
    body = event.get("body") or "{}"
    try:
        request = json.loads(base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body)
    except ValueError:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        raise BadRequest("The request body is not valid JSON.") from None
    try:
        model.model_validate(request)
    except ValidationError as err:
        raise BadRequest(_field_errors(err)) from None
    return request


def _field_errors(err: ValidationError) -> str:
    """``question: String should have at least 3 characters; ...``: field and rule, never the input's value."""
    problems = [f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
                for error in err.errors(include_url=False, include_input=False)]
    more = f"; and {len(problems) - MAX_FIELD_ERRORS} more" if len(problems) > MAX_FIELD_ERRORS else ""
    return "; ".join(problems[:MAX_FIELD_ERRORS]) + more


def _error(status: int, code: str, message: str, request_id: str) -> dict:
    return _response(status, {"__type": code, "message": message, "requestId": request_id},
                     {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id})


def _response(status: int, body: dict, headers: dict[str, str]) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json", **headers}, "body": json.dumps(body)}
