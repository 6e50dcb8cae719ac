"""Scheduled batch generation: plan a JSONL job, generate every record through the guarded Converse path
(or one Bedrock batch inference job for large jobs), and aggregate results.jsonl and a report.

Idempotency: every finished record is kept in the batch table under (job id, record id) with the
fingerprint of its request; a re-run of the same job skips those records and makes no model call for them.
A job's id is derived from its key and content (or given), so a changed job file is a new job.

S3 layout (documents bucket): ``work/batch/<job_id>/`` index.json, batches.json (the Distributed Map's
ItemReader source), batches/<n>.jsonl, results/<n>.jsonl (written by each worker), bedrock/ (batch
inference input and output); ``out/batch/<job_id>/`` results.jsonl and report.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from typing import Any, Iterable, Iterator

from pydantic import BaseModel, Field

from docpipe.batch import (BatchFile, BatchJobInput, BatchPlan, BatchResult, BatchWorkItem, BatchWorkResult,
                           InferenceJob, InvalidRecord, PlanInput, PreparedRecord, parse_job)
from docpipe.clients import client
from docpipe.errors import TRANSIENT
from docpipe.generation import PromptBlocked, converse
from docpipe.guardrail import GuardrailBlocked
from docpipe.models import S3Pointer, Usage, utc_now
from docpipe.pricing import cost_breakdown
from docpipe.prompts import prompt
from docpipe.settings import get_settings
from docpipe.storage import get_json, put_json, read_bytes

# Errors worth another attempt (the worker raises BatchRetryable; the state machine retries the batch): the
# transient ones, and a quota that frees up as other records finish.
RETRYABLE = TRANSIENT | {"ServiceQuotaExceededException", "RequestTimeout"}
RUNNING = {"Submitted", "Validating", "Scheduled", "InProgress", "Stopping", "PartiallyCompleted"}


class BatchRetryable(Exception):
    """Some records failed transiently (throttling...); finished ones are kept, the batch runs again."""


class BatchSettings(BaseModel):
    """DOCPIPE_BATCH_* environment variables (kept apart from the shared Settings model)."""

    table: str = ""
    size: int = Field(default=25, ge=1, le=1000)
    max_concurrency: int = Field(default=4, ge=1, le=1000)
    inference_min_records: int = Field(default=1000, ge=1)
    inference_role_arn: str = ""
    poll_seconds: int = Field(default=60, ge=1)
    max_polls: int = Field(default=1440, ge=1)
    max_tokens: int = Field(default=64, ge=1, le=4096)
    temperature: float = Field(default=0.2, ge=0, le=1)
    model_ids: str = ""  # comma-separated models a record may name besides the generation model
    record_ttl_days: int = 30


def batch_settings() -> BatchSettings:
    """Read per call (cheap): offline, one process starts runtimes with different environments."""
    prefix = "DOCPIPE_BATCH_"
    values = {name: os.environ[prefix + name.upper()] for name in BatchSettings.model_fields
              if prefix + name.upper() in os.environ}
    return BatchSettings.model_validate(values)


def _work(job_id: str, name: str = "") -> str:
    return f"{get_settings().work_prefix}batch/{job_id}/{name}"


def _out(job_id: str, name: str = "") -> str:
    return f"{get_settings().out_prefix}batch/{job_id}/{name}"


def _put_jsonl(bucket: str, key: str, rows: Iterable[dict]) -> None:
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")


def _read_jsonl(bucket: str, key: str) -> list[dict]:
    return [json.loads(line) for line in read_bytes(bucket, key).decode().splitlines() if line.strip()]


def _keys(bucket: str, prefix: str) -> Iterator[str]:
    """The keys under `prefix` (s3:ListBucket, granted on that prefix only)."""
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from (item["Key"] for item in page.get("Contents", []))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "job"


# --- the table of finished records ----------------------------------------------------------------------
def _done(job_id: str, record_ids: list[str]) -> dict[str, dict]:
    """Finished records of this job, by id (BatchGetItem, 100 keys a call, unprocessed keys retried)."""
    table = batch_settings().table
    found: dict[str, dict] = {}
    if not table:
        return found
    dynamodb = client("dynamodb")
    for start in range(0, len(record_ids), 100):
        keys = [{"job_id": {"S": job_id}, "record_id": {"S": rid}} for rid in record_ids[start:start + 100]]
        request = {table: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(8):
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[item["record_id"]["S"]] = json.loads(item["result"]["S"])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
    return found


def _mark_done(job_id: str, result: dict) -> None:
    settings = batch_settings()
    if not settings.table:
        return
    expires = int(time.time()) + settings.record_ttl_days * 86400
    client("dynamodb").put_item(TableName=settings.table, Item={
        "job_id": {"S": job_id}, "record_id": {"S": result["id"]}, "fingerprint": {"S": result["fingerprint"]},
        "status": {"S": result["status"]}, "result": {"S": json.dumps(result, ensure_ascii=False)},
        "expires_at": {"N": str(expires)}})


def _fresh(done: dict[str, dict], record: PreparedRecord) -> dict | None:
    """The earlier result of this record, if its request is unchanged and it is final: succeeded, or blocked by
    the guardrail (which would block it again). A failed record (model access, a refused request) is tried
    again by the next run."""
    earlier = done.get(record.id)
    if earlier and earlier.get("fingerprint") == record.fingerprint and earlier["status"] in ("succeeded", "blocked"):
        return earlier
    return None


def _result(record: PreparedRecord, status: str, *, output: str | None = None, reason: str | None = None,
            message: str | None = None, input_tokens: int = 0, output_tokens: int = 0, cached: bool = False,
            guardrail: str = "NONE", via: str = "converse", guardrail_units: int = 0) -> dict:
    return {"line": record.line, "id": record.id, "status": status, "output": output,
            "error": {"reason": reason, "message": message} if reason else None, "model_id": record.model_id,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                      "guardrail_text_units": guardrail_units}, "cached": cached,
            "guardrail": guardrail, "via": via, "fingerprint": record.fingerprint}


# --- Plan ---------------------------------------------------------------------------------------------
def plan_batch_job(payload: BatchJobInput) -> BatchPlan:
    settings, batch = get_settings(), batch_settings()
    request = payload.request
    data = read_bytes(request.job.bucket, request.job.key, request.job.version_id)
    digest = hashlib.sha256(request.job.key.encode() + b"\n" + data).hexdigest()[:12]
    job_id = request.job_id or f"{_slug(request.job.key.rsplit('/', 1)[-1].rsplit('.', 1)[0])}-{digest}"
    allowed = {m.strip() for m in batch.model_ids.split(",") if m.strip()} | {settings.generation_model_id}
    entries, _ = parse_job(data, prompts=prompt, default_model=settings.generation_model_id,
                           default_system=prompt("batch_system"), allowed_models=allowed,
                           default_max_tokens=batch.max_tokens, default_temperature=batch.temperature)
    valid = [e for e in entries if isinstance(e, PreparedRecord)]
    done = _done(job_id, [r.id for r in valid])
    pending = [r for r in valid if _fresh(done, r) is None]
    bucket = settings.documents_bucket
    index = [{"line": e.line, "id": e.id, "valid": isinstance(e, PreparedRecord),
              **({"reason": e.reason} if isinstance(e, InvalidRecord) else {})} for e in entries]
    put_json(bucket, _work(job_id, "index.json"), index)

    size = request.batch_size or batch.size
    files = []
    for number, start in enumerate(range(0, len(valid), size)):
        key = _work(job_id, f"batches/{number:05d}.jsonl")
        chunk = valid[start:start + size]
        _put_jsonl(bucket, key, (r.model_dump() for r in chunk))
        files.append(BatchFile(job_id=job_id, index=number, bucket=bucket, key=key, count=len(chunk)).model_dump())
    put_json(bucket, _work(job_id, "batches.json"), files)

    one_model = len({r.model_id for r in pending}) <= 1
    if not pending:
        mode = "done"
    elif one_model and (request.mode == "batch_inference" or (
            request.mode == "auto" and len(pending) >= batch.inference_min_records)):  # one job runs one model
        mode = "batch_inference"
    else:
        mode = "on_demand"
    plan = BatchPlan(
        execution_id=payload.execution_id, job_id=job_id, job=request.job, mode=mode, records=len(entries),
        valid=len(valid), invalid=len(entries) - len(valid), pending=len(pending), batch_count=len(files),
        index=S3Pointer(bucket=bucket, key=_work(job_id, "index.json")),
        manifest=S3Pointer(bucket=bucket, key=_work(job_id, "batches.json")),
        work_prefix=_work(job_id), out_prefix=_out(job_id), max_concurrency=batch.max_concurrency,
        model_id=pending[0].model_id if pending else settings.generation_model_id)
    if mode == "batch_inference":
        _submit_inference_job(plan, pending)
    return plan


def _submit_inference_job(plan: BatchPlan, pending: list[PreparedRecord]) -> None:
    """Guard each input (Bedrock batch inference takes no guardrailConfig), then CreateModelInvocationJob."""
    from docpipe.guardrail import apply

    batch, bucket = batch_settings(), get_settings().documents_bucket
    rows, units = [], 0
    for record in pending:
        outcome = apply(record.user, "INPUT")
        units += outcome.text_units
        if outcome.action == "BLOCKED":
            _mark_done(plan.job_id, {**_result(record, "blocked", reason="guardrail_blocked", message=outcome.reason,
                                               guardrail="BLOCKED", via="batch_inference"), "run": plan.execution_id})
            continue
        rows.append({"recordId": record.id, "modelInput": model_input(record, outcome.text)})
    plan.usage = {"guardrail_text_units": units}
    if not rows:
        plan.mode = "done"
        return
    attempt = hashlib.sha256(json.dumps([r["recordId"] for r in rows]).encode()).hexdigest()[:12]
    input_key = _work(plan.job_id, f"bedrock/input-{attempt}.jsonl")
    output_prefix = _work(plan.job_id, f"bedrock/output-{attempt}/")
    _put_jsonl(bucket, input_key, rows)
    response = client("bedrock").create_model_invocation_job(
        jobName=f"docpipe-{plan.job_id}-{attempt}"[:63], roleArn=batch.inference_role_arn, modelId=plan.model_id,
        clientRequestToken=f"{plan.job_id}-{attempt}"[:256],
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/{input_key}", "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/{output_prefix}"}})
    plan.inference_job = InferenceJob(arn=response["jobArn"], input_key=input_key, output_prefix=output_prefix,
                                      wait_seconds=batch.poll_seconds, max_polls=batch.max_polls)


def model_input(record: PreparedRecord, user: str) -> dict:
    """The model's own request body for a batch inference record (Nova messages-v1, Anthropic or generic)."""
    if "anthropic." in record.model_id:
        return {"anthropic_version": "bedrock-2023-05-31", "system": record.system, "max_tokens": record.max_tokens,
                "temperature": record.temperature, "messages": [{"role": "user", "content": [{"type": "text", "text": user}]}]}
    return {"schemaVersion": "messages-v1", "system": [{"text": record.system}],
            "messages": [{"role": "user", "content": [{"text": user}]}],
            "inferenceConfig": {"maxTokens": record.max_tokens, "temperature": record.temperature}}


# --- GenerateBatch (one Distributed Map item) ---------------------------------------------------------
def generate_batch(payload: BatchWorkItem) -> BatchWorkResult:
    batch = payload.batch
    records = [PreparedRecord.model_validate(row) for row in _read_jsonl(batch.bucket, batch.key)]
    done = _done(batch.job_id, [r.id for r in records])
    results, retry, generated, skipped, hits = [], [], 0, 0, 0
    for record in records:
        earlier = _fresh(done, record)
        if earlier is not None:
            results.append(earlier)
            skipped += 1
            continue
        result = _generate(record)
        if result is None:
            retry.append(record.id)
            continue
        generated += not result["cached"] and result["via"] == "converse"  # a blocked prompt reached no model
        hits += result["cached"]
        result["run"] = payload.execution_id
        _mark_done(batch.job_id, result)
        results.append(result)
    key = batch.key.replace("/batches/", "/results/")
    _put_jsonl(batch.bucket, key, results)
    if retry:
        raise BatchRetryable(f"{len(retry)} of {len(records)} records failed transiently and run again: "
                             + ", ".join(retry[:5]))
    return BatchWorkResult(index=batch.index, records=len(records), generated=generated, skipped=skipped,
                           cache_hits=hits, statuses=dict(Counter(r["status"] for r in results)),
                           result=S3Pointer(bucket=batch.bucket, key=key))


def _generate(record: PreparedRecord) -> dict | None:
    """One record through the guarded Converse path; None when it should be tried again."""
    from botocore.exceptions import ClientError

    try:
        generation = converse(record.system, record.user, max_tokens=record.max_tokens,
                              temperature=record.temperature, model_id=record.model_id)
    except PromptBlocked as exc:  # no model call: counted as none
        return _result(record, "blocked", reason="guardrail_blocked", message=str(exc), guardrail="BLOCKED",
                       via="guardrail")
    except GuardrailBlocked as exc:
        return _result(record, "blocked", reason="guardrail_blocked", message=str(exc), guardrail="BLOCKED")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        if code in RETRYABLE:
            return None
        return _result(record, "failed", reason=f"model_error:{code}",
                       message=exc.response.get("Error", {}).get("Message", str(exc)))
    return _result(record, "succeeded", output=generation.text, input_tokens=generation.input_tokens,
                   output_tokens=generation.output_tokens, cached=generation.cached,
                   guardrail="ANONYMIZED" if generation.guardrail_intervened else "NONE",
                   guardrail_units=generation.guardrail_text_units)


# --- the Bedrock batch inference job ------------------------------------------------------------------
def poll_inference_job(payload: PlanInput) -> BatchPlan:
    plan = payload.plan
    job = plan.inference_job
    described = client("bedrock").get_model_invocation_job(jobIdentifier=job.arn)
    job.status, job.message, job.polls = described["status"], described.get("message"), job.polls + 1
    if job.status in RUNNING and job.polls >= job.max_polls:
        job.status, job.message = "PollTimeout", f"still {described['status']} after {job.polls} polls"
    return plan


def _collect_inference_output(plan: BatchPlan, records: dict[str, PreparedRecord]) -> Usage:
    """Bedrock's <output>/<job id>/<input>.jsonl.out back into results, each output through the guardrail."""
    from docpipe.guardrail import apply

    job, usage = plan.inference_job, Usage()
    if job.status not in ("Completed", "PartiallyCompleted"):
        return usage
    for key in _keys(plan.index.bucket, job.output_prefix):
        if not key.endswith(".jsonl.out"):
            continue
        for row in _read_jsonl(plan.index.bucket, key):
            record = records.get(row.get("recordId"))
            if record is None:
                continue
            if "error" in row or "modelOutput" not in row:
                error = row.get("error") or {}
                result = _result(record, "failed", reason=f"model_error:{error.get('errorCode', 'unknown')}",
                                 message=error.get("errorMessage"), via="batch_inference")
            else:
                text, input_tokens, output_tokens = _output_text(row["modelOutput"])
                usage += Usage(batch_inference_input_tokens=input_tokens, batch_inference_output_tokens=output_tokens)
                outcome = apply(text, "OUTPUT")
                usage += Usage(guardrail_text_units=outcome.text_units)
                if outcome.action == "BLOCKED":
                    result = _result(record, "blocked", reason="guardrail_blocked", message=outcome.reason,
                                     input_tokens=input_tokens, output_tokens=output_tokens, guardrail="BLOCKED",
                                     via="batch_inference")
                else:
                    result = _result(record, "succeeded", output=outcome.text, input_tokens=input_tokens,
                                     output_tokens=output_tokens, guardrail=outcome.action, via="batch_inference")
            _mark_done(plan.job_id, {**result, "run": plan.execution_id})
    return usage


def _output_text(output: dict) -> tuple[str, int, int]:
    if "content" in output and isinstance(output["content"], list):  # Anthropic messages
        text = "".join(part.get("text", "") for part in output["content"])
        usage = output.get("usage", {})
        return text.strip(), usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    content = output.get("output", {}).get("message", {}).get("content", [])
    usage = output.get("usage", {})
    return ("".join(part.get("text", "") for part in content).strip(), usage.get("inputTokens", 0),
            usage.get("outputTokens", 0))


# --- Aggregate ----------------------------------------------------------------------------------------
def aggregate_batch(payload: PlanInput) -> BatchResult:
    plan, started = payload.plan, time.perf_counter()
    bucket = plan.index.bucket
    index = get_json(bucket, plan.index.key)
    files = [BatchFile.model_validate(f) for f in get_json(bucket, plan.manifest.key)]
    records = {row["id"]: PreparedRecord.model_validate(row)
               for f in files for row in _read_jsonl(f.bucket, f.key)}
    usage = Usage(guardrail_text_units=plan.usage.get("guardrail_text_units", 0))
    if plan.mode == "batch_inference" and plan.inference_job is not None:
        usage += _collect_inference_output(plan, records)

    found: dict[str, dict] = {}
    if plan.mode == "on_demand":  # what the workers wrote (ResultWriter's manifest lists the same runs in AWS)
        # listed, not tried: a batch that never finished has no results file, and S3 answers a GET of a missing
        # key with 403 AccessDenied, not 404, unless the caller may list the whole bucket
        written = set(_keys(bucket, _work(plan.job_id, "results/")))
        for f in files:
            key = f.key.replace("/batches/", "/results/")
            if f.bucket != bucket or key not in written:
                continue
            for row in _read_jsonl(f.bucket, key):
                if records.get(row["id"]) and row.get("fingerprint") == records[row["id"]].fingerprint:
                    found[row["id"]] = row
    missing = [rid for rid in records if rid not in found]
    for rid, row in _done(plan.job_id, missing).items():  # a batch that failed part-way kept what it finished
        if row.get("fingerprint") == records[rid].fingerprint:
            found[rid] = row

    failure = _failure_reason(plan)
    lines, counts, reasons = [], Counter(), Counter()
    calls = cache_hits = skipped = masked = 0
    for entry in index:
        if not entry["valid"]:
            line = {"line": entry["line"], "id": entry["id"], "status": "invalid", "output": None,
                    "error": {"reason": "invalid_record", "message": entry["reason"]}, "model_id": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0}, "cached": False, "guardrail": "NONE"}
        elif entry["id"] in found:
            row = dict(found[entry["id"]])
            this_run = row.pop("run", None) == plan.execution_id
            row.pop("fingerprint", None)
            via = row.pop("via", "converse")
            line = {**row, "line": entry["line"]}
            if not this_run:
                skipped += 1
            elif row.get("cached"):
                cache_hits += 1
            elif via == "converse":  # batch inference tokens were counted when its output was collected
                calls += 1
                usage += Usage(generation_input_tokens=row["usage"]["input_tokens"],
                               generation_output_tokens=row["usage"]["output_tokens"],
                               guardrail_text_units=row["usage"].get("guardrail_text_units", 0))
            masked += row.get("guardrail") == "ANONYMIZED"
        else:
            record = records[entry["id"]]
            line = _result(record, "failed", reason=failure[0], message=failure[1])
            line.pop("fingerprint")
            line.pop("via")
        counts[line["status"]] += 1
        if line.get("error"):
            reasons[line["error"]["reason"]] += 1
        lines.append(line)

    _put_jsonl(bucket, plan.out_prefix + "results.jsonl", lines)
    cost = cost_breakdown([], usage, None)
    report = {
        "job_id": plan.job_id, "job": plan.job.uri, "execution_id": plan.execution_id, "mode": plan.mode,
        "finished_at": utc_now().isoformat(), "records": len(lines), "counts": dict(counts),
        "model_calls": calls, "cache_hits": cache_hits, "skipped_done_earlier": skipped,
        "batches": plan.batch_count, "inference_job": plan.inference_job.model_dump() if plan.inference_job else None,
        "tokens": {"input": usage.generation_input_tokens + usage.batch_inference_input_tokens,
                   "output": usage.generation_output_tokens + usage.batch_inference_output_tokens},
        "usage": {k: v for k, v in usage.model_dump().items() if v}, "cost": cost,
        "guardrail_interventions": {"blocked": counts["blocked"], "masked": masked},
        "failures_by_reason": dict(reasons), "map_error": plan.map_error,
        "aggregate_seconds": round(time.perf_counter() - started, 3),
    }
    put_json(bucket, plan.out_prefix + "report.json", report)
    return BatchResult(job_id=plan.job_id, mode=plan.mode, records=len(lines), counts=dict(counts),
                       results=S3Pointer(bucket=bucket, key=plan.out_prefix + "results.jsonl"),
                       report=S3Pointer(bucket=bucket, key=plan.out_prefix + "report.json"))


def _failure_reason(plan: BatchPlan) -> tuple[str, str]:
    """Why a valid record has no result: its batch failed, or the inference job did not complete."""
    if plan.inference_job is not None and plan.inference_job.status not in ("Completed",):
        job = plan.inference_job
        return f"inference_job_{job.status.lower()}", job.message or f"the batch inference job ended {job.status}"
    if plan.map_error:
        return "batch_failed", str(plan.map_error.get("Cause") or plan.map_error.get("Error"))[:500]
    return "not_processed", "no worker reported this record"
