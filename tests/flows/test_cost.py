"""`docpipe cost` over what the pipeline really recorded: a processed document's manifest adds up in the
report exactly as the manifest priced itself; the command line names the price table's date and region."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docpipe.pricing import price_table
from docpipe_local.cost import S3ManifestSource, cost_report

ROOT = Path(__file__).resolve().parents[2]


def test_a_processed_document_is_in_the_report_as_its_manifest_priced_it(target):
    before = cost_report(S3ManifestSource(target.s3, target.bucket))
    text = (ROOT / "samples" / "inspection_notes.txt").read_bytes()
    flow = target.process(text, "cost/inspection_notes.txt", timeout=900, metadata={"languages": "es"})
    assert flow.result["status"] == "SUCCEEDED", flow.result
    manifest = flow.manifest()
    summarize = next(stage for stage in manifest["stages"] if stage["name"] == "summarize")
    assert summarize["usage"]["guardrail_text_units"] > 0  # the guardrail inside Converse bills text units
    after = cost_report(S3ManifestSource(target.s3, target.bucket))
    assert after["documents"] == before["documents"] + 1
    assert after["pages"] == before["pages"] + manifest["usage"]["pages"]
    added = after["by_source"]["document"] - before["by_source"].get("document", 0.0)
    assert added == pytest.approx(manifest["cost"]["total_usd"], rel=1e-6)  # Nova Lite: the table's own price
    for service in ("Lambda", "Step Functions", "Translate", "Polly", "Bedrock Guardrails", "Bedrock embeddings"):
        assert after["by_service"][service] > before["by_service"].get(service, 0.0), service
    assert sum(after["by_stage"].values()) == pytest.approx(after["total_usd"], abs=1e-7)


@pytest.mark.offline_only("drives the docpipe command line over a data directory of its own")
def test_the_command_prints_the_price_tables_date_and_region(tmp_path):
    environment = {**os.environ, "DOCPIPE_HOME": str(tmp_path / "home"), "COLUMNS": "120"}
    docpipe = [sys.executable, "-m", "docpipe_local.cli", "cost"]
    table = price_table()
    shown = subprocess.run(docpipe + ["--monthly", "10"], capture_output=True, text=True, env=environment,
                           cwd=tmp_path, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert f"list prices of {table['as_of']} ({table['region']})" in shown.stdout
    assert "0 documents, 0 pages" in shown.stdout
    refused = subprocess.run(docpipe + ["--since", "12/01/2026"], capture_output=True, text=True,
                             env=environment, cwd=tmp_path, timeout=300)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1] == (
        "docpipe cost: --since takes a date such as 2026-12-01, not '12/01/2026'")
