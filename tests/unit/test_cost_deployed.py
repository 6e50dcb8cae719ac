"""The deployed variant: `python -m docpipe_local.cost --bucket B` reads the manifests in a bucket through any
boto3 S3 client (the user's credentials); here moto's S3 plays the stack's bucket."""

import json
import subprocess
import sys
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from docpipe.pricing import price_table
from docpipe_local.cost.__main__ import main
from docpipe_local.cost.report import cost_report, start_of

from tests.unit.cost_fixtures import T0, MemorySource, born_digital, rerun, scanned

BUCKET = "docpipe-dev-documents-123456789012-us-east-1"


def _files() -> MemorySource:
    source = MemorySource()
    for m in (born_digital(), rerun(), scanned("letter-old", T0 - timedelta(days=10))):
        source.put(f"out/{m['doc_id']}/manifest.json", m)
        source.put(f"out/{m['doc_id']}/summary.md", "A summary.")
    source.put("work/report-1/chunks.jsonl", "{}\n" * 40)
    source.put("usage/endpoints/gen/a.json", {"endpoint": "gen", "observed_at": T0.isoformat(), "interval_minutes": 15,
                                             "instance_type": "ml.g5.xlarge", "instances": 0, "max_instances": 1})
    return source


def test_the_report_from_a_bucket_is_the_report_from_the_same_files(capsys):
    files = _files()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for key, body in files.files.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        s3.put_object(Bucket=BUCKET, Key="inbox/report.pdf", Body=b"%PDF-")  # not a manifest: not read
        assert main(["--bucket", BUCKET, "--json", "--since", "2026-11-30", "--monthly", "50"], s3=s3) == 0
    deployed = json.loads(capsys.readouterr().out)
    expected = json.loads(json.dumps(cost_report(files, start_of("2026-11-30"), 50)))
    assert deployed == expected
    assert deployed["documents"] == 2  # the one before --since is left out
    hourly = price_table()["inference_instances_usd_per_hour"]["ml.g5.xlarge"]
    assert deployed["savings"]["scale to zero"]["usd"] == pytest.approx(15 / 60 * hourly)


def test_a_bucket_it_cannot_read_is_one_line_and_status_1(capsys):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        assert main(["--bucket", "no-such-bucket-here"], s3=s3) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("docpipe cost: could not read s3://no-such-bucket-here: ") and "NoSuchBucket" in err
    assert "\n" not in err


def test_the_deployed_script_needs_nothing_offline():
    """It runs where a user has boto3 and credentials: no moto, no emulators, no offline runtime."""
    code = ("import sys, docpipe_local.cost.__main__, docpipe_local.cost.table; "
            "bad = [m for m in ('moto', 'docpipe_local.runtime', 'docpipe_local.emulators') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
