"""Where flow tests run the pipeline: offline (always), or a deployed stack when one is configured.

    DOCPIPE_TEST_STACK=docpipe-dev pytest tests/flows           # a stack deployed with `sam deploy`
    DOCPIPE_TEST_STACK=docpipe-dev DOCPIPE_TEST_TARGET=localstack pytest tests/flows
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from docpipe_local.runtime import OfflineRuntime


@dataclass
class FlowResult:
    execution_arn: str
    status: str  # the execution's status
    output: dict | None
    target: Any

    @property
    def result(self) -> dict:
        assert self.output is not None, f"execution {self.status}"
        return self.output

    def manifest(self) -> dict:
        return json.loads(self.target.read(self.result["manifest"]))

    def text(self) -> dict:
        key = next(k for k in self.result["outputs"] if k.endswith("text.json"))
        return json.loads(self.target.read(key))

    def history(self) -> list[dict]:
        return self.target.sfn.get_execution_history(executionArn=self.execution_arn, maxResults=1000)["events"]

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history() if "stateEnteredEventDetails" in e]


class OfflineTarget:
    name = "offline"

    def __init__(self, runtime: OfflineRuntime):
        self.runtime = runtime
        self.sfn, self.s3 = runtime.sfn, runtime.s3
        self.bucket, self.inbox = runtime.bucket, runtime.inbox_prefix

    def start(self, data: bytes, name: str, metadata: dict[str, str] | None = None) -> list[str]:
        return self.runtime.upload(data, self.inbox + name, metadata)

    def finish(self, arns: list[str], timeout: float = 300) -> list[FlowResult]:
        done = self.runtime.wait(arns, timeout=timeout)
        return [FlowResult(arn, done[arn].status, done[arn].output, self) for arn in arns]

    def process(self, data: bytes, name: str, timeout: float = 300,
                metadata: dict[str, str] | None = None) -> FlowResult:
        return self.finish(self.start(data, name, metadata), timeout)[0]

    def read(self, key: str) -> bytes:
        return self.runtime.read(key)


class DeployedTarget(OfflineTarget):
    """A stack deployed with SAM, in AWS or in LocalStack: the same assertions, real services."""

    name = "deployed"

    def __init__(self, stack: str, localstack: bool):
        if localstack:
            from localstack_client.session import Session
            session = Session()
        else:
            import boto3
            session = boto3.Session()
        outputs = {o["OutputKey"]: o["OutputValue"] for o in
                   session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
        self.sfn, self.s3 = session.client("stepfunctions"), session.client("s3")
        self.bucket, self.inbox = outputs["DocumentsBucketName"], outputs["InboxPrefix"]
        self.machine = outputs["DocumentPipelineArn"]

    def start(self, data: bytes, name: str, metadata: dict[str, str] | None = None) -> list[str]:
        key = self.inbox + name
        since = time.time()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata or {})
        for _ in range(120):  # the EventBridge rule starts the execution; find it by its input's key
            for execution in self.sfn.list_executions(stateMachineArn=self.machine, maxResults=50)["executions"]:
                if execution["startDate"].timestamp() < since - 5:
                    continue
                event = json.loads(self.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
                from urllib.parse import unquote_plus
                if unquote_plus(event["detail"]["object"]["key"]) == key:
                    return [execution["executionArn"]]
            time.sleep(1)
        raise TimeoutError(f"no execution started for {key}")

    def finish(self, arns: list[str], timeout: float = 600) -> list[FlowResult]:
        results = []
        for arn in arns:
            deadline = time.time() + timeout
            while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                if time.time() > deadline:
                    raise TimeoutError(arn)
                time.sleep(2)
            output = json.loads(described["output"]) if described.get("output") else None
            results.append(FlowResult(arn, described["status"], output, self))
        return results

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()


def deployed_target_or_reason() -> tuple[DeployedTarget | None, str]:
    stack = os.environ.get("DOCPIPE_TEST_STACK")
    if not stack:
        return None, ("no deployed stack configured: set DOCPIPE_TEST_STACK=<stack name> (and "
                      "DOCPIPE_TEST_TARGET=localstack for LocalStack) to run these flows against it")
    return DeployedTarget(stack, os.environ.get("DOCPIPE_TEST_TARGET") == "localstack"), ""
