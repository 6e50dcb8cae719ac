"""The faithful trigger: the EventBridge event S3 would send for an upload, matched against the rules that
template.yaml declares, and delivered to their targets.

moto's EventBridge delivers to SQS but starts no state machine, so delivery to Step Functions targets is
done here; the pattern matching itself is moto's (its copy of EventBridge's matcher).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote_plus

from moto.events.models import EventPattern

from docpipe_local.template import ACCOUNT_ID, REGION, Template


def s3_event(detail_type: str, bucket: str, key: str, *, size: int | None, etag: str | None,
             version_id: str | None, reason: str, deletion_type: str | None = None) -> dict:
    """An S3 event as EventBridge delivers it (key URL-encoded, '+' for space, as S3 encodes it)."""
    obj = {"key": quote_plus(key, safe="/"), "sequencer": uuid.uuid4().hex[:18].upper()}
    if size is not None:
        obj["size"] = size
    if etag:
        obj["etag"] = etag.strip('"')
    if version_id:
        obj["version-id"] = version_id
    detail = {"version": "0", "bucket": {"name": bucket}, "object": obj, "request-id": uuid.uuid4().hex[:16],
              "requester": ACCOUNT_ID, "source-ip-address": "127.0.0.1", "reason": reason}
    if deletion_type:
        detail["deletion-type"] = deletion_type
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "aws.s3",
        "account": ACCOUNT_ID, "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION, "resources": [f"arn:aws:s3:::{bucket}"], "detail": detail,
    }


@dataclass(frozen=True)
class Rule:
    logical_id: str
    pattern: EventPattern
    targets: list[dict]


def rules_from_template(template: Template) -> list[Rule]:
    rules = []
    for logical_id in template.of_type("AWS::Events::Rule"):
        props = template.properties(logical_id)
        if props.get("State", "ENABLED") != "ENABLED" or "EventPattern" not in props:
            continue
        raw = json.dumps(props["EventPattern"])
        rules.append(Rule(logical_id, EventPattern.load(raw), props.get("Targets", [])))
    return rules


def deliver(event: dict, rules: list[Rule], sfn_client, lambda_client) -> list[str]:
    """Deliver to every matching rule's targets: a state machine gets an execution (whose ARN is returned),
    a function an asynchronous invocation, as EventBridge does."""
    executions = []
    for rule in rules:
        if not rule.pattern.matches_event(event):
            continue
        for target in rule.targets:
            if ":states:" in target["Arn"]:
                response = sfn_client.start_execution(
                    stateMachineArn=target["Arn"], name=f"{rule.logical_id[:40]}-{uuid.uuid4().hex}",
                    input=json.dumps(event))
                executions.append(response["executionArn"])
            elif ":lambda:" in target["Arn"]:
                lambda_client.invoke(FunctionName=target["Arn"], InvocationType="Event",
                                     Payload=json.dumps(event).encode())
            else:
                raise NotImplementedError(f"offline delivery to {target['Arn']} is not supported")
    return executions
