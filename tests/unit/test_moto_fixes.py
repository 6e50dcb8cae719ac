"""The runtime's fixes to moto: one parse per state machine definition, shared by its executions; one per
JSONPath; one boto3 client per service for the interpreter's Task states; each execution's end announced, so
the runtime waits for executions without polling; an execution's history paged, ordered and trimmed as AWS
does it."""

import json
import types

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.responses import StepFunctionResponse
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.utils import json_path

from docpipe_local.moto_fixes import (EXECUTION_ENDS, HISTORY_PAGE, announce_execution_ends, copy_state_data_plainly,
                                     parse_each_definition_once, parse_each_json_path_once, reuse_task_clients,
                                     serve_execution_history_as_aws_does)
from docpipe_local.plain_copy import copy_plain
from docpipe_local.runtime import MOTO_CONFIG, Execution, OfflineRuntime


def test_a_definition_is_parsed_once_and_its_program_shared():
    parse_each_definition_once()
    parse_each_definition_once()  # idempotent: no second cache around the first
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    first, again = AmazonStateLanguageParser.parse(definition), AmazonStateLanguageParser.parse(definition)
    assert first[0] is again[0]
    other = AmazonStateLanguageParser.parse(definition.replace("Done", "Finished"))
    assert other[0] is not first[0]


def test_task_states_reuse_one_client_per_service(monkeypatch):
    reuse_task_clients()
    reuse_task_clients()  # idempotent
    made = []
    real_client = boto3.client
    monkeypatch.setattr(boto3, "client", lambda *a, **k: made.append(k.get("service_name")) or real_client(*a, **k))
    make = lambda_eval_utils.boto_client_for  # what moto's Lambda task evaluation calls, by name
    first = make("eu-west-3", "lambda")
    assert make("eu-west-3", "lambda") is first and make("eu-west-3", "sqs") is not first
    assert make("eu-central-2", "lambda") is not first
    # moto hands each Task state's credentials over and ignores them: they make no client of their own
    assert make(region="eu-west-3", service="lambda", state_credentials=object()) is first
    assert made == ["lambda", "sqs", "lambda"]


def test_a_json_path_is_parsed_once_and_still_applies_to_each_input():
    parse_each_json_path_once()
    parse_each_json_path_once()  # idempotent
    assert json_path.parse("$.a.b") is json_path.parse("$.a.b")
    assert json_path.extract_json("$.a.b", {"a": {"b": 1}}) == 1
    assert json_path.extract_json("$.a.b", {"a": {"b": 2}}) == 2
    assert json_path.extract_json("$.items[*].id", {"items": [{"id": 1}, {"id": 2}]}) == [1, 2]
    target = {"x": 1}
    result_path.parse("$.out").update_or_create(target, {"y": 2})
    assert target == {"x": 1, "out": {"y": 2}} and result_path.parse("$.out") is result_path.parse("$.out")


def test_the_interpreter_copies_state_data_plainly():
    from moto.stepfunctions.parser.asl.eval import states

    copy_state_data_plainly()
    copy_state_data_plainly()  # idempotent
    assert states.copy.deepcopy is copy_plain
    data = {"document": {"pages": [1, 2]}}
    extracted = states.States._extract("$.document", data)
    assert extracted == {"pages": [1, 2]} and extracted is not data["document"]


def test_s3_urls_are_read_once():
    from moto.s3 import urls
    from moto.s3.models import S3Backend, s3_backends

    from docpipe_local.moto_fixes import read_s3_urls_once

    read_s3_urls_once()
    patched = S3Backend._url_module
    read_s3_urls_once()  # idempotent
    assert S3Backend._url_module is patched
    backend = s3_backends["123456789012"]["aws"]
    assert backend._url_module is urls and backend.urls  # the same URL table, without a reload per request


WAITS_THEN_ENDS = json.dumps({"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 1, "End": True}}})


@pytest.fixture
def step_functions():
    announce_execution_ends()
    announce_execution_ends()  # idempotent: one announcement per end
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name="eu-west-3")
        machine = sfn.create_state_machine(name="pause", definition=WAITS_THEN_ENDS,
                                           roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
        yield sfn, machine


def test_the_interpreter_announces_each_execution_end_once_its_status_is_final(step_functions):
    sfn, machine = step_functions
    seen = EXECUTION_ENDS.count
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    EXECUTION_ENDS.wait_after(seen, timeout=120)
    assert EXECUTION_ENDS.count == seen + 1
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def test_the_runtime_reads_an_execution_status_when_an_end_is_announced_not_in_a_loop(step_functions):
    sfn, machine = step_functions
    reads = []

    def describe(arn):
        reads.append(arn)
        return Execution(arn, sfn.describe_execution(executionArn=arn)["status"], None, None, None)

    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    runtime = types.SimpleNamespace(describe=describe)
    done = OfflineRuntime.wait(runtime, [arn], recheck=3600)  # no recheck within the test: the end wakes it
    assert done[arn].status == "SUCCEEDED"
    assert len(reads) == 2  # once on entry, once after the end; the old 50 ms loop read it about 20 times


def test_the_runtime_still_finds_an_end_that_nobody_announced():
    statuses = iter(["RUNNING", "RUNNING", "SUCCEEDED"])
    runtime = types.SimpleNamespace(describe=lambda arn: Execution(arn, next(statuses), None, None, None))
    assert OfflineRuntime.wait(runtime, ["arn:quiet"], recheck=0.01)["arn:quiet"].status == "SUCCEEDED"


def _steps(count: int) -> str:
    """Pass states one after another, each adding a field to the data (so every event carries some)."""
    states = {f"Step{i}": {"Type": "Pass", "Result": i, "ResultPath": f"$.step{i}", "Next": f"Step{i + 1}"}
              for i in range(count)}
    states[f"Step{count - 1}"] = {"Type": "Pass", "End": True}
    return json.dumps({"StartAt": "Step0", "States": states})


@pytest.fixture
def finished_execution():
    """A finished execution of 60 Pass states (over 120 history events, more than AWS's default page)."""
    serve_execution_history_as_aws_does()
    serve_execution_history_as_aws_does()  # idempotent
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name="eu-west-3")
        machine = sfn.create_state_machine(name="steps", definition=_steps(60),
                                           roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"doc": "report.pdf"}))["executionArn"]
        OfflineRuntime.wait(types.SimpleNamespace(
            describe=lambda a: Execution(a, sfn.describe_execution(executionArn=a)["status"], None, None, None)), [arn])
        yield sfn, arn


def _all_events(sfn, arn: str, **params) -> list[dict]:
    return [event for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn, **params)
            for event in page["events"]]


def test_history_reads_as_motos_serializer_wrote_it(finished_execution, monkeypatch):
    sfn, arn = finished_execution
    served = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    # moto's own response (every event in one answer, through its generic serializer), as botocore parses it
    monkeypatch.setattr(StepFunctionResponse, "get_execution_history",
                        StepFunctionResponse.get_execution_history.docpipe_moto)
    assert served == sfn.get_execution_history(executionArn=arn)["events"]
    assert len(served) > HISTORY_PAGE and served[0]["type"] == "ExecutionStarted"


def test_history_is_paged_as_aws_pages_it(finished_execution):
    sfn, arn = finished_execution
    first = sfn.get_execution_history(executionArn=arn)
    assert len(first["events"]) == HISTORY_PAGE and first["nextToken"]  # AWS's default page: 100 events
    everything = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert _all_events(sfn, arn) == everything == _all_events(sfn, arn, PaginationConfig={"PageSize": 7})
    assert [e["id"] for e in everything] == list(range(1, len(everything) + 1))
    with pytest.raises(ClientError) as refused:
        sfn.get_execution_history(executionArn=arn, nextToken="not-a-token-it-gave")
    assert refused.value.response["Error"]["Code"] == "InvalidToken"


def test_history_newest_first_finds_the_state_an_execution_is_in(finished_execution):
    sfn, arn = finished_execution
    newest = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=3)["events"]
    assert newest[0]["type"] == "ExecutionSucceeded"
    assert _all_events(sfn, arn, reverseOrder=True) == _all_events(sfn, arn)[::-1]
    # what `docpipe run` shows as a document's current state: the last one it entered, not the first
    assert OfflineRuntime.current_state(types.SimpleNamespace(sfn=sfn), arn) == "Step59"


def test_history_without_execution_data_leaves_out_inputs_and_outputs(finished_execution):
    sfn, arn = finished_execution
    full = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    trimmed = sfn.get_execution_history(executionArn=arn, maxResults=1000, includeExecutionData=False)["events"]
    assert "report.pdf" in full[0]["executionStartedEventDetails"]["input"]
    assert [e["type"] for e in trimmed] == [e["type"] for e in full]
    details = [value for event in trimmed for key, value in event.items() if key.endswith("Details")]
    assert details and not any("input" in d or "output" in d for d in details)
    assert trimmed[1]["stateEnteredEventDetails"]["name"] == "Step0"
