"""SageMaker inference components and InvokeEndpoint, where moto 5.2.5 has none (or a canned answer).

moto keeps models, endpoint configs, endpoints and tags; this module answers only what it lacks:

- ``sagemaker``: CreateInferenceComponent, DescribeInferenceComponent, ListInferenceComponents,
  DeleteInferenceComponent, UpdateInferenceComponentRuntimeConfig. Components live on an existing endpoint
  (checked against moto), are created InService with their RuntimeConfig copies (SageMaker refuses a
  component created with zero copies: CopyCount min 1 at creation), and scale at once when updated
  (CopyCount 0 is allowed there: that is scale-to-zero).
- ``sagemaker-runtime``: InvokeEndpoint answers an OpenAI-style chat body (``messages``, ``max_tokens``,
  ``temperature``) with the local model (:class:`docpipe_local.engines.llm.LocalLLM`), as a TGI / LMI container
  would, and publishes ``AWS/SageMaker`` ``Invocations`` to (moto's) CloudWatch, per component and per
  endpoint variant, so the reaper reads real traffic. A component at zero copies fails as SageMaker does
  (``ValidationError`` "Inference Component has no capacity...") and counts ``NoCapacityInvocationFailures``;
  ``scale_out_delay_s`` later it has one copy again -- what the template's alarm + step-scaling policy do.

- ``application-autoscaling``: RegisterScalableTarget / DescribeScalableTargets / DeregisterScalableTarget
  accept ``sagemaker:inference-component:DesiredCopyCount`` (moto's enum lacks it); the targets are kept in
  moto's own backend, and every other dimension goes through moto's checks unchanged.

A component whose copies reach zero unloads its local model (``on_zero``): scale-to-zero frees this machine's
memory the same way it frees a GPU instance. Component state is kept in ``state_path`` (JSON) so that
``docpipe endpoints`` commands in separate processes see one another's scaling.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import boto3

from docpipe_local.emulators.base import Emulator, ServiceError, streaming_body
from docpipe_local.template import ACCOUNT_ID, REGION, STACK_NAME

NO_CAPACITY = ("Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
               "in-progress (if configured) or try to increase the capacity by invoking "
               "UpdateInferenceComponentRuntimeConfig API.")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class InferenceComponents(Emulator):
    service = "sagemaker"

    def __init__(self, state_path: Path | None = None, on_zero: Callable[[str], None] | None = None):
        self.state_path = state_path
        self.on_zero = on_zero
        self._lock = threading.RLock()
        self.components: dict[str, dict[str, Any]] = {}
        # recent invocation times, so that CloudWatch (in memory) can be refilled by the next process
        self.invocations: list[tuple[str, list[dict]]] = []
        if state_path and state_path.exists():
            saved = json.loads(state_path.read_text())
            self.invocations = [(t, d) for t, d in saved.pop("_invocations", [])]
            for name, item in saved.items():
                for key in ("CreationTime", "LastModifiedTime"):
                    item[key] = datetime.fromisoformat(item[key])
                self.components[name] = item

    def _save(self) -> None:
        if self.state_path:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**self.components, "_invocations": self.invocations[-2000:]},
                                      default=lambda v: v.isoformat()))
            tmp.replace(self.state_path)

    @staticmethod
    def _endpoint(name: str) -> dict:
        try:  # moto answers: the emulator only handles what moto lacks
            return boto3.client("sagemaker", region_name=REGION).describe_endpoint(EndpointName=name)
        except Exception:
            raise ServiceError("ValidationException", f"Could not find endpoint \"{name}\".") from None

    def _get(self, name: str) -> dict:
        component = self.components.get(name)
        if component is None:
            arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:inference-component/{name}"
            raise ServiceError("ValidationException", f"Could not find inference component \"{arn}\".")
        return component

    def CreateInferenceComponent(self, params: dict) -> dict:
        name = params["InferenceComponentName"]
        copies = params.get("RuntimeConfig", {}).get("CopyCount")
        if copies is None or copies < 1:
            raise ServiceError("ValidationException",
                               "Inference component copy count must be at least 1 when it is created.")
        endpoint = self._endpoint(params["EndpointName"])
        with self._lock:
            if name in self.components:
                raise ServiceError("ValidationException", f"Cannot create already existing inference component \"{name}\".")
            now = _now()
            self.components[name] = {
                "InferenceComponentName": name,
                "InferenceComponentArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:inference-component/{name}",
                "EndpointName": endpoint["EndpointName"], "EndpointArn": endpoint["EndpointArn"],
                "VariantName": params.get("VariantName", "AllTraffic"),
                "Specification": params.get("Specification", {}),
                "RuntimeConfig": {"DesiredCopyCount": copies, "CurrentCopyCount": copies},
                "CreationTime": now, "LastModifiedTime": now, "InferenceComponentStatus": "InService"}
            self._save()
            return {"InferenceComponentArn": self.components[name]["InferenceComponentArn"]}

    def DescribeInferenceComponent(self, params: dict) -> dict:
        with self._lock:
            return dict(self._get(params["InferenceComponentName"]))

    def ListInferenceComponents(self, params: dict) -> dict:
        with self._lock:
            items = [c for c in self.components.values()
                     if params.get("EndpointNameEquals") in (None, c["EndpointName"])
                     and params.get("VariantNameEquals") in (None, c["VariantName"])
                     and params.get("StatusEquals") in (None, c["InferenceComponentStatus"])
                     and params.get("NameContains", "") in c["InferenceComponentName"]]
            keys = ("CreationTime", "InferenceComponentArn", "InferenceComponentName", "EndpointArn", "EndpointName",
                    "VariantName", "InferenceComponentStatus", "LastModifiedTime")
            return {"InferenceComponents": [{k: c[k] for k in keys} for c in items]}

    def DeleteInferenceComponent(self, params: dict) -> dict:
        with self._lock:
            self._get(params["InferenceComponentName"])
            del self.components[params["InferenceComponentName"]]
            self._save()
        return {}

    def UpdateInferenceComponentRuntimeConfig(self, params: dict) -> dict:
        copies = params["DesiredRuntimeConfig"]["CopyCount"]
        return {"InferenceComponentArn": self.set_copies(params["InferenceComponentName"], copies)}

    def set_copies(self, name: str, copies: int) -> str:
        with self._lock:
            component = self._get(name)
            component["RuntimeConfig"] = {"DesiredCopyCount": copies, "CurrentCopyCount": copies}
            component["LastModifiedTime"] = _now()
            self._save()
        if copies == 0 and self.on_zero:
            self.on_zero(name)
        return component["InferenceComponentArn"]

    def copies(self, name: str) -> int:
        with self._lock:
            return int(self._get(name)["RuntimeConfig"]["CurrentCopyCount"])

    def note_invocation(self, dimensions: list[dict]) -> None:
        with self._lock:
            self.invocations.append((_now().isoformat(), dimensions))
            self._save()

    def replay_invocations(self, max_age_s: float = 86400) -> int:
        """Put the recorded Invocations back into CloudWatch (moto's is empty in a new process)."""
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        now, replayed = _now(), 0
        with self._lock:
            self.invocations = [(t, d) for t, d in self.invocations
                                if (now - datetime.fromisoformat(t)).total_seconds() < max_age_s]
            for stamp, dimensions in self.invocations:
                cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
                    {"MetricName": "Invocations", "Dimensions": dimensions, "Value": 1.0, "Unit": "Count",
                     "Timestamp": datetime.fromisoformat(stamp)}])
                replayed += 1
        return replayed

    def on_endpoint(self, endpoint: str) -> list[str]:
        with self._lock:
            return [n for n, c in self.components.items() if c["EndpointName"] == endpoint]


class EndpointRuntime(Emulator):
    """InvokeEndpoint on the local model, with SageMaker's zero-capacity behaviour and CloudWatch metrics."""

    service = "sagemaker-runtime"

    def __init__(self, components: InferenceComponents, llm_for: Callable[[str], Any],
                 scale_out_delay_s: float | None = 5.0):
        self.components = components
        self.llm_for = llm_for  # endpoint or component name -> a LocalLLM-like host
        self.scale_out_delay_s = scale_out_delay_s
        self._timers: list[threading.Timer] = []
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()

    @staticmethod
    def _metric(name: str, dimensions: list[dict], value: float = 1.0) -> None:
        boto3.client("cloudwatch", region_name=REGION).put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "Count"}])

    def _scale_out_later(self, component: str) -> None:
        """The NoCapacityInvocationFailures alarm -> step-scaling policy (+1 copy), after its evaluation delay."""
        if self.scale_out_delay_s is None:
            return
        with self._lock:
            if component in self._pending:
                return
            self._pending.add(component)

        def scale_out() -> None:
            with self._lock:
                self._pending.discard(component)
            if self.components.copies(component) == 0:
                self.components.set_copies(component, 1)
        timer = threading.Timer(self.scale_out_delay_s, scale_out)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def InvokeEndpoint(self, params: dict) -> dict:
        endpoint = InferenceComponents._endpoint(params["EndpointName"])
        name = endpoint["EndpointName"]
        variant = (endpoint.get("ProductionVariants") or [{"VariantName": "AllTraffic"}])[0]["VariantName"]
        component = params.get("InferenceComponentName")
        on_endpoint = self.components.on_endpoint(name)
        if component is None and on_endpoint:
            raise ServiceError("ValidationError", "Inference Component Name header is required for endpoints to "
                               "which you plan to deploy inference components.")
        if component is not None and component not in on_endpoint:
            raise ServiceError("ValidationError", f"Inference Component {component} not found on endpoint {name}.")
        if component is not None and self.components.copies(component) == 0:
            self._metric("NoCapacityInvocationFailures", [{"Name": "InferenceComponentName", "Value": component}])
            self._scale_out_later(component)
            raise ServiceError("ValidationError", NO_CAPACITY)
        try:
            request = json.loads(params.get("Body") or b"{}")
            messages = request["messages"]
        except (ValueError, KeyError, TypeError):
            raise ServiceError("ModelError", "Received client error (400) from primary with message "
                               "\"the body must be JSON with a 'messages' list\".", 424) from None
        system = "\n".join(m["content"] for m in messages if m.get("role") == "system") or None
        turns = [m for m in messages if m.get("role") in ("user", "assistant")]
        result = self.llm_for(component or name).generate(
            turns, system=system, max_tokens=int(request.get("max_tokens", 256)),
            temperature=float(request.get("temperature", 0.7)), top_p=float(request.get("top_p", 0.9)))
        for dimensions in ([[{"Name": "InferenceComponentName", "Value": component}]] if component else []) + [
                [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": variant}]]:
            self._metric("Invocations", dimensions)
            self.components.note_invocation(dimensions)
        body = {"object": "chat.completion", "model": getattr(self.llm_for(component or name), "model_id", "local"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                             "finish_reason": {"end_turn": "stop", "stop_sequence": "stop"}.get(result.stop_reason, "length")}],
                "usage": {"prompt_tokens": result.input_tokens, "completion_tokens": result.output_tokens,
                          "total_tokens": result.input_tokens + result.output_tokens}}
        return {"Body": streaming_body(json.dumps(body).encode()), "ContentType": "application/json",
                "InvokedProductionVariant": variant}


IC_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"


class ScalableTargets(Emulator):
    """Application Auto Scaling targets for inference components, stored in moto's backend (moto internals:
    tests/unit/test_endpoint_reaper.py registers and describes one as the canary for a moto upgrade)."""

    service = "application-auto-scaling"  # botocore event names use the hyphenized service id

    @staticmethod
    def _backend():
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        return applicationautoscaling_backends[ACCOUNT_ID][REGION]

    @staticmethod
    def _moto_errors(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as err:  # moto's AWSValidationException / ObjectNotFoundException
            code = getattr(err, "error_type", None) or "ValidationException"
            raise ServiceError(code, getattr(err, "message", None) or str(err)) from None

    def RegisterScalableTarget(self, params: dict) -> dict:
        from moto.applicationautoscaling.models import FakeScalableTarget

        backend, dimension = self._backend(), params["ScalableDimension"]
        args = (params["ServiceNamespace"], params["ResourceId"], dimension, params.get("MinCapacity"),
                params.get("MaxCapacity"), params.get("RoleARN", ""), params.get("SuspendedState"))
        if dimension != IC_DIMENSION:
            target = self._moto_errors(lambda: backend.register_scalable_target(*args))
            return {"ScalableTargetARN": target.arn}
        if params["ServiceNamespace"] != "sagemaker" or not params["ResourceId"].startswith("inference-component/"):
            raise ServiceError("ValidationException", "Unsupported service namespace, resource type or scalable dimension")
        name = params["ResourceId"].split("/", 1)[1]
        try:
            boto3.client("sagemaker", region_name=REGION).describe_inference_component(InferenceComponentName=name)
        except Exception:
            raise ServiceError("ValidationException", f"Inference component {name} does not exist") from None
        if backend._scalable_target_exists(params["ResourceId"], dimension):
            target = backend.targets[dimension][params["ResourceId"]]
            target.update(params.get("MinCapacity"), params.get("MaxCapacity"), params.get("SuspendedState"))
        else:
            if params.get("MinCapacity") is None or params.get("MaxCapacity") is None:
                raise ServiceError("ValidationException", "MinCapacity and MaxCapacity are required for a new target")
            target = backend._add_scalable_target(FakeScalableTarget(backend, *args))
        return {"ScalableTargetARN": target.arn}

    def DescribeScalableTargets(self, params: dict) -> dict:
        from moto.applicationautoscaling.responses import _build_target

        targets = self._backend().describe_scalable_targets(
            params["ServiceNamespace"], params.get("ResourceIds"), params.get("ScalableDimension"))
        return {"ScalableTargets": [_build_target(t) for t in targets]}

    def DeregisterScalableTarget(self, params: dict) -> dict:
        self._moto_errors(lambda: self._backend().deregister_scalable_target(
            params["ServiceNamespace"], params["ResourceId"], params["ScalableDimension"]))
        return {}


# --- the local endpoint: this machine's model host as a scale-to-zero inference component ------------------
# the names the template gives the endpoint and its component (GenerationBackend=sagemaker), so the calls made
# to them offline are the calls the deployed policies allow (tests/iam)
LOCAL_ENDPOINT = LOCAL_COMPONENT = f"{STACK_NAME}-generation"
LOCAL_VARIANT = "AllTraffic"
REAPER_TAG = {"Key": "docpipe:idle-reaper", "Value": "enabled"}


def ensure_local_endpoint(components: InferenceComponents) -> str:
    """Create (in moto) the endpoint that fronts the local model, tagged for the reaper, with one component.

    moto's SageMaker state lives in memory: each process creates the endpoint again; the component's copies
    and recent invocations come back from the emulator's state file.
    """
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    try:
        sagemaker.describe_endpoint(EndpointName=LOCAL_ENDPOINT)
        return LOCAL_ENDPOINT
    except sagemaker.exceptions.ClientError:
        pass
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/docpipe-local-sagemaker"
    sagemaker.create_model(ModelName=LOCAL_COMPONENT, ExecutionRoleArn=role,
                           PrimaryContainer={"Image": "local/llama-cpp:smollm2-135m-instruct"})
    # ml.g4dn.xlarge: moto 5.2.5 knows a fixed list of instance types; the template's default is ml.g5.xlarge
    sagemaker.create_endpoint_config(EndpointConfigName=LOCAL_ENDPOINT, ProductionVariants=[{
        "VariantName": LOCAL_VARIANT, "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1,
        "ModelName": LOCAL_COMPONENT,
        "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 1},
        "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}])
    sagemaker.create_endpoint(EndpointName=LOCAL_ENDPOINT, EndpointConfigName=LOCAL_ENDPOINT, Tags=[REAPER_TAG])
    if LOCAL_COMPONENT not in components.components:
        components.CreateInferenceComponent({
            "InferenceComponentName": LOCAL_COMPONENT, "EndpointName": LOCAL_ENDPOINT, "VariantName": LOCAL_VARIANT,
            "Specification": {"ModelName": LOCAL_COMPONENT, "ComputeResourceRequirements": {
                "NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 512}},
            "RuntimeConfig": {"CopyCount": 1}})
    components.replay_invocations()
    return LOCAL_ENDPOINT


SCALE_OUT_ENV = "DOCPIPE_LOCAL_SCALE_OUT_SECONDS"


def local_endpoint_emulators(home: Path, llm_factory: Callable[[], Any],
                             scale_out_delay_s: float | None = None) -> list[Emulator]:
    """The two emulators, with the local endpoint created; scale-to-zero unloads the local model.

    A request at zero copies brings one back after ``$DOCPIPE_LOCAL_SCALE_OUT_SECONDS`` (default 5 s).
    """
    if scale_out_delay_s is None:
        scale_out_delay_s = float(os.environ.get(SCALE_OUT_ENV) or 5.0)

    def unload(_component: str) -> None:
        llm = llm_factory()
        if llm.loaded:
            llm.unload()

    components = InferenceComponents(home / "endpoints" / "components.json", on_zero=unload)
    ensure_local_endpoint(components)
    return [components, EndpointRuntime(components, lambda _name: llm_factory(), scale_out_delay_s), ScalableTargets()]
