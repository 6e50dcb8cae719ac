"""Read template.yaml as CloudFormation would: short-form tags, parameters, conditions and intrinsics.

Only what the offline runtime needs is resolved (Ref, GetAtt, Sub, Join, If, Equals, Not, And, Or, Select,
Split); physical names follow the resources' own name properties, or `<stack>-<LogicalId>` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "docpipe-local"

_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::Table": "TableName", "AWS::Serverless::Function": "FunctionName",
    "AWS::Serverless::StateMachine": "Name", "AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName",
    "AWS::Events::Rule": "Name", "AWS::Serverless::LayerVersion": "LayerName", "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3Vectors::VectorBucket": "VectorBucketName", "AWS::S3Vectors::Index": "IndexName",
}
_NAME_PROPERTY.update({  # SageMaker (issue 8): their names are also GetAtt attributes
    "AWS::SageMaker::Model": "ModelName", "AWS::SageMaker::EndpointConfig": "EndpointConfigName",
    "AWS::SageMaker::Endpoint": "EndpointName", "AWS::SageMaker::InferenceComponent": "InferenceComponentName",
})


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)


@dataclass
class Template:
    """A parsed template with its parameters resolved, ready to answer Ref / GetAtt / Sub."""

    body: dict
    root: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    stack_name: str = STACK_NAME

    @classmethod
    def load(cls, root: Path, overrides: dict[str, str] | None = None, stack_name: str = STACK_NAME) -> "Template":
        body = load_template(root / "template.yaml")
        template = cls(body=body, root=root, stack_name=stack_name)
        for name, spec in body.get("Parameters", {}).items():
            value = (overrides or {}).get(name, spec.get("Default"))
            if value is None:
                raise ValueError(f"template parameter {name} has no default: pass a value")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [item.strip() for item in value.split(",") if item.strip()]
            template.parameters[name] = value
        return template

    @property
    def resources(self) -> dict[str, dict]:
        return self.body["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {name: spec for name, spec in self.resources.items() if spec["Type"] == resource_type}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.body.get("Conditions", {})[name]))

    def properties(self, logical_id: str) -> dict:
        return self.resolve(self.resources[logical_id].get("Properties", {}))

    # --- physical names and attributes -----------------------------------------------------------
    def physical_name(self, logical_id: str) -> str:
        spec = self.resources[logical_id]
        prop = _NAME_PROPERTY.get(spec["Type"])
        if prop and prop in spec.get("Properties", {}):
            return self.resolve(spec["Properties"][prop])
        return f"{self.stack_name}-{logical_id}"

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::AccountId": ACCOUNT_ID, "AWS::Region": REGION, "AWS::StackName": self.stack_name,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource_type = self.resources[name]["Type"]
        physical = self.physical_name(name)
        if resource_type in ("AWS::Serverless::StateMachine", "AWS::SNS::Topic", "AWS::Serverless::LayerVersion"):
            return self.get_att(name, "Arn")
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{physical}"
        return physical

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.resources[logical_id]["Type"]
        physical = self.physical_name(logical_id)
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{physical}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{physical}",
            "AWS::Serverless::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{physical}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{physical}",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{physical}",
            "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{physical}",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{physical}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{physical}:*",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}",
        }
        if resource_type == "AWS::Bedrock::Guardrail" and attribute == "GuardrailId":
            return logical_id.lower()  # offline ids are stable, so caches keyed by them survive restarts
        if resource_type == "AWS::Bedrock::GuardrailVersion" and attribute == "Version":
            return "1"
        if attribute == "Arn":
            return arns.get(resource_type, f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{logical_id}")
        if attribute in ("Name", "QueueName", "TopicName"):
            return physical
        if attribute == _NAME_PROPERTY.get(resource_type) and resource_type.startswith("AWS::SageMaker::"):
            return physical
        raise KeyError(f"offline runtime cannot resolve {logical_id}.{attribute}")

    # --- intrinsic functions -------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        return {key: self.resolve(item) for key, item in value.items()}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            return self.get_att(*arg)
        if name == "Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._sub_var(m.group(1), variables)), text)
        if name == "Join":
            return self.resolve(arg[0]).join(str(item) for item in self.resolve(arg[1]))
        if name == "If":
            return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
        if name == "Equals":
            return self.resolve(arg[0]) == self.resolve(arg[1])
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(item) for item in arg)
        if name == "Or":
            return any(self.resolve(item) for item in arg)
        if name == "Select":
            return self.resolve(arg[1])[int(self.resolve(arg[0]))]
        if name == "Split":
            return self.resolve(arg[1]).split(arg[0])
        raise NotImplementedError(f"Fn::{name} is not supported offline")

    def _sub_var(self, name: str, variables: dict) -> Any:
        if name in variables:
            return variables[name]
        if "." in name and not name.startswith("AWS::"):
            return self.get_att(*name.split(".", 1))
        value = self.ref(name)
        return ",".join(value) if isinstance(value, list) else value
