"""The least-privilege contract: recorded calls against the deployed policies.

Every recorded call of a function must be allowed by its execution role (identity policy) and, when it
reads or writes a KMS-encrypted resource, the KMS request it implies must be allowed by both the role and
the key policy (a key policy that names the account delegates to IAM; one that names neither the role nor
the account denies). State machines are held to what their definitions make Step Functions call
(iam.statemachines), and AWS services that use a key on the stack's behalf (S3 Vectors indexing, CloudWatch
alarms, EventBridge dead letters) to the key policy with their aws:SourceAccount/aws:SourceArn.

What the Lambda service itself does with a function's role (decrypt its environment, dead-letter a failed
event) is checked too (platform_checks). Every action a role grants must be used by some recorded call, or its
statement in template.yaml must carry a `# unused-by-offline-flows: <reason>` comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

from docpipe_local.iam.evaluate import ALLOW, EXPLICIT_DENY, Request, action_matches, evaluate
from docpipe_local.iam.policies import DeployedPolicies, Grant
from docpipe_local.iam.recorder import RecordedCall, Recording
from docpipe_local.template import ACCOUNT_ID, REGION

_VIA_SERVICE = {"s3": "s3", "dynamodb": "dynamodb", "s3vectors": "s3vectors", "sqs": "sqs"}


@dataclass(frozen=True)
class Check:
    """One authorization the contract evaluates: who, which action on which resource, and why."""

    principal: str  # function / state machine logical id, or "service:<principal>"
    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    via: str = ""  # the call (service.Operation) or the definition state that needs it
    kms: str | None = None

    @classmethod
    def of(cls, call: RecordedCall) -> "Check":
        return cls(call.function, call.action, call.resource, call.context, f"{call.service}.{call.operation}",
                   call.kms)

    def request(self, principal: str | None = None) -> Request:
        return Request(self.action, self.resource, {k: list(v) for k, v in self.context}, principal)


@dataclass(frozen=True)
class Denial:
    principal: str
    action: str
    resource: str
    via: str
    reason: str

    def __str__(self) -> str:
        return f"{self.principal}: {self.action} on {self.resource} ({self.via}) is denied: {self.reason}"


@dataclass(frozen=True)
class UnusedGrant:
    principal: str
    action: str
    resources: tuple[str, ...]
    policy: str
    justification: str | None

    def __str__(self) -> str:
        note = f" - justified: {self.justification}" if self.justification else " - NOT justified"
        return f"{self.principal}: {self.action} on {', '.join(self.resources)} ({self.policy}){note}"


@dataclass
class Report:
    denials: list[Denial] = field(default_factory=list)
    unused: list[UnusedGrant] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # justifications on statements the flows use after all
    checked: int = 0

    @property
    def unjustified(self) -> list[UnusedGrant]:
        return [grant for grant in self.unused if not grant.justification]

    def summary(self) -> str:
        lines = [f"{self.checked} authorizations checked"]
        lines += [f"DENIED  {d}" for d in self.denials]
        lines += [f"UNMAPPED  {u}" for u in self.unmapped]
        lines += [f"UNUSED  {u}" for u in self.unused]
        lines += [f"STALE JUSTIFICATION  {s}" for s in self.stale]
        return "\n".join(lines)


# The parameter sets the offline flows run the template with: the defaults, and the SageMaker generation
# backend (tests/flows/test_endpoints.py), whose grants exist only when the template is deployed that way.
CONFIGURATIONS: dict[str, dict[str, str]] = {
    "defaults": {},
    "sagemaker generation": {"EnableInferenceEndpoint": "true", "GenerationBackend": "sagemaker",
                             "InferenceImageUri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
                                                  "huggingface-pytorch-tgi-inference:2.4.0-tgi2.4.0-gpu-py311"},
}

_Used = tuple[str, str, str]  # (principal, the statement as JSON, action pattern)


class Contract:
    """Checks against the deployed policies of one or more configurations: a call passes when some
    configuration allows it (the one the flow ran in); denials are reported as the first one sees them."""

    def __init__(self, configurations: list[DeployedPolicies]):
        self.configurations = configurations
        self._used: set[_Used] = set()

    # --- one authorization ------------------------------------------------------------------------------
    def check(self, check: Check) -> list[Denial]:
        first: list[Denial] | None = None
        for policies in self.configurations:
            used: set[_Used] = set()
            denials = self._check(policies, check, used)
            if not denials:
                self._used |= used
                return []
            first = denials if first is None else first
        return first or []

    def _check(self, policies: DeployedPolicies, check: Check, used: set[_Used]) -> list[Denial]:
        if check.principal.startswith("service:"):
            return self._key_policy(policies, check, check.principal, identity_allows=False)
        role = policies.roles.get(check.principal)
        if role is None:
            return [Denial(check.principal, check.action, check.resource, check.via,
                           "the template has no function or state machine with this logical id")]
        denials = self._identity(check, role.grants, used)
        if check.kms:
            key = policies.key_for(check.resource)
            if key:
                service = check.resource.split(":")[2]
                kms_check = Check(check.principal, check.kms, key,
                                  (("kms:CallerAccount", (ACCOUNT_ID,)),
                                   ("kms:ViaService", (f"{_VIA_SERVICE.get(service, service)}.{REGION}.amazonaws.com",))),
                                  f"{check.via} on {check.resource}")
                identity = self._identity(kms_check, role.grants, used)
                denials += identity
                denials += self._key_policy(policies, kms_check, role.arn, identity_allows=not identity)
        return denials

    @staticmethod
    def _identity(check: Check, grants: list[Grant], used: set[_Used]) -> list[Denial]:
        decision = evaluate([g.statement for g in grants], check.request())
        if decision.effect == ALLOW:
            for grant in grants:
                if grant.statement in decision.statements:
                    used.update((grant.principal, _key(grant.statement), pattern) for pattern in grant.actions()
                                if action_matches(pattern, check.action))
            return []
        why = ("an explicit Deny in its role's policy" if decision.effect == EXPLICIT_DENY
               else "no statement of its role's policy allows it")
        return [Denial(check.principal, check.action, check.resource, check.via, why)]

    @staticmethod
    def _key_policy(policies: DeployedPolicies, check: Check, principal: str, identity_allows: bool) -> list[Denial]:
        statements = policies.key_policies.get(check.resource)
        if statements is None:
            return [Denial(check.principal, check.action, check.resource, check.via,
                           "the key is not one the template defines")]
        direct = evaluate(statements, check.request(principal))
        if direct.effect == EXPLICIT_DENY:
            return [Denial(check.principal, check.action, check.resource, check.via, "the key policy denies it")]
        if direct.effect == ALLOW:
            return []
        if principal.startswith("service:"):
            return [Denial(check.principal, check.action, check.resource, check.via,
                           "the key policy has no statement for this service principal with these conditions")]
        if evaluate(statements, check.request(f"arn:aws:iam::{ACCOUNT_ID}:root")).effect == ALLOW:
            return []  # the account delegates to IAM: the identity policy decides (checked on its own)
        return [Denial(check.principal, check.action, check.resource, check.via,
                       "the key policy allows neither the role nor the account (IAM policies cannot grant it)")]

    # --- the whole recording --------------------------------------------------------------------------------
    def evaluate(self, checks: Iterable[Check], covered: set[str], unmapped: Iterable[str] = ()) -> Report:
        report = Report(unmapped=list(unmapped))
        for check in checks:
            report.checked += 1
            report.denials += [d for d in self.check(check) if d not in report.denials]
        seen: set[_Used] = set()
        for policies in self.configurations:
            justified = policies.justifications()
            for principal in sorted(covered):
                role = policies.roles.get(principal)
                for grant in role.grants if role else []:
                    if grant.managed:
                        continue
                    for pattern in grant.actions():
                        mark = (principal, _key(grant.statement), pattern)
                        if mark in self._used or mark in seen:
                            continue
                        seen.add(mark)
                        reason = next((why for statement, why in justified.get(principal, [])
                                       if statement == grant.statement), None)
                        report.unused.append(UnusedGrant(principal, pattern, tuple(grant.resources()), grant.policy,
                                                         reason))
            for principal in sorted(covered):
                for statement, why in justified.get(principal, []):
                    marks = {(principal, _key(statement), pattern) for pattern in _actions(statement)}
                    if marks <= self._used and f"{principal}: {why}" not in report.stale:
                        report.stale.append(f"{principal}: {why}")
        return report


def _actions(statement: dict) -> list[str]:
    value = statement.get("Action", [])
    return value if isinstance(value, list) else [value]


def _key(statement: dict) -> str:
    return json.dumps(statement, sort_keys=True)


def checks_of(recording: Recording) -> tuple[list[Check], list[str]]:
    """The recorded calls as checks, and the calls that could not be translated (each an error)."""
    checks, unmapped = [], []
    for call in recording.calls:
        if call.error:
            unmapped.append(f"{call.function}: {call.error}")
        else:
            checks.append(Check.of(call))
    return checks, unmapped


def service_checks(checks: Iterable[Check], policies: DeployedPolicies) -> list[Check]:
    """What AWS services do with the stack's key on its behalf, each with the aws:SourceAccount/aws:SourceArn
    it presents: S3 Vectors indexing the vectors a function put, CloudWatch alarms publishing to an encrypted
    topic, EventBridge rules dead-lettering to an encrypted queue."""
    template, found = policies.template, []

    def add(service: str, actions: list[str], resource: str, source_arn: str, via: str) -> None:
        key = policies.key_for(resource)
        context = (("aws:SourceAccount", (ACCOUNT_ID,)), ("aws:SourceArn", (source_arn,)))
        found.extend(Check(f"service:{service}", action, key, context, via) for action in actions if key)

    for check in checks:
        if check.action == "s3vectors:PutVectors":
            bucket = check.resource.split("/index/")[0]
            add("indexing.s3vectors.amazonaws.com", ["kms:Decrypt"], bucket, bucket, f"indexing {bucket}")
    topics = {template.ref(logical_id): logical_id for logical_id in template.of_type("AWS::SNS::Topic")}
    for logical_id in template.of_type("AWS::CloudWatch::Alarm"):
        alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{template.physical_name(logical_id)}-EXAMPLE"
        for action in template.properties(logical_id).get("AlarmActions", []):
            if action in topics:
                add("cloudwatch.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey"], action, alarm,
                    f"{logical_id} notifying {topics[action]}")
    for logical_id in template.of_type("AWS::Events::Rule"):
        rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{template.physical_name(logical_id)}-EXAMPLE"
        for target in template.properties(logical_id).get("Targets", []):
            queue = target.get("DeadLetterConfig", {}).get("Arn")
            if queue:
                add("events.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey"], queue, rule,
                    f"{logical_id} dead-lettering {target['Id']}")
    return found


def platform_checks(policies: DeployedPolicies, invoked: set[str]) -> list[Check]:
    """What the Lambda service does with a function's own role, which no handler call shows: decrypt the
    environment variables with the function's KmsKeyArn, and send a failed asynchronous event to its
    DeadLetterQueue."""
    source, found = policies.source, []
    defaults = source.body.get("Globals", {}).get("Function", {})
    for logical_id in sorted(invoked & set(source.of_type("AWS::Serverless::Function"))):
        spec = {**defaults, **source.resources[logical_id].get("Properties", {})}
        key = policies.resolve(spec.get("KmsKeyArn"))
        if key:
            found.append(Check(logical_id, "kms:Decrypt", key,
                               (("kms:CallerAccount", (ACCOUNT_ID,)), ("kms:ViaService", (f"lambda.{REGION}.amazonaws.com",))),
                               "Lambda decrypting the environment variables"))
        queue = policies.resolve((spec.get("DeadLetterQueue") or {}).get("TargetArn"))
        if queue:
            found.append(Check(logical_id, "sqs:SendMessage", queue, (), "Lambda sending a failed event to the DLQ",
                               "kms:GenerateDataKey"))
    return found
