"""The ledger: every billable line that docpipe recorded in a bucket, priced with the dated price table.

What it reads (written by the deployed code, offline and in AWS alike):
- ``out/<doc_id>/manifest.json``: each document's stages with their usage units, Lambda duration and memory,
  and the execution's state transitions (from its history);
- ``out/batch/<job_id>/report.json`` (+ ``results.jsonl`` for the tokens of each model): batch jobs;
- ``finetune/<run_id>/evaluation.json``: each training attempt's TrainingTimeInSeconds and
  BillableTimeInSeconds as DescribeTrainingJob reported them, its instance type and count, spot or not;
- ``usage/endpoints/*.json``: what the idle-endpoint reaper saw on each scheduled run (instances in
  service, over its interval);
- the sizes of ``out/`` and ``work/`` objects, for storage.

Every line carries a service, a stage and a time, so the report can add them up any way. What the caches,
the routing and the cheaper modes saved is kept apart (``Saving``), each with how it was worked out.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from docpipe.finetune import training_prices
from docpipe.pricing import price_table

from docpipe_local.cost.source import ManifestSource

SERVICE_OF_LINE = {
    "textract_pages": "Textract",
    "embedding_input_tokens": "Bedrock embeddings",
    "guardrail_text_units": "Bedrock Guardrails",
    "characters_translated": "Translate",
    "characters_synthesized": "Polly",
    "lambda_gb_second_arm64": "Lambda", "lambda_request": "Lambda",
    "stepfunctions_standard_transition": "Step Functions",
    "s3_get": "S3", "s3_put": "S3",
    "dynamodb_reads": "DynamoDB", "dynamodb_writes": "DynamoDB",
    "vectors_put_bytes": "S3 Vectors", "vector_queries": "S3 Vectors",
}
# token lines -> (price key in the table's per-model prices)
TOKEN_LINES = {
    "generation_input_tokens": "input_tokens", "generation_output_tokens": "output_tokens",
    "batch_inference_input_tokens": "batch_input_tokens", "batch_inference_output_tokens": "batch_output_tokens",
}
DEFAULT_MODEL = "amazon.nova-lite-v1:0"  # the template's GenerationModelId default
ENDPOINT_USAGE_PREFIX = "usage/endpoints/"


@dataclass
class Line:
    source: str  # document | batch | training | endpoint
    source_id: str
    when: datetime
    stage: str
    service: str
    item: str  # the price line, e.g. textract_pages, or "ml.trn1.2xlarge hours (spot)"
    quantity: float
    unit_usd: float

    @property
    def usd(self) -> float:
        return self.quantity * self.unit_usd


@dataclass
class Saving:
    what: str  # routing | embedding cache | response cache | batch inference | spot training | scale to zero
    when: datetime
    usd: float
    basis: str  # measured | estimated: how it was worked out


@dataclass
class Document:
    doc_id: str
    when: datetime
    status: str
    pages: int
    sha256: str
    stored_bytes: dict[str, int] = field(default_factory=dict)  # out/, work/


@dataclass
class Ledger:
    lines: list[Line] = field(default_factory=list)
    savings: list[Saving] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    endpoint_hours: list[dict[str, Any]] = field(default_factory=list)  # each reaper observation, priced
    price_date: str = ""
    region: str = ""


class Prices:
    """The dated price table (``docpipe/data/prices.json``) and the training table beside it."""

    def __init__(self) -> None:
        self.table, self.training = price_table(), training_prices()
        self.unit = self.table["unit_prices"]

    def token(self, model: str, line: str) -> float:
        model_prices = self.table.get("models", {}).get(model)
        if model_prices is None:
            return self.unit[line]
        return model_prices[TOKEN_LINES[line]]

    def on_demand_token(self, model: str, line: str) -> float:
        """The on-demand price of a batch-inference token line (what the same tokens cost without batch)."""
        return self.token(model, line.replace("batch_inference_", "generation_"))

    def instance_hour(self, instance_type: str) -> float:
        hourly = self.table.get("inference_instances_usd_per_hour", {})
        if instance_type not in hourly:
            raise ValueError(f"no price for the inference instance {instance_type} in the price table "
                             f"(known: {', '.join(sorted(hourly))})")
        return hourly[instance_type]


def parse_time(value: str | None, fallback: datetime) -> datetime:
    if not value:
        return fallback
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def stage_group(name: str) -> str:
    """translate:es and translate:ca are one stage of the report."""
    return name.split(":", 1)[0]


def lambda_gb_seconds(duration_ms: float, memory_mb: int) -> float:
    return math.ceil(duration_ms) / 1000 * memory_mb / 1024  # as docpipe.pricing bills each invocation


def read_ledger(source: ManifestSource) -> Ledger:
    prices, ledger = Prices(), Ledger()
    ledger.price_date, ledger.region = prices.table["as_of"], prices.table["region"]
    sizes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    manifests, batch_reports = [], []
    for obj in list(source.objects("out/")) + list(source.objects("work/")):
        top, _, rest = obj.key.partition("/")
        owner = rest.split("/", 1)[0]
        if top == "out" and owner == "batch":
            if obj.key.endswith("/report.json"):
                batch_reports.append(obj)
            continue
        sizes[owner][top] += obj.size
        if top == "out" and obj.key.endswith("/manifest.json") and rest.count("/") == 1:
            manifests.append(obj)
    documents = [(json.loads(source.read(obj.key)), obj.last_modified) for obj in manifests]
    for manifest, modified in documents:
        _read_document(ledger, prices, manifest, modified, sizes)
    _cache_savings(ledger, prices, documents)
    for obj in batch_reports:
        _read_batch(ledger, prices, source, obj)
    for obj in source.objects("finetune/"):
        if obj.key.endswith("/evaluation.json"):
            _read_training(ledger, prices, json.loads(source.read(obj.key)), obj)
    for obj in source.objects(ENDPOINT_USAGE_PREFIX):
        if obj.key.endswith(".json"):
            _read_endpoint(ledger, prices, json.loads(source.read(obj.key)), obj.last_modified)
    return ledger


# --- documents ------------------------------------------------------------------------------------------
def _read_document(ledger: Ledger, prices: Prices, manifest: dict, modified: datetime,
                   sizes: dict[str, dict[str, int]]) -> None:
    doc_id, when = manifest["doc_id"], parse_time(manifest.get("finished_at"), modified)
    usage, stages = manifest.get("usage", {}), manifest.get("stages", [])
    ledger.documents.append(Document(doc_id, when, manifest.get("status", ""), int(usage.get("pages") or 0),
                                     manifest.get("source", {}).get("sha256", ""), dict(sizes.get(doc_id, {}))))
    model = next((s["detail"]["model_id"] for s in stages if s.get("detail", {}).get("model_id")
                  and stage_group(s["name"]) == "summarize"), DEFAULT_MODEL)
    accounted: dict[str, int] = defaultdict(int)

    def add(stage: str, item: str, quantity: float, stage_model: str = model) -> None:
        if not quantity:
            return
        if item in TOKEN_LINES:
            service, unit = f"Bedrock tokens ({stage_model})", prices.token(stage_model, item)
        else:
            service, unit = SERVICE_OF_LINE[item], prices.unit[item]
        ledger.lines.append(Line("document", doc_id, when, stage, service, item, quantity, unit))

    for stage in stages:
        name = stage_group(stage["name"])
        stage_model = stage.get("detail", {}).get("model_id") or model
        for item, quantity in stage.get("usage", {}).items():
            if item in prices.unit and quantity:
                add(name, item, quantity, stage_model)
                accounted[item] += quantity
        add(name, "lambda_gb_second_arm64", lambda_gb_seconds(stage["duration_ms"], stage["memory_mb"]))
        add(name, "lambda_request", 1)
        if name == "extract" and stage.get("detail", {}).get("engine") == "pdfium":
            pages = stage["usage"].get("pages", 0)
            ledger.savings.append(Saving("routing: born-digital pages read directly, not OCR'd", when,
                                         pages * prices.unit["textract_pages"],
                                         f"measured: {pages} pages at the Textract page price"))
    # what the task writing the manifest spent itself (it has no stage record): the rest of the totals
    writer = "quarantine" if manifest.get("status") == "QUARANTINED" else "publish"
    for item, quantity in usage.items():
        if item in prices.unit and isinstance(quantity, int) and quantity > accounted[item]:
            add(writer, item, quantity - accounted[item])
    add("orchestration", "stepfunctions_standard_transition", usage.get("state_transitions") or 0)


def _cache_savings(ledger: Ledger, prices: Prices, documents: list[tuple[dict, datetime]]) -> None:
    """Cache hits cost nothing: what they saved is what the same calls cost where they were paid for.

    Tokens per call come from the same stage's paid calls in that document, else from the paid calls of
    every document (estimated: a hit's text is not re-counted)."""
    stages = []
    for manifest, modified in documents:
        when = parse_time(manifest.get("finished_at"), modified)
        for stage in manifest.get("stages", []):
            stages.append((when, stage))
    embed_calls = sum(s["usage"].get("embedding_calls", 0) for _, s in stages)
    embed_tokens = sum(s["usage"].get("embedding_input_tokens", 0) for _, s in stages)
    model_calls = sum(s["detail"].get("model_calls", 0) for _, s in stages if stage_group(s["name"]) == "summarize")
    gen_in = sum(s["usage"].get("generation_input_tokens", 0) for _, s in stages)
    gen_out = sum(s["usage"].get("generation_output_tokens", 0) for _, s in stages)
    for when, stage in stages:
        detail, usage = stage.get("detail", {}), stage.get("usage", {})
        hits = usage.get("embedding_cache_hits", 0) if stage_group(stage["name"]) == "embed" else 0
        if hits and (usage.get("embedding_calls") or embed_calls):
            calls, tokens = ((usage["embedding_calls"], usage["embedding_input_tokens"])
                             if usage.get("embedding_calls") else (embed_calls, embed_tokens))
            ledger.savings.append(Saving("embedding cache", when,
                                         hits * tokens / calls * prices.unit["embedding_input_tokens"],
                                         f"estimated: {hits} cached chunks at {tokens / calls:.0f} tokens per paid call"))
        hits = detail.get("cache_hits", 0) if stage_group(stage["name"]) == "summarize" else 0
        if hits and (detail.get("model_calls") or model_calls):
            calls, t_in, t_out = ((detail["model_calls"], usage["generation_input_tokens"],
                                   usage["generation_output_tokens"]) if detail.get("model_calls")
                                  else (model_calls, gen_in, gen_out))
            model = detail.get("model_id") or DEFAULT_MODEL
            usd = hits / calls * (t_in * prices.token(model, "generation_input_tokens")
                                  + t_out * prices.token(model, "generation_output_tokens"))
            ledger.savings.append(Saving("response cache", when, usd,
                                         f"estimated: {hits} cached model calls at the paid calls' tokens"))


# --- batch jobs -----------------------------------------------------------------------------------------
def _read_batch(ledger: Ledger, prices: Prices, source: ManifestSource, obj: Any) -> None:
    report = json.loads(source.read(obj.key))
    job, when = report["job_id"], parse_time(report.get("finished_at"), obj.last_modified)
    shares = _model_shares(source, obj.key.rsplit("/", 1)[0] + "/results.jsonl")
    for item, quantity in (report.get("usage") or {}).items():
        if item not in prices.unit or not quantity:
            continue
        if item not in TOKEN_LINES:
            ledger.lines.append(Line("batch", job, when, "batch", SERVICE_OF_LINE[item], item, quantity,
                                     prices.unit[item]))
            continue
        for model, share in shares.items():
            unit = prices.token(model, item)
            ledger.lines.append(Line("batch", job, when, "batch", f"Bedrock tokens ({model})", item,
                                     quantity * share, unit))
            if item.startswith("batch_inference_"):
                ledger.savings.append(Saving("batch inference at half price", when,
                                             quantity * share * (prices.on_demand_token(model, item) - unit),
                                             "measured: batch tokens at the on-demand price minus the batch price"))
    if report.get("cache_hits") and report.get("model_calls"):
        tokens = report.get("tokens", {})
        per_call = (tokens.get("input", 0) * prices.token(DEFAULT_MODEL, "generation_input_tokens")
                    + tokens.get("output", 0) * prices.token(DEFAULT_MODEL, "generation_output_tokens")) \
            / report["model_calls"]
        ledger.savings.append(Saving("response cache", when, report["cache_hits"] * per_call,
                                     "estimated: cached records at the job's paid calls' tokens"))


def _model_shares(source: ManifestSource, results_key: str) -> dict[str, float]:
    """Each model's share of a job's tokens, from its results (a job may name several models)."""
    tokens: dict[str, int] = defaultdict(int)
    try:
        rows = [json.loads(line) for line in source.read(results_key).splitlines() if line.strip()]
    except Exception:  # noqa: BLE001 - no results file: the job's tokens go to the default model
        rows = []
    for row in rows:
        if row.get("model_id") and not row.get("cached"):
            usage = row.get("usage") or {}
            tokens[row["model_id"]] += usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
    total = sum(tokens.values())
    return {model: count / total for model, count in tokens.items()} if total else {DEFAULT_MODEL: 1.0}


# --- fine-tuning ----------------------------------------------------------------------------------------
def _read_training(ledger: Ledger, prices: Prices, evaluation: dict, obj: Any) -> None:
    run = obj.key.split("/")[-2]
    when = parse_time(evaluation.get("evaluated_at"), obj.last_modified)
    for job in evaluation.get("training_jobs", []):
        instance = prices.training["instances"].get(job["instance_type"])
        if instance is None:
            raise ValueError(f"no training price for {job['instance_type']} in training_prices.json")
        count, on_demand = job.get("instance_count", 1), instance["on_demand_usd_per_hour"]
        trained, billable = job["training_seconds"] / 3600, job["billable_seconds"] / 3600
        if job.get("spot") and billable < trained:  # SageMaker's own figure: billable time is the saving
            item, hours, unit, basis = f"{job['instance_type']} hours (spot)", billable * count, on_demand, "measured"
        elif job.get("spot"):  # no saving reported (offline): the table's planning spot price
            item, hours, unit, basis = (f"{job['instance_type']} hours (spot)", trained * count,
                                        instance["spot_usd_per_hour"], "estimated at the table's spot price")
        else:
            item, hours, unit, basis = f"{job['instance_type']} hours", billable * count, on_demand, "measured"
        ledger.lines.append(Line("training", run, when, "fine-tuning", "SageMaker training", item, hours, unit))
        if job.get("spot"):
            ledger.savings.append(Saving("spot training", when, trained * count * on_demand - hours * unit,
                                         f"{basis}: {job['training_seconds']} s trained, on demand minus spot"))


# --- endpoints ------------------------------------------------------------------------------------------
def _read_endpoint(ledger: Ledger, prices: Prices, seen: dict, modified: datetime) -> None:
    """One reaper observation: ``instances`` in service for ``interval_minutes`` (the schedule's rate)."""
    when = parse_time(seen.get("observed_at"), modified)
    hours = seen["interval_minutes"] / 60
    unit = prices.instance_hour(seen["instance_type"])
    ledger.endpoint_hours.append({"endpoint": seen["endpoint"], "when": when, "hours": hours,
                                  "instances": seen["instances"], "max_instances": seen.get("max_instances", 1),
                                  "unit_usd": unit})
    ledger.lines.append(Line("endpoint", seen["endpoint"], when, "endpoint", "SageMaker endpoints",
                             f"{seen['instance_type']} hours", seen["instances"] * hours, unit))
    idle = max(0, seen.get("max_instances", 1) - seen["instances"])
    if idle:
        ledger.savings.append(Saving("scale to zero", when, idle * hours * unit,
                                     "measured: instances the endpoint did not hold, per reaper interval"))


def since(ledger: Ledger, start: datetime | None) -> Ledger:
    """The ledger from ``start`` on (lines, savings, documents and observations finished at or after it)."""
    if start is None:
        return ledger

    def keep(items: Iterable[Any], when: Any) -> list:
        return [item for item in items if when(item) >= start]

    return Ledger(keep(ledger.lines, lambda l: l.when), keep(ledger.savings, lambda s: s.when),
                  keep(ledger.documents, lambda d: d.when), keep(ledger.endpoint_hours, lambda e: e["when"]),
                  ledger.price_date, ledger.region)
