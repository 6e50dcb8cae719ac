"""The fine-tuning state machine's tasks: validate the dataset, start the training job, poll it, evaluate,
register the model package (statemachines/fine_tune.asl.json).

Each task takes the run's state and returns it updated; ``next`` tells the state machine's Choice states
where to go, ``failure`` says why a run ends without a model (a Fail state reads it).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from docpipe import training_code
from docpipe.clients import client
from docpipe.finetune import (FineTuneSettings, estimate_training, get_finetune_settings, hyperparameters,
                              is_retryable, training_job_request, validate_dataset)
from docpipe.models import S3Pointer
from docpipe.observability import logger
from docpipe.settings import get_settings


class Failure(BaseModel):
    error: str
    cause: str


class FineTuneRequest(BaseModel):
    """What starts a run: a dataset in S3 (a manifest's pointer, or a call) and optional epochs."""

    execution_id: str | None = None
    dataset: S3Pointer
    epochs: float | None = Field(default=None, gt=0, le=100)
    # SageMaker's name rule; 56 characters leave room for the job name's "ft-" and "-a<attempt>"
    run_id: str | None = Field(default=None, max_length=56, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,55}$")


class FineTuneState(BaseModel):
    execution_id: str | None = None
    run_id: str
    dataset: S3Pointer
    next: Literal["train", "wait", "evaluate", "retry", "register", "done", "failed"] = "train"
    failure: Failure | None = None
    report: dict[str, Any] = Field(default_factory=dict)
    estimate: dict[str, Any] = Field(default_factory=dict)
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    attempt: int = 0
    job_name: str | None = None
    job_status: str | None = None
    secondary_status: str | None = None
    status_message: str | None = None
    polls: int = 0
    poll_seconds: int = 60
    metrics: dict[str, float] = Field(default_factory=dict)
    model_artifacts: str | None = None
    evaluation: dict[str, Any] = Field(default_factory=dict)
    model_package_arn: str | None = None
    # each finished attempt's billing as SageMaker reported it (evaluation.json keeps it for `docpipe cost`)
    training_jobs: list[dict[str, Any]] = Field(default_factory=list)


class TaskInput(BaseModel):
    execution_id: str | None = None
    state: FineTuneState


class ValidateInput(BaseModel):
    execution_id: str | None = None
    request: FineTuneRequest


def _prefix(settings: FineTuneSettings, run_id: str) -> str:
    return f"{settings.finetune_prefix}{run_id}"


def _put(bucket: str, key: str, body: bytes, content_type: str) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def _run_id(request: FineTuneRequest, data: bytes) -> str:
    if request.run_id:
        return request.run_id
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", request.dataset.key.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip("-")[:24]
    return f"{stem or 'dataset'}-{hashlib.sha256(data).hexdigest()[:8]}-{uuid.uuid4().hex[:6]}"


# --- ValidateDataset --------------------------------------------------------------------------------------
def validate(payload: ValidateInput) -> FineTuneState:
    settings, bucket = get_finetune_settings(), get_settings().documents_bucket
    request = payload.request
    source = request.dataset
    data = client("s3").get_object(Bucket=source.bucket, Key=source.key,
                                   **({"VersionId": source.version_id} if source.version_id else {}))["Body"].read()
    run_id = _run_id(request, data)
    hparams = hyperparameters(settings, request.epochs)
    report, train, validation = validate_dataset(data, settings, int(hparams["max_seq_length"]))
    state = FineTuneState(execution_id=payload.execution_id, run_id=run_id, dataset=source,
                          report=report.model_dump(), hyperparameters=hparams,
                          poll_seconds=settings.training_poll_seconds)
    prefix = _prefix(settings, run_id)
    if not report.ok:
        state.next = "failed"
        state.failure = Failure(error="DatasetRejected", cause=report.summary())
    else:
        state.estimate = estimate_training(report, settings.training_instance_type, settings.training_instance_count,
                                           float(hparams["epochs"]), int(hparams["max_seq_length"]))
        _put(bucket, f"{prefix}/data/train/train.jsonl", ("\n".join(train) + "\n").encode(), "application/jsonlines")
        _put(bucket, f"{prefix}/data/validation/validation.jsonl", ("\n".join(validation) + "\n").encode(),
             "application/jsonlines")
    _put(bucket, f"{prefix}/report.json", json.dumps({"dataset": source.model_dump(), "sha256": hashlib.sha256(data).hexdigest(),
                                                      "report": report.model_dump(), "estimate": state.estimate},
                                                     indent=2).encode(), "application/json")
    logger.info("dataset validated", extra={"run_id": run_id, "accepted": report.accepted,
                                            "rejected": len(report.rejected)})
    return state


# --- StartTraining ----------------------------------------------------------------------------------------
def start(payload: TaskInput, code_dir: Path) -> FineTuneState:
    """Create the attempt's training job on the code in ``code_dir`` (put in S3 first when it is not there)."""
    settings, state, bucket = get_finetune_settings(), payload.state, get_settings().documents_bucket
    state.attempt += 1
    code_uri = training_code.ensure_uploaded(bucket, settings.finetune_prefix, code_dir)
    request = training_job_request(settings, bucket, state.run_id, state.attempt, state.hyperparameters, code_uri)
    sagemaker = client("sagemaker")
    try:
        sagemaker.create_training_job(**request)
    except sagemaker.exceptions.ResourceInUse:
        pass  # a retried task: the job of this attempt exists already, poll it
    state.job_name, state.job_status, state.polls, state.next = request["TrainingJobName"], "InProgress", 0, "wait"
    logger.info("training job started", extra={"job": state.job_name, "attempt": state.attempt,
                                               "instance_type": settings.training_instance_type})
    return state


# --- PollTraining -----------------------------------------------------------------------------------------
def poll(payload: TaskInput) -> FineTuneState:
    settings, state = get_finetune_settings(), payload.state
    job = client("sagemaker").describe_training_job(TrainingJobName=state.job_name)
    state.polls += 1
    state.job_status, state.secondary_status = job["TrainingJobStatus"], job.get("SecondaryStatus")
    transitions = job.get("SecondaryStatusTransitions") or []
    state.status_message = transitions[-1].get("StatusMessage") if transitions else None
    state.metrics = {m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList") or []}
    reason = job.get("FailureReason") or ""
    if state.job_status in ("Completed", "Failed", "Stopped"):
        resources = job.get("ResourceConfig") or {}  # as the job was created: the settings' instances
        state.training_jobs.append({
            "job": state.job_name, "status": state.job_status,
            "instance_type": resources.get("InstanceType", settings.training_instance_type),
            "instance_count": resources.get("InstanceCount", settings.training_instance_count),
            "spot": bool(job.get("EnableManagedSpotTraining")),
            "training_seconds": job.get("TrainingTimeInSeconds", 0), "billable_seconds": job.get("BillableTimeInSeconds", 0)})
    if state.job_status == "Completed":
        state.model_artifacts, state.next = job["ModelArtifacts"]["S3ModelArtifacts"], "evaluate"
    elif state.job_status == "Failed":
        if is_retryable(reason) and state.attempt < settings.training_max_attempts:
            state.next = "retry"  # a new job on the same checkpoint location resumes from the last checkpoint
        else:
            state.next, state.failure = "failed", Failure(
                error="TrainingJobFailed", cause=f"training job {state.job_name} failed "
                f"(attempt {state.attempt} of {settings.training_max_attempts}): {reason or 'no reason given'}")
    elif state.job_status == "Stopped":
        state.next, state.failure = "failed", Failure(
            error="TrainingJobStopped", cause=f"training job {state.job_name} was stopped"
            f"{': ' + reason if reason else ''}; its checkpoints stay in S3 for a new run")
    elif state.polls >= settings.training_max_polls:
        state.next, state.failure = "failed", Failure(
            error="TrainingJobTimedOut", cause=f"training job {state.job_name} still {state.job_status} "
            f"({state.secondary_status}) after {state.polls} polls")
    else:
        state.next = "wait"
    return state


# --- Evaluate ---------------------------------------------------------------------------------------------
def _metrics_file(bucket: str, key: str) -> dict:
    data = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = next((m for m in archive.getmembers() if m.name.lstrip("./") == "metrics.json" and m.isfile()), None)
        if member is None or member.size > 1_000_000:
            raise ValueError(f"s3://{bucket}/{key} holds no metrics.json")
        return json.loads(archive.extractfile(member).read())


def evaluate(payload: TaskInput) -> FineTuneState:
    """The job's metrics, checked against its own metrics file and the held-out set it was evaluated on."""
    settings, state, bucket = get_finetune_settings(), payload.state, get_settings().documents_bucket
    prefix = _prefix(settings, state.run_id)
    output_key = f"{prefix}/output/{state.job_name}/output/output.tar.gz"
    metrics = _metrics_file(bucket, output_key)
    held_out = client("s3").get_object(Bucket=bucket, Key=f"{prefix}/data/validation/validation.jsonl")["Body"].read()
    rows = sum(1 for line in held_out.splitlines() if line.strip())
    initial, final = float(metrics["initial_eval_loss"]), float(metrics["final_eval_loss"])
    improvement = (initial - final) / initial if initial > 0 else 0.0
    reported = state.metrics.get("validation:final_loss")
    checks = {
        "held_out_rows_match": metrics.get("validation_rows") == rows,
        "held_out_sha256_match": metrics.get("validation_sha256") == hashlib.sha256(held_out).hexdigest(),
        "job_metrics_match_file": reported is not None and abs(reported - final) <= 1e-4 * max(1.0, abs(final)),
        "loss_improved_enough": improvement >= settings.min_improvement and final < initial,
    }
    state.evaluation = {"initial_eval_loss": initial, "final_eval_loss": final, "eval_loss_improvement": improvement,
                        "held_out_rows": rows, "train_loss": metrics.get("train_loss"),
                        "global_step": metrics.get("global_step"), "resumed_from": metrics.get("resumed_from"),
                        "min_improvement": settings.min_improvement, "checks": checks,
                        "training_job": state.job_name, "evaluated_at": datetime.now().astimezone().isoformat(),
                        "training_jobs": state.training_jobs}
    client("s3").put_object(Bucket=bucket, Key=f"{prefix}/evaluation.json", ContentType="application/json",
                            Body=json.dumps(state.evaluation, indent=2).encode())
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        state.next, state.failure = "failed", Failure(
            error="EvaluationFailed", cause=f"not registered: {', '.join(failed)} (held-out loss {initial:.4f} -> "
            f"{final:.4f}, {improvement:.1%}; required {settings.min_improvement:.1%})")
    else:
        state.next = "register"
    return state


# --- Register ---------------------------------------------------------------------------------------------
def register(payload: TaskInput) -> FineTuneState:
    """A new version in the model package group, PendingManualApproval, with the evaluation attached."""
    settings, state, bucket = get_finetune_settings(), payload.state, get_settings().documents_bucket
    sagemaker = client("sagemaker")
    group = settings.model_package_group
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except sagemaker.exceptions.ClientError:
        sagemaker.create_model_package_group(ModelPackageGroupName=group,
                                             ModelPackageGroupDescription="docpipe fine-tuned adapters")
    evaluation = state.evaluation
    settings.require("inference_image_uri")
    response = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"LoRA adapter on {state.hyperparameters.get('model_id')} from run {state.run_id}",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": settings.inference_image_uri, "ModelDataUrl": state.model_artifacts}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.inf2.xlarge"]},
        ModelMetrics={"ModelQuality": {"Statistics": {
            "ContentType": "application/json",
            "S3Uri": f"s3://{bucket}/{_prefix(settings, state.run_id)}/evaluation.json"}}},
        CustomerMetadataProperties={
            "initial_eval_loss": f"{evaluation['initial_eval_loss']:.6f}",
            "final_eval_loss": f"{evaluation['final_eval_loss']:.6f}",
            "eval_loss_improvement": f"{evaluation['eval_loss_improvement']:.6f}",
            "held_out_rows": str(evaluation["held_out_rows"]), "training_job": state.job_name or "",
            "run_id": state.run_id, "dataset": f"s3://{state.dataset.bucket}/{state.dataset.key}"},
        ClientToken=state.run_id,
    )
    state.model_package_arn, state.next = response["ModelPackageArn"], "done"
    logger.info("model package registered", extra={"arn": state.model_package_arn, "run_id": state.run_id})
    return state
