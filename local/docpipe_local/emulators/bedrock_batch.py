"""Bedrock batch inference (control plane ``bedrock``): Create/Get/List/StopModelInvocationJob, run here.

A job reads its JSONL input from S3 (``{"recordId", "modelInput"}`` per line, ``modelInput`` being the
model's own InvokeModel body: Nova ``messages-v1``, Anthropic messages, or a plain ``prompt``), answers every
record with the same local model as the Converse emulator (SmolLM2 through
:class:`docpipe_local.engines.llm.LocalLLM`), in a background thread, and writes what Bedrock writes:
``<output>/<jobId>/<input file>.out`` (one line per record, ``modelOutput`` or ``error``) and
``<output>/<jobId>/manifest.json.out`` (record and token counts). Status goes Submitted -> InProgress ->
Completed (or Failed, with Bedrock's message, when the input is missing, empty, malformed or under the
minimum record count). As in Bedrock, batch inference applies no guardrail: callers guard inputs and outputs.

Validations as Bedrock's (``ValidationException``): job name pattern, service-role ARN, model id, S3 URIs;
a repeated ``clientRequestToken`` returns the job it created; a job name in use is a ``ConflictException``.
``$DOCPIPE_BEDROCK_BATCH_MIN_RECORDS`` lowers Bedrock's minimum of 100 records a job (tests).
"""

from __future__ import annotations

import json
import os
import random
import re
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from docpipe_local.emulators.base import Emulator, ServiceError
from docpipe_local.emulators.bedrock_converse import check_model_id, model_max_tokens
from docpipe_local.template import ACCOUNT_ID, REGION

_JOB_NAME = re.compile(r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9+\-.]){0,63}$")
_ROLE = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.*)$")
MIN_RECORDS_ENV = "DOCPIPE_BEDROCK_BATCH_MIN_RECORDS"
BEDROCK_MIN_RECORDS = 100
MAX_RECORDS = 50_000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _invalid(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


class BedrockBatchEmulator(Emulator):
    service = "bedrock"

    def __init__(self, llm: Any):
        self.llm = llm
        self.jobs: dict[str, dict] = {}
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bedrock-batch")
        self._stopped: set[str] = set()
        self.records_generated = 0

    # -- operations ----------------------------------------------------------------------------------
    def CreateModelInvocationJob(self, params: dict) -> dict:
        name, role, model = params["jobName"], params["roleArn"], params["modelId"]
        if not _JOB_NAME.match(name):
            raise _invalid(f"1 validation error detected: Value '{name}' at 'jobName' failed to satisfy constraint: "
                           "Member must satisfy regular expression pattern: [a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\\+\\-\\.]){0,63}")
        if not _ROLE.match(role):
            raise _invalid(f"1 validation error detected: Value '{role}' at 'roleArn' failed to satisfy constraint: "
                           "Member must satisfy regular expression pattern: arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
        check_model_id(model)
        source = params["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        target = params["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        for label, uri in (("input", source), ("output", target)):
            if not _S3_URI.match(uri):
                raise _invalid(f"The provided S3 {label} URI {uri} is not valid.")
        token = params.get("clientRequestToken")
        with self._lock:
            if token and token in self._tokens:
                return {"jobArn": self._tokens[token]}
            if any(job["jobName"] == name for job in self.jobs.values()):
                raise ServiceError("ConflictException", f"A job with the name {name} already exists.")
            job_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=12))
            arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:model-invocation-job/{job_id}"
            now = _now()
            self.jobs[arn] = {
                "jobArn": arn, "jobName": name, "modelId": model, "roleArn": role, "status": "Submitted",
                "submitTime": now, "lastModifiedTime": now,
                "inputDataConfig": params["inputDataConfig"], "outputDataConfig": params["outputDataConfig"],
                "timeoutDurationInHours": params.get("timeoutDurationInHours", 24),
                **({"clientRequestToken": token} if token else {}),
            }
            if token:
                self._tokens[token] = arn
        self._pool.submit(self._run, arn)
        return {"jobArn": arn}

    def _job(self, identifier: str) -> dict:
        with self._lock:
            job = self.jobs.get(identifier) or next(
                (j for j in self.jobs.values() if j["jobName"] == identifier or j["jobArn"].endswith("/" + identifier)),
                None)
            if job is None:
                raise ServiceError("ResourceNotFoundException", f"The specified job {identifier} was not found.", 404)
            return dict(job)

    def GetModelInvocationJob(self, params: dict) -> dict:
        return self._job(params["jobIdentifier"])

    def ListModelInvocationJobs(self, params: dict) -> dict:
        with self._lock:
            jobs = [dict(job) for job in self.jobs.values()]
        if params.get("statusEquals"):
            jobs = [job for job in jobs if job["status"] == params["statusEquals"]]
        if params.get("nameContains"):
            jobs = [job for job in jobs if params["nameContains"] in job["jobName"]]
        jobs.sort(key=lambda job: job["submitTime"], reverse=params.get("sortOrder", "Descending") == "Descending")
        return {"invocationJobSummaries": jobs[: params.get("maxResults", 1000)]}

    def StopModelInvocationJob(self, params: dict) -> dict:
        job = self._job(params["jobIdentifier"])
        if job["status"] not in ("Submitted", "InProgress", "Validating", "Scheduled"):
            raise _invalid(f"The job {job['jobArn']} cannot be stopped in status {job['status']}.")
        self._update(job["jobArn"], status="Stopping")
        self._stopped.add(job["jobArn"])
        return {}

    def close(self) -> None:
        self._stopped.update(self.jobs)
        self._pool.shutdown(wait=True)

    # -- the work ------------------------------------------------------------------------------------
    def _update(self, arn: str, **changes: Any) -> None:
        with self._lock:
            self.jobs[arn].update(changes, lastModifiedTime=_now())

    def _run(self, arn: str) -> None:
        import boto3

        job = self._job(arn)
        s3 = boto3.client("s3", region_name=REGION)
        try:
            self._update(arn, status="InProgress")
            bucket, key = _S3_URI.match(job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]).groups()
            try:
                data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception:  # noqa: BLE001 - what Bedrock reports for an unreadable input
                raise RuntimeError(f"Unable to access the input file s3://{bucket}/{key}. Check the S3 URI and "
                                   "the permissions of the service role.") from None
            rows = [line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
            minimum = int(os.environ.get(MIN_RECORDS_ENV, BEDROCK_MIN_RECORDS))
            if len(rows) < minimum:
                raise RuntimeError(f"The input file has {len(rows)} records; a batch inference job needs at "
                                   f"least {minimum}.")
            if len(rows) > MAX_RECORDS:
                raise RuntimeError(f"The input file has {len(rows)} records, over the maximum of {MAX_RECORDS}.")
            out_bucket, out_prefix = _S3_URI.match(job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]).groups()
            job_id = arn.rsplit("/", 1)[1]
            base = f"{out_prefix.rstrip('/')}/{job_id}/" if out_prefix.strip("/") else f"{job_id}/"
            lines, counts = [], {"totalRecordCount": len(rows), "processedRecordCount": 0, "successRecordCount": 0,
                                 "errorRecordCount": 0, "inputTokenCount": 0, "outputTokenCount": 0}
            for raw in rows:
                if arn in self._stopped:
                    self._update(arn, status="Stopped", endTime=_now())
                    return
                line = self._record(raw, job["modelId"])
                counts["processedRecordCount"] += 1
                if "error" in line:
                    counts["errorRecordCount"] += 1
                else:
                    counts["successRecordCount"] += 1
                    tokens = line.pop("_tokens")
                    counts["inputTokenCount"] += tokens[0]
                    counts["outputTokenCount"] += tokens[1]
                lines.append(line)
            body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
            s3.put_object(Bucket=out_bucket, Key=base + key.rsplit("/", 1)[-1] + ".out", Body=body)
            s3.put_object(Bucket=out_bucket, Key=base + "manifest.json.out", Body=json.dumps(counts).encode())
            status = "Completed" if counts["errorRecordCount"] < counts["totalRecordCount"] else "Failed"
            self._update(arn, status=status, endTime=_now(),
                         **({"message": "Every record failed."} if status == "Failed" else {}))
        except Exception as exc:  # noqa: BLE001 - the job fails, the service goes on
            self._update(arn, status="Failed", message=str(exc), endTime=_now())

    def _record(self, raw: str, model_id: str) -> dict:
        try:
            row = json.loads(raw)
            record_id, body = row.get("recordId"), row["modelInput"]
        except (ValueError, KeyError, TypeError, AttributeError):
            return {"recordId": None, "error": {"errorCode": 400, "errorMessage": "Malformed input record."}}
        base = {"recordId": record_id, "modelInput": body}
        try:
            turns, system, max_tokens, temperature = _parse_body(body, model_id)
            result = self.llm.generate(turns, system=system, max_tokens=max_tokens, temperature=temperature)
        except ServiceError as err:
            return {**base, "error": {"errorCode": 400, "errorMessage": err.message}}
        except ValueError as exc:
            return {**base, "error": {"errorCode": 400, "errorMessage": f"Input is too long for requested model. {exc}"}}
        self.records_generated += 1
        if "anthropic." in model_id:
            output = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": result.text}],
                      "stop_reason": result.stop_reason,
                      "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens}}
        else:
            output = {"output": {"message": {"role": "assistant", "content": [{"text": result.text}]}},
                      "stopReason": result.stop_reason,
                      "usage": {"inputTokens": result.input_tokens, "outputTokens": result.output_tokens,
                                "totalTokens": result.input_tokens + result.output_tokens}}
        return {**base, "modelOutput": output, "_tokens": (result.input_tokens, result.output_tokens)}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))


def _parse_body(body: dict, model_id: str) -> tuple[list[dict], str | None, int, float]:
    """The conversation of a Nova messages-v1, Anthropic messages or plain-prompt body."""
    if not isinstance(body, dict):
        raise ServiceError("ValidationException", "modelInput must be a JSON object.")
    limit = model_max_tokens(model_id)
    if "messages" in body:
        turns = [{"role": m["role"], "content": _text(m["content"])} for m in body["messages"]]
        system = body.get("system")
        system = _text(system) if system else None
        config = body.get("inferenceConfig", {})
        max_tokens = config.get("maxTokens", body.get("max_tokens", 512))
        temperature = config.get("temperature", body.get("temperature", 0.7))
    elif "prompt" in body or "inputText" in body:
        turns = [{"role": "user", "content": str(body.get("prompt", body.get("inputText")))}]
        system, max_tokens = None, body.get("max_gen_len", body.get("max_tokens", 512))
        temperature = body.get("temperature", 0.7)
    else:
        raise ServiceError("ValidationException", "Malformed input request: no messages or prompt.")
    if not turns or turns[0]["role"] != "user" or not all(t["content"].strip() for t in turns):
        raise ServiceError("ValidationException", "A conversation must start with a non-empty user message.")
    if not 1 <= int(max_tokens) <= limit:
        raise ServiceError("ValidationException", f"maxTokens must be between 1 and {limit}.")
    if not 0 <= float(temperature) <= 1:
        raise ServiceError("ValidationException", "temperature must be between 0 and 1.")
    return turns, system, int(max_tokens), float(temperature)
