"""The cost report over manifests, batch reports, training evaluations and endpoint observations."""

import argparse
import io
import json
import math
from contextlib import redirect_stdout
from datetime import timedelta

import pytest

from docpipe.finetune import training_prices
from docpipe.models import Usage
from docpipe.pricing import price_table
from docpipe_local import cost
from docpipe_local.cost.report import DAYS_PER_MONTH, HOURS_PER_MONTH, cost_report, start_of

from tests.unit.cost_fixtures import T0, MemorySource, born_digital, manifest, rerun, scanned, stage

PRICES = price_table()["unit_prices"]


def _source(*manifests: dict) -> MemorySource:
    source = MemorySource()
    for m in manifests:
        source.put(f"out/{m['doc_id']}/manifest.json", m)
    return source


def test_the_totals_add_up_by_service_by_stage_and_to_what_each_manifest_recorded():
    docs = [born_digital(), rerun(), scanned()]
    report = cost_report(_source(*docs))
    assert report["documents"] == 3 and report["pages"] == 4 + 4 + 2
    assert sum(report["by_service"].values()) == pytest.approx(report["total_usd"], abs=1e-7)
    assert sum(report["by_stage"].values()) == pytest.approx(report["total_usd"], abs=1e-7)
    # Nova Lite is the table's generation price: the report prices each manifest exactly as it priced itself
    assert report["total_usd"] == pytest.approx(sum(d["cost"]["total_usd"] for d in docs), rel=1e-6)
    assert report["per_document_usd"] == pytest.approx(report["total_usd"] / 3)
    assert report["per_1000_pages_usd"] == pytest.approx(report["total_usd"] / 10 * 1000)


def test_each_service_and_stage_carries_its_own_units():
    report = cost_report(_source(born_digital()))
    services, stages = report["by_service"], report["by_stage"]
    assert services["Bedrock Guardrails"] == pytest.approx(45 * PRICES["guardrail_text_units"])
    assert services["Translate"] == pytest.approx(400 * PRICES["characters_translated"])
    assert services["Bedrock tokens (amazon.nova-lite-v1:0)"] == pytest.approx(
        2000 * PRICES["generation_input_tokens"] + 400 * PRICES["generation_output_tokens"])
    assert services["Step Functions"] == pytest.approx(12 * PRICES["stepfunctions_standard_transition"])
    assert stages["orchestration"] == services["Step Functions"]
    # Lambda: each invocation's duration rounded up to the millisecond, times its memory, plus the request
    extract_lambda = math.ceil(350.5) / 1000 * 1024 / 1024 * PRICES["lambda_gb_second_arm64"] + PRICES["lambda_request"]
    assert stages["extract"] == pytest.approx(extract_lambda + PRICES["s3_get"] + PRICES["s3_put"])
    # the manifest writer's own S3 puts and ledger writes (it has no stage record) are the publish stage's
    assert stages["publish"] == pytest.approx(3 * PRICES["s3_put"] + 2 * PRICES["dynamodb_writes"])
    assert "Textract" not in services


def test_savings_routing_and_caches():
    report = cost_report(_source(born_digital(), rerun(), scanned()))
    saved = report["savings"]
    # 8 born-digital pages read directly: what Textract would have charged for them
    assert saved["routing: born-digital pages read directly, not OCR'd"]["usd"] == pytest.approx(8 * PRICES["textract_pages"])
    assert saved["routing: born-digital pages read directly, not OCR'd"]["basis"] == "measured"
    # the re-run's 8 cached chunks at the paid run's 200 tokens per call; 2 cached calls at the paid calls' tokens
    assert saved["embedding cache"]["usd"] == pytest.approx(8 * 200 * PRICES["embedding_input_tokens"])
    assert saved["response cache"]["usd"] == pytest.approx(
        2000 * PRICES["generation_input_tokens"] + 400 * PRICES["generation_output_tokens"])
    assert saved["embedding cache"]["basis"] == "estimated"
    assert report["saved_usd"] == pytest.approx(sum(s["usd"] for s in saved.values()))


def test_since_keeps_what_finished_on_or_after_the_date():
    old, new = born_digital("old", T0 - timedelta(days=3)), scanned("new", T0)
    everything = cost_report(_source(old, new))
    recent = cost_report(_source(old, new), start_of(T0.date().isoformat()))
    assert (everything["documents"], recent["documents"]) == (2, 1)
    assert recent["total_usd"] == pytest.approx(new["cost"]["total_usd"], rel=1e-6)
    assert "Bedrock Guardrails" not in recent["by_service"]
    with pytest.raises(ValueError, match="a date such as"):
        start_of("last tuesday")


def test_json_has_the_documented_keys(capsys):
    args = argparse.Namespace(since=None, json=True, monthly=20.0, pages_per_doc=None)
    assert cost.run(_source(born_digital()), args, console=None) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"documents", "pages", "total_usd", "by_service", "by_stage", "per_1000_pages_usd", "saved_usd",
            "monthly"} <= set(printed)
    assert (printed["prices_as_of"], printed["region"]) == (price_table()["as_of"], price_table()["region"])
    assert isinstance(printed["monthly"]["rows"], list) and printed["monthly"]["docs_per_day"] == 20.0


def test_a_bad_option_is_one_line_and_status_2(capsys):
    args = argparse.Namespace(since="yesterday", json=True, monthly=None, pages_per_doc=None)
    assert cost.run(_source(), args, console=None) == 2
    assert capsys.readouterr().err.strip() == "docpipe cost: --since takes a date such as 2026-12-01, not 'yesterday'"


def test_monthly_arithmetic_on_a_known_input():
    """One scanned document, two pages; 10 documents a day of 3 pages each."""
    doc = manifest("scan", [stage("textract_poll", 1000, 1024, {}, pages=2, textract_pages=2)], transitions=4,
                   own=Usage())
    source = _source(doc)
    source.put("out/scan/summary.md", b"x" * 1000)
    source.put("work/scan/text.json", b"y" * 500)
    monthly = cost_report(source, docs_per_day=10, pages_per_doc=3)["monthly"]
    rows = {row["item"]: row for row in monthly["rows"]}
    pages = 10 * 3 * HOURS_PER_MONTH / 24
    assert monthly["pages"] == pytest.approx(pages)
    textract = rows["Textract"]
    assert textract["unit_usd"] == pytest.approx(2 * PRICES["textract_pages"] / 2 * 1000)  # per 1,000 pages
    assert textract["monthly_usd"] == pytest.approx(pages * PRICES["textract_pages"], abs=1e-4)
    lambda_per_page = (1 * 1 * PRICES["lambda_gb_second_arm64"] + PRICES["lambda_request"]) / 2
    assert rows["Lambda"]["monthly_usd"] == pytest.approx(lambda_per_page * pages, abs=1e-4)
    storage = price_table()["monthly"]["s3_storage_gb_month"]
    out_bytes = len(json.dumps(doc, default=str)) + 1000  # the manifest itself is an output
    assert rows["S3 storage: outputs (out/), one month's"]["usage"] == pytest.approx(
        out_bytes * 10 * DAYS_PER_MONTH / 1e9, abs=1e-6)
    assert rows["S3 storage: intermediates (work/, 7 days)"]["monthly_usd"] == pytest.approx(
        500 * 10 * 7 / 1e9 * storage, abs=1e-4)
    assert monthly["total_usd"] == pytest.approx(sum(r["monthly_usd"] for r in monthly["rows"] if r["in_total"]))


def test_endpoint_hours_with_and_without_scale_to_zero_at_the_measured_idle_share():
    source = _source(born_digital())
    for hour in range(24):  # busy 4 hours of 24, observed hourly
        source.put(f"usage/endpoints/gen/{hour:02d}.json", {
            "endpoint": "gen", "observed_at": (T0 + timedelta(hours=hour)).isoformat(), "interval_minutes": 60,
            "instance_type": "ml.g5.xlarge", "instances": 1 if hour < 4 else 0, "max_instances": 1})
    report = cost_report(source, docs_per_day=1)
    hourly = price_table()["inference_instances_usd_per_hour"]["ml.g5.xlarge"]
    assert report["by_service"]["SageMaker endpoints"] == pytest.approx(4 * hourly)
    assert report["savings"]["scale to zero"]["usd"] == pytest.approx(20 * hourly)
    rows = {row["item"].split(" (")[0].split(",")[1].strip(): row for row in report["monthly"]["rows"]
            if row["item"].startswith("endpoint")}
    assert rows["always on"]["monthly_usd"] == pytest.approx(730 * hourly, abs=1e-3) and not rows["always on"]["in_total"]
    assert rows["scaled to zero"]["monthly_usd"] == pytest.approx(730 * 4 / 24 * hourly, abs=1e-3)


def test_training_runs_priced_at_spot_or_on_demand_and_the_spot_saving():
    source = MemorySource()
    job = {"job": "ft-a-a1", "status": "Completed", "instance_type": "ml.trn1.2xlarge", "instance_count": 1,
           "training_seconds": 1800, "billable_seconds": 1800}
    source.put("finetune/run-spot/evaluation.json", {"evaluated_at": T0.isoformat(), "training_jobs": [{**job, "spot": True}]})
    source.put("finetune/run-od/evaluation.json", {"evaluated_at": T0.isoformat(), "training_jobs": [{**job, "spot": False}]})
    # deployed, SageMaker reports the spot saving as billable time below training time
    source.put("finetune/run-aws/evaluation.json", {"evaluated_at": T0.isoformat(), "training_jobs": [
        {**job, "spot": True, "billable_seconds": 600}]})
    instance = training_prices()["instances"]["ml.trn1.2xlarge"]
    report = cost_report(source)
    expected = 0.5 * instance["spot_usd_per_hour"] + 0.5 * instance["on_demand_usd_per_hour"] \
        + 600 / 3600 * instance["on_demand_usd_per_hour"]
    assert report["by_service"]["SageMaker training"] == pytest.approx(expected)
    assert report["savings"]["spot training"]["usd"] == pytest.approx(
        0.5 * (instance["on_demand_usd_per_hour"] - instance["spot_usd_per_hour"])
        + (1800 - 600) / 3600 * instance["on_demand_usd_per_hour"])


def test_batch_jobs_tokens_by_model_and_the_batch_inference_saving():
    source = MemorySource()
    source.put("out/batch/job1/report.json", {
        "job_id": "job1", "mode": "batch_inference", "finished_at": T0.isoformat(), "model_calls": 0, "cache_hits": 0,
        "usage": {"batch_inference_input_tokens": 3000, "batch_inference_output_tokens": 1000, "guardrail_text_units": 20}})
    rows = [{"id": "a", "model_id": "amazon.nova-lite-v1:0", "usage": {"input_tokens": 1500, "output_tokens": 500}},
            {"id": "b", "model_id": "amazon.nova-micro-v1:0", "usage": {"input_tokens": 1500, "output_tokens": 500}}]
    source.put("out/batch/job1/results.jsonl", "\n".join(json.dumps(r) for r in rows))
    models = price_table()["models"]
    report = cost_report(source)
    assert report["by_service"]["Bedrock tokens (amazon.nova-micro-v1:0)"] == pytest.approx(
        1500 * models["amazon.nova-micro-v1:0"]["batch_input_tokens"] + 500 * models["amazon.nova-micro-v1:0"]["batch_output_tokens"])
    assert report["by_stage"] == {"batch": pytest.approx(report["total_usd"])}
    on_demand = sum(1500 * m["input_tokens"] + 500 * m["output_tokens"] for m in models.values())
    assert report["savings"]["batch inference at half price"]["usd"] == pytest.approx(on_demand / 2)
    assert report["documents"] == 0 and report["per_1000_pages_usd"] is None


def test_the_cli_table_names_the_price_date_and_region_and_draws_a_bar_per_service():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=140, color_system=None)
    args = argparse.Namespace(since=None, json=False, monthly=5.0, pages_per_doc=2.0)
    assert cost.run(_source(born_digital(), scanned()), args, console) == 0
    text = console.file.getvalue()
    assert f"list prices of {price_table()['as_of']} ({price_table()['region']})" in text
    bars = [line for line in text.splitlines() if "█" in line]
    assert any("Polly" in line for line in bars) and any("Textract" in line for line in bars)
    assert "monthly TCO: 5 documents a day, 2 pages each" in text
