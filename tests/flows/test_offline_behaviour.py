"""Properties of the offline pipeline that need its internals: exactly-once processing under
re-delivery, concurrency, fault injection and where handler logs go."""

import json
import threading

from docpipe_local.runtime import OfflineRuntime
from docpipe_local.trigger import s3_event
from tests.conftest import SAMPLES

from .targets import OfflineTarget


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
    first_invocation = len(offline.runtime.lambdas.invocations)
    arns = [arn for index in range(10) for arn in offline.start(data, f"concurrent-{index}.pdf")]
    results = offline.finish(arns)
    assert all(r.result["status"] == "SUCCEEDED" for r in results)
    validates = [i for i in offline.runtime.lambdas.invocations[first_invocation:] if i.function.endswith("ValidateFunction")]
    publishes = [i for i in offline.runtime.lambdas.invocations[first_invocation:] if i.function.endswith("PublishFunction")]
    # executions overlap: some document was validated before another one was published
    assert min(p.started for p in publishes) < max(v.started for v in validates)


def test_throttling_is_retried_by_the_state_machine(home):
    faults = "textract.DetectDocumentText=ThrottlingException@0.5"
    with OfflineRuntime(home=home, persist=False, faults=faults, fault_seed=3) as runtime:
        target = OfflineTarget(runtime)
        result = target.process((SAMPLES / "scanned_notice.pdf").read_bytes(), "throttled.pdf")
        assert result.result["status"] == "SUCCEEDED"
        assert runtime.faults.injected, "the seed should inject at least one throttle"
        failed = [e for e in result.history() if e["type"] == "TaskFailed"]
        assert any("ThrottlingException" in e["taskFailedEventDetails"]["error"] for e in failed)


def test_permanent_textract_errors_quarantine_with_textracts_words(home):
    with OfflineRuntime(home=home, persist=False,
                        faults="textract.DetectDocumentText=BadDocumentException@1") as runtime:
        result = OfflineTarget(runtime).process((SAMPLES / "site_photo.png").read_bytes(), "bad.png")
        assert result.result["status"] == "QUARANTINED"
        assert "BadDocumentException" in result.result["reason"]


def test_handler_logs_go_to_the_data_directory_with_the_execution_as_correlation_id(offline):
    result = offline.process((SAMPLES / "faq.md").read_bytes(), "logged.md")
    lines = [json.loads(line) for line in offline.runtime.log_path.read_text().splitlines()]
    mine = [line for line in lines if line.get("correlation_id") == result.execution_arn]
    assert {line["function_name"].rsplit("-", 1)[-1] for line in mine} >= {"ValidateFunction", "PublishFunction"}


def test_an_interrupted_run_resumes_on_the_next_start(home, tmp_path):
    from docpipe_local.documents import DocumentSession

    with OfflineRuntime(home=home) as runtime:
        # uploaded, but the process "dies" before any execution: no event was delivered
        runtime.s3.put_object(Bucket=runtime.bucket, Key=runtime.inbox_prefix + "orphan.txt",
                              Body=(SAMPLES / "inspection_notes.txt").read_bytes())
    with OfflineRuntime(home=home) as runtime:
        session = DocumentSession(runtime, tmp_path / "out")
        resumed = session.reconcile()
        assert [t.key for t in resumed] == [runtime.inbox_prefix + "orphan.txt"]
        report = session.finish(resumed[0], runtime.wait([resumed[0].arn])[resumed[0].arn])
        assert report.status == "SUCCEEDED"
        assert session.reconcile() == []
