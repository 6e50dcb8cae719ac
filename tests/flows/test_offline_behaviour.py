"""Properties of the offline pipeline that need its internals: exactly-once processing under
re-delivery, concurrency, fault injection and where handler logs go."""

import json
import threading

from docpipe_local.trigger import s3_event
from tests.conftest import SAMPLES


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


def test_ten_documents_run_concurrently(offline):
    data = (SAMPLES / "bridge_report.pdf").read_bytes()
    arns = [arn for index in range(10) for arn in offline.start(data, f"concurrent-{index}.pdf")]
    results = offline.finish(arns)
    assert all(r.result["status"] == "SUCCEEDED" for r in results)
    # the executions' lifetimes overlap: count how many were running at once
    spans = [offline.sfn.describe_execution(executionArn=r.execution_arn) for r in results]
    edges = sorted([(s["startDate"], 1) for s in spans] + [(s["stopDate"], -1) for s in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak >= 5, f"at most {peak} executions ran at once"


def test_handler_logs_go_to_the_data_directory_with_the_execution_as_correlation_id(offline):
    result = offline.process((SAMPLES / "faq.md").read_bytes(), "logged.md")
    lines = [json.loads(line) for line in offline.runtime.log_path.read_text().splitlines()]
    mine = [line for line in lines if line.get("correlation_id") == result.execution_arn]
    assert {line["function_name"].rsplit("-", 1)[-1] for line in mine} >= {"ValidateFunction", "PublishFunction"}
