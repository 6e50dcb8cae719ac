"""The runtime's fixes to moto: one parse per state machine definition, shared by its executions; one per
JSONPath; one boto3 client per service for the interpreter's Task states."""

import json

import boto3
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.utils import json_path

from docpipe_local.moto_fixes import (copy_state_data_plainly, parse_each_definition_once, parse_each_json_path_once,
                                     reuse_task_clients)
from docpipe_local.plain_copy import copy_plain


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
