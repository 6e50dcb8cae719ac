"""Retry only what is transient: throttling, timeouts, server errors. A deterministic failure (a parser on a
given file, a refusal, a bug) is caught at once and quarantined with a reason, never attempted again."""

import builtins
import json

import pytest

from docpipe.errors import LAMBDA_SERVICE, READABLE, TRANSIENT

from .conftest import ROOT, state_machines
from .test_asl import _all_states

MACHINES = state_machines(__import__("docpipe_local.template", fromlist=["x"]).load_template(ROOT / "template.yaml"))
DETERMINISTIC = ({"States.ALL", "States.TaskFailed", "States.Timeout", "Sandbox.Timedout", "States.Runtime"}
                 | READABLE | {name for name in dir(builtins) if name.endswith(("Error", "Exception"))}
                 | {"PdfiumError", "ClientError", "ParamValidationError", "ValidationException"})


def _tasks(definition: dict) -> dict:
    return {n: s for n, s in _all_states(definition["States"]).items() if s["Type"] == "Task"}


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_no_task_retries_a_deterministic_error(name):
    for task_name, task in _tasks(MACHINES[name][1]).items():
        retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert not retried & DETERMINISTIC, (task_name, retried & DETERMINISTIC)


def test_document_pipeline_tasks_retry_exactly_the_transient_errors():
    """One list in Python (docpipe.errors), the same list on every Task: a throttled Translate call
    (TooManyRequestsException) or a Bedrock server error (InternalServerException) is retried like the rest."""
    definition = json.loads((ROOT / "statemachines/document_pipeline.asl.json").read_text())
    for task_name, task in _tasks(definition).items():
        retried = [set(retrier["ErrorEquals"]) for retrier in task["Retry"]]
        assert retried == [set(LAMBDA_SERVICE), set(TRANSIENT)], task_name
