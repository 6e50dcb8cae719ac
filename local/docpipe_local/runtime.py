"""The offline runtime: template.yaml, statemachines/ and functions/ running on this machine.

moto provides the AWS control plane in-process (S3, DynamoDB, Step Functions with its ASL interpreter...);
Lambda tasks reach the real handlers through the Lambda emulator; Textract and the other AI services are
answered by emulators that do the work here. State lives in the data directory between commands.
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import boto3

from docpipe_local.emulators.base import EmulatorHub, FaultInjector, parse_faults
from docpipe_local.iam.recorder import install as record_calls
from docpipe_local.iam.statemachines import record_executions
from docpipe_local.data_dir_lock import DataDirLock
from docpipe_local.lambda_router import LambdaEmulator, environment_of, functions_from_template
from docpipe_local.lambda_workers import WorkerPool
from docpipe_local.moto_fixes import (EXECUTION_ENDS, announce_execution_ends, copy_state_data_plainly,
                                      make_dynamodb_writes_atomic, parse_each_definition_once,
                                      parse_each_json_path_once, read_s3_urls_once, reuse_task_clients,
                                      serve_execution_history_as_aws_does)
from docpipe_local.paths import data_dir, repo_root
from docpipe_local.persistence import StateStore
from docpipe_local.template import ACCOUNT_ID, REGION, Template
from docpipe_local.trigger import deliver, rules_from_template, s3_event

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

# What the offline runtime sets for every handler besides the template's environment: no X-Ray daemon or
# CloudWatch agent here, and polling intervals suited to a local engine that answers in seconds.
OFFLINE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline", "AWS_SESSION_TOKEN": "offline",
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
    "DOCPIPE_TEXTRACT_POLL_INITIAL_SECONDS": "1", "DOCPIPE_TEXTRACT_POLL_MAX_SECONDS": "1",
    "DOCPIPE_BATCH_POLL_SECONDS": "1",
    "DOCPIPE_TRAINING_POLL_SECONDS": "2",
}
FINAL_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class Execution:
    arn: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None


class OfflineRuntime:
    """Use as a context manager; one per process at a time (it owns the mock and the data directory)."""

    def __init__(self, root: Path | None = None, home: Path | None = None,
                 parameters: dict[str, str] | None = None, environment: dict[str, str] | None = None,
                 faults: str | None = None, fault_seed: int = 0, persist: bool = True,
                 lock_wait: float = 5.0, on_lock_wait: Callable[[str], None] | None = None,
                 lambda_mode: str = "in-process", endpoint_url: str | None = None):
        """lock_wait: how long to wait for another process holding the data directory, which is then named
        to `on_lock_wait` (one message) before waiting, and in the error when it does not finish in time.
        lambda_mode "process": each invocation runs in a worker process holding only its function's
        environment and reaching AWS through `endpoint_url` (`docpipe serve`; or `set_lambda_endpoint` once
        the server knows its port); docpipe_local.lambda_workers."""
        self.lock = DataDirLock(home or data_dir(), lock_wait, on_lock_wait)
        self.root = root or repo_root()
        self.home = self.lock.home
        self.template = Template.load(self.root, parameters)
        self.functions = functions_from_template(self.template)
        self.rules = rules_from_template(self.template)
        self.environment = {**environment_of(self.functions), **OFFLINE_ENVIRONMENT, **(environment or {})}
        if lambda_mode not in ("in-process", "process"):
            raise ValueError(f"lambda_mode is 'in-process' or 'process', not {lambda_mode!r}")
        self.lambda_mode, self.endpoint_url = lambda_mode, endpoint_url
        # what workers get besides their function's environment, as `sam local invoke --env-vars` gives it
        self._worker_overrides = {key: value for key, value in {**OFFLINE_ENVIRONMENT, **(environment or {})}.items()
                                  if not key.startswith("AWS_")}
        self.faults = FaultInjector(parse_faults(faults or os.environ.get("DOCPIPE_FAULTS", "")), fault_seed)
        self.persist = persist
        self.store = StateStore(self.home / "state")
        self.warnings: list[str] = []
        self._stack = ExitStack()
        self._save_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> "OfflineRuntime":
        try:
            return self._start()
        except BaseException:
            self._stack.close()  # leave no mock, hub, lock or environment behind
            raise

    def _start(self) -> "OfflineRuntime":
        from moto import mock_aws

        self._stack.enter_context(self.lock)
        self._set_environment()
        make_dynamodb_writes_atomic()
        parse_each_definition_once()
        parse_each_json_path_once()
        copy_state_data_plainly()
        read_s3_urls_once()
        reuse_task_clients()
        announce_execution_ends()
        serve_execution_history_as_aws_does()
        record_calls()  # for the IAM contract: before the mock, whose start gives boto3 a fresh session
        self._stack.enter_context(mock_aws(config=MOTO_CONFIG))
        _reset_layer_caches()
        self._redirect_function_logs()
        if self.persist:
            warning = self.store.load()  # inside the mock: starting it wipes the backends
            if warning:
                self.warnings.append(warning)
        self.hub = EmulatorHub(self.faults)
        workers = (WorkerPool(self.endpoint_url or "", overrides=self._worker_overrides, log_path=self.log_path)
                   if self.lambda_mode == "process" else None)
        self.lambdas = self.hub.register(LambdaEmulator(self.functions, workers))
        for emulator in _engine_emulators(self):
            self.hub.register(emulator)
        self.training = self.hub.find("sagemaker", "CreateTrainingJob")  # fine-tuning jobs, for the CLI and tests
        self._stack.enter_context(self.hub)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.lambda_client = boto3.client("lambda", region_name=REGION)
        self._provision()
        # at exit, while the mock still answers: what each state machine's role needed (the IAM contract)
        self._stack.callback(record_executions, self.sfn, self.state_machines, self.definition)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.persist and exc[0] is None:
                self.save()
        finally:
            self._stack.close()

    def _set_environment(self) -> None:
        previous = {key: os.environ.get(key) for key in self.environment}
        os.environ.update(self.environment)

        def restore() -> None:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self._stack.callback(restore)

    def _redirect_function_logs(self) -> None:
        """Handlers log JSON (powertools) as in CloudWatch; offline those lines go to logs/functions.jsonl."""
        from docpipe.observability import logger

        self.log_path = self.home / "logs" / "functions.jsonl"
        self.log_path.parent.mkdir(exist_ok=True)
        stream = self._stack.enter_context(self.log_path.open("a", encoding="utf-8"))
        previous = logger.registered_handler.setStream(stream)
        self._stack.callback(logger.registered_handler.setStream, previous)

    def set_lambda_endpoint(self, url: str) -> None:
        """Where process-mode workers started from now on reach AWS (the served endpoint's URL)."""
        self.endpoint_url = url
        if self.lambdas.workers is not None:
            self.lambdas.workers.endpoint_url = url

    def save(self) -> None:
        """Commit offline state to the data directory (after every finished document, and at exit)."""
        if self.persist:
            with self._save_lock:
                self.store.save()

    # --- resources from the template -----------------------------------------------------------------
    def _provision(self) -> None:
        existing = {bucket["Name"] for bucket in self.s3.list_buckets()["Buckets"]}
        for logical_id in self.template.of_type("AWS::S3::Bucket"):
            name = self.template.physical_name(logical_id)
            if name not in existing:
                self.s3.create_bucket(Bucket=name)
            props = self.template.properties(logical_id)
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        tables = set(self.dynamodb.list_tables()["TableNames"])
        for logical_id in self.template.of_type("AWS::DynamoDB::Table"):
            props = self.template.properties(logical_id)
            if props["TableName"] in tables:
                continue
            indexes = [{key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                       for index in props.get("GlobalSecondaryIndexes", [])]
            self.dynamodb.create_table(TableName=props["TableName"], KeySchema=props["KeySchema"],
                                       AttributeDefinitions=props["AttributeDefinitions"],
                                       BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
                                       **({"GlobalSecondaryIndexes": indexes} if indexes else {}))
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                self.dynamodb.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=ttl)
        self._provision_vectors()
        self.state_machines: dict[str, str] = {}
        for logical_id in self.template.of_type("AWS::Serverless::StateMachine"):
            props = self.template.properties(logical_id)
            definition = self.definition(logical_id)
            arn = self.sfn.create_state_machine(
                name=props["Name"], definition=definition, type=props.get("Type", "STANDARD"),
                roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{props['Name']}-role")["stateMachineArn"]
            self.state_machines[logical_id] = arn

    def _provision_vectors(self) -> None:
        """S3 Vectors buckets and indexes (the emulator keeps them in the data directory)."""
        s3vectors = boto3.client("s3vectors", region_name=REGION)
        buckets = {b["vectorBucketName"] for b in s3vectors.list_vector_buckets()["vectorBuckets"]}
        for logical_id in self.template.of_type("AWS::S3Vectors::VectorBucket"):
            name = self.template.physical_name(logical_id)
            if name not in buckets:
                s3vectors.create_vector_bucket(vectorBucketName=name)
        for logical_id in self.template.of_type("AWS::S3Vectors::Index"):
            props = self.template.properties(logical_id)
            indexes = {i["indexName"] for i in s3vectors.list_indexes(vectorBucketName=props["VectorBucketName"])["indexes"]}
            if props["IndexName"] in indexes:
                continue
            metadata = props.get("MetadataConfiguration", {}).get("NonFilterableMetadataKeys")
            s3vectors.create_index(vectorBucketName=props["VectorBucketName"], indexName=props["IndexName"],
                                   dataType=props["DataType"], dimension=int(props["Dimension"]),
                                   distanceMetric=props["DistanceMetric"],
                                   **({"metadataConfiguration": {"nonFilterableMetadataKeys": metadata}}
                                      if metadata else {}))

    def definition(self, logical_id: str) -> str:
        """The ASL file with `${...}` filled from DefinitionSubstitutions, exactly as SAM deploys it."""
        props = self.template.properties(logical_id)
        text = (self.root / props["DefinitionUri"]).read_text()
        for name, value in props.get("DefinitionSubstitutions", {}).items():
            text = text.replace("${%s}" % name, str(value))
        json.loads(text)  # a substitution that broke the JSON fails here, loudly
        return text

    @property
    def bucket(self) -> str:
        return self.environment["DOCPIPE_DOCUMENTS_BUCKET"]

    @property
    def inbox_prefix(self) -> str:
        return self.environment["DOCPIPE_INBOX_PREFIX"]

    # --- running documents -----------------------------------------------------------------------------
    def upload(self, data: bytes, key: str, metadata: dict[str, str] | None = None) -> list[str]:
        """Put an object as a user would, then send the event S3 would; returns the executions started."""
        return self.upload_version(data, key, metadata)[1]

    def upload_version(self, data: bytes, key: str,
                       metadata: dict[str, str] | None = None) -> tuple[str | None, list[str]]:
        """:meth:`upload`, also returning the version it wrote (a later read of the key may find a newer one)."""
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata or {})
        event = s3_event("Object Created", self.bucket, key, size=len(data), etag=response.get("ETag"),
                         version_id=response.get("VersionId"), reason="PutObject")
        return response.get("VersionId"), self.emit(event)

    def delete(self, key: str) -> list[str]:
        """Delete an object as a user would (a delete marker), then send S3's "Object Deleted" event."""
        response = self.s3.delete_object(Bucket=self.bucket, Key=key)
        event = s3_event("Object Deleted", self.bucket, key, size=None, etag=None,
                         version_id=response.get("VersionId"), reason="DeleteObject",
                         deletion_type="Delete Marker Created")
        return self.emit(event)

    def emit(self, event: dict) -> list[str]:
        """Deliver an event to the template's rules (also used to re-deliver, as EventBridge may)."""
        return deliver(event, self.rules, self.sfn, self.lambda_client)

    def invoke(self, function_logical_id: str, event: dict) -> dict:
        """Invoke a function synchronously, as `aws lambda invoke` would; returns its decoded result."""
        function = self.template.get_att(function_logical_id, "Arn")
        response = self.lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise RuntimeError(f"{function_logical_id} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
        return payload

    def describe(self, arn: str) -> Execution:
        described = self.sfn.describe_execution(executionArn=arn)
        output = json.loads(described["output"]) if described.get("output") else None
        return Execution(arn, described["status"], output, described.get("error"), described.get("cause"))

    def wait(self, arns: Iterable[str], timeout: float = 900, recheck: float = 1.0) -> dict[str, Execution]:
        """Each execution once it has ended. Their status is read when the interpreter announces an end (and
        every ``recheck`` seconds besides), not polled: each read holds the GIL for milliseconds."""
        pending, done = list(arns), {}
        deadline = time.monotonic() + timeout
        while pending:
            seen = EXECUTION_ENDS.count
            for arn in list(pending):
                execution = self.describe(arn)
                if execution.status in FINAL_STATUSES:
                    done[arn] = execution
                    pending.remove(arn)
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} executions still running after {timeout:.0f} s")
                EXECUTION_ENDS.wait_after(seen, min(recheck, max(deadline - time.monotonic(), 0.0)))
        return done

    def history(self, arn: str) -> list[dict]:
        """Every event of the execution's history, oldest first."""
        return execution_events(self.sfn, arn)

    def current_state(self, arn: str) -> str | None:
        """The name of the state an execution is in now (the last state it entered)."""
        events = self.sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=50)["events"]
        for event in events:
            details = event.get("stateEnteredEventDetails")
            if details:
                return details["name"]
        return None

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()


def execution_events(sfn: Any, arn: str) -> list[dict]:
    """Every event of an execution's history, oldest first (GetExecutionHistory's pages, as AWS pages them),
    from any Step Functions client: the offline runtime's or a deployed stack's."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn, PaginationConfig={"PageSize": 1000})
    return [event for page in pages for event in page["events"]]


def _reset_layer_caches() -> None:
    """Settings and clients are cached per cold start; a new runtime is a new 'container'."""
    from docpipe.clients import reset_clients
    from docpipe.finetune import get_finetune_settings
    from docpipe.logic.speak import voices_for
    from docpipe.settings import get_settings

    reset_clients()
    voices_for.cache_clear()  # the voices a runtime's Polly emulator offers (its installed espeak-ng languages)
    get_settings.cache_clear()
    get_finetune_settings.cache_clear()  # a runtime's template parameters (hyperparameters, gates) are its own


def _engine_emulators(runtime: OfflineRuntime) -> list:
    """The AI-service emulators. Models load on first use, so a run that needs none pays for none."""
    from docpipe_local.emulators.bedrock_batch import BedrockBatchEmulator
    from docpipe_local.emulators.bedrock_converse import ConverseEmulator
    from docpipe_local.emulators.bedrock_embeddings import TitanEmbeddingsEmulator
    from docpipe_local.emulators.bedrock_guardrail import GuardrailEmulator
    from docpipe_local.emulators.polly import PollyEmulator
    from docpipe_local.emulators.s3vectors import S3VectorsEmulator
    from docpipe_local.emulators.sagemaker_endpoints import local_endpoint_emulators
    from docpipe_local.emulators.sagemaker_training import local_training_emulator
    from docpipe_local.emulators.textract import TextractEmulator
    from docpipe_local.emulators.translate import TranslateEmulator
    from docpipe_local.engines.llm import get_llm
    from docpipe_local.engines.minilm import coalesced, get_engine

    configured = {runtime.template.get_att(logical_id, "GuardrailId"): runtime.template.properties(logical_id)
                  for logical_id in runtime.template.of_type("AWS::Bedrock::Guardrail")}
    # pages screened at the same time share the model's batches (engines.minilm.coalesced)
    guardrails = GuardrailEmulator(configured, embed=coalesced(lambda texts: get_engine().encode(texts)))
    return [TextractEmulator(), TitanEmbeddingsEmulator(), guardrails, ConverseEmulator(get_llm(), guardrails),
            S3VectorsEmulator(runtime.home / "vectors" / "s3vectors.sqlite"), TranslateEmulator(), PollyEmulator(),
            BedrockBatchEmulator(get_llm()),  # Bedrock batch inference jobs
            local_training_emulator(runtime.home),  # SageMaker training jobs, run as real subprocesses
            *local_endpoint_emulators(runtime.home, get_llm)]  # inference components, InvokeEndpoint
