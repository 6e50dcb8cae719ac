"""The function URL wrapper: AWS-style error codes an SDK parses, and nothing internal in a response body."""

import base64
import json
from types import SimpleNamespace

import pytest
from botocore.awsrequest import HeadersDict
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.parsers import create_parser
from pydantic import BaseModel, Field

from docpipe.http import function_url

CONTEXT = SimpleNamespace(aws_request_id="req-123")
SECRET = "password=hunter2 in /var/task/docpipe/logic/ask.py line 42"


class Question(BaseModel):
    question: str = Field(min_length=3)
    top_k: int = 5


def _url(handler, body, encoded=False):
    event = {"requestContext": {"http": {"method": "POST"}}, "isBase64Encoded": encoded,
             "body": base64.b64encode(body.encode()).decode() if encoded else body}
    response = function_url(handler, Question)(event, CONTEXT)
    parsed = create_parser("json").parse({"status_code": response["statusCode"], "body": response["body"].encode(),
                                          "headers": HeadersDict(response["headers"])}, None)
    return response, parsed


def _answer(request, context):
    return {"answer": f"asked {Question.model_validate(request).question}"}


def _raises(error):
    def handler(request, context):
        raise error
    return handler


def test_a_valid_request_is_answered_and_a_direct_invocation_passes_through():
    response, _ = _url(_answer, json.dumps({"question": "why?"}), encoded=True)
    assert response["statusCode"] == 200 and json.loads(response["body"]) == {"answer": "asked why?"}
    assert function_url(_answer, Question)({"question": "why?"}, CONTEXT) == {"answer": "asked why?"}
    with pytest.raises(RuntimeError):  # direct callers (Step Functions, the CLI) get Lambda's own error
        function_url(_raises(RuntimeError(SECRET)), Question)({"question": "why?"}, CONTEXT)


@pytest.mark.parametrize("body, encoded, message", [
    ("{broken", False, "The request body is not valid JSON."),
    ("%%%not base64", True, None),
    (json.dumps({"question": "no", "top_k": "hunter2"}), False,
     "question: String should have at least 3 characters; top_k: Input should be a valid integer, unable to parse "
     "string as an integer"),
    (json.dumps([1, 2]), False, "body: Input should be a valid dictionary or instance of Question"),
])
def test_bad_requests_are_validation_exceptions_naming_fields_not_values(body, encoded, message):
    event = {"requestContext": {}, "isBase64Encoded": encoded, "body": body}
    response = function_url(_answer, Question)(event, CONTEXT)
    parsed = create_parser("json").parse({"status_code": 400, "body": response["body"].encode(),
                                          "headers": HeadersDict(response["headers"])}, None)
    assert response["statusCode"] == 400 and parsed["Error"]["Code"] == "ValidationException"
    assert parsed["Error"]["Message"] == (message or "The request body is not valid JSON.")
    assert "hunter2" not in response["body"] and "pydantic" not in response["body"]
    assert response["headers"]["x-amzn-RequestId"] == "req-123"


@pytest.mark.parametrize("error, status, code", [
    (RuntimeError(SECRET), 500, "InternalServerException"),
    (ClientError({"Error": {"Code": "AccessDeniedException", "Message": SECRET}}, "InvokeModel"), 500,
     "InternalServerException"),
    (ClientError({"Error": {"Code": "ThrottlingException", "Message": SECRET}}, "InvokeModel"), 429,
     "ThrottlingException"),
    (EndpointConnectionError(endpoint_url=f"https://{SECRET}"), 503, "ServiceUnavailableException"),
])
def test_failures_answer_a_code_and_the_request_id_and_never_the_error(error, status, code):
    response, parsed = _url(_raises(error), json.dumps({"question": "why?"}))
    assert response["statusCode"] == status and parsed["Error"]["Code"] == code
    assert response["headers"]["x-amzn-ErrorType"] == code
    body = json.loads(response["body"])
    assert set(body) == {"__type", "message", "requestId"} and body["requestId"] == "req-123"
    for internal in ("hunter2", "/var/task", "Traceback", type(error).__name__, "AccessDenied", "InvokeModel"):
        assert internal not in response["body"], internal
    if status == 500:
        assert "req-123" in body["message"]
