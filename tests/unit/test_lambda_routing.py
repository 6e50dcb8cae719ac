"""Canary for the one place the offline runtime leans on moto internals: a Step Functions Lambda task must
reach our Lambda emulator (botocore before-call hook) and its FunctionError must reach Catch. If a moto
upgrade breaks this, these tests fail loudly (moto is pinned in pyproject.toml)."""

import json

import boto3
import moto
from moto import mock_aws

from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.lambda_router import LambdaEmulator, LambdaFunction

ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"


def _function(tmp_path, body: str) -> dict:
    (tmp_path / "app.py").write_text(body)
    function = LambdaFunction("Echo", "echo", ARN, tmp_path, "app.handler", 128, 30, {})
    return {"echo": function, ARN: function}


def _run(definition: dict, functions: dict, payload: dict) -> dict:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        with EmulatorHub() as hub:
            emulator = hub.register(LambdaEmulator(functions))
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            machine = sfn.create_state_machine(name="canary", definition=json.dumps(definition),
                                               roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
            arn = sfn.start_execution(stateMachineArn=machine, name="run-1", input=json.dumps(payload))["executionArn"]
            for _ in range(400):
                described = sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    break
                __import__("time").sleep(0.025)
            return {"described": described, "invocations": emulator.invocations}


def _task(next_or_end: dict) -> dict:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
            "Parameters": {"FunctionName": ARN, "Payload.$": "$"}, **next_or_end}


def test_moto_version_is_the_pinned_one():
    assert moto.__version__ == "5.2.5"


def test_step_functions_lambda_task_runs_the_real_handler(tmp_path):
    functions = _function(tmp_path, "def handler(event, context):\n"
                                    "    return {'doubled': event['n'] * 2, 'fn': context.function_name}\n")
    result = _run({"StartAt": "Call", "States": {"Call": _task({"End": True})}}, functions, {"n": 21})
    assert result["described"]["status"] == "SUCCEEDED"
    assert json.loads(result["described"]["output"]) == {"doubled": 42, "fn": "echo"}
    assert [i.function for i in result["invocations"]] == ["echo"]


def test_handler_exception_becomes_a_catchable_error_named_after_its_class(tmp_path):
    functions = _function(tmp_path, "class DocumentRejected(Exception): pass\n"
                                    "def handler(event, context):\n    raise DocumentRejected('too big')\n")
    definition = {"StartAt": "Call", "States": {
        "Call": _task({"Next": "Done", "Catch": [{"ErrorEquals": ["DocumentRejected"], "ResultPath": "$.error",
                                                   "Next": "Caught"}]}),
        "Caught": {"Type": "Pass", "End": True}, "Done": {"Type": "Succeed"}}}
    result = _run(definition, functions, {"n": 1})
    output = json.loads(result["described"]["output"])
    assert output["error"]["Error"] == "DocumentRejected"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "too big"
