"""Where flow tests run the pipeline: offline (always), or a deployed stack when one is configured.

    DOCPIPE_TEST_TARGET=edge pytest tests/flows                  # over HTTP, `docpipe serve` in another process
    DOCPIPE_TEST_STACK=docpipe-dev pytest tests/flows           # a stack deployed with `sam deploy`
    DOCPIPE_TEST_STACK=docpipe-dev DOCPIPE_TEST_TARGET=localstack pytest tests/flows
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from docpipe_local.runtime import OfflineRuntime, execution_events


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
        return execution_events(self.target.sfn, self.execution_arn)

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history() if "stateEnteredEventDetails" in e]


class OfflineTarget:
    name = "offline"

    def __init__(self, runtime: OfflineRuntime):
        self.runtime = runtime
        self.sfn, self.s3 = runtime.sfn, runtime.s3
        self.bucket, self.inbox = runtime.bucket, runtime.inbox_prefix
        self.environment = runtime.environment  # the functions' environment (guardrail id, bucket...)

    def client(self, service: str):
        import boto3

        return boto3.client(service, region_name="us-east-1")

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

    poll_seconds = 2.0

    def start(self, data: bytes, name: str, metadata: dict[str, str] | None = None) -> list[str]:
        key = self.inbox + name
        since = time.time()
        version = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata or {}).get("VersionId")
        seen: set[str] = set()
        for _ in range(int(120 / self.poll_seconds)):  # the EventBridge rule starts it; found by the event's object
            for execution in self.sfn.list_executions(stateMachineArn=self.machine, maxResults=50)["executions"]:
                arn = execution["executionArn"]
                if execution["startDate"].timestamp() < since - 5 or arn in seen:
                    continue
                seen.add(arn)
                obj = json.loads(self.sfn.describe_execution(executionArn=arn)["input"])["detail"]["object"]
                if unquote_plus(obj["key"]) == key and obj.get("version-id") == version:
                    return [arn]
            time.sleep(self.poll_seconds)
        raise TimeoutError(f"no execution started for {key}")

    def finish(self, arns: list[str], timeout: float = 600) -> list[FlowResult]:
        results = []
        for arn in arns:
            deadline = time.time() + timeout
            while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                if time.time() > deadline:
                    raise TimeoutError(arn)
                time.sleep(self.poll_seconds)
            output = json.loads(described["output"]) if described.get("output") else None
            results.append(FlowResult(arn, described["status"], output, self))
        return results

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()


class EdgeTarget(DeployedTarget):
    """The offline runtime over HTTP: `docpipe serve` in another process, reached only through its endpoint,
    as any AWS client would (uploads start the pipeline through the edge's S3 event)."""

    name = "edge"
    poll_seconds = 0.2

    def __init__(self, served):
        import boto3
        from botocore.config import Config

        from docpipe_local.lambda_router import environment_of, functions_from_template
        from docpipe_local.paths import repo_root
        from docpipe_local.template import Template

        self.served = served
        self._session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        self._config = Config(retries={"total_max_attempts": 3}, read_timeout=900)
        self.sfn, self.s3 = self.client("stepfunctions"), self.client("s3")
        template = Template.load(repo_root())
        self.environment = environment_of(functions_from_template(template))
        self.bucket, self.inbox = self.environment["DOCPIPE_DOCUMENTS_BUCKET"], self.environment["DOCPIPE_INBOX_PREFIX"]
        self.machine = template.get_att("DocumentPipeline", "Arn")

    def client(self, service: str):
        return self._session.client(service, endpoint_url=self.served.url, config=self._config)


def deployed_target_or_reason() -> tuple[DeployedTarget | None, str]:
    stack = os.environ.get("DOCPIPE_TEST_STACK")
    if not stack:
        return None, ("no deployed stack configured: set DOCPIPE_TEST_STACK=<stack name> (and "
                      "DOCPIPE_TEST_TARGET=localstack for LocalStack) to run these flows against it")
    return DeployedTarget(stack, os.environ.get("DOCPIPE_TEST_TARGET") == "localstack"), ""
