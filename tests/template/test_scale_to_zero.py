"""The idle-endpoint resources against what AWS documents for scaling an endpoint to zero instances:
inference components, ManagedInstanceScaling MinInstanceCount 0, a component created with at least one
copy, a scalable target with MinCapacity 0 on DesiredCopyCount, target tracking on concurrent requests per
copy, and the scale-out-from-zero path (step scaling driven by a NoCapacityInvocationFailures alarm)."""

import pytest

from docpipe_local.template import Template

from .conftest import ROOT

ENDPOINT_TYPES = {"AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint",
                  "AWS::SageMaker::InferenceComponent", "AWS::ApplicationAutoScaling::ScalableTarget",
                  "AWS::ApplicationAutoScaling::ScalingPolicy"}


def _one(raw, resource_type):
    found = {n: s for n, s in raw["Resources"].items() if s["Type"] == resource_type}
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def enabled() -> Template:
    """The template resolved with the endpoint switched on (a deploy with EnableInferenceEndpoint=true)."""
    return Template.load(ROOT, {"EnableInferenceEndpoint": "true", "GenerationBackend": "sagemaker",
                                "InferenceImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tgi:latest"})


def test_endpoint_resources_are_off_by_default(raw_template, template):
    assert raw_template["Parameters"]["EnableInferenceEndpoint"]["Default"] == "false"
    assert not template.condition("InferenceEndpointEnabled")
    guarded = [n for n, s in raw_template["Resources"].items() if s["Type"] in ENDPOINT_TYPES
               or n in ("InferenceExecutionRole", "InferenceNoCapacityAlarm")]
    assert len(guarded) >= 9
    for name in guarded:
        assert raw_template["Resources"][name].get("Condition") == "InferenceEndpointEnabled", name
    # by default generation stays on Bedrock
    assert template.resolve(raw_template["Globals"]["Function"]["Environment"]["Variables"]
                            ["DOCPIPE_GENERATION_ENDPOINT"]) == ""


def test_endpoint_config_scales_instances_to_zero(raw_template, enabled):
    name, _ = _one(raw_template, "AWS::SageMaker::EndpointConfig")
    props = enabled.properties(name)
    assert props["ExecutionRoleArn"]  # required when the endpoint hosts inference components
    (variant,) = props["ProductionVariants"]
    assert "ModelName" not in variant  # the model belongs to the inference component
    assert variant["InitialInstanceCount"] >= 1
    scaling = variant["ManagedInstanceScaling"]
    assert scaling["Status"] == "ENABLED" and scaling["MinInstanceCount"] == 0
    assert int(scaling["MaxInstanceCount"]) >= 1
    assert variant["RoutingConfig"]["RoutingStrategy"] == "LEAST_OUTSTANDING_REQUESTS"


def test_the_model_is_hosted_by_an_inference_component_created_with_copies(raw_template, enabled):
    name, _ = _one(raw_template, "AWS::SageMaker::InferenceComponent")
    props = enabled.properties(name)
    assert props["RuntimeConfig"]["CopyCount"] >= 1  # cannot be created with zero copies
    assert props["Specification"]["ModelName"] and props["Specification"]["ComputeResourceRequirements"]
    endpoint_name, endpoint = _one(raw_template, "AWS::SageMaker::Endpoint")
    assert props["EndpointName"] == enabled.properties(endpoint_name)["EndpointName"]
    assert {"Key": "docpipe:idle-reaper", "Value": "enabled"} in endpoint["Properties"]["Tags"]
    env = enabled.resolve(raw_template["Globals"]["Function"]["Environment"]["Variables"])
    assert env["DOCPIPE_GENERATION_ENDPOINT"] == props["EndpointName"]
    assert env["DOCPIPE_GENERATION_INFERENCE_COMPONENT"] == props["InferenceComponentName"]


def test_auto_scaling_goes_to_zero_copies_and_back(raw_template, enabled):
    component = enabled.properties(_one(raw_template, "AWS::SageMaker::InferenceComponent")[0])
    target_name, target_spec = _one(raw_template, "AWS::ApplicationAutoScaling::ScalableTarget")
    target = enabled.properties(target_name)
    assert target["ServiceNamespace"] == "sagemaker"
    assert target["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert target["ResourceId"] == f"inference-component/{component['InferenceComponentName']}"
    assert target["MinCapacity"] == 0 and int(target["MaxCapacity"]) >= 1
    assert "InferenceComponent" in str(target_spec.get("DependsOn"))
    policies = {n: s["Properties"] for n, s in raw_template["Resources"].items()
                if s["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"}
    by_type = {p["PolicyType"]: (n, p) for n, p in policies.items()}
    assert set(by_type) == {"TargetTrackingScaling", "StepScaling"}
    for _, policy in by_type.values():
        assert policy["ScalingTargetId"] == {"Ref": target_name}
    tracking = by_type["TargetTrackingScaling"][1]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
        "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
    step_name, step = by_type["StepScaling"]
    config = step["StepScalingPolicyConfiguration"]
    assert config["AdjustmentType"] == "ChangeInCapacity"
    assert config["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    alarms = [enabled.properties(n) | {"_raw": s["Properties"]} for n, s in raw_template["Resources"].items()
              if s["Type"] == "AWS::CloudWatch::Alarm" and s["Properties"].get("MetricName") == "NoCapacityInvocationFailures"]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["Namespace"] == "AWS/SageMaker"
    assert alarm["Dimensions"] == [{"Name": "InferenceComponentName", "Value": component["InferenceComponentName"]}]
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1
    assert alarm["_raw"]["AlarmActions"] == [{"Ref": step_name}]


def test_the_reaper_runs_on_a_scheduler_rate_and_deletes_only_tagged_endpoints(raw_template, template):
    function = raw_template["Resources"]["EndpointReaperFunction"]["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert template.resolve(event["Properties"]["ScheduleExpression"]).startswith("rate(")
    statements = function["Policies"][0]["Statement"]
    deletes = [s for s in statements if "sagemaker:DeleteEndpoint" in s["Action"]]
    assert deletes and all(s["Condition"]["StringEquals"]["aws:ResourceTag/docpipe:idle-reaper"] == "enabled"
                           for s in deletes)
    env = template.resolve(function["Environment"]["Variables"])
    assert env["DOCPIPE_REAPER_TABLE"] == template.properties("EndpointReaperTable")["TableName"]
    assert env["DOCPIPE_REAPER_DRY_RUN"] == "false"
    table = raw_template["Resources"]["EndpointReaperTable"]["Properties"]
    assert table["SSESpecification"]["SSEEnabled"] is True
