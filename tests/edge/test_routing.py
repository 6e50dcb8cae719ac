"""Every served service is recognised from the request its own SDK sends (signed as botocore signs it) and
parsed back into the operation and parameters the client called: no server needed."""

from urllib.parse import unquote

import boto3
import pytest
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from docpipe_local.edge import auth
from docpipe_local.edge.protocol import Wire, request_from_scope

CALLS = [
    ("s3", "ListObjectsV2", {"Bucket": "docs", "Prefix": "inbox/"}),
    ("s3", "PutObject", {"Bucket": "docs", "Key": "inbox/a b+c.txt", "Body": b"hello"}),
    ("dynamodb", "GetItem", {"TableName": "t", "Key": {"pk": {"S": "1"}}}),
    ("stepfunctions", "ListExecutions", {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m"}),
    ("events", "PutEvents", {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]}),
    ("sqs", "SendMessage", {"QueueUrl": "http://127.0.0.1:1/123456789012/q", "MessageBody": "m"}),
    ("lambda", "Invoke", {"FunctionName": "f", "Payload": b"{}"}),
    ("scheduler", "ListSchedules", {}),
    ("textract", "DetectDocumentText", {"Document": {"Bytes": b"\x89PNG"}}),
    ("bedrock-runtime", "Converse", {"modelId": "amazon.nova-lite-v1:0",
                                     "messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
    ("bedrock-runtime", "InvokeModel", {"modelId": "amazon.titan-embed-text-v2:0", "body": b'{"inputText": "x"}'}),
    ("bedrock-runtime", "ApplyGuardrail", {"guardrailIdentifier": "g", "guardrailVersion": "1", "source": "INPUT",
                                           "content": [{"text": {"text": "x"}}]}),
    ("bedrock", "ListGuardrails", {}),
    ("translate", "TranslateText", {"Text": "hi", "SourceLanguageCode": "en", "TargetLanguageCode": "es"}),
    ("polly", "SynthesizeSpeech", {"Text": "hi", "OutputFormat": "mp3", "VoiceId": "Joanna"}),
    ("s3vectors", "QueryVectors", {"vectorBucketName": "vectors", "indexName": "documents", "topK": 3,
                                   "queryVector": {"float32": [0.5, 0.25]}}),
    ("sagemaker", "ListEndpoints", {}),
    ("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "e", "Body": b"{}"}),
    ("application-autoscaling", "DescribeScalableTargets", {"ServiceNamespace": "sagemaker"}),
    ("cloudwatch", "ListMetrics", {}),
    ("sts", "GetCallerIdentity", {}),
]


def sent_request(service: str, operation: str, params: dict):
    """What the SDK puts on the wire for this call (captured before sending; nothing listens)."""
    client = boto3.client(service, endpoint_url="http://127.0.0.1:4566", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(retries={"total_max_attempts": 1}))
    captured = {}

    def capture(request, **_):
        captured["request"] = request
        return AWSResponse(request.url, 599, {}, None)  # stop here; the call then fails, as intended

    client.meta.events.register_first("before-send", capture)
    try:
        getattr(client, xform_name(operation))(**params)
    except Exception:  # noqa: BLE001 -- the fake 599 answer
        pass
    return captured["request"]


@pytest.mark.parametrize("service,operation,params", CALLS, ids=[f"{s}.{o}" for s, o, _ in CALLS])
def test_the_sdks_request_is_recognised_verified_and_parsed_back(service, operation, params):
    sent = sent_request(service, operation, params)
    url = sent.url
    path_and_query = url.split("127.0.0.1:4566", 1)[1]
    path, _, query = path_and_query.partition("?")
    body = sent.body if isinstance(sent.body, bytes) else (sent.body or b"")
    if hasattr(body, "read"):
        body = body.read()
    body = body.encode() if isinstance(body, str) else body
    from urllib.parse import unquote

    headers = [(name, value.decode() if isinstance(value, bytes) else value) for name, value in sent.headers.items()]
    headers.append(("Host", "127.0.0.1:4566"))  # what the HTTP client adds (and the signature covers)
    request = request_from_scope(sent.method, unquote(path), query.encode(), headers, body, raw_path=path.encode())
    wire = Wire.recognise(request)
    assert wire.name == service
    scope = auth.verify(sent.method, url, request.headers, body, auth.family_of(wire.name, wire.protocol))
    assert (scope.access_key, scope.region) == ("test", "us-east-1")
    parsed_operation, parsed = wire.parse(request)
    assert parsed_operation.name == operation
    for key, value in params.items():
        got = parsed[key]
        assert (got.read() if hasattr(got, "read") else got) == value, key
