"""The wire, handled by LocalStack's library: which service a request is for, (operation, parameters) out
of its bytes, and responses and errors back into each protocol's bytes (json, rest-json, rest-xml, query,
smithy-rpc-v2-cbor, event streams).

localstack-core (Apache-2.0) is used only here, as a library: its service router (the rules AWS's own edges
follow: SigV4 credential scope, then X-Amz-Target, then host and path), its request parsers and its response
serializers. Nothing of LocalStack's server runs. Its service catalog is limited to the services docpipe
serves, so a request for any other service is recognised as such instead of being routed to S3 by the
router's catch-all rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable

from botocore.model import OperationModel, ServiceModel
from localstack.aws.api import CommonServiceException
from localstack.aws.protocol.parser import OperationNotFoundParserError, RequestParserError, create_parser
from localstack.aws.protocol.serializer import create_serializer
from localstack.aws.protocol.service_router import ProtocolError, determine_aws_protocol, determine_aws_service_model
from localstack.aws.spec import LazyServiceCatalogIndex, ServiceCatalog, load_service
from localstack.http import Request, Response

# botocore's service names for everything the stack uses (issue 19's list), plus STS for `aws sts
# get-caller-identity`, the first call many tools make.
SERVED = ("s3", "dynamodb", "stepfunctions", "events", "sqs", "lambda", "scheduler", "textract",
          "bedrock-runtime", "bedrock", "translate", "polly", "s3vectors", "sagemaker", "sagemaker-runtime",
          "application-autoscaling", "cloudwatch", "sts")

class NotServed(Exception):
    """The request is for a service docpipe does not serve (or none could be recognised)."""


class UnknownOperation(Exception):
    pass


class Malformed(Exception):
    """The body or the parameters could not be read as the service's protocol requires."""


@dataclass
class EdgeError(Exception):
    """An error in AWS's shape: its code, message and HTTP status, plus the error shape's other members."""

    code: str
    message: str
    status: int = 400
    fields: dict[str, Any] | None = None


class _ServedIndex(LazyServiceCatalogIndex):
    @cached_property
    def _services(self) -> dict[str, list[ServiceModel]]:
        return {name: [load_service(name)] for name in SERVED}


_CATALOG = ServiceCatalog(_ServedIndex())


@dataclass(frozen=True)
class Wire:
    """One request's service and protocol: parse it, serialize what answers it."""

    service: ServiceModel
    protocol: str

    @classmethod
    def recognise(cls, request: Request) -> "Wire":
        try:
            service = determine_aws_service_model(request, _CATALOG)
        except Exception as err:  # the router loads specs for names it guessed: an unknown name lands here
            raise NotServed(str(err)) from None
        if service is None or service.service_name not in SERVED:
            raise NotServed(service.service_name if service is not None else "")
        try:
            protocol = determine_aws_protocol(request, service)
        except ProtocolError as err:
            raise Malformed(str(err)) from None
        if protocol != service.protocol:
            service = load_service(service.service_name, protocol=protocol)
        return cls(service, protocol)

    @property
    def name(self) -> str:
        return self.service.service_name

    def parse(self, request: Request) -> tuple[OperationModel, dict[str, Any]]:
        """(operation, parameters), parameters without the members the request left out."""
        named = _named_operation(request, self.protocol)
        if named is not None and named not in self.service.operation_names:
            raise UnknownOperation(f"{self.name} has no operation {named}")
        try:
            operation, params = create_parser(self.service, self.protocol).parse(request)
        except OperationNotFoundParserError as err:
            raise UnknownOperation(str(err)) from None
        except RequestParserError as err:
            raise Malformed(str(err)) from None
        return operation, _present(params)

    def respond(self, operation: OperationModel, result: dict[str, Any], request: Request,
                request_id: str) -> Response:
        serializer = create_serializer(self.service, self.protocol)
        response = serializer.serialize_to_response(result, operation, _negotiation(request), request_id)
        if operation.has_event_stream_output:  # LocalStack's serializer writes only the stream there
            for name, member in operation.output_shape.members.items():
                if member.serialization.get("location") == "header" and result.get(name) is not None:
                    response.headers[member.serialization["name"]] = str(result[name])
        return response

    def error(self, err: EdgeError, request: Request, request_id: str,
              operation: OperationModel | None = None) -> Response:
        exception = CommonServiceException(err.code, err.message, status_code=err.status,
                                           sender_fault=err.status < 500)
        for key, value in (err.fields or {}).items():  # the modeled error's own members (e.g. Translate's)
            setattr(exception, key, value)
        operation = operation or self.service.operation_model(self.service.operation_names[0])
        serializer = create_serializer(self.service, self.protocol)
        return serializer.serialize_error_to_response(exception, operation, _negotiation(request), request_id)


def plain_error(err: EdgeError, request_id: str) -> Response:
    """An error for a request whose service is unknown: JSON, as AWS's JSON front ends answer."""
    body = json.dumps({"__type": err.code, "message": err.message})
    return Response(body, status=err.status, headers={"Content-Type": "application/x-amz-json-1.1",
                                                      "x-amzn-RequestId": request_id,
                                                      "x-amzn-ErrorType": err.code})


_NEGOTIATING = ("Accept", "Content-Type", "x-amzn-query-mode")


def _negotiation(request: Request) -> dict[str, str]:
    """The request headers the serializers read (a plain dict: werkzeug's Headers raise, slowly, on a miss)."""
    headers = request.headers
    return {name: headers[name] for name in _NEGOTIATING if name in headers}


def _named_operation(request: Request, protocol: str) -> str | None:
    """The operation an RPC request names (X-Amz-Target, or rpc-v2's path); None for REST protocols."""
    if protocol == "json":
        return request.headers.get("X-Amz-Target", "").rpartition(".")[2] or None
    if protocol == "smithy-rpc-v2-cbor":
        return request.path.rstrip("/").rpartition("/")[2] or None
    return None


def _present(params: Any) -> Any:
    """LocalStack's parsers fill every member, unset ones with None; botocore wants them absent."""
    if isinstance(params, dict):
        return {key: _present(value) for key, value in params.items() if value is not None}
    if isinstance(params, list):
        return [_present(value) for value in params]
    return params


def request_from_scope(method: str, path: str, query: bytes, headers: Iterable[tuple[str, str]], body: bytes,
                       raw_path: bytes | None = None) -> Request:
    from werkzeug.datastructures import Headers

    return Request(method, path, query_string=query, headers=Headers(list(headers)), body=body,
                   raw_path=(raw_path or path.encode()).decode("latin-1"))
