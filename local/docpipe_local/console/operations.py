"""What the console's actions and pages do with the runtime (run in worker threads, off the event loop)."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from docpipe.logic.ask import AskRequest
from docpipe_local.console import document_view, graph, history
from docpipe_local.console.catalog import Row

_STEP_LINE = re.compile(r"^step=(\d+)\s+(.*)$")


# --- documents ----------------------------------------------------------------------------------------------
def delete(console, row: Row) -> None:
    """Delete the inbox object as a user would: S3 sends "Object Deleted" and Forget drops its vectors."""
    rt = console.runtime
    rt.delete(row.key)
    rt.lambdas.drain()
    rt.save()
    console.watcher.ring()


def reprocess(console, row: Row) -> None:
    """The inbox object's current content uploaded again, as `docpipe run --force` does: a new version, so a
    new doc_id and a new execution (the finished one stays as it was)."""
    rt = console.runtime
    head = rt.s3.head_object(Bucket=rt.bucket, Key=row.key)
    data = rt.read(row.key)
    rt.upload(data, row.key, metadata=head.get("Metadata", {}))
    console.watcher.ring()


def document_page(console, row: Row, quote: str | None) -> dict:
    rt = console.runtime
    manifest = console.catalog.manifest(row.id) if row.status in ("SUCCEEDED", "QUARANTINED", "DELETED") else None
    events = _history(console, row)
    runs = history.read(events) if events else {}
    rows = history.rows_of(events) if events else {}
    if not rows and manifest and manifest.get("languages"):
        rows = {name: list(manifest["languages"]) for name, state in console.definition["States"].items()
                if state["Type"] == "Map"}
    outputs = document_view.output_names(manifest)
    text = document_view.read_json(rt, outputs["text.json"]) if "text.json" in outputs else None
    pages = []
    media_type = (manifest or {}).get("source", {}).get("media_type", "")
    for page in (text or {}).get("pages", []):
        pages.append({**page, "pieces": document_view.highlight(page.get("text", ""), quote),
                      "image": row.status == "SUCCEEDED" and _has_image(media_type)})
    lines = document_view.cost_lines(manifest) if manifest else []
    return {
        "svg": graph.render(console.definition, rows),
        "states": {key: run.status for key, run in runs.items()},
        "failed_state": history.failed_state(runs),
        "has_history": bool(events),
        "manifest": manifest,
        "outputs": outputs,
        "pages": pages,
        "quote": quote,
        "summary": rt.read(outputs["summary.md"]).decode("utf-8", "replace") if "summary.md" in outputs else None,
        "translations": document_view.translations(manifest, outputs, rt) if manifest else [],
        "cost_lines": lines,
        "by_service": document_view.cost_by_service(lines),
    }


def _history(console, row: Row) -> list[dict]:
    if not row.execution:
        return []
    try:
        return console.history(row.execution)
    except console.runtime.sfn.exceptions.ExecutionDoesNotExist:
        return []  # finished by an earlier process: offline, execution history lives in memory


def _has_image(media_type: str) -> bool:
    return media_type == "application/pdf" or media_type.startswith("image/")


def page_image(console, row: Row, page: int) -> bytes | None:
    if row.status != "SUCCEEDED":  # only what Validate accepted is rendered (no bombs, no disguised files)
        return None
    manifest = console.catalog.manifest(row.id) or {}
    source = manifest.get("source", {})
    rt = console.runtime
    try:
        data = rt.s3.get_object(Bucket=source["bucket"], Key=source["key"],
                                **({"VersionId": source["version_id"]} if source.get("version_id") else {}))["Body"].read()
    except (KeyError, rt.s3.exceptions.NoSuchKey, rt.s3.exceptions.ClientError):
        return None
    return document_view.page_image(data, source.get("media_type", ""), page)


# --- ask --------------------------------------------------------------------------------------------------
def ask(console, question: str, doc_id: str | None) -> tuple[dict | None, str | None]:
    """The Ask function invoked as its function URL would; (answer, None) or (None, what is wrong)."""
    try:
        request = AskRequest(question=question, doc_id=doc_id)
    except ValidationError as err:
        return None, "; ".join(f"{'the question' if p['loc'][0] == 'question' else p['loc'][0]}: {p['msg']}"
                               for p in err.errors())
    try:
        return console.runtime.invoke("AskFunction", request.model_dump(exclude_none=True)), None
    except RuntimeError as err:
        return None, str(err).split(": ", 2)[-1]


# --- cost -------------------------------------------------------------------------------------------------
def cost(console) -> dict:
    """`docpipe cost`'s report over this data directory, with each figure's share of the largest for its bar."""
    from docpipe_local.cost import S3ManifestSource, cost_report

    report = cost_report(S3ManifestSource(console.runtime.s3, console.runtime.bucket))
    for name in ("by_service", "by_stage"):
        top = max(report[name].values(), default=0.0) or 1.0
        report[name] = [(key, usd, usd / top) for key, usd in sorted(report[name].items(), key=lambda kv: -kv[1])]
    return report


# --- batch, fine-tuning, endpoints ------------------------------------------------------------------------
def batch_jobs(console) -> list[dict]:
    """Every batch execution this process knows, with per-record progress from the batch table."""
    from docpipe_local import batch_cli

    rt = console.runtime
    jobs = []
    machine = rt.state_machines.get(batch_cli.BATCH_MACHINE)
    if machine is None:
        return jobs
    for execution in rt.sfn.list_executions(stateMachineArn=machine)["executions"]:
        arn = execution["executionArn"]
        plan = batch_cli._state_output(rt, arn, "Plan")
        records = batch_cli._finished_records(rt, plan["job_id"], set()) if plan else []
        described = rt.describe(arn)
        results = []
        if described.status == "SUCCEEDED" and described.output and described.output.get("results"):
            lines = rt.read(described.output["results"]["key"]).decode().splitlines()
            results = [json.loads(line) for line in lines if line.strip()]
        jobs.append({"name": execution["name"], "status": described.status, "started": execution["startDate"],
                     "valid": plan.get("valid") if plan else None, "done": len(records),
                     "records": records or results, "error": described.error, "cause": described.cause})
    return jobs


def finetune_runs(console) -> list[dict]:
    """Training jobs in the data directory with their loss per step, read from each job's log."""
    runs = []
    for log in sorted((console.runtime.home / "sagemaker").glob("*/log.txt")):
        steps = []
        for line in log.read_text(errors="replace").splitlines():
            match = _STEP_LINE.match(line.strip())
            if match:
                values = dict(part.split("=", 1) for part in match.group(2).split() if "=" in part)
                steps.append({"step": int(match.group(1)), **{k: _float(v) for k, v in values.items()}})
        job = getattr(console.runtime, "training", None)
        live = job.jobs.get(log.parent.name) if job is not None else None
        runs.append({"name": log.parent.name, "status": live.status if live else "finished earlier",
                     "steps": steps, "chart": loss_chart(steps)})
    return runs


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def loss_chart(steps: list[dict], width: int = 560, height: int = 220) -> str:
    """Training and held-out loss per step as an SVG line chart."""
    series = {"loss": "training", "eval_loss": "held-out"}
    points = {name: [(s["step"], s[name]) for s in steps if s.get(name) is not None] for name in series}
    values = [v for line in points.values() for _, v in line]
    if not values:
        return ""
    max_step = max(s for line in points.values() for s, _ in line) or 1
    top = max(values) or 1.0
    pad = 36

    def xy(step: float, value: float) -> str:
        return f"{pad + step / max_step * (width - 2 * pad):.1f},{height - pad - value / top * (height - 2 * pad):.1f}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="loss-chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="loss per step">',
             f'<line class="axis" x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}"/>',
             f'<line class="axis" x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}"/>',
             f'<text x="{pad}" y="{pad - 8}">{top:.3g}</text><text x="{width - pad}" y="{height - 10}" '
             f'text-anchor="end">step {max_step}</text>']
    for name, label in series.items():
        if points[name]:
            path = " ".join(xy(s, v) for s, v in points[name])
            parts.append(f'<polyline class="series {name}" points="{path}"><title>{label} loss</title></polyline>')
    parts.append(f'<text class="legend loss" x="{width - 200}" y="{pad}">— training</text>'
                 f'<text class="legend eval_loss" x="{width - 110}" y="{pad}">— held-out</text></svg>')
    return "".join(parts)


def endpoints(console, action: str) -> dict:
    """The endpoint reaper's report: status, reap (scale idle ones to zero) or wake NAME."""
    if action.startswith("wake:"):
        event = {"action": "wake", "endpoint_name": action.split(":", 1)[1]}
    elif action in ("status", "reap"):
        event = {"action": action}
    else:
        return {"action": "error", "problem": f"unknown action {action}"}
    try:
        report = console.runtime.invoke("EndpointReaperFunction", event)
        if event["action"] != "status":  # what was done, above the endpoints as they are now
            now = console.runtime.invoke("EndpointReaperFunction", {"action": "status"})
            report.update(endpoints=now["endpoints"], deleted=now["deleted"], idle_minutes=now["idle_minutes"])
        return report
    except RuntimeError as err:
        return {"action": "error", "problem": str(err).split(": ", 2)[-1]}
