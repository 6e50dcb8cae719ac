"""The reason a person reads when a document is quarantined or a language fails: words, never a class name."""

import json
import re

import pytest

from docpipe.errors import reason_from_error

CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]+(Error|Exception)\b|Traceback")


def lambda_error(error_type: str, message: str, request_id: str = "6f1c-req") -> dict:
    """What a Catch receives from a Lambda task whose handler raised (Lambda's own error payload)."""
    cause = {"errorMessage": message, "errorType": error_type, "requestId": request_id,
             "stackTrace": ['  File "app.py", line 1, in handler\n']}
    return {"Error": error_type, "Cause": json.dumps(cause)}


@pytest.mark.parametrize("error,expected", [
    (lambda_error("DocumentRejected", "the PDF has 5000 pages, over the cap of 3000"),
     r"^the PDF has 5000 pages, over the cap of 3000$"),
    (lambda_error("AttributeError", "'PdfImage' object has no attribute 'get_pos'"),
     r"^docpipe failed on this document \(an internal error, not a rule the file broke\); the function log has "
     r"the details under request 6f1c-req$"),
    (lambda_error("PdfiumError", "Failed to load page."), r"^docpipe failed on this document .* request 6f1c-req"),
    (lambda_error("RuntimeError", "No text returned"), r"^docpipe failed on this document"),
    (lambda_error("ThrottlingException", "An error occurred (ThrottlingException) when calling the "
                  "DetectDocumentText operation (reached max retries: 4): Rate exceeded"),
     r"^the AWS service kept throttling the requests, still after the state machine's retries \(Rate exceeded\); "
     r"nothing is known to be wrong with the file: send it again later$"),
    (lambda_error("InternalServerException", "An error occurred (InternalServerException) when calling the "
                  "Converse operation: boom"), r"^the AWS service kept answering with a server error"),
    (lambda_error("UnsupportedLanguagePairException", "An error occurred (UnsupportedLanguagePairException) when "
                  "calling the TranslateText operation: Unsupported language pair: en to xx."),
     r"^the TranslateText call was refused: Unsupported language pair: en to xx\.$"),
    (lambda_error("TranslationUnavailable", "Translating en to de is not installed offline: no Apertium language "
                  "pair on this machine covers it"), r"^Translating en to de is not installed offline: no Apertium"),
    ({"Error": "States.Timeout", "Cause": "Task timed out"}, r"^a step ran past its time limit"),
    ({"Error": "Lambda.ServiceException", "Cause": "Lambda was unable to run"}, r"^Lambda kept failing"),
    (None, r"^the pipeline stopped without an error record$"),
])
def test_reasons_are_sentences_without_class_names(error, expected):
    reason = reason_from_error(error)
    assert re.search(expected, reason), reason
    assert not CLASS_NAME.search(reason), reason


def test_the_log_reference_in_a_reason_finds_the_traceback(monkeypatch):
    """The request id a reason names is on the log line that holds the failure's traceback; a refusal the
    reason already explains is not logged as a failure."""
    import io
    from types import SimpleNamespace

    from pydantic import BaseModel

    from docpipe.errors import DocumentRejected
    from docpipe.observability import logger
    from docpipe.task import lambda_task

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    class Payload(BaseModel):
        execution_id: str
        fail: str

    def logic(payload: Payload):
        raise {"bug": KeyError("pages"), "refusal": DocumentRejected("the file is empty (0 bytes)")}[payload.fail]

    handler = lambda_task("extract", Payload, logic)
    context = SimpleNamespace(function_name="extract", memory_limit_in_mb=128, aws_request_id="req-42",
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:extract")
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        for fail in ("bug", "refusal"):
            with pytest.raises(Exception):
                handler({"execution_id": "exec-1", "fail": fail}, context)
    finally:
        logger.registered_handler.setStream(previous)
    failures = [json.loads(line) for line in stream.getvalue().splitlines() if '"task failed"' in line]
    assert len(failures) == 1
    assert failures[0]["function_request_id"] == "req-42" and failures[0]["correlation_id"] == "exec-1"
    assert failures[0]["error"] == "KeyError" and "Traceback" in failures[0]["exception"]
    reason = reason_from_error(lambda_error("KeyError", "'pages'", request_id=context.aws_request_id))
    assert reason.endswith("under request req-42")
