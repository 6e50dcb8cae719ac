"""An HTTP request's (operation, parameters), answered by the offline runtime exactly as an in-process call
is: through a boto3 client created under the runtime's mock, so moto and the emulators (which answer at
botocore's before-call) give the same answers, errors and side effects as they give `docpipe run`.

What S3 would do after a write, the bridge does too: an object created or deleted in a bucket whose
template declares EventBridge notifications sends S3's event to the template's rules (the same
`trigger.s3_event` and `runtime.emit` that `runtime.upload` uses), so a `PutObject` into the inbox starts the
document pipeline.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError
from botocore.response import StreamingBody
from botocore.validate import validate_parameters

from docpipe_local.emulators.base import EmulatorHub, ServiceError
from docpipe_local.iam.recorder import calling
from docpipe_local.lambda_workers import function_of_session_token
from docpipe_local.trigger import s3_event

from .protocol import EdgeError

# what a single call through the edge may do: one attempt (the client that called the edge retries)
_CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, max_pool_connections=64,
                        read_timeout=900, connect_timeout=5)

# what the data directory's state holds (persistence.py), and the operations that only read it
_PERSISTED = {"s3", "dynamodb"}
_READS = ("Get", "List", "Describe", "Head", "Query", "Scan", "BatchGet")

# S3 writes that make S3 send an event: (detail-type, reason)
_S3_EVENTS = {"PutObject": ("Object Created", "PutObject"), "CopyObject": ("Object Created", "CopyObject"),
              "CompleteMultipartUpload": ("Object Created", "CompleteMultipartUpload"),
              "DeleteObject": ("Object Deleted", "DeleteObject")}


class Bridge:
    """Calls into one OfflineRuntime from any thread."""

    def __init__(self, runtime: Any):
        self.runtime = runtime
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.notifying = _notifying_buckets(runtime)
        self.writes = 0  # S3 and DynamoDB writes since start (the periodic saver reads it)

    def client(self, service: str, region: str):
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(service, region_name=region, config=_CLIENT_CONFIG)
            return self._clients[key]

    def call(self, service: str, operation: str, params: dict[str, Any], region: str,
             session_token: str | None = None) -> dict[str, Any]:
        """The operation's result as boto3 returns it, without ResponseMetadata; blobs read into bytes.

        A call signed by a Lambda worker (its session token names its function) is made as that function's,
        so the IAM recorder puts it on the function's account as it does for in-process handlers."""
        client = self.client(service, region)
        method = getattr(client, xform_name(operation))
        function = function_of_session_token(session_token)
        try:
            with calling(function) if function else nullcontext():
                result = method(**params)
        except ClientError as err:
            raise _edge_error(err) from None
        except ParamValidationError as err:
            raise EdgeError("ValidationException", str(err).split(":", 1)[-1].strip()) from None
        if service in _PERSISTED and not operation.startswith(_READS):
            self.writes += 1
        if service == "s3" and operation in _S3_EVENTS:
            self._notify(operation, params, result, region)
        result.pop("ResponseMetadata", None)
        return {key: _read(value) for key, value in result.items()}

    def stream(self, service: str, operation: str, params: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        """An operation whose output is an event stream, answered by its emulator as the events are made."""
        hub = EmulatorHub.active
        emulator = hub.route(service, operation, params) if hub else None  # by model id, as answer() routes
        if emulator is None:
            raise EdgeError("InternalFailure", f"{service} {operation} is not available offline", 501)
        try:
            validate_parameters(params, operation_model.input_shape)
        except ParamValidationError as err:
            raise EdgeError("ValidationException", str(err).split(":", 1)[-1].strip()) from None
        try:
            hub.faults.check(service, operation)
            return emulator.call(operation, params)
        except ServiceError as err:
            raise EdgeError(err.code, err.message, err.status, err.fields) from None

    def _notify(self, operation: str, params: dict, result: dict, region: str) -> None:
        bucket, key = params["Bucket"], params["Key"]
        if bucket not in self.notifying:
            return
        detail_type, reason = _S3_EVENTS[operation]
        size = etag = None
        if detail_type == "Object Created":
            head = self.client("s3", region).head_object(Bucket=bucket, Key=key, VersionId=result["VersionId"]) \
                if result.get("VersionId") else self.client("s3", region).head_object(Bucket=bucket, Key=key)
            size, etag = head["ContentLength"], head.get("ETag")
        event = s3_event(detail_type, bucket, key, size=size, etag=etag, version_id=result.get("VersionId"),
                         reason=reason,
                         deletion_type="Delete Marker Created" if result.get("DeleteMarker") else
                         ("Permanently Deleted" if detail_type == "Object Deleted" else None))
        self.runtime.emit(event)


def _read(value: Any) -> Any:
    if isinstance(value, StreamingBody):
        return value.read()
    return value


def _edge_error(err: ClientError) -> EdgeError:
    response = err.response
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400
    fields = {key: value for key, value in response.items()
              if key not in ("Error", "ResponseMetadata", "message", "Message")}
    return EdgeError(error.get("Code", "InternalFailure"), error.get("Message", ""), int(status), fields)


def _notifying_buckets(runtime: Any) -> set[str]:
    template = runtime.template
    return {template.physical_name(logical_id) for logical_id in template.of_type("AWS::S3::Bucket")
            if template.properties(logical_id).get("NotificationConfiguration", {})
            .get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true", "True")}
