"""The idle-endpoint reaper: scale idle inference components to zero; record and delete idle endpoints.

Run on an EventBridge Scheduler rate (and by `docpipe endpoints reap` offline). Only endpoints tagged
``reaper_tag_key = reaper_tag_value`` are considered, and one that served traffic in the idle window
(CloudWatch ``AWS/SageMaker`` ``Invocations``), or was created or changed within it, is never touched.

- An endpoint with **inference components**: each idle component with copies is scaled to zero
  (UpdateInferenceComponentRuntimeConfig, CopyCount 0). The endpoint stays: with managed instance scaling
  at MinInstanceCount 0 its instances go when no copy needs them, and the scale-out-from-zero alarm brings
  a copy back on the next request. A component whose scalable target keeps a minimum above zero is left
  alone (Application Auto Scaling would put the copies back at once).
- An endpoint **without** components cannot scale to zero: its configuration (endpoint config + tags) is
  written to the reaper table and the endpoint is deleted; :func:`wake` re-creates it from that record (and
  gives the zero-copy components of an endpoint still there one copy back).

Every decision is one log line and one metric (``endpoint_<action>``); with ``dry_run`` nothing changes.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from docpipe.clients import client
from docpipe.observability import add_metric, logger
from docpipe.settings import get_settings

Action = Literal["scale_to_zero", "delete_endpoint", "keep", "skip"]


class EndpointsInput(BaseModel):
    """What the reaper function receives: a Scheduler event ({}), or an operator's request."""

    action: Literal["reap", "status", "wake"] = "reap"
    dry_run: bool | None = None  # None: the DOCPIPE_REAPER_DRY_RUN setting
    idle_minutes: float | None = Field(default=None, ge=0)  # None: DOCPIPE_ENDPOINT_IDLE_MINUTES; 0: idle now
    endpoint_name: str | None = None  # wake: the endpoint to re-create


class Decision(BaseModel):
    endpoint: str
    component: str | None = None
    action: Action
    reason: str
    invocations: float | None = None
    copies: int | None = None
    applied: bool = False


class ComponentStatus(BaseModel):
    name: str
    desired_copies: int | None
    current_copies: int | None
    status: str | None
    invocations: float
    min_capacity: int | None = None


class EndpointStatus(BaseModel):
    name: str
    status: str
    tagged: bool
    config: str | None
    invocations: float
    components: list[ComponentStatus] = Field(default_factory=list)


class EndpointsReport(BaseModel):
    action: str
    dry_run: bool = False
    idle_minutes: float
    decisions: list[Decision] = Field(default_factory=list)
    endpoints: list[EndpointStatus] = Field(default_factory=list)
    deleted: list[dict[str, Any]] = Field(default_factory=list)  # records of reaped endpoints, wake-able
    woken: dict[str, Any] | None = None


def handle(payload: EndpointsInput) -> EndpointsReport:
    settings = get_settings()
    idle = settings.endpoint_idle_minutes if payload.idle_minutes is None else payload.idle_minutes
    if payload.action == "wake":
        if not payload.endpoint_name:
            raise ValueError("wake needs endpoint_name")
        return EndpointsReport(action="wake", idle_minutes=idle, woken=wake(payload.endpoint_name))
    if payload.action == "status":
        return EndpointsReport(action="status", idle_minutes=idle, endpoints=status(idle), deleted=deleted_records())
    dry_run = settings.reaper_dry_run if payload.dry_run is None else payload.dry_run
    return EndpointsReport(action="reap", dry_run=dry_run, idle_minutes=idle, decisions=reap(idle, dry_run))


# --- reading the account ---------------------------------------------------------------------------------
def _paged(method, key: str, **params) -> list[dict]:
    items, token = [], None
    while True:
        page = method(**params, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


def _tagged(endpoint_arn: str) -> bool:
    settings = get_settings()
    tags = _paged(client("sagemaker").list_tags, "Tags", ResourceArn=endpoint_arn)
    return any(t["Key"] == settings.reaper_tag_key and t["Value"] == settings.reaper_tag_value for t in tags)


def _components(endpoint_name: str) -> list[dict]:
    sagemaker = client("sagemaker")
    summaries = _paged(sagemaker.list_inference_components, "InferenceComponents", EndpointNameEquals=endpoint_name)
    return [sagemaker.describe_inference_component(InferenceComponentName=s["InferenceComponentName"])
            for s in summaries]


def _invocations(dimensions: list[dict], idle_minutes: float, now: datetime) -> float:
    """Sum of AWS/SageMaker Invocations over the window (no datapoints: no traffic)."""
    seconds = idle_minutes * 60
    period = max(60, int(math.ceil(seconds / 60)) * 60)
    response = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="Invocations", Dimensions=dimensions,
        StartTime=now - timedelta(seconds=seconds), EndTime=now + timedelta(seconds=1), Period=period,
        Statistics=["Sum"])
    return float(sum(point.get("Sum", 0.0) for point in response.get("Datapoints", [])))


def _min_capacity(component: str) -> int | None:
    targets = client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"inference-component/{component}"],
        ScalableDimension="sagemaker:inference-component:DesiredCopyCount").get("ScalableTargets", [])
    return int(targets[0]["MinCapacity"]) if targets else None


def _changed_within(described: dict, idle_minutes: float, now: datetime) -> bool:
    changed = described.get("LastModifiedTime") or described.get("CreationTime")
    if not isinstance(changed, datetime):
        return False
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=timezone.utc)
    return now - changed < timedelta(minutes=idle_minutes)


def _variant_dimensions(endpoint: dict) -> list[list[dict]]:
    variants = endpoint.get("ProductionVariants") or [{"VariantName": "AllTraffic"}]
    return [[{"Name": "EndpointName", "Value": endpoint["EndpointName"]},
             {"Name": "VariantName", "Value": v["VariantName"]}] for v in variants]


# --- decisions ---------------------------------------------------------------------------------------------
def _record(decision: Decision, dry_run: bool) -> Decision:
    """One log line and one metric per decision."""
    add_metric(f"endpoint_{decision.action}", "Count", 1)
    logger.info("endpoint reaper decision", extra={**decision.model_dump(), "dry_run": dry_run})
    return decision


def reap(idle_minutes: float, dry_run: bool, now: datetime | None = None) -> list[Decision]:
    now = now or datetime.now(timezone.utc)
    sagemaker = client("sagemaker")
    decisions: list[Decision] = []
    for summary in _paged(sagemaker.list_endpoints, "Endpoints"):
        name = summary["EndpointName"]
        if not _tagged(summary["EndpointArn"]):
            continue  # not ours to touch: no decision, no log line beyond this
        endpoint = sagemaker.describe_endpoint(EndpointName=name)
        if endpoint.get("EndpointStatus") != "InService":
            decisions.append(_record(Decision(endpoint=name, action="skip",
                                              reason=f"endpoint is {endpoint.get('EndpointStatus')}"), dry_run))
            continue
        components = _components(name)
        if components:
            made = [_record(d, dry_run) for d in _reap_components(name, components, idle_minutes, dry_run, now)]
            held = sum(0 if d.applied else (d.copies or 0) for d in made)  # one copy per instance
        else:
            made = [_record(_reap_endpoint(endpoint, idle_minutes, dry_run, now), dry_run)]
            held = 0 if made[0].applied else sum(int(v.get("CurrentInstanceCount") or 0)
                                                 for v in endpoint.get("ProductionVariants") or [])
        decisions += made
        _observe(endpoint, held, now)
    return decisions


def _observe(endpoint: dict, held: int, now: datetime) -> None:
    """What this run left the endpoint holding, for `docpipe cost`: each observation stands for one
    interval of the reaper's schedule, so their sum is the endpoint's instance hours (to that resolution)."""
    settings = get_settings()
    variants = client("sagemaker").describe_endpoint_config(
        EndpointConfigName=endpoint["EndpointConfigName"]).get("ProductionVariants") or []
    if not variants or not variants[0].get("InstanceType"):
        return  # serverless inference: billed per request, not per instance hour
    record = {"endpoint": endpoint["EndpointName"], "observed_at": now.isoformat(),
              "interval_minutes": settings.reaper_interval_minutes, "instance_type": variants[0]["InstanceType"],
              "instances": held, "max_instances": sum(int(v.get("InitialInstanceCount") or 1) for v in variants)}
    client("s3").put_object(
        Bucket=settings.documents_bucket, ContentType="application/json", Body=json.dumps(record).encode(),
        Key=f"usage/endpoints/{endpoint['EndpointName']}/{now.strftime('%Y-%m-%dT%H-%M-%S.%fZ')}.json")


def _reap_components(endpoint: str, components: list[dict], idle_minutes: float, dry_run: bool,
                     now: datetime) -> list[Decision]:
    decisions = []
    for component in components:
        name = component["InferenceComponentName"]
        runtime = component.get("RuntimeConfig", {})
        copies = runtime.get("DesiredCopyCount", runtime.get("CurrentCopyCount", 0))
        invocations = _invocations([{"Name": "InferenceComponentName", "Value": name}], idle_minutes, now)
        decision = Decision(endpoint=endpoint, component=name, action="keep", reason="",
                            invocations=invocations, copies=copies)
        if invocations > 0:
            decision.reason = f"{invocations:g} invocations in the last {idle_minutes:g} min"
        elif copies == 0:
            decision.reason = "already at zero copies"
        elif component.get("InferenceComponentStatus") != "InService":
            decision.action, decision.reason = "skip", f"component is {component.get('InferenceComponentStatus')}"
        elif _changed_within(component, idle_minutes, now):
            decision.reason = f"created or changed within the last {idle_minutes:g} min"
        elif (minimum := _min_capacity(name)) is not None and minimum > 0:
            decision.action = "skip"
            decision.reason = f"its scalable target keeps at least {minimum} copies (MinCapacity)"
        else:
            decision.action = "scale_to_zero"
            decision.reason = f"no invocations in the last {idle_minutes:g} min"
            if not dry_run:
                client("sagemaker").update_inference_component_runtime_config(
                    InferenceComponentName=name, DesiredRuntimeConfig={"CopyCount": 0})
                decision.applied = True
        decisions.append(decision)
    return decisions


def _reap_endpoint(endpoint: dict, idle_minutes: float, dry_run: bool, now: datetime) -> Decision:
    name = endpoint["EndpointName"]
    invocations = sum(_invocations(dims, idle_minutes, now) for dims in _variant_dimensions(endpoint))
    decision = Decision(endpoint=name, action="keep", reason="", invocations=invocations)
    if invocations > 0:
        decision.reason = f"{invocations:g} invocations in the last {idle_minutes:g} min"
        return decision
    if _changed_within(endpoint, idle_minutes, now):
        decision.reason = f"created or changed within the last {idle_minutes:g} min"
        return decision
    if not get_settings().reaper_table:
        decision.action, decision.reason = "skip", "no reaper table to record its configuration in"
        return decision
    decision.action = "delete_endpoint"
    decision.reason = f"no invocations in the last {idle_minutes:g} min and no inference components"
    if not dry_run:
        _save_record(endpoint, now)  # first the record, so a failed delete never loses the configuration
        client("sagemaker").delete_endpoint(EndpointName=name)
        decision.applied = True
    return decision


# --- records of deleted endpoints, and wake --------------------------------------------------------------
_CONFIG_FIELDS = ("ProductionVariants", "DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig",
                  "ExplainerConfig", "ShadowProductionVariants", "ExecutionRoleArn", "VpcConfig",
                  "EnableNetworkIsolation")


def _save_record(endpoint: dict, now: datetime) -> None:
    sagemaker = client("sagemaker")
    name, config_name = endpoint["EndpointName"], endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    config_body = {key: config[key] for key in _CONFIG_FIELDS if config.get(key)}
    config_tags = _paged(sagemaker.list_tags, "Tags", ResourceArn=config["EndpointConfigArn"])
    tags = _paged(sagemaker.list_tags, "Tags", ResourceArn=endpoint["EndpointArn"])
    client("dynamodb").put_item(TableName=get_settings().reaper_table, Item={
        "endpoint_name": {"S": name}, "endpoint_config_name": {"S": config_name},
        "endpoint_config": {"S": json.dumps(config_body, default=str)},
        "endpoint_config_tags": {"S": json.dumps(config_tags)}, "tags": {"S": json.dumps(tags)},
        "deleted_at": {"S": now.isoformat()}, "deleted_epoch": {"N": str(int(time.time()))}})


def _item(item: dict) -> dict[str, Any]:
    return {"endpoint_name": item["endpoint_name"]["S"], "endpoint_config_name": item["endpoint_config_name"]["S"],
            "endpoint_config": json.loads(item["endpoint_config"]["S"]),
            "endpoint_config_tags": json.loads(item["endpoint_config_tags"]["S"]),
            "tags": json.loads(item["tags"]["S"]), "deleted_at": item["deleted_at"]["S"]}


def deleted_records() -> list[dict[str, Any]]:
    table = get_settings().reaper_table
    if not table:
        return []
    return [_item(item) for item in _paged_scan(table)]


def _paged_scan(table: str) -> list[dict]:
    items, start = [], None
    while True:
        page = client("dynamodb").scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items += page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def wake(endpoint_name: str) -> dict[str, Any]:
    """Re-create a reaped endpoint with the configuration recorded when it was deleted; for an endpoint still
    there, give its components scaled to zero one copy back (as the scale-out alarm does on a request)."""
    settings = get_settings()
    sagemaker = client("sagemaker")
    found = settings.reaper_table and client("dynamodb").get_item(
        TableName=settings.reaper_table, Key={"endpoint_name": {"S": endpoint_name}}, ConsistentRead=True).get("Item")
    if not found:
        return _wake_components(endpoint_name)
    record = _item(found)
    config_name = record["endpoint_config_name"]
    try:
        sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        recreated_config = False
    except sagemaker.exceptions.ClientError:  # deleted since: put it back exactly as it was
        sagemaker.create_endpoint_config(EndpointConfigName=config_name, **record["endpoint_config"],
                                         **({"Tags": record["endpoint_config_tags"]}
                                            if record["endpoint_config_tags"] else {}))
        recreated_config = True
    arn = sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name,
                                    **({"Tags": record["tags"]} if record["tags"] else {}))["EndpointArn"]
    client("dynamodb").delete_item(TableName=settings.reaper_table, Key={"endpoint_name": {"S": endpoint_name}})
    add_metric("endpoint_wake", "Count", 1)
    logger.info("endpoint woken", extra={"endpoint": endpoint_name, "endpoint_config": config_name,
                                         "recreated_config": recreated_config})
    return {"endpoint_name": endpoint_name, "endpoint_arn": arn, "recreated": True, "components": [],
            "endpoint_config_name": config_name, "recreated_config": recreated_config,
            "deleted_at": record["deleted_at"]}


def _wake_components(endpoint_name: str) -> dict[str, Any]:
    sagemaker = client("sagemaker")
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError:
        known = [e["EndpointName"] for e in _paged(sagemaker.list_endpoints, "Endpoints")]
        raise LookupError(f"no endpoint named {endpoint_name!r} and no record of a reaped one; endpoints: "
                          f"{', '.join(known) or 'none'}") from None
    woken = []
    for component in _components(endpoint_name):
        runtime = component.get("RuntimeConfig", {})
        if runtime.get("DesiredCopyCount", runtime.get("CurrentCopyCount", 0)) == 0:
            sagemaker.update_inference_component_runtime_config(
                InferenceComponentName=component["InferenceComponentName"], DesiredRuntimeConfig={"CopyCount": 1})
            woken.append(component["InferenceComponentName"])
    if woken:
        add_metric("endpoint_wake", "Count", 1)
    logger.info("endpoint woken" if woken else "endpoint had nothing to wake",
                extra={"endpoint": endpoint_name, "components": woken})
    return {"endpoint_name": endpoint_name, "endpoint_arn": endpoint["EndpointArn"], "recreated": False,
            "components": woken, "status": endpoint.get("EndpointStatus")}


def status(idle_minutes: float, now: datetime | None = None) -> list[EndpointStatus]:
    now = now or datetime.now(timezone.utc)
    sagemaker = client("sagemaker")
    result = []
    for summary in _paged(sagemaker.list_endpoints, "Endpoints"):
        endpoint = sagemaker.describe_endpoint(EndpointName=summary["EndpointName"])
        components = []
        for component in _components(endpoint["EndpointName"]):
            runtime = component.get("RuntimeConfig", {})
            name = component["InferenceComponentName"]
            components.append(ComponentStatus(
                name=name, desired_copies=runtime.get("DesiredCopyCount"), current_copies=runtime.get("CurrentCopyCount"),
                status=component.get("InferenceComponentStatus"), min_capacity=_min_capacity(name),
                invocations=_invocations([{"Name": "InferenceComponentName", "Value": name}], idle_minutes, now)))
        invocations = sum(_invocations(d, idle_minutes, now) for d in _variant_dimensions(endpoint))
        result.append(EndpointStatus(name=endpoint["EndpointName"], status=endpoint.get("EndpointStatus", ""),
                                     tagged=_tagged(endpoint["EndpointArn"]), config=endpoint.get("EndpointConfigName"),
                                     invocations=invocations + sum(c.invocations for c in components),
                                     components=components))
    return result
