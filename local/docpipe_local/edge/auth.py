"""Signature Version 4, checked as AWS checks it: a request must be signed, the signature complete, the access
key known, and the signature must match the one computed here from the same canonical request.

Three key pairs are known: `test`/`test` (what LocalStack's docs and awslocal use), `accesskey`/`secretkey`
(localstack-client's Session defaults) and `offline`/`offline` (what the offline runtime gives its handlers).
The canonical request is botocore's own code (`SigV4Auth`, or `S3SigV4Auth`, which does not re-encode the
path), fed the headers the client says it signed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from .protocol import EdgeError

KNOWN_KEYS = {"test": "test", "accesskey": "secretkey", "offline": "offline"}

_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")


@dataclass(frozen=True)
class Scope:
    access_key: str
    date: str
    region: str
    service: str


# (missing, incomplete, unknown key, mismatch) for the three families of AWS front ends
_CODES = {
    "s3": ("AccessDenied", "AuthorizationHeaderMalformed", "InvalidAccessKeyId", "SignatureDoesNotMatch"),
    "query": ("MissingAuthenticationToken", "IncompleteSignature", "InvalidClientTokenId", "SignatureDoesNotMatch"),
    "json": ("MissingAuthenticationTokenException", "IncompleteSignatureException", "UnrecognizedClientException",
             "InvalidSignatureException"),
}
_MESSAGES = ("Missing Authentication Token",
             "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters, and an "
             "X-Amz-Date header.",
             "The security token included in the request is invalid.",
             "The request signature we calculated does not match the signature you provided. Check your AWS "
             "Secret Access Key and signing method.")
_STATUS = (403, 400, 403, 403)


def _error(kind: int, family: str) -> EdgeError:
    message = "Access Denied" if (family, kind) == ("s3", 0) else _MESSAGES[kind]
    if (family, kind) == ("s3", 2):
        message = "The AWS Access Key Id you provided does not exist in our records."
    return EdgeError(_CODES[family][kind], message, _STATUS[kind])


def family_of(service: str, protocol: str) -> str:
    if service == "s3":
        return "s3"
    return "query" if protocol in ("query", "ec2") else "json"


def scope_of(headers) -> Scope | None:
    """The credential scope of a signed request (None when unsigned or unreadable): for routing and region."""
    fields = dict(_FIELD.findall(headers.get("Authorization", "")))
    parts = fields.get("Credential", "").split("/")
    if len(parts) != 5:
        return None
    return Scope(parts[0], parts[1], parts[2], parts[3])


def verify(method: str, url: str, headers, body: bytes, family: str) -> Scope:
    """Raise the EdgeError AWS would answer, or return the request's credential scope."""
    authorization = headers.get("Authorization")
    if not authorization:
        if any(key in urlsplit(url).query for key in ("X-Amz-Signature", "X-Amz-Credential")):
            return _verify_presigned(url, family)
        raise _error(0, family)
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        raise _error(1, family)
    fields = dict(_FIELD.findall(authorization))
    scope = scope_of(headers)
    amz_date = headers.get("X-Amz-Date")
    if scope is None or "SignedHeaders" not in fields or "Signature" not in fields or not amz_date:
        raise _error(1, family)
    secret = KNOWN_KEYS.get(scope.access_key)
    if secret is None:
        raise _error(2, family)
    signed = fields["SignedHeaders"].split(";")
    expected = _signature(method, url, headers, body, signed, scope, secret, amz_date)
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise _error(3, family)
    return scope


def _verify_presigned(url: str, family: str) -> Scope:
    """Presigned URLs (S3): the key must be known; the signature is not recomputed (documented in README)."""
    from urllib.parse import parse_qs

    query = parse_qs(urlsplit(url).query)
    parts = query.get("X-Amz-Credential", [""])[0].split("/")
    if len(parts) != 5:
        raise _error(1, family)
    if parts[0] not in KNOWN_KEYS:
        raise _error(2, family)
    return Scope(*parts[:4])


class _Recompute(SigV4Auth):
    """botocore's SigV4 canonical request over exactly the headers the client signed."""

    def __init__(self, scope: Scope, secret: str, payload_hash: str):
        super().__init__(Credentials(scope.access_key, secret), scope.service, scope.region)
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.headers  # only the signed ones were put there

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


class _RecomputeS3(_Recompute):
    _normalize_url_path = S3SigV4Auth._normalize_url_path


def _signature(method: str, url: str, headers, body: bytes, signed: list[str], scope: Scope, secret: str,
               amz_date: str) -> str:
    wanted = set(signed)
    signed_headers = HTTPHeaders()
    for name, value in headers.items():  # every occurrence, in order, as the client signed them
        if name.lower() in wanted:
            signed_headers.add_header(name.lower(), value)
    payload_hash = headers.get("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
    request = AWSRequest(method=method, url=url, data=body)
    request.headers = signed_headers  # AWSRequest would copy into a dict of its own, losing repeats
    request.context["timestamp"] = amz_date
    signer = (_RecomputeS3 if scope.service == "s3" else _Recompute)(scope, secret, payload_hash)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)
