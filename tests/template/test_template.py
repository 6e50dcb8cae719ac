"""Security and wiring of template.yaml, checked statically."""

from pathlib import Path

import pytest

from .conftest import ROOT


def _statements(node):
    """Every IAM statement anywhere in the template (policies, key policies, inline SAM policies)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _resources(raw, resource_type):
    return {name: spec for name, spec in raw["Resources"].items() if spec["Type"] == resource_type}


def test_no_wildcard_actions_are_allowed(raw_template):
    allows = [s for s in _statements(raw_template) if s["Effect"] == "Allow"]
    assert allows
    for statement in allows:
        assert "NotAction" not in statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert "*" not in action, f"wildcard action {action}"


def test_state_machine_policies_are_per_function(raw_template):
    for spec in _resources(raw_template, "AWS::Serverless::StateMachine").values():
        for policy in spec["Properties"]["Policies"]:
            assert "LambdaInvokePolicy" in policy or "Statement" in policy


def test_buckets_are_encrypted_private_versioned_and_tls_only(raw_template):
    buckets = _resources(raw_template, "AWS::S3::Bucket")
    policies = _resources(raw_template, "AWS::S3::BucketPolicy")
    assert buckets
    for name, spec in buckets.items():
        props = spec["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["VersioningConfiguration"]["Status"] == "Enabled"
        bucket_policies = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": name}]
        assert any(s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                   for p in bucket_policies for s in p["Properties"]["PolicyDocument"]["Statement"])


def test_documents_bucket_lifecycle_and_eventbridge(raw_template):
    props = raw_template["Resources"]["DocumentsBucket"]["Properties"]
    assert props["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    prefixes = {rule.get("Prefix") for rule in props["LifecycleConfiguration"]["Rules"]}
    assert {"work/", "quarantine/"} <= prefixes


def test_kms_key_rotates(raw_template):
    for spec in _resources(raw_template, "AWS::KMS::Key").values():
        assert spec["Properties"]["EnableKeyRotation"] is True


def test_functions_run_python313_on_arm64_with_the_layer(raw_template):
    defaults = raw_template["Globals"]["Function"]
    assert defaults["Runtime"] == "python3.13" and defaults["Architectures"] == ["arm64"]
    assert defaults["Tracing"] == "Active"
    for name, spec in _resources(raw_template, "AWS::Serverless::Function").items():
        code = ROOT / spec["Properties"]["CodeUri"]
        assert (code / "app.py").exists(), name
        assert "Runtime" not in spec["Properties"] and "Architectures" not in spec["Properties"]


def test_state_machines_log_and_trace(raw_template):
    for spec in _resources(raw_template, "AWS::Serverless::StateMachine").values():
        props = spec["Properties"]
        assert props["Type"] == "STANDARD"
        assert props["Tracing"]["Enabled"] is True
        assert props["Logging"]["Level"] in ("ALL", "ERROR") and props["Logging"]["Destinations"]


def test_inbox_rule_retries_and_dead_letters(raw_template):
    rule = raw_template["Resources"]["InboxRule"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["Object Created"]
    for target in rule["Targets"]:
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert target["DeadLetterConfig"]["Arn"]


def test_alarms_on_failed_executions_and_dead_letters(raw_template):
    metrics = {spec["Properties"]["MetricName"] for spec in _resources(raw_template, "AWS::CloudWatch::Alarm").values()}
    assert {"ExecutionsFailed", "ApproximateNumberOfMessagesVisible"} <= metrics


def test_layer_bundles_powertools_and_pydantic_fully_pinned_and_no_second_botocore(raw_template):
    lines = [line.split("#")[0].strip() for line in (ROOT / "layers/common/requirements.txt").read_text().splitlines()]
    pins = dict(line.split("==") for line in lines if line)
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic", "pydantic-core"} <= set(pins)
    assert not {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "jmespath"} & set(pins)
    assert all(version.strip() for version in pins.values())
    layer = _resources(raw_template, "AWS::Serverless::LayerVersion")["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert "--no-deps" in (ROOT / "layers/common/Makefile").read_text()


def test_samconfig_has_default_dev_and_prod():
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert {"default", "dev", "prod"} <= set(config)


def test_offline_resolution_of_the_trigger_pattern(template):
    pattern = template.properties("InboxRule")["EventPattern"]
    assert pattern["detail"]["bucket"]["name"] == [template.ref("DocumentsBucket")]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "inbox/"}]
