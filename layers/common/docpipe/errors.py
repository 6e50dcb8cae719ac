"""Errors a task raises. Their class name becomes the Step Functions error name (Lambda errorType)."""

import json


class DocumentRejected(Exception):
    """Permanent: the document itself is unacceptable (empty, encrypted, over a cap...). Quarantined."""


class ExtractionFailed(Exception):
    """Permanent: the extraction engine could not read the document. Quarantined."""


class StillProcessing(Exception):
    """Transient: an asynchronous job has not finished yet; retried by the state machine."""


PERMANENT = {"DocumentRejected", "ExtractionFailed", "GuardrailBlocked"}


def reason_from_error(error: dict | None) -> str:
    """Turn a Step Functions error (Error + Cause) into one sentence: the task's message, not its trace."""
    if not error:
        return "the pipeline stopped without an error record"
    name, cause = error.get("Error", "Error"), error.get("Cause") or ""
    try:
        message = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        message = cause
    if name in PERMANENT:
        return str(message)
    return f"{name} after retries: {message}".strip().rstrip(":")
