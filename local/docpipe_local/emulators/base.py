"""The emulator mechanism: botocore event hooks that answer API calls in-process.

botocore emits ``before-parameter-build.<service>.<Operation>`` with the caller's parameters *before* it
validates them, and ``before-call.<service>.<Operation>`` *after* it validated and serialized them. We keep
a copy of the parameters from the first event in the request context and answer from the second, so an
emulator only ever sees requests that AWS would accept, and botocore turns our error responses into the
same modeled exceptions (``client.exceptions.ThrottlingException``...) that AWS would raise.

Between the two, an operation the hub answers is validated exactly as botocore validates it, but not
serialized for the wire: nothing would read the bytes, and they cost more than the answer for big requests
(a PutVectors of 21 vectors of 1,024 floats: 13 of its 22 ms, a call per float in botocore's serializer).

The hooks are added to botocore's BUILTIN_HANDLERS (as moto does), so every session and client created
afterwards carries them; they do nothing unless a hub is active.
"""

from __future__ import annotations

import io
import json
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ParamValidationError
from botocore.handlers import BUILTIN_HANDLERS
from botocore.response import StreamingBody
from botocore.validate import ParamValidationDecorator

from ..plain_copy import copy_plain

_PARAMS_KEY = "docpipe_emulator_params"
# a key an emulator's answer may carry: HTTP response headers to add (what the body cannot say in AWS's shape)
RESPONSE_HEADERS = "docpipe_response_headers"


class ServiceError(Exception):
    """An error the emulated service returns; becomes the modeled botocore ClientError.

    ``fields`` are the error shape's other members (Translate's UnsupportedLanguagePairException carries
    SourceLanguageCode and TargetLanguageCode): they land at the top of ``ClientError.response``, where
    botocore's parser puts them.
    """

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


def streaming_body(data: bytes) -> StreamingBody:
    """A response stream, as botocore hands out for blob payloads (Polly audio, InvokeModel body)."""
    return StreamingBody(io.BytesIO(data), len(data))


class Emulator:
    """Base class: subclasses set ``service`` and define one method per operation, named as the API does.

    A method receives the validated request parameters as a dict and returns the response dict (without
    ResponseMetadata), or raises ServiceError.
    """

    service: str = ""

    def handles(self, operation: str) -> bool:
        return callable(getattr(self, operation, None)) and operation[:1].isupper()

    def serves(self, operation: str, params: dict[str, Any]) -> bool:
        """Whether this request is for this emulator, where several handle one operation (bedrock-runtime
        InvokeModel: embedding model ids go to the embeddings emulator, text model ids to Converse's)."""
        return True

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return getattr(self, operation)(params)

    def close(self) -> None:
        """Release background work and resources (threads, models, open databases)."""


@dataclass(frozen=True)
class Fault:
    """One fault-injection rule: `service.Operation` (or `service.*`) fails with `code` at `rate`."""

    service: str
    operation: str
    code: str
    rate: float
    status: int = 400

    def applies(self, service: str, operation: str) -> bool:
        return self.service == service and self.operation in ("*", operation)


_SERVER_ERRORS = {"InternalServerError", "InternalServerException", "ServiceUnavailableException",
                  "ServiceException", "ServiceFailure"}


def parse_faults(spec: str) -> list[Fault]:
    """Parse ``"textract.DetectDocumentText=ThrottlingException@0.3; bedrock-runtime.*=ServiceUnavailableException@1"``."""
    faults = []
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        try:
            target, rule = item.split("=", 1)
            service, operation = target.strip().split(".", 1)
            code, rate = rule.strip().split("@", 1)
            rate_value = float(rate)
        except ValueError as exc:
            raise ValueError(f"bad fault rule {item!r}: expected service.Operation=ErrorCode@rate") from exc
        if not 0.0 <= rate_value <= 1.0:
            raise ValueError(f"bad fault rule {item!r}: rate must be between 0 and 1")
        status = 500 if code.strip() in _SERVER_ERRORS else 400
        faults.append(Fault(service.strip(), operation.strip(), code.strip(), rate_value, status))
    return faults


class FaultInjector:
    """Decides, reproducibly for a given seed, whether a call fails with an injected error."""

    def __init__(self, faults: list[Fault], seed: int = 0):
        self.faults = faults
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: list[tuple[str, str, str]] = []

    def check(self, service: str, operation: str) -> None:
        for fault in self.faults:
            if not fault.applies(service, operation):
                continue
            with self._lock:
                hit = self._random.random() < fault.rate
                if hit:
                    self.injected.append((service, operation, fault.code))
            if hit:
                raise ServiceError(fault.code, f"injected fault ({fault.code}) for {service}.{operation}",
                                   fault.status)


class EmulatorHub:
    """The active set of emulators; at most one hub answers calls at a time."""

    active: "EmulatorHub | None" = None

    def __init__(self, faults: FaultInjector | None = None):
        # several emulators may share a service (bedrock-runtime: embeddings, Converse, ApplyGuardrail)
        self.emulators: dict[str, list[Emulator]] = {}
        self.faults = faults or FaultInjector([])
        self.calls: list[tuple[str, str]] = []
        self._calls_lock = threading.Lock()

    def register(self, emulator: Emulator) -> Emulator:
        self.emulators.setdefault(emulator.service, []).append(emulator)
        return emulator

    def find(self, service: str, operation: str) -> Emulator | None:
        return next((e for e in self.emulators.get(service, ()) if e.handles(operation)), None)

    def route(self, service: str, operation: str, params: dict[str, Any]) -> Emulator | None:
        """The first emulator that handles the operation and serves these parameters; when none claims
        them, the first that handles it (its error tells the caller what is wrong); None when none handles it."""
        handlers = [e for e in self.emulators.get(service, ()) if e.handles(operation)]
        return next((e for e in handlers if e.serves(operation, params)), handlers[0] if handlers else None)

    def __enter__(self) -> "EmulatorHub":
        if EmulatorHub.active is not None:
            raise RuntimeError("another emulator hub is already active in this process")
        EmulatorHub.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        EmulatorHub.active = None
        for emulators in self.emulators.values():
            for emulator in emulators:
                emulator.close()

    def count(self, service: str, operation: str | None = None) -> int:
        """How many calls reached an emulator (injected faults included), for tests and benchmarks."""
        with self._calls_lock:
            return sum(1 for s, o in self.calls if s == service and operation in (None, o))

    def answer(self, service: str, operation: str, params: dict[str, Any]) -> tuple[AWSResponse, dict]:
        with self._calls_lock:
            self.calls.append((service, operation))
        request_id = str(uuid.uuid4())
        try:
            self.faults.check(service, operation)
            body = self.route(service, operation, params).call(operation, params)
            status = 200
        except ServiceError as err:
            body = {**err.fields, "Error": {"Code": err.code, "Message": err.message}, "message": err.message}
            status = err.status
        headers = {"x-amzn-requestid": request_id, **body.pop(RESPONSE_HEADERS, {})}
        body["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": status,
                                    "HTTPHeaders": headers, "RetryAttempts": 0}
        return AWSResponse(f"https://{service}.emulated.local", status, headers, _RawBody(body)), body


class _RawBody:
    """What AWSResponse expects as ``raw``: only read when someone asks for the wire bytes."""

    def __init__(self, body: dict):
        self._body = body

    def stream(self, **_: Any):
        yield json.dumps(self._body, default=str).encode()


def _target(event_name: str) -> tuple[str, str] | None:
    hub = EmulatorHub.active
    if hub is None:
        return None
    _, service, operation = event_name.split(".", 2)
    if hub.find(service, operation) is None:
        return None
    return service, operation


def _capture_params(params: dict, context: dict, event_name: str, **_: Any) -> None:
    if _target(event_name) is not None:
        context[_PARAMS_KEY] = copy_plain(params)  # later handlers cannot rewrite it


def _answer(event_name: str, context: dict, **_: Any):
    target = _target(event_name)
    hub = EmulatorHub.active
    if target is None or hub is None or _PARAMS_KEY not in context:
        return None
    return hub.answer(*target, context.pop(_PARAMS_KEY))


def _validated_unserialized(serialize: Callable[..., dict]) -> Callable[..., dict]:
    """``ParamValidationDecorator.serialize_to_request`` that only validates what the hub will answer."""
    if getattr(serialize, "docpipe_emulated", False):
        return serialize

    def serialize_to_request(self: ParamValidationDecorator, parameters: dict, operation_model: Any) -> dict:
        hub = EmulatorHub.active
        if hub is None or hub.find(operation_model.service_model.service_id.hyphenize(), operation_model.name) is None:
            return serialize(self, parameters, operation_model)
        if operation_model.input_shape is not None:  # what botocore's own decorator does before serializing
            report = self._param_validator.validate(parameters, operation_model.input_shape)
            if report.has_errors():
                raise ParamValidationError(report=report.generate_report())
        # the request botocore's later steps expect; the answer comes at before-call, before any sending
        return {"url_path": "/", "query_string": "", "method": operation_model.http.get("method", "POST"),
                "headers": {}, "body": b""}

    serialize_to_request.docpipe_emulated = True
    return serialize_to_request


ParamValidationDecorator.serialize_to_request = _validated_unserialized(ParamValidationDecorator.serialize_to_request)

_HOOKS: list[tuple[str, Callable[..., Any]]] = [
    ("before-parameter-build", _capture_params),
    ("before-call", _answer),
]
for _hook in _HOOKS:
    if _hook not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(_hook)
