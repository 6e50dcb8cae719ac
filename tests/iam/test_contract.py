"""Least privilege, tested: every AWS call the offline flows made is allowed by the caller's deployed policy
(and the KMS key policy), and every grant is used by some call or justified in template.yaml."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from docpipe_local.iam.contract import CONFIGURATIONS, Contract, checks_of, platform_checks, service_checks
from docpipe_local.iam.policies import DeployedPolicies, translated

from .conftest import CONTRACT_MARK, COVERING_FLOWS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def translated_template() -> dict:
    return translated(ROOT)


@pytest.fixture(scope="module")
def configurations(translated_template) -> list[DeployedPolicies]:
    return [DeployedPolicies(ROOT, copy.deepcopy(translated_template), parameters)
            for parameters in CONFIGURATIONS.values()]


def all_checks(recording, policies: DeployedPolicies):
    checks, unmapped = checks_of(recording)
    return checks + service_checks(checks, policies) + platform_checks(policies, recording.invoked), unmapped


@pytest.mark.iam_contract
def test_every_recorded_call_is_allowed_and_every_grant_used_or_justified(recording, configurations):
    principals = set(configurations[0].roles)
    assert principals == set().union(*COVERING_FLOWS.values()), \
        "a function or state machine was added or removed: name the flow that exercises it in COVERING_FLOWS"
    assert not principals - recording.invoked, f"never ran offline, so unchecked: {sorted(principals - recording.invoked)}"
    checks, unmapped = all_checks(recording, configurations[0])
    report = Contract(configurations).evaluate(checks, principals, unmapped)
    print(report.summary())
    assert not report.unmapped, "\n".join(report.unmapped)
    assert not report.denials, "AWS would deny:\n" + "\n".join(map(str, report.denials))
    assert not report.stale, "justified as unused, but the flows use them (drop the comment):\n" + "\n".join(report.stale)
    assert not report.unjustified, ("granted but never used offline (remove it, or justify it with "
                                    "`# unused-by-offline-flows: <why>` on its statement):\n"
                                    + "\n".join(map(str, report.unjustified)))


@pytest.mark.iam_contract
def test_removing_a_grant_the_flows_need_is_reported_as_a_denial(recording, translated_template):
    """The contract has teeth: drop the Summarize role's ApplyGuardrail statement from a copy of the translated
    template and the guarded Converse calls the flows made are reported, naming function, action, resource."""
    body = copy.deepcopy(translated_template)
    for policy in body["Resources"]["SummarizeFunctionRole"]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        policy["PolicyDocument"]["Statement"] = [s for s in statements if s.get("Action") != ["bedrock:ApplyGuardrail"]]
    configurations = [DeployedPolicies(ROOT, copy.deepcopy(body), parameters) for parameters in CONFIGURATIONS.values()]
    checks, _ = all_checks(recording, configurations[0])
    report = Contract(configurations).evaluate(checks, set(configurations[0].roles))
    assert report.denials, report.summary()
    assert {(d.principal, d.action) for d in report.denials} == {("SummarizeFunction", "bedrock:ApplyGuardrail")}
    assert all(":guardrail/" in d.resource and str(d).startswith("SummarizeFunction: bedrock:ApplyGuardrail on arn:aws:bedrock:")
               for d in report.denials)
