"""What a state machine's role must allow: every Task, ItemReader and ResultWriter of its definition.

Step Functions calls a Task's service with the state machine's role: `lambda:invoke` needs
lambda:InvokeFunction on its FunctionName, an SDK or optimized S3 integration the S3 action on its
Bucket/Key, a Distributed Map states:StartExecution on its own state machine (and Describe/StopExecution on
the child executions), a ResultWriter s3:PutObject under its prefix. Parameters given as JSONPath (`Key.$`)
are read from the input each state was entered with in the runtime's execution histories; a state never
entered offline with such parameters is not checked (its grant then shows as unused).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterator

from docpipe_local.iam.actions import Need, needs
from docpipe_local.iam.recorder import RECORDING, RecordedCall

_LAMBDA_INVOKE = re.compile(r"^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$")
_INTEGRATION = re.compile(r"^arn:aws:states:::(?:aws-sdk:)?([a-z0-9]+):([a-zA-Z0-9]+)$")


def _path(data: Any, path: str) -> Any:
    """A `$.a.b` reference path (what the definitions use); None for context paths (`$$`) or misses."""
    if not path.startswith("$") or path.startswith("$$"):
        return None
    for part in filter(None, path[1:].split(".")):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def parameters(template: dict, state_input: Any) -> dict:
    """Parameters with `.$` keys filled from the state input; those that cannot be are left out."""
    filled: dict[str, Any] = {}
    for key, value in (template or {}).items():
        if key.endswith(".$"):
            found = _path(state_input, value) if state_input is not None else None
            if found is not None:
                filled[key[:-2]] = found
        elif isinstance(value, dict):
            filled[key] = parameters(value, state_input)
        else:
            filled[key] = value
    return filled


def _integration_needs(resource: str, params: dict) -> list[Need]:
    if _LAMBDA_INVOKE.match(resource):
        return needs("lambda", "Invoke", params)
    if resource.startswith("arn:aws:lambda:"):
        return needs("lambda", "Invoke", {"FunctionName": resource})
    match = _INTEGRATION.match(resource)
    if not match:
        raise ValueError(f"no IAM mapping for the Task resource {resource}: add it to docpipe_local/iam/statemachines.py")
    service, action = match.groups()
    return needs(service, action[0].upper() + action[1:], params)


def _states(states: dict) -> Iterator[tuple[str, dict]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _states(processor["States"])


def definition_needs(definition: dict, state_machine_arn: str,
                     inputs: Callable[[str], list[Any]]) -> Iterator[tuple[str, Need]]:
    """(state name, need) for every state of the definition; `inputs(name)` gives the inputs it was entered with."""
    name_of_machine = state_machine_arn.rsplit(":", 1)[1]
    for name, state in _states(definition["States"]):
        candidates: list[tuple[str, dict]] = []
        if state["Type"] == "Task":
            candidates.append((state["Resource"], state.get("Parameters", {})))
        reader, writer = state.get("ItemReader"), state.get("ResultWriter")
        if reader:
            candidates.append((reader["Resource"], reader.get("Parameters", {})))
        for resource, template in candidates:
            try:  # what the definition names outright (a Lambda task's FunctionName)
                found = _integration_needs(resource, parameters(template, None))
            except KeyError:  # named by JSONPath: as each execution entered the state
                found = []
                for state_input in inputs(name):
                    try:
                        found += _integration_needs(resource, parameters(template, state_input))
                    except KeyError:
                        continue
            for need in dict.fromkeys(found):
                yield name, need
        if writer:  # the map run's results: <Prefix><map run id>/manifest.json and its result files
            params = writer.get("Parameters", {})
            key = f"{params.get('Prefix', '')}<map-run-id>/manifest.json"
            for need in needs("s3", "PutObject", {"Bucket": params["Bucket"], "Key": key}):
                yield name, need
        if state["Type"] == "Map" and (state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode")
                                       == "DISTRIBUTED"):
            yield name, Need("states:StartExecution", state_machine_arn)
            child = state_machine_arn.replace(":stateMachine:", ":execution:") + f"/{name}:<child>"
            yield name, Need("states:DescribeExecution", child)
            yield name, Need("states:StopExecution", child)


def record_executions(sfn: Any, state_machines: dict[str, str], definition: Callable[[str], str]) -> None:
    """Record what each state machine's role needs, from its definition and the inputs of its executions."""
    from botocore.exceptions import ClientError

    if not RECORDING.enabled:
        return
    for logical_id, arn in state_machines.items():
        entered: dict[str, list[Any]] = {}
        try:
            for execution in _executions(sfn, arn):
                for event in _history(sfn, execution):
                    details = event.get("stateEnteredEventDetails")
                    if details and details.get("input"):
                        entered.setdefault(details["name"], []).append(json.loads(details["input"]))
        except ClientError:  # a runtime shutting down after a failure: record what it has, never fail its exit
            pass
        if not entered:
            continue  # never ran in this runtime: nothing to attribute
        RECORDING.invoke(logical_id)
        for state, need in definition_needs(json.loads(definition(logical_id)), arn, lambda n: entered.get(n, [])):
            RECORDING.add(RecordedCall.of(logical_id, "states", state, need))


def _executions(sfn: Any, arn: str) -> Iterator[str]:
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            yield execution["executionArn"]


def _history(sfn: Any, execution: str) -> Iterator[dict]:
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution):
        yield from page["events"]
