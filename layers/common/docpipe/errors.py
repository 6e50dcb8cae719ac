"""Errors a task raises, and the sentence a person reads when one ends a document or a language.

A task's exception class name becomes the Step Functions error name (Lambda's errorType). The state
machines retry only the transient names below (throttling, timeouts, server errors; the ASL Retry lists are
checked against them by tests/template/test_retry_policy.py); everything else is caught at once, and
`reason_from_error` turns it into words: the task's own message for docpipe's refusals, the service's
message for an AWS refusal, and for anything else (a bug) that docpipe failed, with where the log is.
"""

import json
import re


class DocumentRejected(Exception):
    """Permanent: the document itself is unacceptable (empty, encrypted, over a cap...). Quarantined."""


class ExtractionFailed(Exception):
    """Permanent: the extraction engine could not read the document. Quarantined."""


class TranslationUnavailable(Exception):
    """Permanent for one language: the translation engine at hand has no route for the pair. Only its branch
    fails."""


# Offline, Translate answers a pair AWS supports but no installed engine covers with this code (not
# UnsupportedLanguagePairException: AWS does not refuse the pair); its message is written for a person.
OFFLINE_ENGINE_UNAVAILABLE = "OfflineEngineUnavailable"


# Errors whose message is already written for a person (raised by docpipe's logic on purpose).
READABLE = {"DocumentRejected", "ExtractionFailed", "GuardrailBlocked", "NoVoice", "EndpointCapacityTimeout",
            "TranslationUnavailable"}

# What the state machines retry, by family: AWS's throttling and server-error codes of the services the
# tasks call (Textract, Bedrock, Translate, Polly, S3, DynamoDB, S3 Vectors), botocore's network errors, and
# Lambda's own service errors. A deterministic failure (a parser, a bad document, a bug) is none of these.
THROTTLING = ("ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException",
              "TooManyRequestsException", "RequestLimitExceeded", "SlowDown")
SERVER_ERRORS = ("InternalServerError", "InternalServerException", "InternalFailure", "InternalError",
                 "ServiceUnavailableException", "ServiceUnavailable", "ServiceFailureException",
                 "ModelNotReadyException")
TIMEOUTS = ("RequestTimeoutException", "ModelTimeoutException", "ConnectTimeoutError", "ReadTimeoutError",
            "EndpointConnectionError")
LAMBDA_SERVICE = ("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                  "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException")
TRANSIENT = frozenset(THROTTLING + SERVER_ERRORS + TIMEOUTS)

_FAMILIES = ((THROTTLING, "the AWS service kept throttling the requests"),
             (SERVER_ERRORS, "the AWS service kept answering with a server error"),
             (TIMEOUTS, "the calls kept timing out or could not connect"),
             (LAMBDA_SERVICE, "Lambda kept failing to run the step's function"))
_CLIENT_ERROR = re.compile(r"An error occurred \((?P<code>[^)]*)\)(?: when calling the (?P<op>\w+) operation)?"
                           r"(?: \(reached max retries: \d+\))?: (?P<message>.*)", re.S)


def internal_failure(what: str, execution_id: str) -> ExtractionFailed:
    """A permanent failure that is docpipe's, not the file's: say so, and where the details are logged."""
    return ExtractionFailed(f"docpipe failed on this document: {what} (an internal error, not a rule the file "
                            f"broke); the function log has the details under execution {_short(execution_id)}")


def reason_from_error(error: dict | None) -> str:
    """One sentence from a Step Functions error (Error + Cause): no class names, no traceback."""
    if not error:
        return "the pipeline stopped without an error record"
    name, cause = error.get("Error") or "", error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    details = parsed if isinstance(parsed, dict) else {}
    message = str(details.get("errorMessage", cause)).strip()
    if name in READABLE:
        return message
    reference = f"request {details['requestId']}" if details.get("requestId") else "this execution"
    aws = _CLIENT_ERROR.match(message)
    said = aws.group("message").strip() if aws else message
    for names, what in _FAMILIES:
        if name in names:
            return (f"{what}, still after the state machine's retries ({said or 'no message'}); nothing is known to "
                    "be wrong with the file: send it again later")
    if name in ("States.Timeout", "Sandbox.Timedout"):
        return ("a step ran past its time limit: the document may be too large or complex to process in time "
                f"(the function log has the details under {reference})")
    if aws:
        operation = f"the {aws.group('op')} call" if aws.group("op") else "an AWS call"
        return f"{operation} was refused: {said}"
    return (f"docpipe failed on this document (an internal error, not a rule the file broke); the function log "
            f"has the details under {reference}")


def _short(execution_id: str) -> str:
    """An execution's name: the last part of its ARN, what the logs and the console show."""
    return execution_id.rsplit(":", 1)[-1]
