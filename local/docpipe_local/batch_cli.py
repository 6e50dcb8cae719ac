"""`docpipe batch` and `docpipe schedules`: the batch generation state machine and the template's schedules, offline.

`docpipe batch JOBS.jsonl` puts the job file under jobs/ in the documents bucket and starts the batch
state machine with the input a schedule would give it, showing each record as it finishes (read from the
batch table); results.jsonl and report.json are copied to --out. `docpipe schedules` lists every
AWS::Scheduler::Schedule of template.yaml; `docpipe schedules trigger NAME` starts its target as Scheduler
would: the declared Input, verbatim, a fresh execution name.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
from rich.console import Console
from rich.markup import escape

from docpipe_local.runtime import Execution, OfflineRuntime
from docpipe_local.tables import Rows, show as show_table
from docpipe_local.template import REGION

COMMANDS = ("batch", "schedules")
SAMPLE_JOB = "samples/batch/nightly.jsonl"
BATCH_MACHINE = "BatchGeneration"
# moto's ASL parser warns on every ToleratedFailurePercentage (which it parses but does not enforce)
logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").setLevel(logging.ERROR)
_STYLES = {"succeeded": "green", "blocked": "yellow", "invalid": "yellow", "failed": "red"}


def add_parsers(commands: Any) -> None:
    batch = commands.add_parser("batch", help="run a JSONL job of prompts through guarded batch generation")
    batch.add_argument("job", help="the JSONL job file (one record per line)")
    batch.add_argument("--out", default="docpipe-out", help="results.jsonl and report.json go to OUT/batch/<job_id>/")
    batch.add_argument("--batch-size", type=int, help="records per batch file (default: the template's BatchSize)")
    batch.add_argument("--mode", choices=["auto", "on_demand", "batch_inference"], default="auto",
                       help="on-demand Converse, Bedrock batch inference, or chosen by record count (default)")
    batch.add_argument("--json", action="store_true", help="print the report as JSON")
    schedules = commands.add_parser("schedules", help="list the template's schedules, or trigger one")
    schedules.add_argument("action", nargs="?", choices=["list", "trigger"], default="list")
    schedules.add_argument("name", nargs="?", help="schedule name or logical id (for trigger)")
    schedules.add_argument("--job", help="trigger: first upload this JSONL file to the key the schedule reads "
                                         "(e.g. samples/batch/nightly.jsonl)")
    for sub in (batch, schedules):
        sub.add_argument("--faults", default=None, help="inject faults, e.g. 'bedrock-runtime.Converse=ThrottlingException@0.3'")


def run(runtime: OfflineRuntime, args: argparse.Namespace, console: Console) -> int:
    if args.command == "batch":
        return _batch(runtime, args, console)
    if args.action == "trigger":
        if not args.name:
            console.print("[red]name the schedule to trigger[/] (see `docpipe schedules`)")
            return 2
        return _trigger(runtime, args.name, args.job, console)
    return _list(runtime)


# --- batch ---------------------------------------------------------------------------------------------
@dataclass
class BatchRun:
    execution: Execution
    results: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)


def run_job(runtime: OfflineRuntime, job: Path | bytes, *, name: str = "job.jsonl", batch_size: int | None = None,
            mode: str = "auto", job_id: str | None = None,
            on_record: Callable[[dict, int | None], None] | None = None, timeout: float = 1800) -> BatchRun:
    """Upload the job, start the batch state machine, report records as they finish, return the results."""
    data = job if isinstance(job, bytes) else job.read_bytes()
    key = f"jobs/{name if isinstance(job, bytes) else job.name}"
    runtime.s3.put_object(Bucket=runtime.bucket, Key=key, Body=data)
    request: dict[str, Any] = {"job": {"bucket": runtime.bucket, "key": key}, "mode": mode}
    if batch_size:
        request["batch_size"] = batch_size
    if job_id:
        request["job_id"] = job_id
    arn = start(runtime, BATCH_MACHINE, request)
    seen: set[str] = set()
    plan: dict | None = None
    deadline = time.monotonic() + timeout
    while True:
        execution = runtime.describe(arn)
        if plan is None:
            plan = _state_output(runtime, arn, "Plan")
        if plan is not None and on_record is not None:
            for row in _finished_records(runtime, plan["job_id"], seen):
                on_record(row, plan["valid"])
        if execution.status != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch execution still running after {timeout:.0f} s: {arn}")
        time.sleep(0.25)
    result = BatchRun(execution)
    if execution.status == "SUCCEEDED":
        output = execution.output
        lines = runtime.read(output["results"]["key"]).decode().splitlines()
        result.results = [json.loads(line) for line in lines if line.strip()]
        result.report = json.loads(runtime.read(output["report"]["key"]))
    return result


def start(runtime: OfflineRuntime, logical_id: str, payload: dict | str) -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return runtime.sfn.start_execution(stateMachineArn=runtime.state_machines[logical_id],
                                       name=uuid.uuid4().hex, input=body)["executionArn"]


def _state_output(runtime: OfflineRuntime, arn: str, state: str) -> dict | None:
    for event in runtime.history(arn):
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == state and details.get("output"):
            return json.loads(details["output"])
    return None


def _finished_records(runtime: OfflineRuntime, job_id: str, seen: set[str]) -> list[dict]:
    table = runtime.environment.get("DOCPIPE_BATCH_TABLE")
    if not table:
        return []
    rows, start_key = [], None
    while True:
        extra = {"ExclusiveStartKey": start_key} if start_key else {}
        page = runtime.dynamodb.query(TableName=table, KeyConditionExpression="job_id = :j",
                                      ExpressionAttributeValues={":j": {"S": job_id}}, **extra)
        for item in page["Items"]:
            record_id = item["record_id"]["S"]
            if record_id not in seen:
                seen.add(record_id)
                rows.append(json.loads(item["result"]["S"]))
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            return sorted(rows, key=lambda row: row["line"])


def _batch(runtime: OfflineRuntime, args: argparse.Namespace, console: Console) -> int:
    path = Path(args.job)
    if not path.is_file():
        raise FileNotFoundError(f"no such job file: {path}")
    done = 0

    def show(row: dict, total: int | None) -> None:
        nonlocal done
        done += 1
        status = row["status"]
        detail = (row.get("output") or "") if status == "succeeded" else (row.get("error") or {}).get("reason", "")
        console.print(f"[{done:>5}/{total}] line {row['line']:<5} {escape(_record_id(row)):<20} "
                      f"[{_STYLES.get(status, 'white')}]{status:<9}[/] {escape(detail[:70])}", highlight=False,
                      soft_wrap=True)

    started = time.monotonic()
    result = run_job(runtime, path, batch_size=args.batch_size, mode=args.mode, on_record=show)
    if result.execution.status != "SUCCEEDED":
        console.print(f"[red]batch {result.execution.status}[/]: {result.execution.error}: {result.execution.cause}")
        return 1
    report = result.report
    out = Path(args.out) / "batch" / report["job_id"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in result.results))
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report))
        return 0
    table = Rows(f"batch {report['job_id']} ({report['mode']}, {time.monotonic() - started:.1f} s)",
                 ["records", *sorted(report["counts"]), "model calls", "cache hits", "done earlier", "tokens in/out",
                  "cost (USD)"])
    table.add(str(report["records"]), *(str(report["counts"][k]) for k in sorted(report["counts"])),
              str(report["model_calls"]), str(report["cache_hits"]), str(report["skipped_done_earlier"]),
              f"{report['tokens']['input']}/{report['tokens']['output']}", f"{report['cost']['total_usd']:.6f}")
    show_table(table)
    for line in [r for r in result.results if r["status"] != "succeeded"][:20]:
        console.print(f"  line {line['line']} ({_record_id(line)}): {line['status']}: {line['error']['message']}",
                      highlight=False, markup=False, soft_wrap=True)
    console.print(f"results: {out / 'results.jsonl'}")
    return 0


def _record_id(row: dict) -> str:
    return f"id {row['id']}" if row.get("id") is not None else "no id"


# --- schedules -----------------------------------------------------------------------------------------
def schedules(runtime: OfflineRuntime) -> dict[str, dict]:
    """Schedule name -> its resolved properties and logical id."""
    found = {}
    for logical_id in runtime.template.of_type("AWS::Scheduler::Schedule"):
        props = runtime.template.properties(logical_id)
        found[props.get("Name") or logical_id] = {**props, "LogicalId": logical_id}
    return found


def _list(runtime: OfflineRuntime) -> int:
    table = Rows("schedules (template.yaml)", ["name", "expression", "time zone", "state", "window", "target", "input"],
                 identifiers={"name"})
    for name, props in schedules(runtime).items():
        window = props.get("FlexibleTimeWindow", {})
        window_text = "off" if window.get("Mode") == "OFF" else f"{window.get('MaximumWindowInMinutes')} min"
        target = props["Target"]
        table.add(name, props["ScheduleExpression"], props.get("ScheduleExpressionTimezone", "UTC"),
                  props.get("State", "ENABLED"), window_text, _target_name(runtime, target["Arn"]),
                  target.get("Input", ""))
    show_table(table)
    return 0


def _target_name(runtime: OfflineRuntime, arn: str) -> str:
    for logical_id, machine_arn in runtime.state_machines.items():
        if machine_arn == arn:
            return f"state machine {logical_id}"
    function = runtime.functions.get(arn)
    return f"function {function.logical_id}" if function else arn


def trigger(runtime: OfflineRuntime, name: str) -> tuple[str, str]:
    """Start a schedule's target as Scheduler does; returns (kind, execution ARN or function result)."""
    found = schedules(runtime)
    props = found.get(name) or next((p for p in found.values() if p["LogicalId"] == name), None)
    if props is None:
        raise ValueError(f"no schedule named {name!r}; the template declares: {', '.join(found) or 'none'}")
    target = props["Target"]
    payload = target.get("Input", "{}")
    for logical_id, machine_arn in runtime.state_machines.items():
        if machine_arn == target["Arn"]:
            return "execution", start(runtime, logical_id, payload)
    if target["Arn"] in runtime.functions:  # Scheduler invokes Lambda targets asynchronously
        client = boto3.client("lambda", region_name=REGION)
        client.invoke(FunctionName=target["Arn"], InvocationType="Event", Payload=payload.encode())
        runtime.lambdas.drain()
        return "invocation", target["Arn"]
    raise ValueError(f"schedule {name!r} targets {target['Arn']}, which the offline runtime cannot start")


def _trigger(runtime: OfflineRuntime, name: str, job: str | None, console: Console) -> int:
    declared = _declared_job(runtime, name)
    if declared is not None:
        bucket, key = declared
        if job is not None:
            if not Path(job).is_file():
                raise FileNotFoundError(f"no such job file: {job}")
            runtime.s3.put_object(Bucket=bucket, Key=key, Body=Path(job).read_bytes())
            console.print(f"uploaded {job} to s3://{bucket}/{key}", highlight=False, soft_wrap=True)
        elif not _exists(runtime, bucket, key):
            print(f"docpipe schedules: {name} runs the job at s3://{bucket}/{key}, which is not there yet; put one "
                  f"there with: docpipe schedules trigger {name} --job {SAMPLE_JOB}", file=sys.stderr)
            return 1
    elif job is not None:
        raise ValueError(f"schedule {name!r} reads no job file: --job does not apply to it")
    # the ASL engine logs a failed execution's whole state at ERROR level; its outcome is printed below
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    kind, ref = trigger(runtime, name)
    if kind == "invocation":
        console.print(f"invoked {ref}")
        return 0
    console.print(f"started {ref}", highlight=False, soft_wrap=True)
    execution = runtime.wait([ref], timeout=3600)[ref]
    if execution.status == "SUCCEEDED":
        console.print(f"[green]SUCCEEDED[/] {escape(_outcome(execution.output or {}))}", highlight=False, soft_wrap=True)
        return 0
    console.print(f"[red]{execution.status}[/] {execution.error or ''}: {escape(_short_cause(execution.cause))}",
                  highlight=False, soft_wrap=True)
    return 1


def _outcome(output: dict) -> str:
    """A batch execution's counts and where its results are; any other target's output as JSON."""
    if "counts" not in output:
        return json.dumps(output)
    counts = ", ".join(f"{count} {status}" for status, count in sorted(output["counts"].items()))
    results = output.get("results") or {}
    return counts + (f"; results: s3://{results['bucket']}/{results['key']}" if results else "")


def _declared_job(runtime: OfflineRuntime, name: str) -> tuple[str, str] | None:
    """The (bucket, key) of the job file a schedule's Input names, if it names one."""
    found = schedules(runtime)
    props = found.get(name) or next((p for p in found.values() if p["LogicalId"] == name), None)
    try:
        job = json.loads(props["Target"].get("Input", "{}"))["job"] if props else None
        return job["bucket"], job["key"]
    except (ValueError, KeyError, TypeError):
        return None


def _exists(runtime: OfflineRuntime, bucket: str, key: str) -> bool:
    try:
        runtime.s3.head_object(Bucket=bucket, Key=key)
        return True
    except runtime.s3.exceptions.ClientError:
        return False


def _short_cause(cause: str | None) -> str:
    """A Lambda error's type and message, not its stack trace."""
    try:
        error = json.loads(cause or "")
        return f"{error.get('errorType', '')}: {error.get('errorMessage', '')}"
    except (ValueError, AttributeError):
        return (cause or "")[:500]
