"""Attribution: a call is the function's when its handler (or work it submitted to a pool) makes it; not when
the runtime, a test or an emulator answering a call makes it."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from docpipe_local.emulators.base import Emulator, EmulatorHub
from docpipe_local.iam import recorder
from docpipe_local.iam.recorder import RECORDING, Recording, calling


class _TranslateReadingS3(Emulator):
    """An emulator that reads S3 to answer, as the Textract stand-in does."""

    service = "translate"

    def TranslateText(self, params: dict) -> dict:
        boto3.client("s3", region_name="us-east-1").get_object(Bucket="docs-bucket", Key="terms.csv")
        return {"TranslatedText": params["Text"], "SourceLanguageCode": "en", "TargetLanguageCode": "es"}


@pytest.fixture
def recording(monkeypatch):
    fresh = Recording()
    monkeypatch.setattr(recorder, "RECORDING", fresh)
    recorder.install()  # before the mock: its start gives boto3 the session that carries the hooks
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="docs-bucket")
        boto3.client("s3", region_name="us-east-1").put_object(Bucket="docs-bucket", Key="terms.csv", Body=b"x")
        yield fresh


def _calls(recording: Recording) -> set[tuple[str, str, str]]:
    return {(c.function, c.action, c.resource) for c in recording.calls}


def test_calls_inside_a_handler_and_its_pool_work_are_the_functions(recording):
    from docpipe import workers

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.get_object(Bucket="docs-bucket", Key="terms.csv")  # a test's own call: nobody's
    with calling("ReaderFunction"):
        s3.get_object(Bucket="docs-bucket", Key="terms.csv")
        workers.map_in_order("iam-test", 2, lambda key: s3.put_object(Bucket="docs-bucket", Key=key, Body=b"y"), ["p1", "p2"])
    other = threading.Thread(target=lambda: s3.put_object(Bucket="docs-bucket", Key="other", Body=b"z"))
    other.start()  # a thread of its own: no caller
    other.join()
    assert _calls(recording) == {("ReaderFunction", "s3:GetObject", "arn:aws:s3:::docs-bucket/terms.csv"),
                                 ("ReaderFunction", "s3:PutObject", "arn:aws:s3:::docs-bucket/p1"),
                                 ("ReaderFunction", "s3:PutObject", "arn:aws:s3:::docs-bucket/p2")}
    assert recording.invoked == {"ReaderFunction"}


def test_what_an_emulator_does_to_answer_is_not_the_callers(recording):
    with EmulatorHub() as hub:
        hub.register(_TranslateReadingS3())
        with calling("TranslateFunction"):
            boto3.client("translate", region_name="us-east-1").translate_text(
                Text="hello", SourceLanguageCode="en", TargetLanguageCode="es")
            boto3.client("s3", region_name="us-east-1").head_object(Bucket="docs-bucket", Key="terms.csv")  # caller restored
    assert _calls(recording) == {("TranslateFunction", "translate:TranslateText", "*"),
                                 ("TranslateFunction", "s3:GetObject", "arn:aws:s3:::docs-bucket/terms.csv")}
    assert [c.operation for c in recording.calls if c.action == "s3:GetObject"] == ["HeadObject"]


def test_an_operation_without_a_mapping_is_recorded_as_an_error(recording):
    with calling("Lister"):
        boto3.client("s3", region_name="us-east-1").list_buckets()
    (call,) = recording.calls
    assert call.error and "s3.ListBuckets has no IAM mapping" in call.error


def test_the_process_wide_recording_is_left_alone(recording):
    assert recording is not RECORDING
