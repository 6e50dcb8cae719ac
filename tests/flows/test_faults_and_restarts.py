"""Flows that need a runtime of their own: injected faults, other settings, a restart of the runtime."""

from docpipe_local.runtime import OfflineRuntime
from tests.conftest import SAMPLES

from .targets import OfflineTarget


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
