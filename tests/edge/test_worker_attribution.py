"""Calls a Lambda worker makes through the edge are put on its function's account by the IAM recorder, as an
in-process handler's are: the worker signs with a session token naming its function."""

import boto3
import pytest

from docpipe_local.iam.recorder import RECORDING
from docpipe_local.lambda_workers import ACCESS_KEY, SECRET_KEY, session_token_for
from tests.edge.conftest import BUCKET
from tests.events.served import process_mode_runtime

FUNCTION = "ValidateFunction"


@pytest.fixture
def recording(monkeypatch):
    """The process's recording, on, and left as it was: these calls are no evidence for the IAM contract."""
    monkeypatch.setattr(RECORDING, "enabled", True)
    calls, invoked = dict(RECORDING.calls), set(RECORDING.invoked)
    yield RECORDING
    with RECORDING._lock:
        RECORDING.calls.clear()
        RECORDING.calls.update(calls)
        RECORDING.invoked.clear()
        RECORDING.invoked.update(invoked)


def s3_signed_as(url: str, session_token: str | None):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, aws_session_token=session_token)


def recorded(recording, key: str) -> list:
    return [call for call in recording.calls if call.operation == "PutObject" and call.resource.endswith(key)]


def test_a_workers_s3_call_over_the_edge_is_recorded_under_its_function(tmp_path, recording):
    with process_mode_runtime(tmp_path / "home") as (_, url):
        s3_signed_as(url, session_token_for(FUNCTION)).put_object(Bucket=BUCKET, Key="notes/by-worker.txt",
                                                                   Body=b"from a worker")
        s3_signed_as(url, None).put_object(Bucket=BUCKET, Key="notes/by-client.txt", Body=b"from a client")
    by_worker = recorded(recording, "notes/by-worker.txt")
    assert [(call.function, call.action) for call in by_worker] == [(FUNCTION, "s3:PutObject")]
    assert FUNCTION in recording.invoked
    assert recorded(recording, "notes/by-client.txt") == []  # a client that is not a worker is no function
