"""Every state machine definition: substitutions agree with the template, states are reachable and every
Task can retry, fail over and time out."""

import re
from pathlib import Path

import pytest

from .conftest import ROOT, state_machines

MACHINES = state_machines(__import__("docpipe_local.template", fromlist=["x"]).load_template(ROOT / "template.yaml"))


def _all_states(states: dict) -> dict:
    """States of a definition, including those inside Map and Parallel."""
    found = {}
    for name, state in states.items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_all_states(branch["States"]))
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found.update(_all_states(state[key]["States"]))
    return found


def _targets(state: dict) -> set[str]:
    targets = {state.get("Next"), state.get("Default")}
    targets |= {choice.get("Next") for choice in state.get("Choices", [])}
    targets |= {catch.get("Next") for catch in state.get("Catch", [])}
    return {target for target in targets if target}


def _reachable(definition: dict) -> set[str]:
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_targets(definition["States"][name]))
    return seen


def test_every_asl_file_is_used_by_the_template():
    used = {Path(props["DefinitionUri"]).name for props, _ in MACHINES.values()}
    assert used == {path.name for path in (ROOT / "statemachines").glob("*.asl.json")}


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_substitutions_match_the_template_both_ways(name):
    props, _ = MACHINES[name]
    text = (ROOT / props["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    assert placeholders == set(props.get("DefinitionSubstitutions", {}))


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_state_is_reachable_and_every_target_exists(name):
    _, definition = MACHINES[name]
    for scope in [definition] + [s[k] for s in _all_states(definition["States"]).values()
                                 for k in ("ItemProcessor", "Iterator") if k in s]:
        for state in scope["States"].values():
            assert _targets(state) <= set(scope["States"]), f"{state} points at a missing state"
        assert _reachable(scope) == set(scope["States"]), "unreachable states"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_task_has_retry_catch_and_timeout(name):
    _, definition = MACHINES[name]
    tasks = {n: s for n, s in _all_states(definition["States"]).items() if s["Type"] == "Task"}
    assert tasks
    for task_name, task in tasks.items():
        assert task.get("TimeoutSeconds") or task.get("TimeoutSecondsPath"), task_name
        assert task.get("Catch"), task_name
        retriers = task.get("Retry", [])
        assert retriers, task_name
        for retrier in retriers:
            assert retrier.get("BackoffRate", 1) > 1 and retrier.get("JitterStrategy") == "FULL", task_name
            assert retrier.get("MaxDelaySeconds"), task_name


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_no_features_the_offline_engine_cannot_run(name):
    """The ASL that deploys is the ASL that is tested (DESIGN.md section 3)."""
    text = (ROOT / MACHINES[name][0]["DefinitionUri"]).read_text()
    for feature in ('"QueryLanguage"', '"Assign"', '"ItemBatcher"', ".sync", "states:startExecution"):
        assert feature not in text


def test_lambda_tasks_only_invoke_functions_of_this_template(raw_template):
    functions = {name for name, spec in raw_template["Resources"].items()
                 if spec["Type"] == "AWS::Serverless::Function"}
    for props, _ in MACHINES.values():
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            if key.endswith("FunctionArn"):
                assert value == {"Fn::GetAtt": [key[: -len("Arn")], "Arn"]}
                assert key[: -len("Arn")] in functions
