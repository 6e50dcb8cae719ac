"""The deployed policies as the contract reads them, and the contract on calls made up for the purpose."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from docpipe_local.iam.actions import needs
from docpipe_local.iam.contract import CONFIGURATIONS, Check, Contract, service_checks
from docpipe_local.iam.policies import DeployedPolicies, translated
from docpipe_local.iam.recorder import RecordedCall
from docpipe_local.template import ACCOUNT_ID

ROOT = Path(__file__).resolve().parents[2]
BUCKET = f"docpipe-local-documents-{ACCOUNT_ID}-us-east-1"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/docpipe-local-DocumentsKey"


@pytest.fixture(scope="module")
def body() -> dict:
    return translated(ROOT)


@pytest.fixture(scope="module")
def policies(body) -> DeployedPolicies:
    return DeployedPolicies(ROOT, copy.deepcopy(body))


def checks(function: str, service: str, operation: str, params: dict) -> list[Check]:
    return [Check.of(RecordedCall.of(function, service, operation, n)) for n in needs(service, operation, params)]


def test_every_function_and_state_machine_has_its_translated_role(policies):
    template = policies.source
    expected = set(template.of_type("AWS::Serverless::Function")) | set(template.of_type("AWS::Serverless::StateMachine"))
    assert set(policies.roles) == expected
    invoke = [g.statement for g in policies.roles["DocumentPipeline"].grants if "lambda:InvokeFunction" in g.actions()]
    assert any(s["Resource"].endswith(":function:docpipe-local-ValidateFunction*") for s in invoke)  # LambdaInvokePolicy
    assert policies.key_for(f"arn:aws:s3:::{BUCKET}/inbox/a.pdf") == KEY


def test_no_role_grants_every_action(policies):
    for principal, role in policies.roles.items():
        for grant in role.grants:
            assert not any(a == "*" or a.endswith(":*") for a in grant.actions()), (principal, grant.statement)


def test_the_contract_allows_a_granted_call_and_reports_it_once_the_grant_is_gone(body):
    call = checks("GuardFunction", "bedrock-runtime", "ApplyGuardrail",
                  {"guardrailIdentifier": "guardrail", "guardrailVersion": "1", "source": "INPUT", "content": []})
    assert Contract([DeployedPolicies(ROOT, copy.deepcopy(body))]).evaluate(call, set()).denials == []
    stripped = copy.deepcopy(body)
    for policy in stripped["Resources"]["GuardFunctionRole"]["Properties"]["Policies"]:
        document = policy["PolicyDocument"]
        document["Statement"] = [s for s in document["Statement"] if "bedrock:ApplyGuardrail" not in s["Action"]]
    denials = Contract([DeployedPolicies(ROOT, stripped)]).evaluate(call, set()).denials
    assert [str(d) for d in denials] == [
        f"GuardFunction: bedrock:ApplyGuardrail on arn:aws:bedrock:us-east-1:{ACCOUNT_ID}:guardrail/guardrail "
        "(bedrock-runtime.ApplyGuardrail) is denied: no statement of its role's policy allows it"]


def test_reading_an_encrypted_object_needs_kms_decrypt_in_the_role_and_the_key_policy(body):
    read = checks("ExtractFunction", "s3", "GetObject", {"Bucket": BUCKET, "Key": "inbox/a.pdf", "VersionId": "v"})
    no_kms = copy.deepcopy(body)
    for policy in no_kms["Resources"]["ExtractFunctionRole"]["Properties"]["Policies"]:
        document = policy["PolicyDocument"]
        document["Statement"] = [s for s in document["Statement"] if "kms:Decrypt" not in s["Action"]]
    denials = Contract([DeployedPolicies(ROOT, no_kms)]).evaluate(read, set()).denials
    assert [(d.action, d.resource) for d in denials] == [("kms:Decrypt", KEY)]

    closed_key = copy.deepcopy(body)  # a key policy that names neither the role nor the account
    statements = closed_key["Resources"]["DocumentsKey"]["Properties"]["KeyPolicy"]["Statement"]
    closed_key["Resources"]["DocumentsKey"]["Properties"]["KeyPolicy"]["Statement"] = [
        s for s in statements if s.get("Sid") != "AccountAdministers"]
    denials = Contract([DeployedPolicies(ROOT, closed_key)]).evaluate(read, set()).denials
    assert [(d.action, "neither the role nor the account" in d.reason) for d in denials] == [("kms:Decrypt", True)]


def test_services_using_the_key_present_source_account_and_arn(policies):
    put = checks("IndexFunction", "s3vectors", "PutVectors",
                 {"vectorBucketName": "docpipe-local-vectors", "indexName": "documents", "vectors": []})
    services = service_checks(put, policies)
    assert {c.principal for c in services} >= {"service:indexing.s3vectors.amazonaws.com", "service:cloudwatch.amazonaws.com",
                                               "service:events.amazonaws.com"}
    assert Contract([policies]).evaluate(services, set()).denials == []
    foreign = [Check(c.principal, c.action, c.resource, (("aws:SourceAccount", ("444455556666",)),
                                                          ("aws:SourceArn", dict(c.context)["aws:SourceArn"])), c.via)
               for c in services]
    assert len(Contract([policies]).evaluate(foreign, set()).denials) == len(foreign)


def test_key_policy_statements_for_services_are_scoped_to_this_account_or_stack(policies):
    for key, statements in policies.key_policies.items():
        for statement in statements:
            if "Service" not in (statement.get("Principal") or {}):
                continue
            keys = {k.lower() for block in statement.get("Condition", {}).values() for k in block}
            assert keys & {"aws:sourceaccount", "aws:sourcearn"} or any(k.startswith("kms:encryptioncontext:")
                                                                        for k in keys), statement


def test_justified_grants_are_read_from_their_comments(policies):
    justified = policies.justifications()
    reaper = dict((s["Action"][0], why) for s, why in justified["EndpointReaperFunction"])
    assert "one of this stack's" in reaper["iam:PassRole"]
    assert "sagemaker:CreateEndpointConfig" not in reaper  # a plain comment justifies nothing


def test_configurations_resolve_the_endpoint_backend_grants(body):
    endpoint = DeployedPolicies(ROOT, copy.deepcopy(body), CONFIGURATIONS["sagemaker generation"])
    call = checks("SummarizeFunction", "sagemaker-runtime", "InvokeEndpoint",
                  {"EndpointName": "docpipe-local-generation", "Body": b"{}"})
    assert Contract([DeployedPolicies(ROOT, copy.deepcopy(body))]).evaluate(call, set()).denials
    assert Contract([DeployedPolicies(ROOT, copy.deepcopy(body)), endpoint]).evaluate(call, set()).denials == []
