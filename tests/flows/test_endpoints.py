"""Idle endpoints offline: the reaper function (the deployed handler) against moto's SageMaker, Application Auto
Scaling and CloudWatch plus the inference-component emulator; generation that waits for a scaled-to-zero
component; the local endpoint whose component is this machine's model host.

One runtime of its own (other settings: a short backoff and a fast scale-out from zero).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import time_machine

from docpipe_local.emulators.sagemaker_endpoints import LOCAL_COMPONENT, LOCAL_ENDPOINT
from docpipe_local.runtime import OfflineRuntime
from docpipe_local.template import ACCOUNT_ID, REGION
from tests.conftest import SAMPLES

from .targets import OfflineTarget

pytestmark = pytest.mark.offline_only(
    "creates its own fleet of endpoints in moto's SageMaker and moves the reaper's clock (time-machine), which "
    "a deployed stack allows neither; the reaper's decisions on AWS resources are the same code")

TAG = {"Key": "docpipe:idle-reaper", "Value": "enabled"}
IDLE_MINUTES = 5  # resources must be older than this, and quiet for this long, to be reaped
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-test"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    environment = {"DOCPIPE_LOCAL_SCALE_OUT_SECONDS": "0.5", "DOCPIPE_ENDPOINT_CAPACITY_INITIAL_BACKOFF_SECONDS": "0.2",
                   "DOCPIPE_ENDPOINT_CAPACITY_MAX_BACKOFF_SECONDS": "0.5",
                   "DOCPIPE_ENDPOINT_CAPACITY_MAX_WAIT_SECONDS": "30", "DOCPIPE_TARGET_LANGUAGES": "es"}
    with OfflineRuntime(home=tmp_path_factory.mktemp("docpipe-home"), persist=False,
                        environment=environment) as runtime:
        yield runtime


def _sagemaker():
    return boto3.client("sagemaker", region_name=REGION)


def _endpoint(name: str, tagged: bool, components: list[str] = ()) -> None:
    sagemaker = _sagemaker()
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "example/serving:1"})
    # AWS takes no ModelName in a variant that hosts inference components; moto 5.2.5 requires one
    variant = {"VariantName": "AllTraffic", "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1,
               "ModelName": name, "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}
    if components:
        variant["ManagedInstanceScaling"] = {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 2}
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[variant],
                                     Tags=[{"Key": "team", "Value": "docs"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config",
                              Tags=[TAG, {"Key": "owner", "Value": "tests"}] if tagged else [])
    for component in components:
        sagemaker.create_inference_component(
            InferenceComponentName=component, EndpointName=name, VariantName="AllTraffic",
            Specification={"ModelName": name, "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024}},
            RuntimeConfig={"CopyCount": 1})


def _traffic(dimensions: list[dict], at: datetime) -> None:
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dimensions, "Value": 3, "Unit": "Count", "Timestamp": at}])


def _copies(component: str) -> int:
    return _sagemaker().describe_inference_component(InferenceComponentName=component)["RuntimeConfig"]["CurrentCopyCount"]


def _exists(endpoint: str) -> bool:
    try:
        _sagemaker().describe_endpoint(EndpointName=endpoint)
        return True
    except _sagemaker().exceptions.ClientError:
        return False


@dataclass
class Fleet:
    original: dict  # legacy-idle's endpoint configuration, before the reaper deletes it
    reaped_at: datetime  # the reaper's clock: two idle windows after the fleet was created


@pytest.fixture(scope="module")
def fleet(runtime):
    """Tagged and untagged endpoints, with and without components, some busy: the reaper looks at them two
    idle windows after they were created (its clock moved, nobody sleeps), the busy ones having had traffic
    one minute before."""
    _endpoint("chat", tagged=True, components=["chat-idle", "chat-busy", "chat-pinned"])
    _endpoint("other-team", tagged=False, components=["other-idle"])
    _endpoint("legacy-idle", tagged=True)
    _endpoint("legacy-busy", tagged=True)
    _endpoint("legacy-untagged", tagged=False)
    boto3.client("application-autoscaling", region_name=REGION).register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId="inference-component/chat-pinned",
        ScalableDimension="sagemaker:inference-component:DesiredCopyCount", MinCapacity=1, MaxCapacity=2)
    original = _sagemaker().describe_endpoint_config(EndpointConfigName="legacy-idle-config")
    reaped_at = datetime.now(timezone.utc) + timedelta(minutes=2 * IDLE_MINUTES)
    _traffic([{"Name": "InferenceComponentName", "Value": "chat-busy"}], reaped_at - timedelta(minutes=1))
    _traffic([{"Name": "EndpointName", "Value": "legacy-busy"}, {"Name": "VariantName", "Value": "AllTraffic"}],
             reaped_at - timedelta(minutes=1))
    return Fleet(original, reaped_at)


def _reap(runtime, fleet: Fleet, dry_run: bool) -> dict[tuple[str, str | None], dict]:
    with time_machine.travel(fleet.reaped_at, tick=True):  # the handler's datetime.now(), not its timers
        report = runtime.invoke("EndpointReaperFunction", {"action": "reap", "dry_run": dry_run,
                                                           "idle_minutes": IDLE_MINUTES})
    assert report["dry_run"] is dry_run
    return {(d["endpoint"], d["component"]): d for d in report["decisions"]}


def _log_lines(runtime, message: str) -> list[dict]:
    lines = [json.loads(line) for line in runtime.log_path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("message") == message]


def test_dry_run_decides_but_changes_nothing(runtime, fleet):
    before = len(_log_lines(runtime, "endpoint reaper decision"))
    decisions = _reap(runtime, fleet, dry_run=True)
    assert decisions[("chat", "chat-idle")]["action"] == "scale_to_zero"
    assert decisions[("legacy-idle", None)]["action"] == "delete_endpoint"
    assert not any(d["applied"] for d in decisions.values())
    assert _copies("chat-idle") == 1 and _exists("legacy-idle")
    logged = _log_lines(runtime, "endpoint reaper decision")[before:]
    assert len(logged) == len(decisions)  # one log line per decision
    assert all(line["dry_run"] is True for line in logged)


def test_idle_component_scaled_to_zero_busy_and_untagged_untouched(runtime, fleet):
    decisions = _reap(runtime, fleet, dry_run=False)
    assert decisions[("chat", "chat-idle")]["applied"] and _copies("chat-idle") == 0
    assert decisions[("chat", "chat-busy")]["action"] == "keep" and _copies("chat-busy") == 1
    assert decisions[("chat", "chat-busy")]["invocations"] == 3
    # Application Auto Scaling would put the copies back: the reaper leaves a component with MinCapacity > 0
    assert decisions[("chat", "chat-pinned")]["action"] == "skip" and _copies("chat-pinned") == 1
    # untagged: never even considered
    assert not [key for key in decisions if key[0] in ("other-team", "legacy-untagged")]
    assert _copies("other-idle") == 1 and _exists("legacy-untagged")
    # an endpoint without components is recorded, then deleted; a busy one stays
    assert decisions[("legacy-idle", None)]["applied"] and not _exists("legacy-idle")
    assert decisions[("legacy-busy", None)]["action"] == "keep" and _exists("legacy-busy")
    # a second pass leaves what it already did alone, and the busy ones busy
    again = _reap(runtime, fleet, dry_run=False)
    assert again[("chat", "chat-idle")]["reason"] == "already at zero copies"
    assert not again[("chat", "chat-idle")]["applied"] and ("legacy-idle", None) not in again
    assert again[("chat", "chat-busy")]["action"] == again[("legacy-busy", None)]["action"] == "keep"


def test_status_lists_components_and_reaped_endpoints(runtime, fleet):
    report = runtime.invoke("EndpointReaperFunction", {"action": "status", "idle_minutes": 5})
    endpoints = {e["name"]: e for e in report["endpoints"]}
    assert endpoints["chat"]["tagged"] and not endpoints["other-team"]["tagged"]
    components = {c["name"]: c for c in endpoints["chat"]["components"]}
    assert components["chat-idle"]["current_copies"] == 0 and components["chat-pinned"]["min_capacity"] == 1
    assert "legacy-idle" in {r["endpoint_name"] for r in report["deleted"]}


def test_wake_recreates_the_deleted_endpoint_with_the_same_configuration(runtime, fleet):
    sagemaker = _sagemaker()
    sagemaker.delete_endpoint_config(EndpointConfigName="legacy-idle-config")  # gone too: wake rebuilds it
    woken = runtime.invoke("EndpointReaperFunction", {"action": "wake", "endpoint_name": "legacy-idle"})["woken"]
    assert woken["recreated_config"] is True
    endpoint = sagemaker.describe_endpoint(EndpointName="legacy-idle")
    assert endpoint["EndpointConfigName"] == "legacy-idle-config"
    config = sagemaker.describe_endpoint_config(EndpointConfigName="legacy-idle-config")
    assert config["ProductionVariants"] == fleet.original["ProductionVariants"]
    tags = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
    assert {(t["Key"], t["Value"]) for t in tags} == {(TAG["Key"], TAG["Value"]), ("owner", "tests")}
    config_tags = sagemaker.list_tags(ResourceArn=config["EndpointConfigArn"])["Tags"]
    assert config_tags == [{"Key": "team", "Value": "docs"}]
    status = runtime.invoke("EndpointReaperFunction", {"action": "status"})
    assert "legacy-idle" not in {r["endpoint_name"] for r in status["deleted"]}
    again = runtime.invoke("EndpointReaperFunction", {"action": "wake", "endpoint_name": "legacy-idle"})["woken"]
    assert again["recreated"] is False and again["components"] == []  # there now, nothing to wake


def test_generation_waits_for_a_scaled_to_zero_component_and_reports_the_wait(runtime, monkeypatch):
    from docpipe.generation import converse
    from docpipe.settings import get_settings
    from docpipe_local.engines.llm import get_llm

    monkeypatch.setenv("DOCPIPE_GENERATION_ENDPOINT", LOCAL_ENDPOINT)
    monkeypatch.setenv("DOCPIPE_GENERATION_INFERENCE_COMPONENT", LOCAL_COMPONENT)
    monkeypatch.setenv("DOCPIPE_RESPONSE_CACHE_TABLE", "")
    get_settings.cache_clear()
    try:
        _sagemaker().update_inference_component_runtime_config(  # the reaper tests may have scaled it to zero
            InferenceComponentName=LOCAL_COMPONENT, DesiredRuntimeConfig={"CopyCount": 1})
        warm = converse("Answer in one word.", "What colour is the sky?", max_tokens=6, temperature=0)
        assert warm.capacity_wait_s == 0 and warm.capacity_retries == 0 and warm.output_tokens > 0
        llm = get_llm()
        assert llm.loaded
        loads = llm.loads
        _sagemaker().update_inference_component_runtime_config(
            InferenceComponentName=LOCAL_COMPONENT, DesiredRuntimeConfig={"CopyCount": 0})
        assert not llm.loaded  # scale to zero frees the local model's memory
        cold = converse("Answer in one word.", "What colour is grass?", max_tokens=6, temperature=0)
        # it met zero copies, was told so, waited and retried until the component scaled out; the wait it
        # reports is the backoff it slept (how long the emulator's scale-out takes is the emulator's business)
        assert cold.capacity_retries >= 1 and cold.capacity_wait_s > 0
        assert cold.output_tokens > 0 and llm.loads == loads + 1 and _copies(LOCAL_COMPONENT) == 1
        failures = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName="NoCapacityInvocationFailures",
            Dimensions=[{"Name": "InferenceComponentName", "Value": LOCAL_COMPONENT}],
            StartTime=datetime.fromtimestamp(time.time() - 300, timezone.utc),
            EndTime=datetime.fromtimestamp(time.time() + 5, timezone.utc), Period=300, Statistics=["Sum"])
        assert sum(p["Sum"] for p in failures["Datapoints"]) == cold.capacity_retries
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_pipeline_summarizes_on_the_endpoint_and_the_manifest_reports_the_wait(runtime, monkeypatch):
    """GenerationBackend=sagemaker offline: the summarize stage meets a component at zero copies, waits, and
    its manifest entry says how long."""
    from docpipe.settings import get_settings

    monkeypatch.setenv("DOCPIPE_GENERATION_ENDPOINT", LOCAL_ENDPOINT)
    monkeypatch.setenv("DOCPIPE_GENERATION_INFERENCE_COMPONENT", LOCAL_COMPONENT)
    get_settings.cache_clear()
    try:
        _sagemaker().update_inference_component_runtime_config(
            InferenceComponentName=LOCAL_COMPONENT, DesiredRuntimeConfig={"CopyCount": 0})
        result = OfflineTarget(runtime).process((SAMPLES / "scanned_notice.txt").read_bytes(), "endpoint-mode.txt")
        assert result.result["status"] == "SUCCEEDED", result.result
        summarize = next(s for s in result.manifest()["stages"] if s["name"] == "summarize")
        endpoint = summarize["detail"]["endpoint"]
        assert endpoint["name"] == LOCAL_ENDPOINT and endpoint["inference_component"] == LOCAL_COMPONENT
        assert endpoint["capacity_retries"] >= 1 and endpoint["capacity_wait_s"] > 0
        assert summarize["usage"]["generation_output_tokens"] > 0
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
