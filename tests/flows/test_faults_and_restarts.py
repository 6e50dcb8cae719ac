"""Flows that need a runtime of their own: injected faults, other settings, a restart of the runtime, and
executions that do not own the document they are about."""

import hashlib
import json

import pytest

from docpipe_local.runtime import OfflineRuntime
from docpipe_local.trigger import s3_event
from tests.conftest import SAMPLES

from .targets import OfflineTarget

pytestmark = pytest.mark.offline_only("each test starts an offline runtime of its own: injected faults, other "
                                      "settings, restarts, or handlers invoked out of turn")


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


def test_texts_over_the_service_limits_take_the_long_paths(home):
    # lower the per-request limits so the summary crosses them: split translation, asynchronous speech
    environment = {"DOCPIPE_TRANSLATE_MAX_BYTES": "120", "DOCPIPE_POLLY_SYNC_MAX_CHARS": "60",
                   "DOCPIPE_POLLY_POLL_SECONDS": "1", "DOCPIPE_TARGET_LANGUAGES": "es"}
    with OfflineRuntime(home=home, persist=False, environment=environment) as runtime:
        target = OfflineTarget(runtime)
        result = target.process((SAMPLES / "faq.md").read_bytes(), "faq-long-paths.md")
        manifest = result.manifest()
        translate = next(s for s in manifest["stages"] if s["name"] == "translate:es")
        speak = next(s for s in manifest["stages"] if s["name"] == "speak:es")
        assert translate["detail"]["requests"] > 1
        assert speak["detail"]["api"] == "task"
        assert {"WaitForSpeech", "PollSpeech"} <= set(result.states_entered())
        audio = target.read(f"out/{result.result['doc_id']}/audio.es.mp3")
        assert audio[:3] == b"ID3" or (audio[0] == 0xFF and audio[1] & 0xE0 == 0xE0)  # ID3 tag or MPEG frame sync


def _ledger(runtime, doc_id: str) -> dict:
    return runtime.dynamodb.get_item(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                     Key={"doc_id": {"S": doc_id}}, ConsistentRead=True)["Item"]


def _publish_input(result) -> dict:
    """The payload the state machine gave Publish in this execution."""
    scheduled = [json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"] for e in result.history()
                 if e["type"] == "TaskScheduled" and "PublishFunction" in e["taskScheduledEventDetails"]["parameters"]]
    return scheduled[-1]


def test_a_redelivered_event_whose_validate_fails_does_not_quarantine_a_finished_document(home):
    with OfflineRuntime(home=home, persist=False) as runtime:
        target = OfflineTarget(runtime)
        done = target.process((SAMPLES / "inspection_notes.txt").read_bytes(), "finished.txt")
        doc_id, manifest_key = done.result["doc_id"], done.result["manifest"]
        manifest, ledger_before = target.read(manifest_key), _ledger(runtime, doc_id)
        head = runtime.s3.head_object(Bucket=runtime.bucket, Key=runtime.inbox_prefix + "finished.txt")
        event = s3_event("Object Created", runtime.bucket, runtime.inbox_prefix + "finished.txt",
                         size=head["ContentLength"], etag=head["ETag"], version_id=head["VersionId"],
                         reason="PutObject")
        # what the state machine's Catch hands Quarantine when a re-delivery's Validate gave up
        failed = {**event, "error": {"Error": "ServiceUnavailableException", "Cause": "S3 was unavailable"}}
        result = runtime.invoke("QuarantineFunction", {"execution_id": "arn:aws:states:redelivered", "state": failed})
        assert result["status"] == "DUPLICATE" and result["doc_id"] == doc_id
        assert target.read(manifest_key) == manifest
        assert _ledger(runtime, doc_id) == ledger_before
        quarantined = runtime.s3.list_objects_v2(Bucket=runtime.bucket, Prefix=f"quarantine/{doc_id}/")
        assert quarantined.get("KeyCount", 0) == 0


def test_a_late_execution_without_the_claim_publishes_nothing(home):
    with OfflineRuntime(home=home, persist=False) as runtime:
        target = OfflineTarget(runtime)
        done = target.process((SAMPLES / "faq.md").read_bytes(), "owned.md")
        doc_id, manifest_key = done.result["doc_id"], done.result["manifest"]
        manifest, ledger_before = target.read(manifest_key), _ledger(runtime, doc_id)
        late = _publish_input(done)
        late["execution_id"] = late["state"]["execution_id"] = "arn:aws:states:late-duplicate"
        assert runtime.invoke("PublishFunction", late)["status"] == "DUPLICATE"
        # the owner's own Publish retried after it finished, and its Catch to Quarantine: no change either
        retried = _publish_input(done)
        assert runtime.invoke("PublishFunction", retried)["status"] == "DUPLICATE"
        own_catch = {**retried["state"], "error": {"Error": "Lambda.ServiceException", "Cause": "lost response"}}
        assert runtime.invoke("QuarantineFunction", {"execution_id": retried["execution_id"],
                                                     "state": own_catch})["status"] == "DUPLICATE"
        assert target.read(manifest_key) == manifest
        assert _ledger(runtime, doc_id) == ledger_before


def _vector_index(runtime):
    import boto3

    return (boto3.client("s3vectors", region_name=runtime.s3.meta.region_name),
            {"vectorBucketName": runtime.environment["DOCPIPE_VECTOR_BUCKET"],
             "indexName": runtime.environment["DOCPIPE_VECTOR_INDEX"]})


def test_content_already_in_the_inbox_is_resumed_not_uploaded_again(home, tmp_path):
    from docpipe_local.documents import DocumentSession

    source = tmp_path / "notes.txt"
    source.write_bytes((SAMPLES / "inspection_notes.txt").read_bytes())
    with OfflineRuntime(home=home) as runtime:
        session = DocumentSession(runtime, tmp_path / "out")
        # the process "dies" after its upload was saved, its execution lost with it
        key = session.inbox_key(source)
        runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=source.read_bytes(),
                              Metadata={"sha256": hashlib.sha256(source.read_bytes()).hexdigest()})
        # and a killed Index stage left vectors of a document the saved ledger never heard of
        s3vectors, index = _vector_index(runtime)
        ghost = {"key": "ghost-0123456789abcdef#00000", "data": {"float32": [0.1] * 1024},
                 "metadata": {"doc_id": "ghost-0123456789abcdef"}}
        s3vectors.put_vectors(**index, vectors=[ghost])
    with OfflineRuntime(home=home) as runtime:
        session = DocumentSession(runtime, tmp_path / "out")
        resumed = session.reconcile()
        assert [t.key for t in resumed] == [key]
        s3vectors, index = _vector_index(runtime)
        assert s3vectors.list_vectors(**index)["vectors"] == []
        assert session.submit(source) == []  # the same bytes: the resumed execution is the one
        assert resumed[0].source == str(source)
        report = session.finish(resumed[0], runtime.wait([resumed[0].arn])[resumed[0].arn])
        assert report.status == "SUCCEEDED"
        assert {v["key"].rpartition("#")[0] for v in s3vectors.list_vectors(**index)["vectors"]} == {report.doc_id}
        versions = runtime.s3.list_object_versions(Bucket=runtime.bucket, Prefix=key)["Versions"]
        assert len(versions) == 1
        # done: answered from its manifest; only --force processes it again, as a new version
        cached = session.submit(source)
        assert cached[0].cached["doc_id"] == report.doc_id
        forced = DocumentSession(runtime, tmp_path / "out", force=True).submit(source)
        assert forced[0].arn
        assert len(runtime.s3.list_object_versions(Bucket=runtime.bucket, Prefix=key)["Versions"]) == 2
        runtime.wait([forced[0].arn])


def test_a_submitted_document_is_tracked_by_the_version_it_uploaded(home, tmp_path):
    # another writer puts the same key while the upload's event is on its way: the session still follows the
    # version it wrote (the one its execution processes), not whatever the key holds a moment later
    from docpipe_local.documents import DocumentSession

    source = tmp_path / "notes.txt"
    source.write_bytes((SAMPLES / "inspection_notes.txt").read_bytes())
    with OfflineRuntime(home=home) as runtime:
        session = DocumentSession(runtime, tmp_path / "out")
        key, emit = session.inbox_key(source), runtime.emit

        def emit_then_overwritten(event: dict) -> list[str]:
            arns = emit(event)
            runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=b"a newer text, sent by no event")
            return arns

        runtime.emit = emit_then_overwritten
        tracked = session.submit(source)
        runtime.emit = emit
        versions = runtime.s3.list_object_versions(Bucket=runtime.bucket, Prefix=key)["Versions"]
        ours = next(v["VersionId"] for v in versions if not v["IsLatest"])
        assert tracked[0].version_id == ours
        started = json.loads(runtime.sfn.describe_execution(executionArn=tracked[0].arn)["input"])
        assert started["detail"]["object"]["version-id"] == ours
        assert runtime.wait([tracked[0].arn])[tracked[0].arn].status == "SUCCEEDED"


def test_an_inbox_object_whose_ledger_item_has_no_status_yet_is_not_taken_for_done(home, tmp_path):
    # moto's UpdateItem stores the key before it sets a claim's attributes, so a read in between sees an item with
    # a doc_id and nothing else: no outcome, so its event is delivered again (this crashed `docpipe run` once)
    from docpipe.ids import doc_id_for
    from docpipe_local.documents import DocumentSession

    source = tmp_path / "notes.txt"
    source.write_bytes((SAMPLES / "inspection_notes.txt").read_bytes())
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    with OfflineRuntime(home=home) as runtime:
        session = DocumentSession(runtime, tmp_path / "out")
        key = session.inbox_key(source)
        version = runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=source.read_bytes(),
                                        Metadata={"sha256": sha256})["VersionId"]
        doc_id = doc_id_for(runtime.bucket, key, version, sha256)
        runtime.dynamodb.put_item(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                  Item={"doc_id": {"S": doc_id}})
        tracked = session.submit(source)
        assert len(tracked) == 1 and tracked[0].arn and tracked[0].version_id == version
        assert tracked[0].cached is None
        started = json.loads(runtime.sfn.describe_execution(executionArn=tracked[0].arn)["input"])
        assert started["detail"]["object"]["version-id"] == version
        runtime.sfn.stop_execution(executionArn=tracked[0].arn)  # the half-written claim never completes here
