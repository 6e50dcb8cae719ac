"""The cost report as a dict: totals by service and stage, per document and per 1,000 pages, what was saved,
and (given a volume) a monthly total-cost-of-ownership table. The CLI, the deployed script and the console
all show this dict; :func:`cost_report` is the one entry point.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timezone
from typing import Any

from docpipe_local.cost.ledger import TOKEN_LINES, Ledger, Prices, read_ledger, since
from docpipe_local.cost.source import ManifestSource

HOURS_PER_MONTH = 730  # AWS's pricing calculator month
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
WORK_RETENTION_DAYS = 7  # the template's WorkRetentionDays default: work/ objects expire after it


def cost_report(source: ManifestSource, since_date: datetime | None = None, docs_per_day: float | None = None,
                pages_per_doc: float | None = None) -> dict[str, Any]:
    return report_from_ledger(since(read_ledger(source), since_date), docs_per_day, pages_per_doc)


def start_of(day: str) -> datetime:
    """--since 2026-12-01: from that day's first moment, UTC."""
    try:
        return datetime.combine(datetime.strptime(day, "%Y-%m-%d").date(), time(), tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"--since takes a date such as 2026-12-01, not {day!r}") from None


def _sorted(totals: dict[str, float]) -> dict[str, float]:
    return {name: round(usd, 12) for name, usd in sorted(totals.items(), key=lambda kv: -kv[1])}


def report_from_ledger(ledger: Ledger, docs_per_day: float | None = None,
                       pages_per_doc: float | None = None) -> dict[str, Any]:
    by_service: dict[str, float] = defaultdict(float)
    by_stage: dict[str, float] = defaultdict(float)
    by_source: dict[str, float] = defaultdict(float)
    for line in ledger.lines:
        by_service[line.service] += line.usd
        by_stage[line.stage] += line.usd
        by_source[line.source] += line.usd
    savings: dict[str, dict[str, Any]] = {}
    for saving in ledger.savings:
        entry = savings.setdefault(saving.what, {"usd": 0.0, "basis": saving.basis.split(":")[0]})
        entry["usd"] += saving.usd
    documents, pages = len(ledger.documents), sum(d.pages for d in ledger.documents)
    documents_usd = by_source.get("document", 0.0)
    return {
        "prices_as_of": ledger.price_date, "region": ledger.region, "currency": "USD",
        "documents": documents, "pages": pages,
        "total_usd": round(sum(by_service.values()), 12),
        "by_service": _sorted(by_service), "by_stage": _sorted(by_stage), "by_source": _sorted(by_source),
        "per_document_usd": round(documents_usd / documents, 8) if documents else None,
        "per_1000_pages_usd": round(documents_usd / pages * 1000, 8) if pages else None,
        "saved_usd": round(sum(s["usd"] for s in savings.values()), 8),
        "savings": {what: {"usd": round(s["usd"], 8), "basis": s["basis"]} for what, s in
                    sorted(savings.items(), key=lambda kv: -kv[1]["usd"])},
        "monthly": monthly_tco(ledger, docs_per_day, pages_per_doc) if docs_per_day is not None else None,
    }


def _row(item: str, unit: str, unit_usd: float, usage: float, in_total: bool = True) -> dict[str, Any]:
    return {"item": item, "unit": unit, "unit_usd": round(unit_usd, 10), "usage": round(usage, 6),
            "monthly_usd": round(unit_usd * usage, 4), "in_total": in_total}


def monthly_tco(ledger: Ledger, docs_per_day: float, pages_per_doc: float | None) -> dict[str, Any]:
    """A month (730 hours) at ``docs_per_day``, from what the ledger measured per page and per document.

    Per-page services scale with pages; tokens with tokens per page; storage with the bytes each document
    left in out/ (kept) and work/ (kept WorkRetentionDays); data transfer out assumes each document's
    outputs are downloaded once; batch jobs and training runs recur at the rate the ledger saw per day;
    endpoint hours are shown always on and scaled to zero at the idle share the reaper observed.
    """
    if docs_per_day < 0 or (pages_per_doc is not None and pages_per_doc <= 0):
        raise ValueError("--monthly takes documents per day (0 or more); --pages-per-doc a positive number")
    prices = Prices()
    docs = ledger.documents
    measured_pages = sum(d.pages for d in docs)
    per_doc_pages = pages_per_doc if pages_per_doc is not None else (measured_pages / len(docs) if docs else 0.0)
    docs_month = docs_per_day * DAYS_PER_MONTH
    pages_month = docs_month * per_doc_pages
    rows: list[dict[str, Any]] = []
    if measured_pages:
        services: dict[str, float] = defaultdict(float)
        tokens: dict[tuple[str, str], float] = defaultdict(float)
        units: dict[tuple[str, str], float] = {}
        for line in ledger.lines:
            if line.source != "document":
                continue
            if line.item in TOKEN_LINES:
                tokens[(line.service, line.item)] += line.quantity
                units[(line.service, line.item)] = line.unit_usd
            else:
                services[line.service] += line.usd
        for service, usd in sorted(services.items(), key=lambda kv: -kv[1]):
            rows.append(_row(service, "1,000 pages", usd / measured_pages * 1000, pages_month / 1000))
        for (service, item), count in sorted(tokens.items()):
            label = f"{service}: {item.replace('generation_', '').replace('_', ' ')}"
            rows.append(_row(label, "1M tokens", units[(service, item)] * 1e6, count / measured_pages * pages_month / 1e6))
    if docs:
        out_bytes = sum(d.stored_bytes.get("out", 0) for d in docs) / len(docs)
        work_bytes = sum(d.stored_bytes.get("work", 0) for d in docs) / len(docs)
        storage, transfer = prices.table["monthly"]["s3_storage_gb_month"], prices.table["monthly"]["data_transfer_out_gb"]
        rows.append(_row("S3 storage: outputs (out/), one month's", "GB-month", storage, out_bytes * docs_month / 1e9))
        rows.append(_row(f"S3 storage: intermediates (work/, {WORK_RETENTION_DAYS} days)", "GB-month", storage,
                         work_bytes * docs_per_day * WORK_RETENTION_DAYS / 1e9))
        rows.append(_row("data transfer out (outputs downloaded once)", "GB", transfer, out_bytes * docs_month / 1e9))
    days = _days_observed(ledger)
    for source, label in (("batch", "batch jobs"), ("training", "training runs")):
        runs = {line.source_id for line in ledger.lines if line.source == source}
        if runs:
            usd = sum(line.usd for line in ledger.lines if line.source == source)
            rows.append(_row(f"{label} (at {len(runs)} per {days} day{'s' if days > 1 else ''} seen)", "run",
                             usd / len(runs), len(runs) / days * DAYS_PER_MONTH))
    if ledger.endpoint_hours:
        observed = sum(e["hours"] * e["max_instances"] for e in ledger.endpoint_hours)
        held = sum(e["hours"] * e["instances"] for e in ledger.endpoint_hours)
        unit = ledger.endpoint_hours[-1]["unit_usd"]
        instances = max(e["max_instances"] for e in ledger.endpoint_hours)
        idle_share = 1 - held / observed if observed else 0.0
        rows.append(_row("endpoint instance hours, always on", "instance-hour", unit,
                         HOURS_PER_MONTH * instances, in_total=False))
        rows.append(_row(f"endpoint instance hours, scaled to zero ({idle_share:.0%} idle, measured)",
                         "instance-hour", unit, HOURS_PER_MONTH * instances * (1 - idle_share)))
    return {"docs_per_day": docs_per_day, "pages_per_doc": round(per_doc_pages, 3),
            "documents": round(docs_month, 3), "pages": round(pages_month, 3), "hours": HOURS_PER_MONTH,
            "rows": rows, "total_usd": round(sum(r["monthly_usd"] for r in rows if r["in_total"]), 4)}


def _days_observed(ledger: Ledger) -> int:
    stamps = [line.when for line in ledger.lines]
    return (max(stamps).date() - min(stamps).date()).days + 1 if stamps else 1
