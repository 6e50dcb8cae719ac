"""Batch jobs: record-by-record validation with line numbers and reasons; the Bedrock batch emulator's
record handling; the schedule, its role and the batch state machine in template.yaml."""

import json
from pathlib import Path

import pytest

from docpipe.batch import InvalidRecord, PreparedRecord, parse_job
from docpipe.logic.batch import model_input
from docpipe.prompts import prompt
from docpipe_local.emulators.base import ServiceError
from docpipe_local.emulators.bedrock_batch import BedrockBatchEmulator, _parse_body
from docpipe_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = dict(prompts=prompt, default_model="amazon.nova-lite-v1:0", default_system="Be brief.",
                allowed_models={"amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0"}, default_max_tokens=64,
                default_temperature=0.2)


def _parse(*lines: str) -> list:
    return parse_job("\n".join(lines).encode(), **DEFAULTS)[0]


def test_valid_records_resolve_templates_variables_and_defaults():
    entries = _parse(json.dumps({"id": "a", "template": "batch_sentence_user", "variables": {"topic": "ports"}}),
                     json.dumps({"id": "b", "prompt": "Name {n} rivers.", "variables": {"n": 3}, "max_tokens": 9,
                                 "temperature": 0, "model_id": "amazon.nova-micro-v1:0", "system": "Terse."}))
    a, b = entries
    assert isinstance(a, PreparedRecord) and a.user == "Write one short sentence about ports."
    assert (a.line, a.model_id, a.system, a.max_tokens, a.temperature) == (1, "amazon.nova-lite-v1:0", "Be brief.", 64, 0.2)
    assert (b.user, b.model_id, b.system, b.max_tokens, b.temperature) == (
        "Name 3 rivers.", "amazon.nova-micro-v1:0", "Terse.", 9, 0.0)
    assert a.fingerprint != b.fingerprint


@pytest.mark.parametrize("line, reason", [
    ("{oops", "not JSON"),
    ("42", "a record must be a JSON object"),
    (json.dumps({"prompt": "hi"}), "id: Field required"),
    (json.dumps({"id": "has space", "prompt": "hi"}), "id must be"),
    (json.dumps({"id": "x", "prompt": "hi", "template": "batch_sentence_user"}), "exactly one of"),
    (json.dumps({"id": "x"}), "exactly one of"),
    (json.dumps({"id": "x", "template": "../secrets"}), "prompt name"),
    (json.dumps({"id": "x", "template": "nope_nope"}), "no prompt template named 'nope_nope'"),
    (json.dumps({"id": "x", "prompt": "About {topic}"}), "missing variables: topic"),
    (json.dumps({"id": "x", "prompt": "Plain", "variables": {"topic": "y"}}), "not used by the prompt: topic"),
    (json.dumps({"id": "x", "prompt": "About {0}"}), "not a plain variable name"),
    (json.dumps({"id": "x", "prompt": "   "}), "blank"),
    (json.dumps({"id": "x", "prompt": "hi", "max_tokens": 5000}), "max_tokens"),
    (json.dumps({"id": "x", "prompt": "hi", "temperature": 2}), "temperature"),
    (json.dumps({"id": "x", "prompt": "hi", "model_id": "anthropic.claude-v2"}), "not one this job may use"),
    (json.dumps({"id": "x", "prompt": "hi", "colour": "red"}), "colour: Extra inputs"),
])
def test_a_bad_record_is_reported_with_its_line_and_reason_and_the_others_go_on(line, reason):
    good = json.dumps({"id": "ok", "prompt": "Name a colour."})
    entries = _parse(good, "", line, good.replace('"ok"', '"ok2"'))
    assert [type(e) for e in entries] == [PreparedRecord, InvalidRecord, PreparedRecord]
    bad = entries[1]
    assert bad.line == 3 and reason in bad.reason
    assert entries[2].line == 4


def test_duplicate_ids_name_the_first_line():
    entries = _parse(*[json.dumps({"id": "same", "prompt": "Name a colour."})] * 2)
    assert isinstance(entries[1], InvalidRecord) and entries[1].id == "same"
    assert entries[1].reason == "duplicate id: first used on line 1"


def test_batch_inference_bodies_round_trip_through_the_emulators_parser():
    record = _parse(json.dumps({"id": "a", "prompt": "Name a colour.", "max_tokens": 7}))[0]
    turns, system, max_tokens, temperature = _parse_body(model_input(record, record.user), record.model_id)
    assert turns == [{"role": "user", "content": "Name a colour."}]
    assert (system, max_tokens, temperature) == ("Be brief.", 7, 0.2)
    claude = record.model_copy(update={"model_id": "anthropic.claude-3-haiku-20240307-v1:0"})
    assert _parse_body(model_input(claude, claude.user), claude.model_id)[:3] == (turns, "Be brief.", 7)
    with pytest.raises(ServiceError, match="maxTokens"):
        _parse_body({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                     "inferenceConfig": {"maxTokens": 20000}}, "amazon.nova-lite-v1:0")


class _FakeLLM:
    def generate(self, *args, **kwargs):
        raise AssertionError("not called by these checks")


def _create(emulator, **changes):
    params = {"jobName": "job-1", "roleArn": "arn:aws:iam::123456789012:role/batch", "modelId": "amazon.nova-lite-v1:0",
              "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bucket-a/in.jsonl"}},
              "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket-a/out/"}}}
    return emulator.CreateModelInvocationJob({**params, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"jobName": "bad name!"}, "jobName"),
    ({"roleArn": "arn:aws:local:us-east-1:1:Role"}, "roleArn"),
    ({"modelId": "amazon.titan-embed-text-v2:0"}, "doesn't support the model"),
    ({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "https://x"}}}, "S3 output URI"),
])
def test_the_batch_emulator_validates_as_bedrock(changes, message):
    emulator = BedrockBatchEmulator(_FakeLLM())
    try:
        with pytest.raises(ServiceError, match=message):
            _create(emulator, **changes)
    finally:
        emulator.close()


def test_template_schedule_role_and_state_machine():
    raw = load_template(ROOT / "template.yaml")
    resources = raw["Resources"]
    schedule = resources["BatchGenerationSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "BatchScheduleExpression"}
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "BatchScheduleTimezone"}
    assert schedule["FlexibleTimeWindow"]["Mode"] == "FLEXIBLE"
    target = schedule["Target"]
    assert target["Arn"] == {"Ref": "BatchGeneration"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0 and target["DeadLetterConfig"]["Arn"]
    role = resources[target["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    starts = [s for s in statements if any(a.startswith("states:") for a in s["Action"])]
    assert starts == [{"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": {"Ref": "BatchGeneration"}}]
    # Bedrock batch inference: PassRole only for that role, only to Bedrock
    plan = resources["BatchPlanFunction"]["Properties"]["Policies"][0]["Statement"]
    passes = [s for s in plan if s["Action"] == ["iam:PassRole"]]
    assert passes == [{"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": {"Fn::GetAtt": ["BatchInferenceRole", "Arn"]},
                       "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}}]
    trust = resources["BatchInferenceRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"} and "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    definition = json.loads((ROOT / "statemachines/batch_generation.asl.json").read_text())
    generate = definition["States"]["GenerateBatches"]
    assert generate["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert generate["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert generate["MaxConcurrencyPath"] == "$.max_concurrency" and generate["ToleratedFailurePercentage"] > 0
    assert generate["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    env = resources["BatchPlanFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DOCPIPE_BATCH_MAX_CONCURRENCY"] == {"Ref": "BedrockConcurrentBatches"}
