"""Generation against a SageMaker endpoint: the scaled-to-zero state is retried with backoff, bounded; the
idle unloader frees the local model; the emulators' SageMaker rules (moto internals canary)."""

from __future__ import annotations

import random

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from docpipe.generation import EndpointCapacityTimeout, invoke_with_capacity_retry
from docpipe.settings import get_settings


def _error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "InvokeEndpoint")


NO_CAPACITY = _error("ValidationError", "Inference Component has no capacity to process this request. "
                                        "ApplicationAutoScaling may be in-progress (if configured) ...")


@pytest.fixture
def backoff(monkeypatch):
    monkeypatch.setenv("DOCPIPE_ENDPOINT_CAPACITY_INITIAL_BACKOFF_SECONDS", "1")
    monkeypatch.setenv("DOCPIPE_ENDPOINT_CAPACITY_MAX_BACKOFF_SECONDS", "8")
    monkeypatch.setenv("DOCPIPE_ENDPOINT_CAPACITY_MAX_WAIT_SECONDS", "60")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class FakeClock:
    def __init__(self, monkeypatch):
        self.now = 1000.0
        self.sleeps: list[float] = []
        import docpipe.generation as generation

        monkeypatch.setattr(generation.time, "monotonic", lambda: self.now)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_no_capacity_and_model_not_ready_are_retried_with_growing_backoff(backoff, monkeypatch):
    clock = FakeClock(monkeypatch)
    errors = [NO_CAPACITY, NO_CAPACITY, _error("ModelNotReadyException", "still loading"), NO_CAPACITY]

    def invoke():
        if errors:
            raise errors.pop(0)
        return {"ok": True}

    response, waited, retries = invoke_with_capacity_retry(invoke, sleep=clock.sleep, rng=random.Random(1))
    assert response == {"ok": True} and retries == 4
    assert waited == pytest.approx(sum(clock.sleeps))
    ceilings = [1, 2, 4, 8]
    assert all(c / 2 <= s <= c for s, c in zip(clock.sleeps, ceilings))


def test_other_errors_are_not_retried(backoff, monkeypatch):
    clock = FakeClock(monkeypatch)
    calls = []

    def invoke():
        calls.append(1)
        raise _error("ValidationError", "Endpoint chat of account 123456789012 not found.")

    with pytest.raises(ClientError, match="not found"):
        invoke_with_capacity_retry(invoke, sleep=clock.sleep)
    assert len(calls) == 1 and clock.sleeps == []


def test_the_wait_is_bounded(backoff, monkeypatch):
    clock = FakeClock(monkeypatch)

    def invoke():
        raise NO_CAPACITY

    with pytest.raises(EndpointCapacityTimeout, match="had no capacity"):
        invoke_with_capacity_retry(invoke, sleep=clock.sleep, rng=random.Random(2))
    assert sum(clock.sleeps) <= 60 and len(clock.sleeps) >= 5


def test_bedrock_stays_the_default_path(monkeypatch):
    """Without DOCPIPE_GENERATION_ENDPOINT, converse calls Bedrock Converse and never SageMaker."""
    import docpipe.generation as generation

    monkeypatch.delenv("DOCPIPE_GENERATION_ENDPOINT", raising=False)
    monkeypatch.setenv("DOCPIPE_RESPONSE_CACHE_TABLE", "")
    monkeypatch.setenv("DOCPIPE_GUARDRAIL_ID", "")
    get_settings.cache_clear()
    called = []

    class Fake:
        def converse(self, **request):
            called.append(request["modelId"])
            return {"output": {"message": {"content": [{"text": "blue"}]}}, "stopReason": "end_turn",
                    "usage": {"inputTokens": 5, "outputTokens": 1}}

    monkeypatch.setattr(generation, "client", lambda name: Fake() if name == "bedrock-runtime" else pytest.fail(name))
    try:
        result = generation.converse("s", "u", max_tokens=4, temperature=0)
    finally:
        get_settings.cache_clear()
    assert called and result.text == "blue" and result.capacity_wait_s == 0


def test_inference_component_emulator_follows_sagemakers_rules(tmp_path):
    from docpipe_local.emulators.base import EmulatorHub
    from docpipe_local.emulators.sagemaker_endpoints import (EndpointRuntime, InferenceComponents,
                                                              LOCAL_COMPONENT, LOCAL_ENDPOINT, ScalableTargets,
                                                              ensure_local_endpoint)

    zeroed = []
    with mock_aws():
        components = InferenceComponents(tmp_path / "components.json", on_zero=zeroed.append)
        hub = EmulatorHub()
        for emulator in (components, EndpointRuntime(components, lambda name: None, None), ScalableTargets()):
            hub.register(emulator)
        with hub:
            ensure_local_endpoint(components)
            sagemaker = boto3.client("sagemaker", region_name="us-east-1")
            with pytest.raises(ClientError, match="at least 1"):  # a component cannot be created with zero copies
                sagemaker.create_inference_component(
                    InferenceComponentName="zero", EndpointName=LOCAL_ENDPOINT, VariantName="AllTraffic",
                    Specification={"ModelName": LOCAL_COMPONENT}, RuntimeConfig={"CopyCount": 0})
            listed = sagemaker.list_inference_components(EndpointNameEquals=LOCAL_ENDPOINT)["InferenceComponents"]
            assert [c["InferenceComponentName"] for c in listed] == [LOCAL_COMPONENT]
            sagemaker.update_inference_component_runtime_config(InferenceComponentName=LOCAL_COMPONENT,
                                                                DesiredRuntimeConfig={"CopyCount": 0})
            assert zeroed == [LOCAL_COMPONENT]
            runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
            with pytest.raises(ClientError, match="no capacity"):
                runtime.invoke_endpoint(EndpointName=LOCAL_ENDPOINT, InferenceComponentName=LOCAL_COMPONENT,
                                        Body=b'{"messages": [{"role": "user", "content": "hi"}]}')
            # Application Auto Scaling: the inference-component dimension (moto's enum lacks it) and moto's own
            scaling = boto3.client("application-autoscaling", region_name="us-east-1")
            scaling.register_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=f"inference-component/{LOCAL_COMPONENT}",
                ScalableDimension="sagemaker:inference-component:DesiredCopyCount", MinCapacity=0, MaxCapacity=2)
            targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
            assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
                (f"inference-component/{LOCAL_COMPONENT}", 0, 2)]
            with pytest.raises(ClientError, match="does not exist"):
                scaling.register_scalable_target(
                    ServiceNamespace="sagemaker", ResourceId="inference-component/nope",
                    ScalableDimension="sagemaker:inference-component:DesiredCopyCount", MinCapacity=0, MaxCapacity=1)
        # state survives the process: a new emulator reads the copies back
        assert InferenceComponents(tmp_path / "components.json").copies(LOCAL_COMPONENT) == 0
