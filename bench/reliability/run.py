"""bench/reliability: 100 documents through the offline pipeline with 30% of every AI-service call throttled
and 10% of the upload events delivered twice: every document must end with exactly one outcome.

    .venv/bin/python bench/reliability/run.py [--documents 100] [--throttle 0.3] [--redeliver 0.1] [--seed 7]

The documents are the shipped text, Markdown and HTML samples and the 4-page born-digital report, renamed
(doc-000-faq.md, ...), uploaded the way `docpipe run` uploads them (DocumentSession) and all in flight at
once. Throttling (ThrottlingException) is injected on every call to Textract, Bedrock (embeddings, Converse,
guardrails), Translate and Polly (the emulators' fault injection, as `--faults` / DOCPIPE_FAULTS does).
Half of the re-delivered events arrive while their document is in flight, half after it finished.

Each sample is first processed once, unmeasured and without faults (`--cold` skips this): the copies'
embeddings and summaries then come from docpipe's caches, as for any unchanged content, so the run measures
claims, retries and orchestration rather than 100 generations queued on the local model (about 30 minutes).

The deployed retry policy is kept (which errors are retried, how many times); only its sleeps are shortened
offline, in the definition this run creates (IntervalSeconds 1, BackoffRate 1, MaxDelaySeconds 1): the
deployed 2-30 s backoffs would make the run wait, not work. Nothing deployed changes.

Checks, from the ledger, the inbox and every execution: one outcome per document (SUCCEEDED or QUARANTINED),
none lost, none processed twice (one ledger entry, one object version and one execution with an outcome per
document; every other execution ends DUPLICATE). Prints the figures (outcomes, quarantine reasons, faults
injected per service, state-machine retries, wall time) and exits 1 when a check fails.

Offline, an emulated call's error reaches the handler on its first attempt: the emulators answer at
botocore's before-call, which skips the SDK's own retry loop (adaptive mode, 5 attempts, deployed). So every
throttle here goes to the state machine's Retry, and a task making many calls can run out of attempts: such
a document is QUARANTINED with a reason saying to send it again, and is counted, not hidden.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
CORPUS = ["faq.md", "inspection_notes.txt", "press_release.html", "scanned_letter.txt", "scanned_notice.txt",
          "bridge_report.pdf"]
AI_SERVICES = ["textract", "bedrock-runtime", "translate", "polly"]


def throttling(rate: float) -> str:
    return "; ".join(f"{service}.*=ThrottlingException@{rate}" for service in AI_SERVICES)


def make_corpus(folder: Path, count: int) -> list[Path]:
    files = []
    for number in range(count):
        sample = SAMPLES / CORPUS[number % len(CORPUS)]
        files.append(folder / f"doc-{number:03d}-{sample.name}")
        shutil.copy(sample, files[-1])
    return files


def short_retry_sleeps(runtime) -> None:
    """The document pipeline with every Retry's sleep cut to at most 1 s (same errors, same attempts)."""
    def shorten(states: dict) -> None:
        for state in states.values():
            for retrier in state.get("Retry", []):
                retrier.update(IntervalSeconds=1, BackoffRate=1.0, MaxDelaySeconds=1)
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    shorten(state[key]["States"])

    for logical_id, arn in runtime.state_machines.items():
        definition = json.loads(runtime.definition(logical_id))
        shorten(definition["States"])
        runtime.sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))


def warm_up(runtime, work: Path) -> None:
    """Each sample once, without faults and unmeasured: the copies' embeddings and summaries then come from
    docpipe's caches, as for any unchanged content, instead of 100 generations queued on the local model."""
    from docpipe_local.documents import DocumentSession

    faults, runtime.faults.faults = runtime.faults.faults, []
    session = DocumentSession(runtime, work / "warm-out", languages="es")
    arns = [t.arn for name in CORPUS for t in session.submit(SAMPLES / name)]
    runtime.wait(arns, timeout=3600)
    runtime.faults.faults = faults


def redeliver(runtime, key: str) -> list[str]:
    """Deliver the S3 event of the inbox object's current version again, as EventBridge may."""
    from docpipe_local.trigger import s3_event

    head = runtime.s3.head_object(Bucket=runtime.bucket, Key=key)
    return runtime.emit(s3_event("Object Created", runtime.bucket, key, size=head["ContentLength"],
                                 etag=head["ETag"], version_id=head.get("VersionId"), reason="PutObject"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--throttle", type=float, default=0.3, help="share of AI-service calls throttled")
    parser.add_argument("--redeliver", type=float, default=0.1, help="share of upload events delivered twice")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cold", action="store_true",
                        help="skip the warm-up: every copy's summary is generated by the local model (~30 min)")
    args = parser.parse_args()

    from docpipe_local.documents import DocumentSession
    from docpipe_local.runtime import OfflineRuntime

    work = Path(tempfile.mkdtemp(prefix="docpipe-reliability-"))
    (work / "docs").mkdir()
    files = make_corpus(work / "docs", args.documents)
    chosen = random.Random(args.seed).sample(range(len(files)), round(len(files) * args.redeliver))
    early, late = set(chosen[::2]), set(chosen[1::2])
    try:
        with OfflineRuntime(home=work / "home", persist=False, faults=throttling(args.throttle),
                            fault_seed=args.seed) as runtime:
            short_retry_sleeps(runtime)
            if not args.cold:
                warm_up(runtime, work)
            session = DocumentSession(runtime, work / "out", languages="es")
            started = time.monotonic()
            tracked, duplicates = [], []
            for number, path in enumerate(files):
                tracked += session.submit(path)
                if number in early:  # while the first delivery's execution is in flight
                    duplicates += redeliver(runtime, session.inbox_key(path))
            executions = runtime.wait([t.arn for t in tracked], timeout=3600)
            for number in sorted(late):  # after the document finished
                duplicates += redeliver(runtime, session.inbox_key(files[number]))
            redelivered = runtime.wait(duplicates, timeout=3600)
            wall = time.monotonic() - started
            figures = measure(runtime, session, files, tracked, executions, redelivered)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures.update(documents=len(files), redelivered_events=len(chosen), throttle=args.throttle,
                   wall_seconds=round(wall, 1), documents_per_minute=round(len(files) / wall * 60, 1))
    print(json.dumps(figures, indent=2))
    failures = [name for name, ok in [
        ("one outcome per document", figures["outcomes"] == len(files)),
        ("none lost", figures["lost"] == 0),
        ("none processed twice", figures["processed_twice"] == 0),
        ("every execution ended with an outcome or as a duplicate",
         {*figures["first_delivery_outcomes"], *figures["redelivery_outcomes"]}
         <= {"SUCCEEDED", "QUARANTINED", "DUPLICATE"}),
        ("faults were injected", figures["throttles_injected"] > 0)] if not ok]
    for name in failures:
        print(f"FAILED: {name}", file=sys.stderr)
    return 1 if failures else 0


def measure(runtime, session, files, tracked, executions, redelivered) -> dict:
    """What the ledger, the inbox and the executions say happened."""
    table = runtime.environment["DOCPIPE_DOCUMENTS_TABLE"]
    keys = [session.inbox_key(path) for path in files]
    items = [item for page in runtime.dynamodb.get_paginator("scan").paginate(TableName=table)
             for item in page["Items"] if item["source_key"]["S"] in keys]  # the warm-up's are not counted
    ledger = Counter(item["source_key"]["S"] for item in items)
    statuses = Counter(item["status"]["S"] for item in items)
    versions = {key: len(runtime.s3.list_object_versions(Bucket=runtime.bucket, Prefix=key)["Versions"])
                for key in keys}
    # per document: the executions (first deliveries and re-deliveries) that gave it an outcome
    processed = Counter()
    for execution in [*executions.values(), *redelivered.values()]:
        if execution.output and execution.output["status"] in ("SUCCEEDED", "QUARANTINED"):
            processed[execution.output["source"].split("/", 3)[3]] += 1
    failed_attempts = sum(1 for arn in [*executions, *redelivered] for event in runtime.history(arn)
                          if event["type"] in ("TaskFailed", "TaskTimedOut"))
    return {
        "outcomes": sum(ledger[key] == 1 and processed[key] == 1 and versions[key] == 1 for key in keys),
        "statuses": dict(statuses),
        "quarantine_reasons": dict(Counter(item["reason"]["S"] for item in items if "reason" in item)),
        "lost": sum(ledger[key] == 0 or processed[key] == 0 for key in keys)
                + sum(status not in ("SUCCEEDED", "QUARANTINED") for status in statuses.elements()),
        "processed_twice": sum(ledger[key] > 1 or processed[key] > 1 or versions[key] > 1 for key in keys),
        "first_delivery_outcomes": dict(Counter(_status(e) for e in executions.values())),
        "redelivery_outcomes": dict(Counter(_status(e) for e in redelivered.values())),
        "throttles_injected": len(runtime.faults.injected),
        "throttles_by_service": dict(Counter(service for service, _, _ in runtime.faults.injected)),
        # task attempts that failed (throttled beyond the SDK's own retries) and went to the ASL's Retry/Catch
        "state_machine_retries": failed_attempts,
    }


def _status(execution) -> str:
    return execution.output["status"] if execution.output else execution.status


if __name__ == "__main__":
    sys.exit(main())
