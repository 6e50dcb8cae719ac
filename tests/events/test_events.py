"""events/: every function has events for the cases it handles; each matches the model its handler parses
and the payload the template's state machines, rules and schedules send; and each one, invoked on a fresh
offline stack in the state machines' order, has the outcome its case expects: through the runtime's Lambda
emulator, and as Lambda Invoke over the HTTP edge (`docpipe serve`) with handlers in worker processes."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel, S3EventNotificationEventBridgeModel
from botocore.config import Config
from pydantic import ValidationError

from docpipe.logic.ask import AskRequest
from docpipe_local.runtime import OfflineRuntime
from docpipe_local.template import Template
from docpipe_local.trigger import rules_from_template
from tests.conftest import ROOT
from tests.events.catalog import (ENVIRONMENT, EVENTS, FUNCTION_ORDER, PARAMETERS, catalogue, input_model,
                                  put_sources, scheduled_job)
from tests.events.served import process_mode_runtime

TEMPLATE = Template.load(ROOT, PARAMETERS)
FUNCTIONS = TEMPLATE.of_type("AWS::Serverless::Function")
EVENT_LIST = catalogue()


def _task_payloads() -> dict[str, set[str]]:
    """Function logical id -> the keys of the Payload each state machine Task passes it."""
    found: dict[str, set[str]] = {}
    for machine in TEMPLATE.of_type("AWS::Serverless::StateMachine"):
        props = TEMPLATE.properties(machine)
        functions = {f"${{{name}}}": value for name, value in props.get("DefinitionSubstitutions", {}).items()}
        definition = json.loads((ROOT / props["DefinitionUri"]).read_text())

        def walk(states: dict) -> None:
            for state in states.values():
                for nested in [state.get("ItemProcessor") or state.get("Iterator") or {}, *state.get("Branches", [])]:
                    walk(nested.get("States", {}))
                parameters = state.get("Parameters") or {}
                arn = functions.get(parameters.get("FunctionName"))
                if state["Type"] == "Task" and arn is not None:
                    function = next(f for f in FUNCTIONS if TEMPLATE.get_att(f, "Arn") == arn)
                    found[function] = {key.removesuffix(".$") for key in parameters["Payload"]}
        walk(definition["States"])
    return found


TASK_PAYLOADS = _task_payloads()


def _unknown_fields(event, parsed, path: str = "") -> list[str]:
    """Paths present in the event but not in what the model parsed from it."""
    if isinstance(event, dict) and isinstance(parsed, dict):
        return [unknown for key, value in event.items()
                for unknown in ([f"{path}{key}"] if key not in parsed else _unknown_fields(value, parsed[key], f"{path}{key}."))]
    if isinstance(event, list) and isinstance(parsed, list) and len(event) == len(parsed):
        return [unknown for i, (a, b) in enumerate(zip(event, parsed)) for unknown in _unknown_fields(a, b, f"{path}{i}.")]
    return []
RULES = {rule.logical_id: rule for rule in rules_from_template(TEMPLATE)}


def test_every_function_has_events_and_every_event_a_function():
    folders = {path.name for path in EVENTS.iterdir() if path.is_dir()}
    assert folders == set(FUNCTIONS), "events/ folders must be exactly the template's functions"
    assert set(FUNCTION_ORDER) == set(FUNCTIONS), "tests/events/catalog.py FUNCTION_ORDER names every function once"
    assert all(list((EVENTS / function).glob("*.json")) for function in FUNCTIONS)


@pytest.mark.parametrize("event", EVENT_LIST, ids=lambda e: f"{e.function}/{e.case}")
def test_each_event_is_what_its_handler_parses_and_its_source_sends(event):
    body, model = event.body, input_model(TEMPLATE, event.function)
    if event.function == "AskFunction" and "requestContext" in body:
        LambdaFunctionUrlModel.model_validate(body)  # the function URL's request (payload format 2.0)
        request = json.loads(body["body"])
        if event.case.endswith("bad-request"):
            with pytest.raises(ValidationError):
                model.model_validate(request)
        else:
            model.model_validate(request)
        return
    parsed = model.model_validate(body)
    # pydantic ignores fields it does not know: a field the model renamed or dropped would pass unseen
    assert not _unknown_fields(body, parsed.model_dump(mode="json", by_alias=True)), "fields the model does not have"
    if event.function in TASK_PAYLOADS:  # a Task's Payload: the keys the ASL passes, and no others
        assert set(body) == TASK_PAYLOADS[event.function]
    if event.function == "ValidateFunction":  # Step Functions passes the S3 event the inbox rule matched
        S3EventNotificationEventBridgeModel.model_validate(body["event"])
        assert RULES["InboxRule"].pattern.matches_event(body["event"])
    if event.function == "ForgetFunction":
        assert RULES["DeleteRule"].pattern.matches_event(body)
    if event.function == "BatchPlanFunction" and event.case == "nightly":  # what the Scheduler sends
        assert body["request"] == scheduled_job(TEMPLATE)
    if event.function == "EndpointReaperFunction" and event.case.startswith("schedule-"):
        declared = TEMPLATE.properties("EndpointReaperFunction")["Events"]
        assert body in [json.loads(source["Properties"]["Input"]) for source in declared.values()
                        if source["Type"] == "ScheduleV2"]


# --- invoking them -----------------------------------------------------------------------------------------
# Poll events name a job a service assigned an id to when the run that recorded them started it: invoked here,
# they poll the job that invoking the start event of the same case started (its result's field replaces the
# recorded one), and are invoked again with their own result until the job is done, as the state machines'
# poll loops do. (With `sam local invoke`, put the id from the start's output into the event the same way.)
STARTED_BY = {  # function -> (the function whose result has the job, the payload member holding the state, its field)
    "TextractPollFunction": ("TextractStartFunction", "state", "ocr_job"),
    "SpeakPollFunction": ("SpeakFunction", "state", "speech_job"),
    "BatchPollFunction": ("BatchPlanFunction", "plan", "inference_job"),
    "BatchAggregateFunction": ("BatchPollFunction", "plan", "inference_job"),  # the job as the last poll left it
}


def _inference_job_running_statuses() -> set[str]:
    choice = json.loads((ROOT / "statemachines" / "batch_generation.asl.json").read_text())["States"]["InferenceJobDone"]
    return {rule["StringEquals"] for rule in choice["Choices"][0]["Or"]}


POLLING = {  # poll function -> whether its result means "poll again" (the state machine's Choice)
    "TextractPollFunction": lambda result: result["ocr_job"]["status"] == "IN_PROGRESS",
    "SpeakPollFunction": lambda result: result["route"] != "done",
    "BatchPollFunction": lambda result, running=_inference_job_running_statuses(): result["inference_job"]["status"] in running,
    "FineTunePollFunction": lambda result: result["next"] == "wait",
}
EXPECTED_ERRORS = {("ValidateFunction", "empty"): "DocumentRejected"}  # routed by the Catch to Quarantine


def _expect(event, result: dict) -> None:
    """The outcome each kind of case has besides not failing."""
    function, case = event.function, event.case
    if function == "ValidateFunction":
        assert result["route"] == {"site_photo": "ocr_sync"}.get(case, "native")
    elif function == "ExtractFunction":
        assert result["route"] == ("ocr_async" if case == "scanned_letter" else "native")
    elif function in ("TextractDetectFunction", "TextractPollFunction", "GuardFunction"):
        assert result["text"]["key"].endswith("/text.json")
    elif function == "IndexFunction":
        assert result["stages"][-1]["name"] == "index"
    elif function == "SummarizeFunction":
        assert result["summary"]["key"].endswith("summary.md")
    elif function == "SpeakPollFunction":
        assert any(key.endswith((".mp3", ".ogg")) for key in result["outputs"])
    elif function == "PublishFunction":
        assert result["status"] == "SUCCEEDED" and result["manifest"]
    elif function == "QuarantineFunction":
        assert result["status"] == "QUARANTINED" and "empty" in result["reason"]
    elif function == "AskFunction" and case == "function-url":
        assert result["statusCode"] == 200
        answer = json.loads(result["body"])
        assert answer["answer"] and answer["citations"]
        assert {c["source_key"] for c in answer["citations"]} <= {"inbox/bridge_report.pdf", "inbox/site_photo.png",
                                                                 "inbox/scanned_letter.pdf"}
    elif function == "AskFunction" and case == "function-url-bad-request":
        assert result["statusCode"] == 400 and json.loads(result["body"])["__type"] == "ValidationException"
    elif function == "AskFunction":
        assert result["answer"] and result["citations"]
    elif function == "ForgetFunction":
        assert result["key"] == "inbox/bridge_report.pdf" and result["vectors_deleted"] > 0
    elif function == "BatchAggregateFunction":
        assert set(result["counts"]) == {"succeeded"}
    elif function == "FineTuneRegisterFunction":
        assert result["model_package_arn"]


def _invoke(client, function: str, event: dict) -> tuple[dict, str | None]:
    response = client.invoke(FunctionName=TEMPLATE.get_att(function, "Arn"), Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    return payload, payload.get("errorType") if response.get("FunctionError") else None


@contextmanager
def _served_stack(home) -> Iterator[tuple[OfflineRuntime, object]]:
    """A runtime served over the HTTP edge with its handlers in worker processes, and a Lambda client of that
    edge: each event goes over the wire as `sam local invoke` or any SDK would send it. (In-process Lambda, the
    other path, is what every flow test already drives.)"""
    with process_mode_runtime(home, parameters=PARAMETERS, environment=ENVIRONMENT) as (runtime, url):
        yield runtime, boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                                    aws_secret_access_key="test",
                                    config=Config(retries={"total_max_attempts": 1}, read_timeout=900))


@pytest.mark.slow
@pytest.mark.offline_only("invokes each function directly on a stack of its own, with the catalogue's settings")
def test_every_event_invoked_in_order_over_the_edge_has_its_cases_outcome(home, monkeypatch):
    monkeypatch.setenv("DOCPIPE_LAMBDA_IDLE_SECONDS", "30")  # edge: a function's worker ends when its stage is over
    results: dict[tuple[str, str], dict] = {}
    problems = []
    with _served_stack(home) as (runtime, client):
        put_sources(runtime)
        for event in EVENT_LIST:
            body = event.body
            if event.function in STARTED_BY:
                start, member, field = STARTED_BY[event.function]
                started = results.get((start, event.case))
                if started is not None and started.get(field):
                    body[member][field] = started[field]
            result, error = _invoke(client, event.function, body)
            deadline = time.monotonic() + 900  # bounds a hang only
            while error is None and event.function in POLLING and POLLING[event.function](result):
                assert time.monotonic() < deadline, f"{event.function}/{event.case} still polling"
                time.sleep(0.5)
                result, error = _invoke(client, event.function, {**body, next(k for k in body if k != "execution_id"): result})
            expected = EXPECTED_ERRORS.get((event.function, event.case))
            if error != expected:
                problems.append(f"{event.function}/{event.case}: {error or 'no error'}, expected {expected or 'no error'}:"
                                f" {result.get('errorMessage', '') if error else ''}")
                continue
            results[event.function, event.case] = result
            if error is None:
                try:
                    _expect(event, result)
                except AssertionError as failed:
                    problems.append(f"{event.function}/{event.case}: unexpected outcome {failed}: {json.dumps(result)[:400]}")
    assert not problems, "\n".join(problems)
    assert len(results) == len(EVENT_LIST)
