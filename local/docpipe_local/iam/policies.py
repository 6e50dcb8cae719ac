"""The policies that would be in force after `sam deploy`: template.yaml through the SAM translator.

aws-sam-translator (the library inside `sam build`/CloudFormation's transform) expands each function's
and state machine's `Policies` (statements and policy templates such as LambdaInvokePolicy) into the
execution role it creates. Local paths (CodeUri, ContentUri, DefinitionUri) become placeholder S3 URIs, as
`sam package` would make them. Intrinsics are then resolved with the offline runtime's own naming
(docpipe_local.template: parameter defaults, `<stack>-<LogicalId>` names, the offline account and
Region), so a policy's ARNs are the ARNs the recorded calls carry.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from docpipe_local.iam.evaluate import statements_of
from docpipe_local.template import ACCOUNT_ID, REGION, Template, load_template

# AWS managed policies SAM attaches to execution roles, as AWS publishes them (they grant what the Lambda
# and Step Functions services need for logs and traces; no handler calls these actions itself).
MANAGED_POLICIES: dict[str, list[dict]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"}],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                                       "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"],
         "Resource": "*"}],
}
_PLACEHOLDER_BUCKET = "docpipe-sam-artifacts"
JUSTIFICATION = "unused-by-offline-flows:"


def translated(root: Path) -> dict:
    """template.yaml as CloudFormation sees it after the Serverless transform."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    body = copy.deepcopy(load_template(root / "template.yaml"))
    for spec in body["Resources"].values():
        props = spec.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://{_PLACEHOLDER_BUCKET}/{props[key].strip('/')}"
    parameters = {name: spec["Default"] for name, spec in body.get("Parameters", {}).items() if "Default" in spec}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(body, parameter_values=parameters, get_managed_policy_map=dict)


@dataclass
class Grant:
    """One statement of a role's policy, and where it came from."""

    principal: str  # the logical id of the function or state machine the role belongs to
    policy: str  # the inline policy's name, or a managed policy's ARN
    index: int
    statement: dict
    managed: bool = False

    def actions(self) -> list[str]:
        value = self.statement.get("Action", [])
        return value if isinstance(value, list) else [value]

    def resources(self) -> list[str]:
        value = self.statement.get("Resource", [])
        return value if isinstance(value, list) else [value]


@dataclass
class Role:
    arn: str
    grants: list[Grant] = field(default_factory=list)

    @property
    def statements(self) -> list[dict]:
        return [grant.statement for grant in self.grants]


def _without_novalue(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_novalue(item) for item in value if item is not None]
    if isinstance(value, dict):
        return {key: _without_novalue(item) for key, item in value.items() if item is not None}
    return value


class DeployedPolicies:
    """Roles of the template's functions and state machines, KMS key policies, and which key encrypts what."""

    def __init__(self, root: Path, body: dict | None = None, parameters: dict[str, str] | None = None):
        self.root = root
        self.parameters = parameters or {}
        # the SAM template: its resources name things as the runtime does
        self.source = Template.load(root, self.parameters)
        self.body = body if body is not None else translated(root)
        # resolve with the SAM resources' own types, so names and ARNs match the offline runtime's
        merged = {**self.body, "Resources": {**self.body["Resources"], **self.source.resources}}
        self.template = Template(body=merged, root=root, parameters=self.source.parameters)
        self.roles = {logical_id: self._role(logical_id)
                      for logical_id, spec in self.body["Resources"].items()
                      if spec["Type"] in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")}

    def resolve(self, value: Any) -> Any:
        return _without_novalue(self.template.resolve(value))

    def _role(self, logical_id: str) -> Role:
        props = self.body["Resources"][logical_id]["Properties"]
        role_ref = props.get("Role") or props.get("RoleArn")
        role_id = role_ref["Fn::GetAtt"][0]
        role = self.body["Resources"][role_id]["Properties"]
        found = Role(arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{self.template.physical_name(role_id)}")
        for policy in role.get("Policies", []):
            document = self.resolve(policy["PolicyDocument"])
            for index, statement in enumerate(statements_of(document)):
                found.grants.append(Grant(logical_id, policy["PolicyName"], index, statement))
        for arn in self.resolve(role.get("ManagedPolicyArns", [])):
            if arn not in MANAGED_POLICIES:
                raise ValueError(f"{logical_id}'s role attaches {arn}: add its statements to MANAGED_POLICIES")
            found.grants += [Grant(logical_id, arn, i, s, managed=True) for i, s in enumerate(MANAGED_POLICIES[arn])]
        return found

    # --- KMS ------------------------------------------------------------------------------------------------
    @cached_property
    def key_policies(self) -> dict[str, list[dict]]:
        """Key ARN -> the statements of its key policy."""
        return {self.template.get_att(logical_id, "Arn"): statements_of(self.resolve(spec["Properties"]["KeyPolicy"]))
                for logical_id, spec in self.body["Resources"].items() if spec["Type"] == "AWS::KMS::Key"}

    def _key_arn(self, value: Any) -> str | None:
        key = self.resolve(value)
        if not key:
            return None
        return key if key.startswith("arn:") else self.template.get_att(key, "Arn") if key in self.source.resources \
            else f"arn:aws:kms:{self.template.ref('AWS::Region')}:{ACCOUNT_ID}:key/{key}"

    @cached_property
    def encryption_keys(self) -> dict[str, str]:
        """Resource ARN prefix (bucket, table, vector bucket, queue) -> the KMS key ARN that encrypts it."""
        keys: dict[str, str] = {}
        for logical_id, spec in self.source.resources.items():
            props, kind = spec.get("Properties", {}), spec["Type"]
            key = None
            if kind == "AWS::S3::Bucket":
                rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
                key = next((r["ServerSideEncryptionByDefault"].get("KMSMasterKeyID") for r in rules), None)
                arn = self.template.get_att(logical_id, "Arn")
            elif kind == "AWS::DynamoDB::Table":
                key = props.get("SSESpecification", {}).get("KMSMasterKeyId")
                arn = self.template.get_att(logical_id, "Arn")
            elif kind == "AWS::S3Vectors::VectorBucket":
                key = props.get("EncryptionConfiguration", {}).get("KmsKeyArn")
                arn = (f"arn:aws:s3vectors:{self.template.ref('AWS::Region')}:{ACCOUNT_ID}:bucket/"
                       f"{self.template.physical_name(logical_id)}")
            elif kind == "AWS::SQS::Queue":
                key = props.get("KmsMasterKeyId")
                arn = self.template.get_att(logical_id, "Arn")
            elif kind == "AWS::SNS::Topic":
                key = props.get("KmsMasterKeyId")
                arn = self.template.get_att(logical_id, "Arn")
            key_arn = self._key_arn(key) if key else None
            if key_arn:
                keys[arn] = key_arn
        return keys

    def key_for(self, resource: str) -> str | None:
        for prefix, key in self.encryption_keys.items():
            if resource == prefix or resource.startswith(prefix + "/"):
                return key
        return None

    # --- justified grants -----------------------------------------------------------------------------------
    def justifications(self) -> dict[str, list[tuple[dict, str]]]:
        """Per function or state machine: (resolved statement, reason) for each statement of its Policies whose
        lines carry a `# unused-by-offline-flows: <reason>` comment."""
        lines = (self.root / "template.yaml").read_text().splitlines()
        node = yaml.compose((self.root / "template.yaml").read_text(), Loader=_ComposeLoader)
        found: dict[str, list[tuple[dict, str]]] = {}
        resources = _child(node, "Resources")
        for key_node, resource in resources.value:
            policies = _child(_child(resource, "Properties"), "Policies")
            if policies is None:
                continue
            raw = self.source.resources[key_node.value]["Properties"]["Policies"]
            for p_index, policy in enumerate(policies.value):
                statements = _child(policy, "Statement")
                if statements is None:
                    continue
                for s_index, statement in enumerate(statements.value):
                    text = "\n".join(lines[statement.start_mark.line:_last_line(statement) + 1])
                    match = re.search(re.escape(JUSTIFICATION) + r"\s*(.+)", text)
                    if match:
                        resolved = self.resolve(raw[p_index]["Statement"][s_index])
                        if resolved:
                            found.setdefault(key_node.value, []).append((resolved, match.group(1).strip()))
        return found


class _ComposeLoader(yaml.SafeLoader):
    """Composes nodes (with their line numbers) whatever the short-form tag."""


_ComposeLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _last_line(node: yaml.Node) -> int:
    """The line a node's last scalar ends on (a block node's own end mark lies on the next item's line)."""
    if isinstance(node, yaml.ScalarNode):
        return node.end_mark.line
    children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
    return max((_last_line(child) for child in children), default=node.start_mark.line)


def _child(node: Any, key: str) -> Any:
    if node is None or not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value in node.value:
        if key_node.value == key:
            return value
    return None
