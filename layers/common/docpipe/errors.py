"""Errors a task raises. Their class name becomes the Step Functions error name (Lambda errorType)."""


class DocumentRejected(Exception):
    """Permanent: the document itself is unacceptable (empty, encrypted, over a cap...). Quarantined."""


class ExtractionFailed(Exception):
    """Permanent: the extraction engine could not read the document. Quarantined."""


class StillProcessing(Exception):
    """Transient: an asynchronous job has not finished yet; retried by the state machine."""
