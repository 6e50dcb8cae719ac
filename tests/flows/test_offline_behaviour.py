"""Properties of the offline pipeline that need its internals: exactly-once processing under
re-delivery, concurrency, fault injection and where handler logs go."""

import json
import threading

import pytest

from docpipe_local.trigger import s3_event
from tests.conftest import SAMPLES, pdf_of

pytestmark = pytest.mark.offline_only(
    "drives the offline runtime's internals (re-delivered EventBridge events, the in-process Lambda adapter, "
    "the data directory's log file), which a deployed stack does not expose")


def _publishes(target, doc_id=None) -> int:
    return sum(1 for i in target.runtime.lambdas.invocations if i.function.endswith("PublishFunction"))


def test_a_redelivered_event_is_not_processed_twice(offline):
    data = (SAMPLES / "inspection_notes.txt").read_bytes()
    key = offline.inbox + "redelivered.txt"
    response = offline.s3.put_object(Bucket=offline.bucket, Key=key, Body=data)
    event = s3_event("Object Created", offline.bucket, key, size=len(data), etag=response["ETag"],
                     version_id=response["VersionId"], reason="PutObject")
    before = _publishes(offline)
    first = offline.finish(offline.runtime.emit(event))[0]
    again = offline.finish(offline.runtime.emit(event) + offline.runtime.emit(event))
    assert first.result["status"] == "SUCCEEDED"
    assert [r.result["status"] for r in again] == ["DUPLICATE", "DUPLICATE"]
    assert {r.result["doc_id"] for r in again} == {first.result["doc_id"]}
    assert _publishes(offline) - before == 1


def test_concurrent_redeliveries_claim_the_document_once(offline):
    data = (SAMPLES / "faq.md").read_bytes()
    key = offline.inbox + "raced.md"
    response = offline.s3.put_object(Bucket=offline.bucket, Key=key, Body=data)
    event = s3_event("Object Created", offline.bucket, key, size=len(data), etag=response["ETag"],
                     version_id=response["VersionId"], reason="PutObject")
    arns = [arn for _ in range(4) for arn in offline.runtime.emit(event)]
    statuses = sorted(r.result["status"] for r in offline.finish(arns))
    assert statuses == ["DUPLICATE", "DUPLICATE", "DUPLICATE", "SUCCEEDED"]


def test_ten_documents_run_concurrently(offline, monkeypatch):
    """Each execution's first task waits at a barrier until all ten are inside it: they can only pass (and
    succeed) if the ten executions run at once; one run after another would break the barrier."""
    validate = next(f for f in offline.runtime.lambdas.functions.values() if f.logical_id == "ValidateFunction")
    all_ten_inside = threading.Barrier(10, timeout=1800)  # the timeouts here only bound a hang
    load = validate.load

    def load_behind_the_barrier():
        handler = load()

        def validate_once_all_ten_are_in(event, context):
            all_ten_inside.wait()
            return handler(event, context)
        return validate_once_all_ten_are_in
    monkeypatch.setattr(validate, "load", load_behind_the_barrier)

    data = pdf_of(["Harbor Bridge, span 3: the bearings were inspected on 4 March and found sound."])
    arns = [arn for index in range(10) for arn in offline.start(data, f"concurrent-{index}.pdf")]
    results = offline.finish(arns, timeout=3600)
    assert all(r.result["status"] == "SUCCEEDED" for r in results), [r.result.get("reason") for r in results]
    assert not all_ten_inside.broken and all_ten_inside.n_waiting == 0


def test_handler_logs_go_to_the_data_directory_with_the_execution_as_correlation_id(offline):
    result = offline.process((SAMPLES / "faq.md").read_bytes(), "logged.md")
    lines = [json.loads(line) for line in offline.runtime.log_path.read_text().splitlines()]
    mine = [line for line in lines if line.get("correlation_id") == result.execution_arn]
    assert {line["function_name"].rsplit("-", 1)[-1] for line in mine} >= {"ValidateFunction", "PublishFunction"}
