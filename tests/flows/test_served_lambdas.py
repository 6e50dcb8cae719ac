"""Serve mode's Lambda: the runtime on the HTTP edge with `lambda_mode="process"`. A real function runs in a
worker process holding only its own environment and reaches S3 and DynamoDB through the served endpoint; the
runtime sees what it did; a client invokes it over the wire with an events/ event as `sam local invoke` would."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ROOT
from tests.events.catalog import as_delivered, put_sources
from tests.events.served import process_mode_runtime

pytestmark = pytest.mark.offline_only("runs the runtime's own HTTP edge in this process, with Lambda in worker processes")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with process_mode_runtime(tmp_path_factory.mktemp("served-lambdas")) as (runtime, url):
        put_sources(runtime)
        yield runtime, url


def _event(runtime, function: str, case: str) -> dict:
    return as_delivered(json.loads((ROOT / "events" / function / f"{case}.json").read_text()), runtime)


def test_a_function_in_a_worker_reaches_aws_through_the_endpoint(served):
    runtime, url = served
    state = runtime.invoke("ValidateFunction", _event(runtime, "ValidateFunction", "bridge_report"))
    assert state["route"] == "native" and state["document"]["kind"] == "pdf"
    [invocation] = [i for i in runtime.lambdas.invocations if i.function.endswith("ValidateFunction")][-1:]
    assert invocation.error is None
    # its claim went through the edge into the runtime's table
    item = runtime.dynamodb.get_item(TableName=runtime.environment["DOCPIPE_DOCUMENTS_TABLE"],
                                     Key={"doc_id": {"S": state["document"]["doc_id"]}})["Item"]
    assert item["source_key"]["S"] == "inbox/bridge_report.pdf"
    extracted = runtime.invoke("ExtractFunction", _event(runtime, "ExtractFunction", "bridge_report"))
    assert runtime.read(extracted["text"]["key"])  # written by the worker, through the edge, into the runtime's S3
    pids = runtime.lambdas.workers.warm_pids("ExtractFunction")
    assert len(pids) == 1  # kept warm for the next invocation


def test_a_client_invokes_a_function_over_the_wire_with_an_events_file(served):
    runtime, url = served
    client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1},
                                                                      read_timeout=300))
    response = client.invoke(FunctionName=runtime.template.physical_name("ValidateFunction"),
                             Payload=json.dumps(_event(runtime, "ValidateFunction", "empty")).encode())
    payload = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled" and payload["errorType"] == "DocumentRejected"
    assert "empty" in payload["errorMessage"]
