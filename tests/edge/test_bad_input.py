"""What `docpipe serve` answers to what no SDK would send: AWS's error codes and statuses, never a traceback
or a hang; and the LocalStack conventions (health endpoint, virtual-host S3); and a clean stop."""

import json
import signal
import socket
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.edge.conftest import BUCKET
from tests.edge.served import ServedRuntime

LIMIT = 1024 * 1024
TRANSLATE = "AWSShineFrontendService_20170701.TranslateText"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with ServedRuntime(tmp_path_factory.mktemp("edge") / "home",
                       env={"DOCPIPE_EDGE_MAX_BODY_BYTES": str(LIMIT)}) as server:
        yield server


def send(url: str, method: str = "POST", path: str = "/", headers: dict | None = None, body: bytes = b"",
         sign: str | None = None, secret: str = "test", key: str = "test") -> tuple[int, dict, bytes]:
    request = AWSRequest(method=method, url=url + path, data=body, headers=headers or {})
    if sign:
        SigV4Auth(Credentials(key, secret), sign, "us-east-1").add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=body or None, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(raw, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def json_error(body: bytes) -> str:
    return json.loads(body)["__type"].split("#")[-1]


def translate(url: str, body: bytes, **kwargs):
    return send(url, headers={"X-Amz-Target": TRANSLATE, "Content-Type": "application/x-amz-json-1.1"},
                body=body, sign="translate", **kwargs)


def test_malformed_json_is_a_serialization_exception(served):
    status, _, body = translate(served.url, b'{"Text": "unterminated')
    assert (status, json_error(body)) == (400, "SerializationException")


def test_missing_required_parameters_are_a_validation_exception(served):
    status, _, body = translate(served.url, b'{"Text": "hello"}')
    assert (status, json_error(body)) == (400, "ValidationException")
    assert "TargetLanguageCode" in json.loads(body)["message"]


def test_an_unknown_operation_is_unknown_operation_exception(served):
    status, _, body = send(served.url, headers={"X-Amz-Target": "AWSShineFrontendService_20170701.Explode",
                                                "Content-Type": "application/x-amz-json-1.1"},
                           body=b"{}", sign="translate")
    assert (status, json_error(body)) == (400, "UnknownOperationException")


def test_an_unknown_service_is_named_in_the_error(served):
    status, _, body = send(served.url, body=b"Action=DescribeInstances&Version=2016-11-15", sign="ec2",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 501 and json_error(body) == "InternalFailure"
    assert "ec2" in json.loads(body)["message"]


def test_a_streamed_body_over_the_limit_is_cut_off(served):
    """No Content-Length (chunked): the edge reads up to the limit, answers 413 and closes."""
    host, port = served.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"PUT /%s/inbox/big.bin HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                     % (BUCKET.encode(), host.encode()))
        chunk = b"x" * 65536
        for _ in range(LIMIT // len(chunk) + 2):  # just over the limit, then the end of the body
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.sendall(b"0\r\n\r\n")
        answer = b""
        while piece := conn.recv(65536):  # the edge closes the connection after its answer
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert json_error(body) == "RequestEntityTooLarge"


def test_a_declared_length_over_the_limit_is_refused_without_waiting_for_the_body(served):
    host, port = served.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"PUT /%s/inbox/big.bin HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                     % (BUCKET.encode(), host.encode(), 50 * LIMIT))
        answer = conn.recv(4096)  # answered at once, the 50 MB never sent
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_request_without_signature_is_refused(served):
    status, _, body = send(served.url, headers={"X-Amz-Target": TRANSLATE,
                                                "Content-Type": "application/x-amz-json-1.1"}, body=b"{}")
    assert (status, json_error(body)) == (403, "MissingAuthenticationTokenException")


def test_a_wrong_secret_is_an_invalid_signature(served):
    status, _, body = translate(served.url, b'{"Text": "a", "SourceLanguageCode": "en", "TargetLanguageCode": "es"}',
                                secret="not-the-secret")
    assert (status, json_error(body)) == (403, "InvalidSignatureException")


def test_an_unknown_access_key_is_unrecognized(served):
    status, _, body = translate(served.url, b"{}", key="AKIANOBODY", secret="x")
    assert (status, json_error(body)) == (403, "UnrecognizedClientException")


def test_an_incomplete_signature_is_refused(served):
    status, _, body = send(served.url, headers={"X-Amz-Target": TRANSLATE, "Content-Type": "application/x-amz-json-1.1",
                                                "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/"
                                                                 "us-east-1/translate/aws4_request"}, body=b"{}")
    assert (status, json_error(body)) == (400, "IncompleteSignatureException")


def test_s3_errors_are_s3s_own(served):
    client = boto3.client("s3", endpoint_url=served.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="wrong")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        client.list_buckets()
    assert raised.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    status, _, body = send(served.url, method="GET", path=f"/{BUCKET}/nothing-here", sign="s3")
    assert status == 404 and b"<Code>NoSuchKey</Code>" in body


def test_the_server_answers_after_all_of_that(served):
    status, _, body = translate(served.url, b'{"Text": "The house is red.", "SourceLanguageCode": "en", '
                                            b'"TargetLanguageCode": "es"}')
    assert status == 200 and json.loads(body)["TranslatedText"] == "La casa es roja."


def test_health_answers_in_localstacks_shape(served):
    status, _, body = send(served.url, method="GET", path="/_localstack/health")
    health = json.loads(body)
    assert status == 200 and health["services"]["s3"] == "running"
    served_ones = {"bedrock-runtime", "textract", "translate", "polly", "s3vectors", "stepfunctions"}
    assert served_ones <= set(health["services"])


def test_virtual_host_s3_addressing(served):
    port = served.url.rsplit(":", 1)[1]
    client = boto3.client("s3", endpoint_url=served.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.put_object(Bucket=BUCKET, Key="notes/virtual.txt", Body=b"addressed by host")
    for host, path in ((f"{BUCKET}.s3.localhost.localstack.cloud:{port}", "/notes/virtual.txt"),
                       (f"s3.localhost.localstack.cloud:{port}", f"/{BUCKET}/notes/virtual.txt")):
        status, _, body = send(served.url, method="GET", path=path, headers={"Host": host}, sign="s3")
        assert (status, body) == (200, b"addressed by host"), host


def test_sigterm_stops_cleanly_and_the_state_is_there_for_the_next_runtime(served):
    client = boto3.client("s3", endpoint_url=served.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.put_object(Bucket=BUCKET, Key="notes/kept.txt", Body=b"still here")
    assert served.stop(signal.SIGTERM) == 0
    assert "state saved" in served.log.read_text()
    from docpipe_local.runtime import OfflineRuntime  # what `docpipe run` would open next

    with OfflineRuntime(home=served.home) as runtime:
        assert runtime.s3.get_object(Bucket=BUCKET, Key="notes/kept.txt")["Body"].read() == b"still here"
