"""Fine-tuning on Trainium: dataset rules, the training job request, its cost estimate (deployed code).

A dataset is JSONL, one example a line, in chat form ``{"messages": [{"role": ..., "content": ...}, ...]}``
(roles system/user/assistant, ending with the assistant) or ``{"prompt": ..., "completion": ...}``. Every
rejected line is reported with its number and the rule it broke; a dataset with any rejected line is not
trained on. Accepted rows are split deterministically (by a hash of the row) into train and validation.

Settings are ``DOCPIPE_*`` environment variables, as for :mod:`docpipe.settings`, read once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, Field

from docpipe.chunking import estimate_tokens

ROLES = {"system", "user", "assistant"}
# what the chat template adds around each message (role markers, the default system prompt)
TEMPLATE_TOKENS_PER_MESSAGE = 5
TEMPLATE_TOKENS_FIXED = 24
RETRYABLE_FAILURES = ("InsufficientInstanceCapacity", "CapacityError", "spot", "Spot", "InternalServerError",
                      "ResourceLimitExceeded", "interrupted")


class FineTuneSettings(BaseModel):
    finetune_prefix: str = "finetune/"
    # the template passes the stack's training role and the Neuron image; only StartTraining needs them
    training_role_arn: str = ""
    training_image_uri: str = ""
    training_instance_type: str = Field(default="ml.trn1.2xlarge", pattern=r"^ml\.trn1n?\.\d*x?large$")
    training_instance_count: int = Field(default=1, ge=1, le=16)
    training_volume_gb: int = Field(default=50, ge=1)
    training_hyperparameters: str = "{}"  # JSON object, merged over the defaults below
    training_spot: bool = True
    training_max_run_seconds: int = Field(default=4 * 3600, ge=60)
    training_max_wait_seconds: int = Field(default=8 * 3600, ge=60)
    training_kms_key_arn: str = ""
    training_poll_seconds: int = Field(default=60, ge=1)
    training_max_polls: int = Field(default=720, ge=1)
    training_max_attempts: int = Field(default=3, ge=1, le=9)  # one digit in the job name
    model_package_group: str = "docpipe-finetuned"
    inference_image_uri: str = ""  # the template passes it to Register
    base_model_id: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    model_context_tokens: int = 8192
    max_seq_length: int = Field(default=96, ge=16)
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    min_rows: int = Field(default=10, ge=2)
    max_rows: int = Field(default=100_000, ge=2)
    min_improvement: float = 0.0  # the held-out loss must drop by at least this fraction to register

    def require(self, *names: str) -> None:
        """Stop with the variable to set when a value that only the template knows is missing."""
        missing = [f"DOCPIPE_{name.upper()}" for name in names if not getattr(self, name)]
        if missing:
            raise ValueError(f"{', '.join(missing)} not set: template.yaml passes it to this function")


@lru_cache(maxsize=1)
def get_finetune_settings() -> FineTuneSettings:
    names = {name: f"DOCPIPE_{name.upper()}" for name in FineTuneSettings.model_fields}
    return FineTuneSettings.model_validate({field: os.environ[env] for field, env in names.items() if env in os.environ})


DEFAULT_HYPERPARAMETERS = {"epochs": "3", "learning_rate": "0.005", "batch_size": "4", "lora_r": "8",
                           "lora_alpha": "16", "lora_target_modules": "q_proj,k_proj,v_proj,o_proj", "save_steps": "3"}


# --- the dataset ----------------------------------------------------------------------------------------
class RejectedRow(BaseModel):
    line: int
    reason: str


class DatasetReport(BaseModel):
    lines: int
    accepted: int
    rejected: list[RejectedRow]
    duplicates: int
    train_rows: int
    validation_rows: int
    max_tokens: int
    total_tokens: int
    form: Literal["messages", "prompt_completion", "mixed", "none"]

    @property
    def ok(self) -> bool:
        return not self.rejected and self.accepted > 0

    def summary(self, limit: int = 20) -> str:
        shown = "; ".join(f"line {row.line}: {row.reason}" for row in self.rejected[:limit])
        more = f"; and {len(self.rejected) - limit} more" if len(self.rejected) > limit else ""
        return f"{len(self.rejected)} of {self.lines} rows rejected: {shown}{more}"


def _row_problem(row: Any) -> tuple[str | None, list[dict] | None]:
    """(reason, messages): why a parsed row is unacceptable, or its messages."""
    if not isinstance(row, dict):
        return "not a JSON object", None
    if "messages" in row:
        extra = set(row) - {"messages"}
        messages = row["messages"]
        if extra:
            return f"unexpected fields next to messages: {', '.join(sorted(extra))}", None
        if not isinstance(messages, list) or len(messages) < 2:
            return "messages must be a list of at least two messages", None
        for number, message in enumerate(messages, 1):
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                return f"message {number} must have exactly role and content", None
            if message["role"] not in ROLES:
                return f"message {number} has role {message['role']!r} (expected system, user or assistant)", None
            if not isinstance(message["content"], str) or not message["content"].strip():
                return f"message {number} has empty content", None
        if messages[-1]["role"] != "assistant":
            return "the last message must be the assistant's answer", None
        if not any(m["role"] == "user" for m in messages):
            return "no user message", None
        return None, messages
    if {"prompt", "completion"} <= set(row):
        extra = set(row) - {"prompt", "completion"}
        if extra:
            return f"unexpected fields next to prompt/completion: {', '.join(sorted(extra))}", None
        for name in ("prompt", "completion"):
            if not isinstance(row[name], str) or not row[name].strip():
                return f"{name} is empty", None
        return None, [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
    return "neither chat form (messages) nor prompt/completion form", None


def row_tokens(messages: list[dict]) -> int:
    """A conservative estimate of the row's tokens once the chat template is applied."""
    return TEMPLATE_TOKENS_FIXED + sum(estimate_tokens(m["content"]) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)


def _is_validation(canonical: str, fraction: float) -> bool:
    bucket = int(hashlib.sha256(canonical.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < fraction


def validate_dataset(data: bytes, settings: FineTuneSettings, max_seq_length: int | None = None
                     ) -> tuple[DatasetReport, list[str], list[str]]:
    """Check every line; return the report and the train / validation lines (canonical JSON)."""
    limit = min(max_seq_length or settings.max_seq_length, settings.model_context_tokens)
    rejected: list[RejectedRow] = []
    seen: dict[str, int] = {}
    train: list[str] = []
    validation: list[str] = []
    forms: set[str] = set()
    duplicates = max_tokens = total_tokens = 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        rejected.append(RejectedRow(line=data[:err.start].count(b"\n") + 1, reason="not UTF-8"))
        text = ""
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            rejected.append(RejectedRow(line=number, reason="empty line"))
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            rejected.append(RejectedRow(line=number, reason=f"not valid JSON ({err.msg})"))
            continue
        reason, messages = _row_problem(row)
        if reason:
            rejected.append(RejectedRow(line=number, reason=reason))
            continue
        canonical = json.dumps({"messages": messages}, ensure_ascii=False, sort_keys=True)
        if canonical in seen:
            duplicates += 1
            rejected.append(RejectedRow(line=number, reason=f"duplicate of line {seen[canonical]}"))
            continue
        seen[canonical] = number
        tokens = row_tokens(messages)
        if tokens > limit:
            rejected.append(RejectedRow(line=number, reason=f"about {tokens} tokens, over the {limit}-token "
                                        f"training sequence length (model context {settings.model_context_tokens})"))
            continue
        forms.add("messages" if "messages" in row else "prompt_completion")
        max_tokens, total_tokens = max(max_tokens, tokens), total_tokens + tokens
        (validation if _is_validation(canonical, settings.validation_fraction) else train).append(
            json.dumps(row, ensure_ascii=False))
    accepted = len(train) + len(validation)
    if accepted and not validation:  # tiny sets: hold out at least one row
        validation.append(train.pop())
    if accepted and len(lines) > settings.max_rows:
        rejected.append(RejectedRow(line=settings.max_rows + 1, reason=f"more than {settings.max_rows} rows"))
    if 0 < accepted < settings.min_rows and not rejected:
        rejected.append(RejectedRow(line=len(lines), reason=f"only {accepted} rows; at least {settings.min_rows} needed"))
    if not lines:
        rejected.append(RejectedRow(line=0, reason="the dataset is empty"))
    form = "none" if not forms else forms.pop() if len(forms) == 1 else "mixed"
    report = DatasetReport(lines=len(lines), accepted=accepted, rejected=rejected, duplicates=duplicates,
                           train_rows=len(train), validation_rows=len(validation), max_tokens=max_tokens,
                           total_tokens=total_tokens, form=form)
    return report, train, validation


# --- cost and time ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def training_prices() -> dict[str, Any]:
    return json.loads(resources.files("docpipe").joinpath("data/training_prices.json").read_text())


def estimate_training(report: DatasetReport, instance_type: str, instance_count: int, epochs: float,
                      max_seq_length: int) -> dict[str, Any]:
    """Time and cost of the job at list prices: fixed overheads + padded tokens / throughput."""
    table = training_prices()
    instance = table["instances"].get(instance_type)
    if instance is None:
        raise ValueError(f"no price for {instance_type}; known: {', '.join(sorted(table['instances']))}")
    tokens = report.train_rows * max_seq_length * epochs  # sequences are padded to a fixed length
    compute_s = tokens / (instance["tokens_per_second"] * instance_count)
    seconds = table["startup_seconds"] + table["neuron_compile_seconds"] + compute_s
    hours = seconds / 3600 * instance_count
    on_demand, spot = instance["on_demand_usd_per_hour"], instance["spot_usd_per_hour"]
    return {"instance_type": instance_type, "instance_count": instance_count, "epochs": epochs,
            "train_tokens": int(tokens), "seconds": math.ceil(seconds),
            "on_demand_usd": round(hours * on_demand, 4), "spot_usd": round(hours * spot, 4),
            "prices_as_of": table["as_of"], "region": table["region"]}


# --- the training job request -----------------------------------------------------------------------------
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"step=\d+ loss=([0-9.eE+-]+)"},
    {"Name": "validation:loss", "Regex": r"eval_loss=([0-9.eE+-]+)"},
    {"Name": "validation:initial_loss", "Regex": r"initial_eval_loss=([0-9.eE+-]+)"},
    {"Name": "validation:final_loss", "Regex": r"final_eval_loss=([0-9.eE+-]+)"},
    {"Name": "validation:improvement", "Regex": r"eval_loss_improvement=([0-9.eE+-]+)"},
]


# The template lets StartTraining create, and PollTraining describe, only training-job/ft-* (IAM).
JOB_PREFIX = "ft-"


def job_name(run_id: str, attempt: int) -> str:
    """``ft-<run id>-a<attempt>``: at most 62 characters of [a-zA-Z0-9-] (run ids have at most 56, attempts
    one digit), always under the prefix the template's policies allow, whatever the run id."""
    return f"{JOB_PREFIX}{run_id}-a{attempt}"


def hyperparameters(settings: FineTuneSettings, epochs: float | None) -> dict[str, str]:
    values = {**DEFAULT_HYPERPARAMETERS, "model_id": settings.base_model_id,
              "max_seq_length": str(settings.max_seq_length)}
    values.update({k: str(v) for k, v in json.loads(settings.training_hyperparameters or "{}").items()})
    if epochs is not None:
        values["epochs"] = str(epochs)
    return values


def training_job_request(settings: FineTuneSettings, bucket: str, run_id: str, attempt: int,
                         hparams: dict[str, str], code_uri: str) -> dict[str, Any]:
    """CreateTrainingJob parameters: Neuron image in script mode (``code_uri``: the sourcedir.tar.gz), spot
    with S3 checkpoints, output to S3."""
    settings.require("training_role_arn", "training_image_uri")
    prefix = f"s3://{bucket}/{settings.finetune_prefix}{run_id}"
    request: dict[str, Any] = {
        "TrainingJobName": job_name(run_id, attempt),
        "RoleArn": settings.training_role_arn,
        "AlgorithmSpecification": {"TrainingImage": settings.training_image_uri, "TrainingInputMode": "File",
                                   "MetricDefinitions": METRIC_DEFINITIONS},
        "HyperParameters": {**hparams, "sagemaker_program": "train.py",
                            "sagemaker_submit_directory": code_uri},
        "InputDataConfig": [
            {"ChannelName": channel, "ContentType": "application/jsonlines", "InputMode": "File",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{prefix}/data/{channel}/",
                                             "S3DataDistributionType": "FullyReplicated"}}}
            for channel in ("train", "validation")],
        "OutputDataConfig": {"S3OutputPath": f"{prefix}/output/",
                             **({"KmsKeyId": settings.training_kms_key_arn} if settings.training_kms_key_arn else {})},
        "ResourceConfig": {"InstanceType": settings.training_instance_type,
                           "InstanceCount": settings.training_instance_count,
                           "VolumeSizeInGB": settings.training_volume_gb,
                           **({"VolumeKmsKeyId": settings.training_kms_key_arn} if settings.training_kms_key_arn else {})},
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.training_max_run_seconds},
        # every attempt of a run shares the checkpoint location: a retry resumes where the last one stopped
        "CheckpointConfig": {"S3Uri": f"{prefix}/checkpoints/", "LocalPath": "/opt/ml/checkpoints"},
        "EnableManagedSpotTraining": settings.training_spot,
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": settings.training_instance_count > 1,
        "Tags": [{"Key": "docpipe:run", "Value": run_id}],
    }
    if settings.training_spot:
        request["StoppingCondition"]["MaxWaitTimeInSeconds"] = max(settings.training_max_wait_seconds,
                                                                   settings.training_max_run_seconds)
    return request


def is_retryable(failure_reason: str) -> bool:
    return any(marker in failure_reason for marker in RETRYABLE_FAILURES)
