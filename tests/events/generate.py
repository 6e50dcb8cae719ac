"""Record events/ from real runs: `.venv/bin/python -m tests.events.generate` (about 10 minutes, offline).

It runs the three state machines on the catalogue's sources in an offline runtime and writes the first
event each function receives in each case, as the Lambda emulator saw it; then the events no run sends:
the function URL request for Ask and the reaper's Scheduler input (both read from template.yaml and the
handlers' models). What a run makes unique is made stable: execution ARNs end in ":example" and S3
pointers name no version (each reads the latest). tests/events/test_events.py validates every file
against its handler's model and invokes it.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote_plus

from docpipe_local import batch_cli
from docpipe_local.runtime import OfflineRuntime
from docpipe_local.template import ACCOUNT_ID, REGION
from docpipe_local.trigger import s3_event

from tests.events.catalog import (DATASET_KEY, DOCUMENTS, ENVIRONMENT, EVENTS, FINETUNE_RUN_ID, LARGE_JOB_KEY,
                                  PARAMETERS, put_sources, sources)

EXECUTION = re.compile(r"(arn:aws:states:[a-z0-9-]+:\d{12}:execution:[^:\"]+):[^\"]+")
ASK_QUESTION = "How long is the fatigue crack in floor beam FB-14?"


def stable(event: dict) -> dict:
    """The event with what differs from run to run fixed: execution names and S3 version ids."""
    text = EXECUTION.sub(r"\1:example", json.dumps(event))
    return _without_versions(json.loads(text))


def _without_versions(value):
    if isinstance(value, dict):
        return {key: None if key == "version_id" and {"bucket", "key"} <= value.keys() else _without_versions(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_without_versions(item) for item in value]
    return value


def case_of(function: str, event: dict, keys: set[str]) -> str:
    """The case an event is one of: the source it concerns (its file name), and the language of a Map branch."""
    if "batch" in event:
        return f"batch-{event['batch']['index']}"
    source = next((value for value in _strings(event) if unquote_plus(value) in keys), None)
    if source is None:
        raise ValueError(f"{function} received an event naming none of the sources: {json.dumps(event)[:300]}")
    case = Path(unquote_plus(source)).stem
    language = (event.get("state") or {}).get("language")
    if language:
        case += f"-{language}"
    if event.get("detail-type") == "Object Deleted":
        case = f"deleted-{case}"
    return case


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def record(runtime: OfflineRuntime) -> dict[tuple[str, str], dict]:
    recorded: dict[tuple[str, str], dict] = {}
    lock = threading.Lock()
    keys = set(sources(runtime.template))

    def observe(function, event, result, failed) -> None:
        case = case_of(function.logical_id, event, keys)
        with lock:
            if (function.logical_id, case) not in recorded:
                recorded[function.logical_id, case] = stable(event)
                print(f"  {function.logical_id}/{case}{' (failed: ' + result['errorType'] + ')' if failed else ''}")

    runtime.lambdas.observers.append(observe)
    put_sources(runtime)
    bucket = runtime.bucket
    arns = []
    for key in DOCUMENTS:  # S3's event, without a version id: the events read the latest version
        size = runtime.s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        arns += runtime.emit(s3_event("Object Created", bucket, key, size=size, etag=None, version_id=None,
                                      reason="PutObject"))
    schedule = runtime.template.properties("BatchGenerationSchedule")["Name"]
    arns.append(batch_cli.trigger(runtime, schedule)[1])
    arns.append(batch_cli.start(runtime, "BatchGeneration",
                                {"job": {"bucket": bucket, "key": LARGE_JOB_KEY}, "mode": "batch_inference"}))
    arns.append(runtime.sfn.start_execution(
        stateMachineArn=runtime.state_machines["FineTune"], name="finetune-events",
        input=json.dumps({"dataset": {"bucket": bucket, "key": DATASET_KEY}, "run_id": FINETUNE_RUN_ID}))["executionArn"])
    for arn, execution in runtime.wait(arns, timeout=3600).items():
        print(f"{execution.status:10} {arn.rsplit(':', 2)[-2]}")
    runtime.delete("inbox/bridge_report.pdf")  # S3's "Object Deleted" through the DeleteRule to Forget
    runtime.lambdas.drain()
    return recorded


def function_url_request(body: dict, url_id: str = "abcdefghijklmnopqrstuvwxyz012345") -> dict:
    """A Lambda function URL request (payload format 2.0) signed with IAM, as AWS delivers it."""
    host = f"{url_id}.lambda-url.{REGION}.on.aws"
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": host, "x-amz-date": "20261206T230000Z",
                    "x-forwarded-proto": "https", "user-agent": "curl/8.5.0"},
        "requestContext": {
            "accountId": ACCOUNT_ID, "apiId": url_id, "domainName": host, "domainPrefix": url_id,
            "authorizer": {"iam": {"accessKey": "AKIAIOSFODNN7EXAMPLE", "accountId": ACCOUNT_ID,
                                   "callerId": "AIDAEXAMPLECALLER", "cognitoIdentity": None, "principalOrgId": None,
                                   "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/analyst", "userId": "AIDAEXAMPLECALLER"}},
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "curl/8.5.0"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": "$default", "stage": "$default",
            "time": "06/Dec/2026:23:00:00 +0000", "timeEpoch": 1796598000000},
        "body": json.dumps(body), "isBase64Encoded": False,
    }


def constructed(runtime: OfflineRuntime) -> dict[tuple[str, str], dict]:
    """The events no offline run sends: the function URL request, and the reaper's scheduled input."""
    events = {("AskFunction", "function-url"): function_url_request({"question": ASK_QUESTION, "top_k": 5}),
              ("AskFunction", "function-url-bad-request"): function_url_request({"question": "?"}),
              ("AskFunction", "direct"): {"question": ASK_QUESTION}}
    reaper = runtime.template.properties("EndpointReaperFunction")
    for name, source in reaper["Events"].items():
        if source["Type"] == "ScheduleV2":
            events["EndpointReaperFunction", f"schedule-{name.lower()}"] = json.loads(source["Properties"]["Input"])
    events["EndpointReaperFunction", "status"] = {"action": "status"}
    return events


def write(events: dict[tuple[str, str], dict]) -> None:
    for (function, case), event in sorted(events.items()):
        path = EVENTS / function / f"{case}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(events)} events under {EVENTS}")


def main() -> int:
    with tempfile.TemporaryDirectory() as home, \
            OfflineRuntime(home=Path(home), persist=False, parameters=PARAMETERS, environment=ENVIRONMENT) as runtime:
        events = record(runtime)
        events.update(constructed(runtime))
    missing = [f for f in runtime.template.of_type("AWS::Serverless::Function") if f not in {f for f, _ in events}]
    write(events)
    if missing:
        print(f"no event recorded for {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
